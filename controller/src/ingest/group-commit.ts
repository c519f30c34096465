/**
 * Group commit: items submitted during one event-loop turn are handed to `commit` together, once,
 * at the end of that turn (setImmediate), so that one SQLite transaction carries all of them.
 *
 * Why: a COMMIT (WAL append, page writes of every index touched) costs more than the rows of one
 * record; one transaction per 100 records cut the store's CPU per record ~2.3x (bench/RESULTS.md,
 * "Controller ingest"). The submitter's promise settles only after `commit` has settled that item, so
 * an acknowledgement sent on resolution always follows a durable write.
 *
 * An asynchronous `commit` (the ingest worker thread's) has one batch in flight at a time: what
 * arrives meanwhile waits and goes out as the next batch once it settles, so batches grow with the
 * load instead of queueing up small ones behind each other.
 */

/** One submitted item and how to settle its submitter's promise. */
export interface Pending<T> {
  readonly item: T;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Stores a batch; must settle every member (resolve after its write committed, or reject). An
 * asynchronous one may resolve with the step that settles them: the next batch is sent off before
 * that step runs, so the store does not wait while the members are settled (acknowledged).
 */
export type CommitBatch<T> = (batch: readonly Pending<T>[]) => void | Promise<void | (() => void)>;

export class GroupCommit<T> {
  readonly #commit: CommitBatch<T>;
  readonly #maxBatch: number;
  #queue: Pending<T>[] = [];
  #scheduled = false;
  /** The asynchronous commit in progress, if any. */
  #inFlight: Promise<void> | undefined;

  /** `maxBatch` bounds one transaction (and so the time the event loop is blocked by one commit). */
  constructor(commit: CommitBatch<T>, maxBatch = 1000) {
    this.#commit = commit;
    this.#maxBatch = maxBatch;
  }

  /** Items waiting for the next commit. */
  get pending(): number {
    return this.#queue.length;
  }

  submit(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Commits what is queued now (also called on stop, so nothing submitted is left unsettled); with an
   * asynchronous commit in flight, the queue goes out when that one has settled.
   */
  flush(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0 && this.#inFlight === undefined) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      let done: void | Promise<void | (() => void)>;
      try {
        done = this.#commit(batch);
      } catch (err) {
        // `commit` is meant to settle every member itself; a throw out of it must not strand them
        for (const p of batch) p.reject(err);
        continue;
      }
      if (done instanceof Promise) this.#await(batch, done);
    }
  }

  /** Resolves once nothing is queued or in flight. */
  async idle(): Promise<void> {
    while (this.#inFlight !== undefined || this.#queue.length > 0) {
      if (this.#inFlight === undefined) this.flush();
      await this.#inFlight;
    }
  }

  #await(batch: readonly Pending<T>[], done: Promise<void | (() => void)>): void {
    this.#inFlight = done.then(
      (settle) => {
        this.#inFlight = undefined;
        this.flush();
        try {
          settle?.();
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      },
      (err: unknown) => {
        this.#inFlight = undefined;
        for (const p of batch) p.reject(err);
        this.flush();
      },
    );
  }
}
