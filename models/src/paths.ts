/** Where the committed data and artifacts live, for tests and the demo that use them without retraining. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// src/ and dist/ both sit one level below the package folder.
const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DATA_DIR = join(PACKAGE_DIR, 'data');
export const ARTIFACTS_DIR = join(PACKAGE_DIR, 'artifacts');

/** Absolute path of one file of a committed artifact, e.g. artifactPath('azure-pdm-failure-24h', '1.0.0', 'model.onnx'). */
export function artifactPath(name: string, version: string, file: 'model.onnx' | 'card.json' | 'CARD.md'): string {
  return join(ARTIFACTS_DIR, name, version, file);
}
export const README_PATH = join(PACKAGE_DIR, 'README.md');
