/**
 * The `points` column of prediction_batches (migration 012): one batch's predictions as a JSON array
 * of [t, score, alert] triples, alert 0 or 1, in the order the device sent them. JSON text rather
 * than a binary blob because migration 012 builds the same text from the old per-prediction rows in
 * SQL (json_group_array), so rows written before and after the upgrade hold the same JSON values
 * (the text may differ: SQLite writes 1.0 where JavaScript writes 1), and SQL can still look inside
 * (json_each). A blob was ~15% cheaper to write and as small at 64 per batch (bench/RESULTS.md,
 * "Controller ingest"); JSON was kept for the migration and for SQL.
 */
import { z } from 'zod';
import { PdmError, type PredictionBatch } from '@pdm/protocol';

export type Prediction = PredictionBatch['predictions'][number];

const pointsSchema = z.array(z.tuple([z.string(), z.number(), z.union([z.literal(0), z.literal(1)])])).min(1);

/** A string JSON writes as itself in quotes: the times the protocol lets in (digits, 'T', ':', '.', 'Z', '+', '-'). */
const PLAIN = /^[0-9TZ:.+-]*$/;

/**
 * The column's text for a batch's predictions: what JSON.stringify writes for the triples, written
 * out by hand. Why: building an array per prediction and serialising the nested arrays was ~5% of
 * the ingest worker's time with 4 predictions per batch (bench/RESULTS.md, "Controller ingest"), more
 * at the agent's 64. A time of the protocol's characters needs no escaping and a finite number is
 * written by String() as by JSON; anything else goes through JSON.stringify. prediction-points.test.ts
 * checks the text is JSON.stringify's for any strings and numbers.
 */
export function packPoints(predictions: readonly Prediction[]): string {
  let text = '[';
  for (let i = 0; i < predictions.length; i++) {
    const { t, score, alert } = predictions[i]!;
    if (i > 0) text += ',';
    text += PLAIN.test(t) ? `["${t}",` : `[${JSON.stringify(t)},`;
    text += Number.isFinite(score) ? String(score) : 'null';
    text += alert ? ',1]' : ',0]';
  }
  return `${text}]`;
}

/** The predictions of a stored batch; a column that is not what packPoints writes is an INTERNAL error naming the batch. */
export function unpackPoints(text: string, where: { deviceId: string; seq: number }): Prediction[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new PdmError('INTERNAL', 'stored prediction points are not JSON', { cause, context: where });
  }
  const result = pointsSchema.safeParse(parsed);
  if (!result.success) {
    throw new PdmError('INTERNAL', 'stored prediction points do not match their format', {
      cause: result.error, context: { ...where, issues: z.prettifyError(result.error) },
    });
  }
  return result.data.map(([t, score, alert]) => ({ t, score, alert: alert === 1 }));
}
