/** Renders a model card as Markdown for people: the same facts as card.json, nothing more. */
import type { ModelCard } from '@pdm/protocol';

function metricRows(card: ModelCard): string[] {
  return Object.entries(card.metrics).map(([name, m]) => {
    const ci = m.ci === undefined ? '' : `${m.ci[0]} – ${m.ci[1]}`;
    return `| ${name} | ${m.value} | ${ci} | ${m.note ?? ''} |`;
  });
}

export function renderCard(card: ModelCard): string {
  const spec = card.featureSpec;
  const lines = [
    `# Model card: ${card.name} ${card.version}${card.variant === 'degraded' ? ' (DEGRADED — for rollout demos and tests only)' : ''}`,
    '',
    card.description,
    '',
    `- Variant: **${card.variant}**`,
    `- Task: ${spec.task}${spec.horizonHours === undefined ? '' : `, horizon ${spec.horizonHours} h`}; alert when score ${spec.alertWhen === 'above' ? '>=' : '<='} **${spec.threshold}**`,
    `- Input: \`${spec.input.name}\` float32 [N, ${spec.features.length}]; score: output \`${spec.output.name}\` column ${spec.output.column}`,
    `- Reading interval: ${spec.readingIntervalSeconds} s; sha256 of model.onnx: \`${card.sha256 ?? 'n/a'}\``,
    `- Created: ${card.createdAt}`,
    '',
    '## Data',
    '',
    `${card.data.name}, ${card.data.rows} rows. Source: ${card.data.source}. Licence: ${card.data.licence}.`,
    '',
    '## Split',
    '',
    card.split,
    '',
    '## Metrics (held-out data)',
    '',
    '| metric | value | 95% interval | note |',
    '|---|---|---|---|',
    ...metricRows(card),
    '',
    '## Threshold',
    '',
    card.thresholdChoice,
    '',
    '## Signals',
    '',
    '| signal | unit | accepted range | categories |',
    '|---|---|---|---|',
    ...spec.signals.map((s) => `| ${s.name} | ${s.unit ?? ''} | ${s.min} – ${s.max} | ${s.categories?.join(', ') ?? ''} |`),
    '',
    '## Features (input order)',
    '',
    '| # | feature | signal | aggregate | window (readings) |',
    '|---|---|---|---|---|',
    ...spec.features.map((f, i) => `| ${i} | ${f.name} | ${f.signal} | ${f.agg} | ${f.window} |`),
    '',
    '## Training',
    '',
    `${card.training.algorithm}; seed ${card.training.seed}${card.training.seconds === undefined ? '' : `; ${card.training.seconds} s`}.`,
    '',
    '| parameter | value |',
    '|---|---|',
    ...Object.entries(card.training.params).map(([k, v]) => `| ${k} | ${v} |`),
    '',
    '## Known limits',
    '',
    ...card.limits.map((l) => `- ${l}`),
    '',
  ];
  return lines.join('\n');
}
