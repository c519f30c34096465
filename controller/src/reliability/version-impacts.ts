/**
 * The `modelVersions` section of reliability reports, kept between renders as each asset's entries in
 * JSON. At 10,000 assets the section was ~38% of the CPU of a report by class or site after new data
 * (bench:reports profile: the versions' SQL, the caught and missed windows and their lookup, the
 * before/after figures), though new data changes a few assets.
 *
 * An asset's entries depend on its model versions' spans and its caught/missed quality windows (both
 * kept here, read again for the assets whose spans were written since or that migration 011's
 * report_version_changes names), on its downtime
 * (kept by DowntimeState, which makes a new object for an asset it derives again: compared by identity)
 * and on the period's start and each version's time clipped to the period. A moving period (the default
 * one ends at the latest data) leaves the entries of every asset whose versions ended before the old end
 * as they were. The entries are JSON.stringify of the objects report.ts's reportOf() builds, in its order,
 * so a body assembled from kept entries is the body JSON.stringify of the whole report gives
 * (downtime-state.test.ts compares them after random writes).
 */
import { iso, naturalOrder, versionImpact, versionOrder, type AssetInfo, type ReportOptions, type VersionSpan } from './report.js';
import type { AssetDowntime, Downtime } from './intervals.js';
import { dropChanged } from './changed-assets.js';
import { keptBytes } from './kept-bytes.js';
import { perKeptList } from './kept-list.js';
import { caughtMissed, type CaughtMissedWindow, type ReliabilitySource } from './source.js';

/** One version's entry: its activeFrom (the report sorts by it) and its JSON (UTF-8: the body is bytes, and 10,000 entries' join and encoding were a tenth of a render). */
type Entry = [activeFrom: string, json: Uint8Array];

interface AssetEntries {
  /** The asset's downtime the entries were built from. */
  part: AssetDowntime | undefined;
  /** The period's start and each version's time in the period they were built for. */
  key: string;
  /** The period they were built for. */
  from: number;
  to: number;
  entries: Entry[];
}

/** Periods whose entries are kept per asset: the default period and a few fixed ones of dashboards. */
const KEPT_PER_ASSET = 4;

export class VersionImpacts {
  readonly #spans = new Map<string, VersionSpan[]>();
  readonly #windows = new Map<string, CaughtMissedWindow[]>();
  /** Per asset, its entries for the last few periods asked for (reports of other periods alternate), latest first. */
  readonly #kept = new Map<string, AssetEntries[]>();
  /** The last change number (report_version_changes) and span generation read; undefined: nothing read yet. */
  #seen: { other: number; spans: number } | undefined;
  /** Per asset list (DowntimeState keeps one per scope): each asset's first index of its run of natural-order ties. */
  readonly #runsOf = perKeptList(runsOf);

  /** Brings the kept spans and windows to what `source` reads; inside the report's read transaction. */
  refresh(source: ReliabilitySource): void {
    // the first read takes every asset's spans: only the highest generation is needed then
    const spans = this.#seen === undefined ? { last: source.lastSpanChange(), assets: [] } : source.spanChangesSince(this.#seen.spans);
    const seen = { other: source.lastVersionChange(), spans: spans.last };
    let changed: string[] | undefined;
    if (this.#seen !== undefined) {
      const assets = new Set(spans.assets);
      if (seen.other !== this.#seen.other) for (const assetId of source.versionsChangedAfter(this.#seen.other)) assets.add(assetId);
      this.#seen = seen;
      if (assets.size === 0) return;
      changed = [...assets];
    }
    dropChanged(changed, this.#spans, this.#windows, this.#kept);
    for (const v of source.versions(changed)) {
      const list = this.#spans.get(v.assetId);
      if (list === undefined) this.#spans.set(v.assetId, [v]);
      else list.push(v);
    }
    for (const [assetId, windows] of source.caughtMissedWindows(changed)) this.#windows.set(assetId, windows);
    this.#seen = seen;
  }

  /**
   * The section's entries as JSON (UTF-8) in the report's order, for `assets` (in natural order, as the
   * report's scope lists them) that are `shown` (undefined: all).
   */
  section(assets: readonly AssetInfo[], shown: ReadonlySet<string> | undefined, d: Downtime, o: Pick<ReportOptions, 'from' | 'to'>): Uint8Array[] {
    const out: Uint8Array[] = [];
    // assets the natural order cannot tell apart ("a-1" and "a-01") sort as one run, as reportOf's sort does
    let run: string[] = [];
    const flush = (): void => {
      if (run.length === 1) this.#push(out, this.#entries(run[0]!, d, o));
      else if (run.length > 1) this.#push(out, run.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).flatMap((id) => this.#entries(id, d, o)));
      run = [];
    };
    const runs = this.#runsOf(assets);
    let previous: number | undefined;
    for (let i = 0; i < assets.length; i++) {
      const { assetId } = assets[i]!;
      if (shown !== undefined && !shown.has(assetId)) continue;
      if (!this.#spans.has(assetId)) continue;
      if (previous !== undefined && runs[previous] !== runs[i]) flush();
      run.push(assetId);
      previous = i;
    }
    flush();
    return out;
  }

  /** Entries of one run of assets, sorted by activeFrom as reportOf() sorts them (stable: the input order stays for ties). */
  #push(out: Uint8Array[], entries: Entry[]): void {
    const sorted = entries.length > 1 ? [...entries].sort((a, b) => versionOrder({ assetId: '', activeFrom: a[0] }, { assetId: '', activeFrom: b[0] })) : entries;
    for (const e of sorted) out.push(e[1]);
  }

  /** One asset's entries, kept while its inputs and its versions' time in the period stay. */
  #entries(assetId: string, d: Downtime, o: Pick<ReportOptions, 'from' | 'to'>): Entry[] {
    const spans = this.#spans.get(assetId) ?? [];
    const part = d.perAsset.get(assetId);
    // the entries built last, while their period clips every version's time as this one does (no key to write)
    const last = this.#kept.get(assetId)?.[0];
    if (last !== undefined && last.part === part && last.from === o.from && sameClip(spans, o.from, last.to, o.to)) return last.entries;
    let key = `${o.from}`;
    for (const v of spans) if (v.to > o.from && v.from < o.to) key += `|${Math.max(v.from, o.from)}:${Math.min(v.to, o.to)}`;
    const kept = this.#kept.get(assetId) ?? [];
    const found = kept.find((k) => k.part === part && k.key === key);
    if (found !== undefined) return found.entries;
    const windows = this.#windows.get(assetId);
    const entries: Entry[] = [];
    for (const v of spans) {
      if (!(v.to > o.from && v.from < o.to)) continue;
      const cm = caughtMissed(windows, v.model, v.version, Math.max(v.from, o.from), Math.min(v.to, o.to));
      const impact = versionImpact(d, v, o, cm, iso);
      entries.push([impact.activeFrom, keptBytes(JSON.stringify(impact))]);
    }
    // entries of a downtime no longer current are never asked for again
    this.#kept.set(assetId, [{ part, key, from: o.from, to: o.to, entries }, ...kept.filter((k) => k.part === part).slice(0, KEPT_PER_ASSET - 1)]);
    return entries;
  }
}

/** True when periods [from, a) and [from, b) hold the same versions for the same time (#entries' key would be the same). */
function sameClip(spans: readonly VersionSpan[], from: number, a: number, b: number): boolean {
  if (a === b) return true;
  for (const v of spans) {
    const inA = v.to > from && v.from < a;
    if (inA !== (v.to > from && v.from < b) || (inA && Math.min(v.to, a) !== Math.min(v.to, b))) return false;
  }
  return true;
}

/**
 * The runs of assets the natural order cannot tell apart, once per asset list (a collator comparison
 * per asset was a tenth of the section's time): in a sorted list such assets sit side by side, so two
 * assets are of one run when each next one compares equal to the one before.
 */
function runsOf(assets: readonly AssetInfo[]): Uint32Array {
  const runs = new Uint32Array(assets.length);
  for (let i = 1; i < assets.length; i++) runs[i] = naturalOrder(assets[i - 1]!.assetId, assets[i]!.assetId) === 0 ? runs[i - 1]! : i;
  return runs;
}
