/**
 * esbuild plugin that routes the agent's two native-addon loads to ./native-loader.ts, so the bundle
 * can run inside a single executable where the built-in require knows only core modules:
 *
 * - better-sqlite3 loads its addon with `require('bindings')('better_sqlite3.node')`; `bindings` finds
 *   files by walking up from the caller's source path, which means nothing inside a bundle. Its import
 *   is replaced by a module that loads `native/better_sqlite3.node`. (better-sqlite3's own
 *   `nativeBinding` option would do the same, but needs every `new Database` in the agent to pass it.)
 * - onnxruntime-node's dist/binding.js requires `../bin/napi-v6/${platform}/${arch}/...node`, a
 *   template esbuild cannot follow (PLATFORM.md). That one expression is rewritten; the build fails if
 *   the text is not found, so an onnxruntime-node upgrade that changes it cannot slip through silently.
 */
import { readFile } from 'node:fs/promises';
import type { Plugin } from 'esbuild';
import { BuildError } from './build-error.js';

/** The require in onnxruntime-node 1.30's dist/binding.js. */
const ORT_BINDING_REQUIRE = /require\(`\.\.\/bin\/napi-v6\/\$\{process\.platform\}\/\$\{process\.arch\}\/onnxruntime_binding\.node`\)/;
const ORT_BINDING_FILE = /[\\/]onnxruntime-node[\\/]dist[\\/]binding\.js$/;

/** Files that must end up in `native/` beside the executable for the loads this plugin rewrites. */
export const NATIVE_FILES = ['better_sqlite3.node', 'onnxruntime_binding.node', 'libonnxruntime.so.1'] as const;

export function nativeAddonsPlugin(loaderPath: string): Plugin {
  const loadNative = (file: string): string => `require(${JSON.stringify(loaderPath)}).loadNative(${JSON.stringify(file)})`;
  return {
    name: 'pdm-native-addons',
    setup(build) {
      build.onResolve({ filter: /^bindings$/ }, (args) => {
        if (!/[\\/]better-sqlite3[\\/]/.test(args.importer)) {
          throw new BuildError('bundle', 'only better-sqlite3 may import "bindings" in the agent bundle', {
            context: { importer: args.importer },
          });
        }
        return { path: 'better-sqlite3-bindings', namespace: 'pdm-native' };
      });
      build.onLoad({ filter: /.*/, namespace: 'pdm-native' }, () => ({
        contents: `module.exports = function bindings(file) { return ${loadNative('better_sqlite3.node')}; };`,
        loader: 'js',
        resolveDir: process.cwd(),
      }));
      build.onLoad({ filter: ORT_BINDING_FILE }, async (args) => {
        const source = await readFile(args.path, 'utf8');
        if (!ORT_BINDING_REQUIRE.test(source)) {
          throw new BuildError('bundle', 'onnxruntime-node dist/binding.js no longer has the require this plugin rewrites', {
            context: { file: args.path },
          });
        }
        return { contents: source.replace(ORT_BINDING_REQUIRE, loadNative('onnxruntime_binding.node')), loader: 'js' };
      });
    },
  };
}
