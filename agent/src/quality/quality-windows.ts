/**
 * Quality of one model version in one role, from ground truth that arrives later than the predictions.
 *
 * A prediction made at t by a "failure within H" model is positive when a failure happens in (t, t+H].
 * It matures when H (plus an optional grace for late labels) has passed in event time, or when such a
 * failure has occurred; only matured predictions are counted. Windows are fixed event-time windows
 * aligned to the epoch; a prediction counts in the window of its own time, a failure in the window of
 * its time, an alert episode in the window where it starts. A window's record is published once every
 * prediction in it has matured (window end + H + grace), so the figures of a window never change after
 * they were sent.
 *
 * Event-level figures (the card's definitions, models/README.md):
 * - a failure at f is judged when the model made at least one prediction in [f-H, f): caught when one
 *   of them passed the threshold (lead time: f minus the first passing one), missed otherwise. A failure
 *   with no prediction in that range (model not running, still warming up) is not the model's to judge.
 * - an alert episode is a run of passing predictions inside one window, broken by a prediction that
 *   does not pass or by a failure; it is a false alarm when no failure follows its start within H of
 *   its last prediction. Cutting episodes at window edges keeps every window final once published.
 *
 * What has not matured survives a restart through the journal (journal.ts): the monitor gives a
 * restarted instance the same predictions, failures and published marks again, in commit order. A
 * prediction given twice for the same time (a replay resumes up to a second before where it was killed)
 * replaces the first. The predictions held are capped (`maxPending`): past the cap the oldest tenth is
 * dropped at once and counted in `droppedPredictions` (their windows are published without them), and
 * `droppedThrough` marks how far: the journal forgets the same predictions by that mark, and a rebuilt
 * instance told it (`markDropped`) takes none of them again, so it drops and counts only what the last
 * instance dropped after its mark was saved, at the same points.
 */

export interface QualityWindowsConfig {
  readonly windowMs: number;
  readonly horizonMs: number;
  readonly graceMs: number;
  /** Predictions held at most (unpublished windows and H before them); default: no cap. */
  readonly maxPending?: number;
}

export interface QualityFigures {
  readonly windowStart: number;
  readonly windowEnd: number;
  readonly confusion: { tp: number; fp: number; tn: number; fn: number };
  readonly events: { caught: number; missed: number; falseAlarms: number; leadHours: number[] };
}

interface Prediction {
  readonly t: number;
  readonly passed: boolean;
}

interface Judged {
  caught: number;
  missed: number;
  leadHours: number[];
}

const HOUR = 3_600_000;
/** The protocol carries at most this many lead times per window. */
const MAX_LEAD_TIMES = 1000;

/** First index i with key(arr[i]) >= x, for arr sorted by key. */
export function lowerBound<T>(arr: readonly T[], x: number, key: (v: T) => number): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key(arr[mid]!) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const byT = (p: Prediction): number => p.t;
const self = (f: number): number => f;

/** First index i with key(arr[i]) > x, for arr sorted by key. */
function upperBound<T>(arr: readonly T[], x: number, key: (v: T) => number): number {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key(arr[mid]!) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class QualityWindows {
  /** Predictions still needed (unpublished windows, and H before them for judging failures), by time. */
  private predictions: Prediction[] = [];
  /** Known failures at or after the end of the last published window, by time (duplicates are separate failures). */
  private failures: number[] = [];
  /** Failures not judged yet (they may lie ahead of event time when entered by people). */
  private unjudged: number[] = [];
  /** Starts of the windows holding a prediction or a failure, not yet published. */
  private readonly open = new Map<number, Judged>();
  /** End of the last published window: anything earlier is final. */
  private publishedThrough = Number.NEGATIVE_INFINITY;
  /** Failures that arrived for a window already published; they are not in any quality record. */
  lateFailures = 0;
  /** Predictions older than a published window (cannot happen with in-order times). */
  latePredictions = 0;
  /** Predictions dropped by the `maxPending` cap before they were counted. */
  droppedPredictions = 0;
  /** Every prediction at or before this time was dropped by the cap (or by an earlier instance's). */
  private dropped = Number.NEGATIVE_INFINITY;

  constructor(private readonly config: QualityWindowsConfig) {}

  /** True when nothing waits to be published. */
  get idle(): boolean {
    return this.open.size === 0 && this.unjudged.length === 0;
  }

  /** A prediction, in event-time order: `passed` is whether its score passed the model's threshold. */
  predicted(t: number, passed: boolean): void {
    if (t < this.publishedThrough) {
      this.latePredictions++;
      return;
    }
    // dropped and counted before (given again by a replay after a restart)
    if (t <= this.dropped) return;
    const last = this.predictions[this.predictions.length - 1];
    const p = { t, passed };
    if (last === undefined || last.t < t) this.predictions.push(p);
    else {
      const i = lowerBound(this.predictions, t, byT);
      if (this.predictions[i]?.t === t) this.predictions[i] = p;
      else this.predictions.splice(i, 0, p);
    }
    this.windowOf(t);
    const max = this.config.maxPending ?? Number.POSITIVE_INFINITY;
    // the oldest tenth at once: trimming one by one would move the whole array for every prediction
    if (this.predictions.length > max) this.drop(this.predictions.length - Math.floor(max * 0.9));
  }

  /**
   * Everything before `through` is final (a window published before a restart). The failures before
   * it were judged before that window was published (takeDue judges first); rebuilt, they are not judged again.
   */
  markPublished(through: number): void {
    this.unjudged = this.unjudged.slice(lowerBound(this.unjudged, through, self));
    this.published(through);
  }

  /** Every prediction at or before this time was dropped by the cap (-Infinity: none). */
  get droppedThrough(): number {
    return this.dropped;
  }

  /** The cap of an earlier instance dropped everything at or before `through` (a rebuild after a restart). */
  markDropped(through: number): void {
    this.dropped = Math.max(this.dropped, through);
    this.predictions = this.predictions.slice(upperBound(this.predictions, this.dropped, byT));
  }

  /** Number of predictions held. */
  get pending(): number {
    return this.predictions.length;
  }

  /** A failure at `f`; false (and counted as late) when its window was already published. */
  failure(f: number): boolean {
    if (f < this.publishedThrough) {
      this.lateFailures++;
      return false;
    }
    this.failures.splice(upperBound(this.failures, f, self), 0, f);
    this.unjudged.splice(upperBound(this.unjudged, f, self), 0, f);
    this.windowOf(f);
    return true;
  }

  /**
   * Figures of the windows whose every prediction has matured by event time `now`. Call only when
   * every prediction up to `now` has been given (no row still waits for inference).
   */
  takeDue(now: number): QualityFigures[] {
    this.judge(now);
    const { windowMs, horizonMs, graceMs } = this.config;
    const due = [...this.open.keys()].filter((start) => start + windowMs + horizonMs + graceMs <= now).sort((a, b) => a - b);
    const out = due.map((start) => this.figures(start, now, true)).filter((f) => !isEmpty(f));
    if (due.length > 0) this.published(due[due.length - 1]! + windowMs);
    return out;
  }

  /** End of input: every open window with what has matured by `now`; the rest is never counted. */
  closeAll(now: number): QualityFigures[] {
    this.judge(now);
    const starts = [...this.open.keys()].sort((a, b) => a - b);
    const out = starts.map((start) => this.figures(start, now, false)).filter((f) => !isEmpty(f));
    if (starts.length > 0) this.published(starts[starts.length - 1]! + this.config.windowMs);
    this.unjudged = [];
    return out;
  }

  private windowOf(time: number): Judged {
    const start = Math.floor(time / this.config.windowMs) * this.config.windowMs;
    let w = this.open.get(start);
    if (w === undefined) {
      w = { caught: 0, missed: 0, leadHours: [] };
      this.open.set(start, w);
    }
    return w;
  }

  /** Judges every failure that has happened by `now` against the predictions in the H before it. */
  private judge(now: number): void {
    const { horizonMs } = this.config;
    let i = 0;
    for (; i < this.unjudged.length && this.unjudged[i]! <= now; i++) {
      const f = this.unjudged[i]!;
      const from = lowerBound(this.predictions, f - horizonMs, byT);
      const to = lowerBound(this.predictions, f, byT);
      if (from === to) continue; // the model made no prediction in [f-H, f): not its to judge
      const w = this.windowOf(f);
      const first = this.predictions.slice(from, to).find((p) => p.passed);
      if (first === undefined) w.missed++;
      else {
        w.caught++;
        if (w.leadHours.length < MAX_LEAD_TIMES) w.leadHours.push(round((f - first.t) / HOUR));
      }
    }
    this.unjudged = this.unjudged.slice(i);
  }

  /** True when a failure is known in (after, through]. */
  private failureIn(after: number, through: number): boolean {
    const f = this.failures[upperBound(this.failures, after, self)];
    return f !== undefined && f <= through;
  }

  private figures(start: number, now: number, allMatured: boolean): QualityFigures {
    const { windowMs, horizonMs, graceMs } = this.config;
    const end = start + windowMs;
    const judged = this.open.get(start)!;
    const confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
    let falseAlarms = 0;
    let episode: { s: number; e: number } | undefined;
    const closeEpisode = (): void => {
      if (episode === undefined) return;
      const { s, e } = episode;
      episode = undefined;
      const trueAlarm = this.failureIn(s, Math.min(e + horizonMs, now));
      if (!trueAlarm && (allMatured || e + horizonMs + graceMs <= now)) falseAlarms++;
    };
    const from = lowerBound(this.predictions, start, byT);
    const to = lowerBound(this.predictions, end, byT);
    for (let i = from; i < to; i++) {
      const p = this.predictions[i]!;
      if (episode !== undefined && this.failureIn(episode.e, p.t)) closeEpisode();
      if (p.passed) {
        if (episode === undefined) episode = { s: p.t, e: p.t };
        else episode.e = p.t;
      } else closeEpisode();
      const positive = this.failureIn(p.t, Math.min(p.t + horizonMs, now));
      const matured = allMatured || positive || p.t + horizonMs + graceMs <= now;
      if (!matured) continue;
      if (p.passed) positive ? confusion.tp++ : confusion.fp++;
      else positive ? confusion.fn++ : confusion.tn++;
    }
    closeEpisode();
    return {
      windowStart: start,
      windowEnd: end,
      confusion,
      events: { caught: judged.caught, missed: judged.missed, falseAlarms, leadHours: judged.leadHours },
    };
  }

  private drop(count: number): void {
    this.dropped = Math.max(this.dropped, this.predictions[count - 1]!.t);
    this.predictions = this.predictions.slice(count);
    this.droppedPredictions += count;
  }

  /** Everything before `through` is final: forget what no later window needs. */
  private published(through: number): void {
    this.publishedThrough = Math.max(this.publishedThrough, through);
    for (const start of [...this.open.keys()]) if (start < this.publishedThrough) this.open.delete(start);
    this.predictions = this.predictions.slice(lowerBound(this.predictions, this.publishedThrough - this.config.horizonMs, byT));
    this.failures = this.failures.slice(lowerBound(this.failures, this.publishedThrough, self));
  }
}

function isEmpty(f: QualityFigures): boolean {
  const c = f.confusion;
  return c.tp + c.fp + c.tn + c.fn + f.events.caught + f.events.missed + f.events.falseAlarms === 0;
}

const round = (v: number): number => Math.round(v * 1000) / 1000;
