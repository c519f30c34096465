/**
 * Lists that what is kept between renders may be keyed by (WeakMaps of kept sums, Paretos, groups,
 * runs): a kept entry found by a list's identity is right only while the list holds what it held when
 * the entry was made, so only a frozen list qualifies. DowntimeState's scope lists and the id lists
 * derived from them are frozen once; any other list (a caller's own array, a fresh report's) is derived
 * anew on every call, whatever its size.
 */
declare const kept: unique symbol;

/** A frozen list: the same array always holds the same items. */
export type KeptList<T> = readonly T[] & { readonly [kept]: true };

/** Freezes `items` (the caller hands them over) so that kept state may be keyed by the array. */
export function keptList<T>(items: T[]): KeptList<T> {
  return Object.freeze(items) as readonly T[] as KeptList<T>;
}

/** The list as a KeptList when it is frozen, else undefined (derive anew). */
export function asKept<T>(items: readonly T[]): KeptList<T> | undefined {
  return Object.isFrozen(items) ? (items as KeptList<T>) : undefined;
}

/**
 * `derive` kept per frozen list, found by its identity (a WeakMap: dropped with the list); any other
 * list is derived anew on every call. The one way each part keeps what it derives from a scope's list.
 */
export function perKeptList<T, R>(derive: (items: readonly T[]) => R): (items: readonly T[]) => R {
  const kept = new WeakMap<readonly T[], R>();
  return (items) => {
    if (!Object.isFrozen(items)) return derive(items);
    if (kept.has(items)) return kept.get(items)!;
    const r = derive(items);
    kept.set(items, r);
    return r;
  };
}

/** The items of a list as a set, one per frozen list (a report by asset asks 10,000 times for its scope's). */
export const memberSet: <T>(items: readonly T[]) => ReadonlySet<T> = perKeptList((items: readonly unknown[]) => new Set(items)) as <T>(items: readonly T[]) => ReadonlySet<T>;
