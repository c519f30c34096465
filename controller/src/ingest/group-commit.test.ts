import { describe, expect, it } from 'vitest';
import { GroupCommit, type Pending } from './group-commit.js';

/** A commit that records its batches and resolves every member unless told which to reject. */
function recorder(reject: (item: number) => boolean = () => false) {
  const batches: number[][] = [];
  const commit = (batch: readonly Pending<number>[]) => {
    batches.push(batch.map((p) => p.item));
    for (const p of batch) {
      if (reject(p.item)) p.reject(new Error(`item ${p.item}`));
      else p.resolve();
    }
  };
  return { batches, commit };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('commits what was submitted in one event-loop turn as one batch, at the end of that turn', async () => {
    const { batches, commit } = recorder();
    const group = new GroupCommit(commit);
    const first = [1, 2, 3].map((i) => group.submit(i));
    expect(batches).toEqual([]);
    expect(group.pending).toBe(3);
    await Promise.all(first);
    const second = group.submit(4);
    await second;
    expect(batches).toEqual([[1, 2, 3], [4]]);
  });

  it('settles no submitter before its batch is committed', async () => {
    const settled: number[] = [];
    let release: (() => void) | undefined;
    const group = new GroupCommit<number>((batch) => {
      // the commit is "in progress" until release() runs: nothing may be settled before
      release = () => batch.forEach((p) => p.resolve());
    });
    const all = [1, 2].map((i) => group.submit(i).then(() => settled.push(i)));
    await nextTurn();
    await nextTurn();
    expect(release).toBeDefined();
    expect(settled).toEqual([]);
    release!();
    await Promise.all(all);
    expect(settled).toEqual([1, 2]);
  });

  it('rejects only the members the commit rejects', async () => {
    const { commit } = recorder((i) => i === 2);
    const group = new GroupCommit(commit);
    const results = await Promise.allSettled([1, 2, 3].map((i) => group.submit(i)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('rejects every member of a batch whose commit throws instead of settling them', async () => {
    const group = new GroupCommit<number>(() => { throw new Error('disk full'); });
    const results = await Promise.allSettled([1, 2].map((i) => group.submit(i)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });

  it('splits a turn larger than maxBatch, and flush() commits at once', async () => {
    const { batches, commit } = recorder();
    const group = new GroupCommit(commit, 2);
    const all = [1, 2, 3, 4, 5].map((i) => group.submit(i));
    group.flush();
    expect(batches).toEqual([[1, 2], [3, 4], [5]]);
    await Promise.all(all);
    await nextTurn(); // the scheduled turn finds nothing left to commit
    expect(batches).toHaveLength(3);
  });
});
