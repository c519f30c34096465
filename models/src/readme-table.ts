/**
 * Keeps the artifact table in models/README.md in step with the committed artifacts: one row per
 * card (variant, model size, training time, headline metrics), written between two marker comments.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelCardSchema, PdmError, type ModelCard } from '@pdm/protocol';

export const TABLE_START = '<!-- artifacts:start (written by npm run models) -->';
export const TABLE_END = '<!-- artifacts:end -->';

const HEADLINES = ['hour.precision', 'hour.recall', 'event.recall', 'event.precision', 'row.f1', 'rmse', 'phm08'];

function headline(card: ModelCard): string {
  return HEADLINES.filter((k) => card.metrics[k] !== undefined)
    .map((k) => `${k} ${card.metrics[k]!.value}`)
    .join(', ');
}

export function renderTable(artifactsDir: string): string {
  const rows = readdirSync(artifactsDir).sort().flatMap((name) =>
    readdirSync(join(artifactsDir, name)).sort().map((version) => {
      const dir = join(artifactsDir, name, version);
      const card = modelCardSchema.parse(JSON.parse(readFileSync(join(dir, 'card.json'), 'utf8')));
      const kb = (statSync(join(dir, 'model.onnx')).size / 1024).toFixed(1);
      return `| ${name} | ${version} | ${card.variant} | ${kb} KiB | ${card.training.seconds ?? '?'} s | ${headline(card)} |`;
    }),
  );
  return [
    TABLE_START,
    '| model | version | variant | model.onnx | training (incl. threshold folds) | held-out metrics |',
    '|---|---|---|---|---|---|',
    ...rows,
    TABLE_END,
  ].join('\n');
}

export function updateReadmeTable(readmePath: string, artifactsDir: string): void {
  const text = readFileSync(readmePath, 'utf8');
  const start = text.indexOf(TABLE_START);
  const end = text.indexOf(TABLE_END);
  if (start < 0 || end < start) {
    throw new PdmError('INTERNAL', `${readmePath} lacks the artifact table markers ${TABLE_START} ... ${TABLE_END}`);
  }
  writeFileSync(readmePath, text.slice(0, start) + renderTable(artifactsDir) + text.slice(end + TABLE_END.length));
}
