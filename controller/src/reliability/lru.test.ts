/**
 * Lru against a reference model: an array of entries, least recently used first, dropped from the front
 * while the total weight is past the bound. Random sequences of operations (fast-check) over a few keys.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Lru } from './lru.js';

type Op =
  | { op: 'get' | 'peek' | 'delete'; key: number }
  | { op: 'set'; key: number; value: number }
  | { op: 'clear' };

const key = fc.integer({ min: 0, max: 7 });
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), key, value: fc.integer({ min: 0, max: 9 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constantFrom('get' as const, 'peek' as const, 'delete' as const), key }) },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
);

/** The model: what an LRU keeps, written as plainly as possible. */
class Model {
  entries: [number, number][] = [];
  evicted: [number, number][] = [];
  constructor(readonly max: number, readonly weigh: (v: number) => number) {}
  weight(): number {
    return this.entries.reduce((sum, [, v]) => sum + this.weigh(v), 0);
  }
  apply(o: Op): number | boolean | undefined {
    const at = o.op === 'clear' ? -1 : this.entries.findIndex(([k]) => k === o.key);
    const found = at >= 0 ? this.entries[at]![1] : undefined;
    switch (o.op) {
      case 'peek':
        return found;
      case 'get':
        if (at >= 0) this.entries.push(...this.entries.splice(at, 1));
        return found;
      case 'delete':
        if (at >= 0) this.entries.splice(at, 1);
        return at >= 0;
      case 'clear':
        this.entries = [];
        return undefined;
      case 'set':
        if (at >= 0) this.entries.splice(at, 1);
        this.entries.push([o.key, o.value]);
        while (this.weight() > this.max) this.evicted.push(this.entries.shift()!);
        return undefined;
    }
  }
}

function run(lru: Lru<number, number>, o: Op): number | boolean | undefined {
  switch (o.op) {
    case 'get':
      return lru.get(o.key);
    case 'peek':
      return lru.peek(o.key);
    case 'delete':
      return lru.delete(o.key);
    case 'clear':
      lru.clear();
      return undefined;
    case 'set':
      lru.set(o.key, o.value);
      return undefined;
  }
}

function check(max: number, weigh: ((v: number) => number) | undefined, ops: Op[]): void {
  const model = new Model(max, weigh ?? (() => 1));
  const evicted: [number, number][] = [];
  const lru = new Lru<number, number>({ max, weigh, onEvict: (v, k) => evicted.push([k, v]) });
  for (const o of ops) {
    expect(run(lru, o), JSON.stringify(o)).toEqual(model.apply(o));
    expect([...lru]).toEqual(model.entries);
    expect([...lru.values()]).toEqual(model.entries.map(([, v]) => v));
    expect(lru.size).toBe(model.entries.length);
    expect(lru.weight).toBe(model.weight());
    expect(evicted).toEqual(model.evicted);
    for (const [k] of model.entries) expect(lru.has(k)).toBe(true);
  }
}

describe('Lru', () => {
  it('keeps the most recently used entries up to a count, as the model does', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 5 }), fc.array(op, { maxLength: 60 }), (max, ops) => check(max, undefined, ops)));
  });

  it('keeps the most recently used entries up to a total weight, dropping one heavier than the bound at once', () => {
    // weight = the value: 0 weighs nothing, values past max are heavier than the bound alone
    fc.assert(fc.property(fc.integer({ min: 0, max: 12 }), fc.array(op, { maxLength: 60 }), (max, ops) => check(max, (v) => v, ops)));
  });

  it('drops the least recently used entry, a get making an entry recently used and a peek not', () => {
    const evicted: string[] = [];
    const lru = new Lru<string, number>({ max: 2, onEvict: (_, k) => evicted.push(k) });
    lru.set('a', 1).set('b', 2);
    expect(lru.get('a')).toBe(1);
    lru.set('c', 3);
    expect(evicted).toEqual(['b']);
    expect(lru.peek('a')).toBe(1);
    lru.set('d', 4);
    expect(evicted).toEqual(['b', 'a']);
    expect([...lru]).toEqual([['c', 3], ['d', 4]]);
  });
});
