/**
 * `npm run models`: rebuilds every model artifact under models/artifacts from models/data, seeded and
 * deterministic (same data and code, same model.onnx bytes), printing progress as it goes, then
 * rewrites the artifact table in models/README.md (training time, file sizes, headline metrics).
 * `npm run models -- <name> ...` rebuilds only the named families (azure, azure-log, ai4i, cmapss, linear).
 */
import { buildAi4iFamily } from './builds/ai4i.js';
import { buildAzureFamily, loadAzureSplit } from './builds/azure.js';
import { buildAzureLogModel } from './builds/azure-log.js';
import { buildCmapss } from './builds/cmapss.js';
import type { BuildContext, BuildResult } from './builds/common.js';
import { buildAzureLinear } from './builds/linear.js';
import { updateReadmeTable } from './readme-table.js';
import { ARTIFACTS_DIR, DATA_DIR, README_PATH } from './paths.js';

const families: Record<string, (ctx: BuildContext) => Promise<BuildResult[]>> = {
  azure: (ctx) => buildAzureFamily(ctx),
  'azure-log': async (ctx) => [await buildAzureLogModel(ctx)],
  linear: async (ctx) => [await buildAzureLinear(ctx, loadAzureSplit(ctx))],
  ai4i: (ctx) => buildAi4iFamily(ctx),
  cmapss: async (ctx) => [await buildCmapss(ctx)],
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !(w in families));
  if (unknown.length > 0) {
    process.stderr.write(`[models] unknown model families: ${unknown.join(', ')} (known: ${Object.keys(families).join(', ')})\n`);
    process.exitCode = 2;
    return;
  }
  const ctx: BuildContext = {
    dataDir: DATA_DIR,
    artifactsDir: ARTIFACTS_DIR,
    progress: (step, detail) => process.stderr.write(`[models] ${step} ${detail === undefined ? '' : JSON.stringify(detail)}\n`),
    now: () => new Date(),
  };
  const results: BuildResult[] = [];
  for (const [name, build] of Object.entries(families)) {
    if (wanted.length === 0 || wanted.includes(name)) results.push(...(await build(ctx)));
  }
  updateReadmeTable(README_PATH, ARTIFACTS_DIR);
  for (const r of results) {
    process.stdout.write(`${r.card.name} ${r.card.version}: ${r.artifact.modelBytes} bytes, ${r.seconds} s -> ${r.artifact.dir}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[models] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
