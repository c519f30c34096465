/** controller/README.md must agree with the code: every config field, every route, the ready line. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configKeys, controllerConfigSchema, envName, flagName } from './config.js';
import { buildHttpApp } from './http/build-app.js';
import { captureLogs } from './testing/log-capture.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('controller/README.md', () => {
  it('documents every config field with its flag, env variable and default', () => {
    const defaults = controllerConfigSchema.parse({});
    for (const key of configKeys) {
      const d = defaults[key];
      const shown = d === undefined ? '(none)' : `\`${typeof d === 'string' ? d : JSON.stringify(d)}\``;
      const row = `| \`${key}\` | \`${flagName(key)}\` | \`${envName(key)}\` | ${shown} |`;
      expect(readme, key).toContain(row);
    }
  });

  it('documents every route', () => {
    const app = buildHttpApp({} as never, captureLogs('silent').log);
    const routes: string[] = [];
    // Swagger UI's own files are hidden from the document; /docs and /docs/json are documented by hand.
    app.addHook('onRoute', (r) => { if (r.method === 'GET' && (r.schema as { hide?: boolean } | undefined)?.hide !== true) routes.push(r.url); });
    return app.ready().then(() => {
      expect(routes.length).toBeGreaterThan(0);
      for (const url of routes) expect(readme, url).toContain(`### \`GET ${url}\``);
    });
  });

  it('lists the fields of the ready line', () => {
    for (const field of ['version', 'host', 'httpPort', 'mqttPort', 'wsPort', 'brokerMode', 'brokerUrl', 'dataDir']) {
      expect(readme, field).toContain(`\`${field}\``);
      expect(readme, field).toMatch(new RegExp(`"${field}":[^\\n]*"msg":"controller ready"`));
    }
  });
});
