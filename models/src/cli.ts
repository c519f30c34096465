/**
 * `npm run models`: rebuilds every model artifact under models/artifacts from models/data, seeded and
 * deterministic (same data, same model.onnx bytes), printing progress as it goes.
 */
import { buildAzureReference } from './builds/azure.js';
import type { BuildContext, BuildResult } from './builds/context.js';
import { ARTIFACTS_DIR, DATA_DIR } from './paths.js';

async function main(): Promise<void> {
  const ctx: BuildContext = {
    dataDir: DATA_DIR,
    artifactsDir: ARTIFACTS_DIR,
    progress: (step, detail) => process.stderr.write(`[models] ${step} ${detail === undefined ? '' : JSON.stringify(detail)}\n`),
    now: () => new Date(),
  };
  const results: BuildResult[] = [];
  results.push(await buildAzureReference(ctx));
  for (const r of results) {
    process.stdout.write(`${r.card.name} ${r.card.version}: ${r.artifact.modelBytes} bytes, ${r.seconds} s -> ${r.artifact.dir}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`[models] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
