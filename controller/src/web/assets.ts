/**
 * The dashboard's files: the page, its script and style from this folder, and Chart.js from the
 * controller's own node_modules (no CDN: plants often have no internet). tsc does not copy non-TS
 * files, so src/web/x.ts and dist/web/x.js both read from src/web/ (the package keeps src/, as for
 * the SQL migrations).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB_DIR = fileURLToPath(new URL('../../src/web/', import.meta.url));

export interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

/** Chart.js's UMD build, resolved from where the controller's own import of chart.js would load. */
export function chartJsFile(): string {
  return join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.js');
}

/** Reads every file the dashboard serves, once (at start). */
export function dashboardAssets(): ReadonlyMap<string, Asset> {
  const file = (path: string, type: string): Asset => ({ body: readFileSync(path), type });
  return new Map([
    ['index.html', file(join(WEB_DIR, 'index.html'), 'text/html; charset=utf-8')],
    ['dashboard.js', file(join(WEB_DIR, 'dashboard.js'), 'text/javascript; charset=utf-8')],
    ['dashboard.css', file(join(WEB_DIR, 'dashboard.css'), 'text/css; charset=utf-8')],
    ['vendor/chart.umd.js', file(chartJsFile(), 'text/javascript; charset=utf-8')],
  ]);
}
