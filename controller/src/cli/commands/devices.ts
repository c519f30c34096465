/**
 * `pdmctl devices enroll|reissue|revoke|ls|show`: device credentials for the embedded broker. enroll
 * and reissue print the device's password once, inside the agent config to install with it (for
 * people: the config and the password file line; with --json: `{device, password, agentConfig}`).
 * `pdmctl devices status`: what the devices last reported (GET /api/v1/devices), their restart state among it.
 */
import { PdmError } from '@pdm/protocol';
import type { DeviceView } from '../../db/devices-repo.js';
import { requiredFlag, stringFlag, stringListFlag, type CommandContext, type CommandGroup, type Subcommand } from '../command.js';

interface DeviceIdentity {
  deviceId: string;
  assetId: string;
  assetClass: string;
  site: string;
  tags: string[];
  state: string;
  generation: number;
  enrolledAt: string;
  updatedAt: string;
  revokedAt: string | null;
}

interface Issued {
  device: DeviceIdentity;
  password: string;
  agentConfig: { link: { passwordFile: string } } & Record<string, unknown>;
}

/** The part of GET /api/v1/devices the status table shows: the API's own view, so the two cannot drift apart. */
type DeviceStatus = Pick<DeviceView, 'deviceId' | 'site' | 'state' | 'statusTime' | 'delivery' | 'restartState'>;

const path = (deviceId: string, action: string) => `/api/v1/devices/${encodeURIComponent(deviceId)}/${action}`;

export const devicesGroup: CommandGroup = {
  name: 'devices',
  summary: 'device credentials: enroll devices, re-issue or revoke their MQTT passwords; what they last reported',
  commands: {
    enroll: {
      summary: 'enroll a device: prints its agent config and its password (shown once)',
      usage: '<deviceId> --asset <assetId> --class <assetClass> --site <site> [--tag <tag>]... [--reason <text>]',
      options: { asset: { type: 'string' }, class: { type: 'string' }, site: { type: 'string' }, tag: { type: 'string', multiple: true }, reason: { type: 'string' } },
      async run(ctx) {
        const deviceId = needDevice(ctx, 'enroll');
        const [assetId, assetClass, site] = (['asset', 'class', 'site'] as const).map((flag) => requiredFlag(ctx, flag, 'devices enroll'));
        const reason = stringFlag(ctx, 'reason');
        const body = { assetId, assetClass, site, tags: stringListFlag(ctx, 'tag'), ...(reason === undefined ? {} : { reason }) };
        printIssued(ctx, await ctx.api.post<Issued>(path(deviceId, 'enroll'), body));
        return 0;
      },
    },
    reissue: withReason('reissue', 'new password for an enrolled device; the old one stops working and the device is disconnected',
      (ctx, body: Issued) => printIssued(ctx, body)),
    revoke: withReason('revoke', 'revoke a device\'s credentials; it is disconnected and refused from now on',
      (ctx, body: { device: DeviceIdentity }) => ctx.out.record(fields(body.device), body)),
    ls: {
      summary: 'enrolled devices (never their passwords)',
      usage: '[--state active|revoked] [--tag <tag>]',
      options: { state: { type: 'string' }, tag: { type: 'string' } },
      async run(ctx) {
        const body = await ctx.api.get<{ devices: DeviceIdentity[] }>('/api/v1/enrollments', { state: stringFlag(ctx, 'state'), tag: stringFlag(ctx, 'tag') });
        ctx.out.table(['device', 'asset', 'class', 'site', 'tags', 'state', 'generation', 'updated'],
          body.devices.map((d) => [d.deviceId, d.assetId, d.assetClass, d.site, d.tags.join(','), d.state, d.generation, d.updatedAt]), body);
        return 0;
      },
    },
    status: {
      summary: 'what the devices last reported: presence, outbox backlog, drops, and whether their restart state is stored',
      usage: '[--state online|offline|unknown] [--site <site>] [--class <assetClass>]',
      options: { state: { type: 'string' }, site: { type: 'string' }, class: { type: 'string' } },
      async run(ctx) {
        const query = { state: stringFlag(ctx, 'state'), site: stringFlag(ctx, 'site'), assetClass: stringFlag(ctx, 'class') };
        const body = await ctx.api.get<{ devices: DeviceStatus[] }>('/api/v1/devices', query);
        ctx.out.table(['device', 'site', 'state', 'last status', 'outbox', 'dropped', 'restart state'],
          body.devices.map((d) => [d.deviceId, d.site, d.state, d.statusTime, d.delivery.backlog?.depth ?? null, d.delivery.dropped.total, restartCell(d)]), body);
        return 0;
      },
    },
    show: {
      summary: 'one enrolled device',
      usage: '<deviceId>',
      async run(ctx) {
        const deviceId = needDevice(ctx, 'show');
        const body = await ctx.api.get<{ device: DeviceIdentity }>(`/api/v1/enrollments/${encodeURIComponent(deviceId)}`);
        ctx.out.record(fields(body.device), body);
        return 0;
      },
    },
  },
};

/** Whether a restart resumes from a current point: frozen (and since when), stored (when), or not reported (an older agent). */
function restartCell(d: DeviceStatus): string | null {
  const r = d.restartState;
  if (r === null) return null;
  // a null stored time is one the device has no record of (a new outbox file), not proof that nothing was stored
  const stored = r.storedAt === null ? 'stored time not recorded' : `stored ${r.storedAt}`;
  return r.frozen ? `FROZEN since ${r.notStoredSince}, ${stored}` : stored;
}

function needDevice(ctx: CommandContext, command: string): string {
  const deviceId = ctx.positionals[0];
  if (deviceId === undefined) throw new PdmError('REQUEST_INVALID', `devices ${command} needs a deviceId`);
  return deviceId;
}

/** `<deviceId> [--reason <text>]` posted to the device's `action` route, the answer shown by `show`. */
function withReason<T>(action: string, summary: string, show: (ctx: CommandContext, body: T) => void): Subcommand {
  return {
    summary,
    usage: '<deviceId> [--reason <text>]',
    options: { reason: { type: 'string' } },
    async run(ctx) {
      const deviceId = needDevice(ctx, action);
      const reason = stringFlag(ctx, 'reason');
      show(ctx, await ctx.api.post<T>(path(deviceId, action), reason === undefined ? {} : { reason }));
      return 0;
    },
  };
}

function fields(d: DeviceIdentity): Record<string, string | number | null> {
  return {
    device: d.deviceId, asset: d.assetId, class: d.assetClass, site: d.site, tags: d.tags.join(', '), state: d.state,
    generation: d.generation, enrolled: d.enrolledAt, updated: d.updatedAt, revoked: d.revokedAt,
  };
}

/** The password appears once: in the JSON document, or for people beside the file it belongs in. */
function printIssued(ctx: CommandContext, issued: Issued): void {
  if (ctx.out.json) { ctx.out.value(issued); return; }
  ctx.out.note(`# agent config for ${issued.device.deviceId} (add "model" and "source"; generation ${issued.device.generation})`);
  ctx.out.value(issued.agentConfig);
  ctx.out.note(`# MQTT password, shown only now: write it alone into ${issued.agentConfig.link.passwordFile} (mode 0600)`);
  ctx.out.note(issued.password);
}
