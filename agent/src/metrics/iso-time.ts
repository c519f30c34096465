/**
 * `new Date(ms).toISOString()`, the same string, for the event times records carry (a prediction's `t`,
 * a window's bounds). Readings of one asset come in time order and mostly fall on the same day as the
 * one before, so the date part is formatted once per day and the time of day with arithmetic: about a
 * fifth of the cost of a Date and its toISOString per row (issue 9, bench/RESULTS.md).
 */
const DAY_MS = 86_400_000;
/** 10000-01-01T00:00:00.000Z: from there on toISOString writes a six-digit, signed year. */
export const YEAR_10000_MS = 253_402_300_800_000;

const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

export class IsoTime {
  private day = Number.NaN;
  /** "YYYY-MM-DDT" of `day`. */
  private prefix = '';

  format(ms: number): string {
    // a fraction of a ms (Date truncates it), years outside 0000-9999 and invalid times: Date's own way
    if (!Number.isInteger(ms) || ms < 0 || ms >= YEAR_10000_MS) return new Date(ms).toISOString();
    const day = Math.floor(ms / DAY_MS);
    if (day !== this.day) {
      this.day = day;
      this.prefix = new Date(day * DAY_MS).toISOString().slice(0, 11);
    }
    let rest = ms - day * DAY_MS;
    const hours = Math.floor(rest / 3_600_000);
    rest -= hours * 3_600_000;
    const minutes = Math.floor(rest / 60_000);
    rest -= minutes * 60_000;
    const seconds = Math.floor(rest / 1000);
    return `${this.prefix}${pad2(hours)}:${pad2(minutes)}:${pad2(seconds)}.${pad3(rest - seconds * 1000)}Z`;
  }
}
