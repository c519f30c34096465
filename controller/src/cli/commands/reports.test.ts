/** pdmctl reports and events against a whole controller on free ports (real HTTP, SQLite, MQTT). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN_FILE } from '../../auth/tokens.js';
import { connectDevice, type TestDevice } from '../../testing/device-client.js';
import * as fx from '../../testing/fixtures.js';
import { startTestController, type TestController } from '../../testing/harness.js';
import { runCaptured } from '../../testing/pdmctl.js';

let c: TestController;
let device: TestDevice;
let env: Record<string, string>;

beforeAll(async () => {
  c = await startTestController();
  env = { PDM_URL: `http://127.0.0.1:${c.app.http.port}`, PDM_TOKEN: readFileSync(join(c.config.dataDir, ADMIN_TOKEN_FILE), 'utf8').trim() };
  device = await connectDevice(c.mqttUrl, 'gw-1', { withWill: false, answer: true });
  await device.publish('status', fx.status('gw-1', { assetId: 'machine-1' }));
  // a replayed failure with its corrective maintenance, and a planned maintenance
  const at = (t: string, seq: number, type: 'failure' | 'maintenance', component: string) =>
    device.publish('events', fx.event('gw-1', seq, { assetId: 'machine-1', time: t, at: t, type, component }));
  await at('2015-01-05T06:00:00.000Z', 1, 'failure', 'comp4');
  await at('2015-01-05T06:00:00.000Z', 2, 'maintenance', 'comp4');
  await at('2015-01-10T06:00:00.000Z', 3, 'maintenance', 'comp1');
  await c.settle();
});

afterAll(async () => {
  await device?.end();
  await c?.stop();
});

const ctl = (args: string[]) => runCaptured(args, env);

const period = ['--from', '2015-01-01T00:00:00Z', '--to', '2015-01-11T00:00:00Z'];

describe('pdmctl events', () => {
  it('records a downtime, refuses one without an end naming the field, and lists it', async () => {
    const bad = await ctl(['events', 'add', '--asset', 'machine-1', '--type', 'downtime', '--start', '2015-01-08T00:00:00Z', '--cause', 'other']);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/REQUEST_INVALID: body\.end/);
    const usage = await ctl(['events', 'add', '--type', 'failure']);
    expect(usage.code).toBe(2);
    const ok = await ctl(['events', 'add', '--asset', 'machine-1', '--type', 'downtime', '--start', '2015-01-08T00:00:00Z',
      '--end', '2015-01-08T05:00:00Z', '--cause', 'other', '--note', 'no orders']);
    expect(ok.code, ok.err).toBe(0);
    expect(ok.out).toMatch(/type +downtime/);
    expect(ok.out).toMatch(/enteredBy +admin/);
    const list = await ctl(['--json', 'events', 'ls', '--asset', 'machine-1']);
    expect(JSON.parse(list.out)).toMatchObject({ count: 1, events: [{ type: 'downtime', cause: 'other', start: '2015-01-08T00:00:00.000Z' }] });
  });
});

describe('pdmctl reports reliability', () => {
  // 240 h; failure 8 h assumed (its maintenance is its repair), maintenance 2 h, other 5 h
  it('prints a table with the definitions, the whole report as JSON, and CSV', async () => {
    const table = await ctl(['reports', 'reliability', ...period]);
    expect(table.code, table.err).toBe(0);
    expect(table.out).toMatch(/machine-1 +│ 1 +│ 225\.0 +│ 1 +│ 225\.0 +│ 8\.00 +│ 95\.74% +│ 8\.0 +│ 2\.0 +│ 5\.0 +│ 1/);
    expect(table.out).toMatch(/failure is assumed to stop the asset for 8 h/);
    expect(table.out).toMatch(/MTBF: MTBF, SMRP 3\.5\.1/);
    const json = JSON.parse((await ctl(['reports', 'reliability', ...period, '--json'])).out);
    expect(json.totals).toMatchObject({ operatingHours: 225, failures: 1, mtbfHours: 225, mttrHours: 8, availability: 0.957447,
      downtimeHours: { unplanned: 8, planned: 2, other: 5 } });
    const csv = await ctl(['reports', 'reliability', ...period, '--group-by', 'site', '--csv']);
    expect(csv.out.split(/\r?\n/).slice(0, 2)).toEqual([
      'group,assets,from,to,calendarHours,operatingHours,failures,mtbfHours,repairs,repairHours,mttrHours,availability,unplannedDowntimeHours,plannedDowntimeHours,otherDowntimeHours,maintenance',
      'plant-a,1,2015-01-01T00:00:00.000Z,2015-01-11T00:00:00.000Z,240,225,1,225,1,8,8,0.957447,8,2,5,1',
    ]);
    expect((await ctl(['reports', 'reliability', '--csv', '--json'])).code).toBe(2);
  });

  it('answers Accept: text/csv on the HTTP API too', async () => {
    const res = await fetch(`${env.PDM_URL}/api/v1/reports/reliability?from=2015-01-01T00:00:00Z&to=2015-01-11T00:00:00Z`, { headers: { accept: 'text/csv' } });
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect((await res.text()).split('\r\n')[1]).toMatch(/^machine-1,1,/);
  });
});
