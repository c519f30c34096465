/**
 * Feature rows waiting for one inference run, written where the run reads them: row i of the batch is
 * data[i * width .. (i + 1) * width - 1], the layout of the model's [N, F] input tensor. The feature
 * stage writes each row there directly, so a row costs no array of its own and no copy (issue 9).
 */
export class RowBatch {
  readonly data: Float32Array;
  /** Event time of each row, in row order. */
  readonly times: number[] = [];

  constructor(
    readonly width: number,
    readonly capacity: number,
  ) {
    this.data = new Float32Array(width * capacity);
  }

  get size(): number {
    return this.times.length;
  }

  get full(): boolean {
    return this.times.length >= this.capacity;
  }

  /** Where the next row goes in `data`. */
  get nextOffset(): number {
    return this.times.length * this.width;
  }

  /** The row at nextOffset was written: it belongs to the reading at `time`. */
  added(time: number): void {
    this.times.push(time);
  }

  /** Row i as a view into `data` (no copy), for consumers that take one row at a time. */
  row(i: number): Float32Array {
    return this.data.subarray(i * this.width, (i + 1) * this.width);
  }

  /** Empties the batch for reuse; views handed out before must no longer be in use. */
  clear(): void {
    this.times.length = 0;
  }
}
