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

  it('keeps one asynchronous batch in flight, gathers what comes meanwhile, and sends it before settling the first', async () => {
    const order: string[] = [];
    /** The batches written and not finished yet; finish(i) ends write i. */
    const writes: { items: number[]; finish: () => void }[] = [];
    const group = new GroupCommit<number>((batch) => new Promise<() => void>((resolve) => {
      const items = batch.map((p) => p.item);
      order.push(`write ${items.join(',')}`);
      writes.push({
        items,
        finish: () => resolve(() => {
          order.push(`settle ${items.join(',')}`);
          for (const p of batch) p.resolve();
        }),
      });
    }));
    const first = [1, 2].map((i) => group.submit(i));
    await nextTurn();
    const second = [3, 4].map((i) => group.submit(i));
    await nextTurn();
    expect(writes.map((w) => w.items)).toEqual([[1, 2]]); // 3 and 4 wait while one batch is in flight
    writes[0]!.finish();
    await Promise.all(first);
    expect(order).toEqual(['write 1,2', 'write 3,4', 'settle 1,2']);
    const idle = group.idle();
    writes[1]!.finish();
    await Promise.all(second);
    await idle;
    expect(order.at(-1)).toBe('settle 3,4');
  });

  it('rejects the members of an asynchronous batch that fails, and goes on with the next', async () => {
    let calls = 0;
    const group = new GroupCommit<number>(async (batch) => {
      calls += 1;
      if (calls === 1) throw new Error('worker died');
      return () => batch.forEach((p) => p.resolve());
    });
    const first = group.submit(1);
    await expect(first).rejects.toThrow('worker died');
    await expect(group.submit(2)).resolves.toBeUndefined();
  });
});
