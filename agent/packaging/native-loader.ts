/**
 * Loads the agent's native addons (onnxruntime's binding, better-sqlite3) inside the single executable.
 *
 * Only the SEA bundle uses this file: the esbuild plugin (./native-plugin.ts) points better-sqlite3's
 * `require('bindings')` and onnxruntime-node's platform-switching require here. Inside a SEA the
 * built-in `require` loads only core modules, so addons go through a require made for the
 * executable's own path (Node's SEA docs: "createRequire(process.execPath)"). The addons live in
 * `native/` beside the executable; `process.execPath` is the resolved file (Linux reads
 * /proc/self/exe), so a symlink in /usr/local/bin still finds them. Run as a plain script (the bundle
 * under `node`, for debugging), they sit in `native/` beside the script.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { isSea } from 'node:sea';

/** The folder, beside the executable, that holds the native files. */
export const NATIVE_DIR = 'native';

export function nativeDir(): string {
  return join(isSea() ? dirname(process.execPath) : __dirname, NATIVE_DIR);
}

/**
 * Loads `native/<file>` (e.g. `better_sqlite3.node`) with a require rooted at the executable. A missing
 * file fails with Node's own MODULE_NOT_FOUND error, which names the full path that was tried.
 */
export function loadNative(file: string): unknown {
  const name = file.endsWith('.node') ? file : `${file}.node`;
  return createRequire(process.execPath)(join(nativeDir(), name));
}
