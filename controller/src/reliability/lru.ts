/**
 * A map that keeps its most recently used entries within a bound: what reports keep between renders
 * (scopes' asset lists, period tables, breakdowns, Paretos, layouts' middles, rendered bodies). Each
 * of those sites had its own "delete, set, drop the first key" on a Map, with the drop before or after
 * the insert; here the drop is always after it, so an entry heavier than the bound alone is not kept
 * (and a bound of 0 keeps nothing: callers that rely on a kept value's identity need max >= 1).
 *
 * A Map iterates in insertion order: re-inserting an entry on use makes that order least recently used
 * first, so the first entry is the one to drop. lru-cache is in node_modules only as a dependency of
 * mqtt and glob, not of the controller.
 */

export interface LruOptions<K, V> {
  /** The bound on the entries' total weight: the count of entries unless `weigh` is given. */
  max: number;
  /** An entry's weight (default 1), taken when it is set. */
  weigh?: ((value: V) => number) | undefined;
  /** Called for each entry dropped to keep within `max` (not for delete, clear or a replaced value). */
  onEvict?: ((value: V, key: K) => void) | undefined;
}

export class Lru<K, V> implements Iterable<[K, V]> {
  /** Least recently used first. Values are kept as they are (no wrapper per set): values() is the Map's own iterator. */
  readonly #entries = new Map<K, V>();
  /** Each entry's weight as it was set; only with `weigh` (without it every entry weighs 1). */
  readonly #weights: Map<K, number> | undefined;
  readonly #options: LruOptions<K, V>;
  #weight = 0;

  constructor(options: LruOptions<K, V>) {
    this.#options = options;
    this.#weights = options.weigh === undefined ? undefined : new Map();
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The entries' total weight (their count without `weigh`). */
  get weight(): number {
    return this.#weight;
  }

  /** The value of `key`, now the most recently used; undefined when not kept. */
  get(key: K): V | undefined {
    if (!this.#entries.has(key)) return undefined;
    const value = this.#entries.get(key)!;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  /** The value of `key` without making it recently used (a look that is not a use). */
  peek(key: K): V | undefined {
    return this.#entries.get(key);
  }

  has(key: K): boolean {
    return this.#entries.has(key);
  }

  /** Keeps `value` as the most recently used, then drops the least recently used entries while the total weight is past `max`. */
  set(key: K, value: V): this {
    this.delete(key);
    const weight = this.#options.weigh?.(value) ?? 1;
    this.#entries.set(key, value);
    this.#weights?.set(key, weight);
    this.#weight += weight;
    if (this.#weight <= this.#options.max) return this;
    for (const [k, oldest] of this.#entries) {
      if (this.#weight <= this.#options.max) break;
      this.delete(k);
      this.#options.onEvict?.(oldest, k);
    }
    return this;
  }

  delete(key: K): boolean {
    if (!this.#entries.has(key)) return false;
    this.#weight -= this.#weights?.get(key) ?? 1;
    this.#weights?.delete(key);
    this.#entries.delete(key);
    return true;
  }

  clear(): void {
    this.#entries.clear();
    this.#weights?.clear();
    this.#weight = 0;
  }

  /** The values, least recently used first. */
  values(): IterableIterator<V> {
    return this.#entries.values();
  }

  /** The entries, least recently used first. */
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.#entries.entries();
  }
}
