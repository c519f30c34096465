/**
 * Write path for records: idempotent on (device_id, seq), the per-kind rows (a prediction batch is
 * one row of prediction_batches, however many predictions it holds), and the per-device
 * sequence progress used for gap detection. Callers run `store` inside a transaction; ingest wraps a
 * whole group commit in `inBatch`, so each device's progress row is read and written once per batch.
 */
import type { RecordKind, RecordOf } from '@pdm/protocol';
import type { Db } from './database.js';
import { packPoints } from './prediction-points.js';

export type StoreOutcome = 'stored' | 'duplicate' | 'conflict';

export interface SeqProgress {
  /** Highest seq such that 1..seq are all stored. */
  contiguous: number;
  /** Highest seq stored. */
  max: number;
  /** Distinct seqs stored. */
  stored: number;
  /** Seqs below max that have not arrived (max - stored). */
  missing: number;
}

type Writer<K extends RecordKind> = (record: RecordOf<K>) => void;
/** Kinds with a table of their own; any other record kind is kept whole in record_payloads. */
type Writers = Partial<{ [K in RecordKind]: Writer<K> }>;

export class RecordsRepo {
  readonly #db: Db;
  readonly #writers: Writers;
  readonly #writeGeneric;
  readonly #insertRecord;
  readonly #existingHash;
  readonly #getProgress;
  readonly #putProgress;
  readonly #seqsAbove;
  /** Inside `inBatch`: the seqs stored per device whose progress row is not written yet. */
  #batch: Map<string, number[]> | undefined;

  constructor(db: Db) {
    this.#db = db;
    this.#insertRecord = db.prepare(`INSERT OR IGNORE INTO records (device_id, seq, kind, time, received_at, payload_sha256)
      VALUES (?, ?, ?, ?, ?, ?)`);
    this.#existingHash = db.prepare('SELECT payload_sha256 AS sha FROM records WHERE device_id = ? AND seq = ?').pluck();
    this.#getProgress = db.prepare('SELECT contiguous_seq AS contiguous, max_seq AS max, stored FROM record_progress WHERE device_id = ?');
    this.#putProgress = db.prepare(`INSERT INTO record_progress (device_id, contiguous_seq, max_seq, stored) VALUES (?, ?, ?, ?)
      ON CONFLICT (device_id) DO UPDATE SET contiguous_seq = excluded.contiguous_seq, max_seq = excluded.max_seq, stored = excluded.stored`);
    this.#seqsAbove = db.prepare('SELECT seq FROM records WHERE device_id = ? AND seq > ? ORDER BY seq LIMIT 1000').pluck();
    this.#writers = this.#prepareWriters();
    this.#writeGeneric = db.prepare('INSERT INTO record_payloads (device_id, seq, kind, payload) VALUES (?, ?, ?, ?)');
  }

  /** Stores one record with its per-kind rows; must run inside a transaction. */
  store<K extends RecordKind>(kind: K, record: RecordOf<K>, payloadSha256: string, receivedAt: number): StoreOutcome {
    const inserted = this.#insertRecord.run(record.deviceId, record.seq, kind, record.time, receivedAt, payloadSha256);
    if (inserted.changes === 0) {
      const sha = this.#existingHash.get(record.deviceId, record.seq) as string | undefined;
      return sha === payloadSha256 ? 'duplicate' : 'conflict';
    }
    const write = this.#writers[kind] as Writer<K> | undefined;
    if (write === undefined) this.#writeGeneric.run(record.deviceId, record.seq, kind, JSON.stringify(record));
    else write(record);
    const pending = this.#batch;
    if (pending === undefined) {
      this.#advance(record.deviceId, [record.seq]);
    } else {
      const seqs = pending.get(record.deviceId);
      if (seqs === undefined) pending.set(record.deviceId, [record.seq]);
      else seqs.push(record.seq);
    }
    return 'stored';
  }

  /**
   * Runs `write` (which stores records) and then updates each device's progress row once, to the
   * state that updating it once per record would reach. Must run inside the same transaction as the
   * stores, so a crash keeps both or neither. Why: with ~60 records of one device in a group commit,
   * the row's read and upsert per record cost ~7% of ingest (bench/RESULTS.md, "Controller ingest").
   */
  inBatch<T>(write: () => T): T {
    if (this.#batch !== undefined) return write();
    this.#batch = new Map();
    try {
      const result = write();
      for (const [deviceId, seqs] of this.#batch) this.#advance(deviceId, seqs);
      return result;
    } finally {
      this.#batch = undefined;
    }
  }

  progress(deviceId: string): SeqProgress {
    const row = this.#getProgress.get(deviceId) as Omit<SeqProgress, 'missing'> | undefined;
    const p = row ?? { contiguous: 0, max: 0, stored: 0 };
    return { ...p, missing: p.max - p.stored };
  }

  /** Moves a device's progress over `seqs`, all newly stored (distinct, not stored before). */
  #advance(deviceId: string, seqs: number[]): void {
    const p = this.progress(deviceId);
    if (seqs.length > 1) seqs.sort((a, b) => a - b);
    let contiguous = p.contiguous;
    let i = 0;
    while (i < seqs.length && seqs[i] === contiguous + 1) contiguous = seqs[i++]!;
    // Seqs stored before this batch above the old contiguous one may now close up: walk over them
    // in the table (which holds this batch's seqs too). Not needed when none were stored above.
    if (contiguous > p.contiguous && p.max > contiguous) contiguous = this.#walk(deviceId, contiguous);
    this.#putProgress.run(deviceId, contiguous, Math.max(p.max, seqs.at(-1)!), p.stored + seqs.length);
  }

  /** The highest seq reached from `contiguous` over stored seqs without a gap. */
  #walk(deviceId: string, contiguous: number): number {
    for (;;) {
      const next = this.#seqsAbove.all(deviceId, contiguous) as number[];
      let i = 0;
      while (i < next.length && next[i] === contiguous + 1) contiguous = next[i++]!;
      if (i < next.length || next.length < 1000) return contiguous;
    }
  }

  #prepareWriters(): Writers {
    const db = this.#db;
    const prediction = db.prepare(`INSERT INTO prediction_batches (device_id, seq, asset_id, model_name, model_version, role,
      horizon_hours, threshold, rows, alerts, points) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const alert = db.prepare(`INSERT INTO alerts (device_id, seq, time, asset_id, model_name, model_version, score, threshold,
      severity, window_end, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const event = db.prepare(`INSERT INTO machine_events (device_id, seq, time, asset_id, type, at, component, cause, source, note)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const metric = db.prepare(`INSERT INTO metric_windows (device_id, seq, time, asset_id, window_start, window_end, readings,
      rejected_readings, inferences, inference_errors, alerts, latency_p50, latency_p95, latency_max, model_name, model_version)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const deployment = db.prepare(`INSERT INTO deployment_status (device_id, seq, time, deployment_id, model_name, model_version,
      status, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    return {
      // one row per batch (migration 012)
      predictions: (r) => prediction.run(r.deviceId, r.seq, r.assetId, r.model.name, r.model.version, r.role,
        r.horizonHours ?? null, r.threshold, r.predictions.length,
        r.predictions.reduce((n, p) => (p.alert ? n + 1 : n), 0), packPoints(r.predictions)),
      alerts: (r) => alert.run(r.deviceId, r.seq, r.time, r.assetId, r.model.name, r.model.version, r.score, r.threshold,
        r.severity, r.windowEnd, r.message),
      events: (r) => event.run(r.deviceId, r.seq, r.time, r.assetId, r.type, r.at, r.component ?? null, r.cause ?? null,
        r.source, r.note ?? null),
      metrics: (r) => metric.run(r.deviceId, r.seq, r.time, r.assetId, r.windowStart, r.windowEnd, r.readings,
        JSON.stringify(r.rejectedReadings), r.inferences, r.inferenceErrors, r.alerts, r.latencyMs?.p50 ?? null,
        r.latencyMs?.p95 ?? null, r.latencyMs?.max ?? null, r.model?.name ?? null, r.model?.version ?? null),
      deployment: (r) => deployment.run(r.deviceId, r.seq, r.time, r.deploymentId, r.model.name, r.model.version, r.status,
        r.detail ?? null),
    };
  }
}
