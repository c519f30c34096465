/**
 * `pdmctl rollouts ls|show|create|pause|resume|abort|promote|rollback`. `create` builds the request
 * from flags (the same gates on every stage) or takes a whole request from `--file spec.json`.
 */
import { readFile } from 'node:fs/promises';
import { PdmError } from '@pdm/protocol';
import { stringFlag, stringListFlag, type CommandContext, type CommandGroup, type OptionSpec, type Subcommand } from '../command.js';

interface RolloutView {
  id: string;
  model: { name: string; version: string };
  mode: string;
  state: string;
  stage: number;
  stages: number;
  reason: string | null;
  createdAt: string;
  createdBy: string;
  devices: { targeted: number; given: number; rolledBack: number };
}

interface GateResult { gate: string; status: string; value: number | null; threshold: number; samples: number; detail: string }
interface DeviceRow { deviceId: string; stage: number | null; want: string; online: boolean; inSync: boolean; outcome: string; status: string | null; answer: string | null }
interface Detail extends RolloutView {
  stageHistory: { stage: number; startedAt: string; activatedAt: string | null; endedAt: string | null; outcome: string | null }[];
  evaluation: { verdict: string; gates: GateResult[]; soakEndsAt: string | null; deadline: string } | null;
  deviceList: DeviceRow[];
}

const createOptions: OptionSpec = {
  file: { type: 'string' }, id: { type: 'string' }, model: { type: 'string' }, version: { type: 'string' }, mode: { type: 'string' },
  all: { type: 'boolean' }, device: { type: 'string', multiple: true }, 'asset-class': { type: 'string', multiple: true }, site: { type: 'string', multiple: true },
  tag: { type: 'string', multiple: true },
  stages: { type: 'string' }, soak: { type: 'string' }, timeout: { type: 'string' }, 'on-timeout': { type: 'string' },
  'min-activation': { type: 'string' }, 'max-failures': { type: 'string' }, 'max-error-rate': { type: 'string' }, 'max-p95-ms': { type: 'string' },
  'max-alert-ratio': { type: 'string' }, 'min-agreement': { type: 'string' }, 'min-samples': { type: 'string' },
  'min-precision': { type: 'string' }, 'min-recall': { type: 'string' }, 'quality-optional': { type: 'boolean' },
  'previous-version': { type: 'string' }, reason: { type: 'string' },
};

const control = (action: string, summary: string): Subcommand => ({
  summary,
  usage: '<id> [--reason <text>]',
  options: { reason: { type: 'string' } },
  async run(ctx) {
    const [id] = ctx.positionals;
    if (id === undefined) throw usage(`rollouts ${action} needs a rollout id`);
    const reason = stringFlag(ctx, 'reason');
    const body = await ctx.api.post<{ rollout: RolloutView }>(`/api/v1/rollouts/${encodeURIComponent(id)}/${action}`, reason === undefined ? {} : { reason });
    ctx.out.record(summaryFields(body.rollout), body);
    return 0;
  },
});

export const rolloutsGroup: CommandGroup = {
  name: 'rollouts',
  summary: 'staged rollouts of model versions: create, watch, steer by hand',
  commands: {
    ls: {
      summary: 'list rollouts, newest first',
      usage: '[--state <state>] [--model <name>] [--limit <n>]',
      options: { state: { type: 'string' }, model: { type: 'string' }, limit: { type: 'string' } },
      async run(ctx) {
        const body = await ctx.api.get<{ rollouts: RolloutView[] }>('/api/v1/rollouts', { state: stringFlag(ctx, 'state'), model: stringFlag(ctx, 'model'), limit: stringFlag(ctx, 'limit') });
        ctx.out.table(['id', 'model', 'version', 'mode', 'state', 'stage', 'given/targeted', 'created', 'by'], body.rollouts.map((r) => [
          r.id, r.model.name, r.model.version, r.mode, r.state, `${r.stage}/${r.stages}`, `${r.devices.given}/${r.devices.targeted}`, r.createdAt, r.createdBy,
        ]), body);
        return 0;
      },
    },
    show: {
      summary: 'one rollout: state, gates of the current stage, stages, devices',
      usage: '<id>',
      async run(ctx) {
        const [id] = ctx.positionals;
        if (id === undefined) throw usage('rollouts show needs a rollout id');
        const body = await ctx.api.get<{ rollout: Detail }>(`/api/v1/rollouts/${encodeURIComponent(id)}`);
        showDetail(ctx, body.rollout, body);
        return 0;
      },
    },
    create: {
      summary: 'start a staged rollout of a published model version',
      usage: '--model <name> --version <v> (--all | --device <id>... | --asset-class <c>... --site <s>... --tag <t>...) [--mode shadow|alert|act]\n'
        + '    [--stages 1,50%,100%] [--soak <s>] [--timeout <s>] [--on-timeout pause|rollback] [--min-activation 0-1] [--max-failures n]\n'
        + '    [--max-error-rate 0-1] [--max-p95-ms n] [--max-alert-ratio x] [--min-agreement 0-1] [--min-samples n]\n'
        + '    [--min-precision 0-1] [--min-recall 0-1] [--quality-optional] [--previous-version v] [--id <id>] [--reason <text>]\n'
        + '  or: --file <request.json>',
      options: createOptions,
      async run(ctx) {
        const file = stringFlag(ctx, 'file');
        const request = file === undefined ? requestFromFlags(ctx) : (JSON.parse(await readFile(file, 'utf8')) as unknown);
        const body = await ctx.api.post<{ created: boolean; rollout: RolloutView }>('/api/v1/rollouts', request);
        ctx.out.note(body.created ? 'rollout created' : 'rollout already exists (same id and request)');
        ctx.out.record(summaryFields(body.rollout), body);
        return 0;
      },
    },
    pause: control('pause', 'hold the rollout at its stage (failed gates still roll it back)'),
    resume: control('resume', 'continue a paused rollout; the stage clock starts again'),
    abort: control('abort', 'stop the rollout; devices keep what they run (--reason required)'),
    promote: control('promote', 'pass the current stage now, without waiting for its evidence (--reason required)'),
    rollback: control('rollback', 'return every device that got the version to its previous one (--reason required)'),
  },
};

function requestFromFlags(ctx: CommandContext): Record<string, unknown> {
  const name = stringFlag(ctx, 'model');
  const version = stringFlag(ctx, 'version');
  if (name === undefined || version === undefined) throw usage('rollouts create needs --model and --version (or --file)');
  const devices = stringListFlag(ctx, 'device');
  const classes = stringListFlag(ctx, 'asset-class');
  const sites = stringListFlag(ctx, 'site');
  const tags = stringListFlag(ctx, 'tag');
  const target = ctx.values.all === true ? { all: true }
    : devices.length > 0 ? { deviceIds: devices }
      : { ...(classes.length > 0 ? { assetClasses: classes } : {}), ...(sites.length > 0 ? { sites } : {}), ...(tags.length > 0 ? { tags } : {}) };
  if (Object.keys(target).length === 0) throw usage('rollouts create needs a target: --all, --device, --asset-class, --site or --tag');
  const num = (flag: string) => { const v = stringFlag(ctx, flag); if (v === undefined) return undefined; const n = Number(v); if (!Number.isFinite(n)) throw usage(`--${flag} must be a number`); return n; };
  const quality = num('min-precision') !== undefined || num('min-recall') !== undefined
    ? { quality: prune({ minPrecision: num('min-precision'), minRecall: num('min-recall'), optional: ctx.values['quality-optional'] === true ? true : undefined }) } : {};
  const gates = prune({
    minActivationRate: num('min-activation'), maxFailures: num('max-failures'), maxInferenceErrorRate: num('max-error-rate'),
    maxLatencyP95Ms: num('max-p95-ms'), maxAlertRateRatio: num('max-alert-ratio'), minAgreement: num('min-agreement'), minSamples: num('min-samples'), ...quality,
  });
  const stages = (stringFlag(ctx, 'stages') ?? '10%,50%,100%').split(',').map((s) => s.trim()).map((s) => prune({
    ...(s.endsWith('%') ? { percent: Number(s.slice(0, -1)) } : { count: Number(s) }),
    soakSeconds: num('soak'), timeoutSeconds: num('timeout'), onTimeout: stringFlag(ctx, 'on-timeout'), gates,
  }));
  return prune({
    id: stringFlag(ctx, 'id'), model: { name, version }, target, mode: stringFlag(ctx, 'mode'), stages,
    previousVersion: stringFlag(ctx, 'previous-version'), reason: stringFlag(ctx, 'reason'),
  });
}

function prune<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function summaryFields(r: RolloutView): Record<string, string | number | null> {
  return {
    id: r.id, model: `${r.model.name} ${r.model.version}`, mode: r.mode, state: r.state, stage: `${r.stage}/${r.stages}`,
    devices: `${r.devices.given} given, ${r.devices.rolledBack} rolled back, ${r.devices.targeted} targeted`, reason: r.reason, created: `${r.createdAt} by ${r.createdBy}`,
  };
}

function showDetail(ctx: CommandContext, r: Detail, raw: unknown): void {
  if (ctx.out.json) { ctx.out.value(raw); return; }
  ctx.out.record(summaryFields(r), raw);
  if (r.evaluation !== null) {
    ctx.out.note(`\ncurrent stage: ${r.evaluation.verdict}; soak ends ${r.evaluation.soakEndsAt ?? '(not activated yet)'}; timeout ${r.evaluation.deadline}`);
    ctx.out.table(['gate', 'status', 'value', 'threshold', 'samples', 'detail'], r.evaluation.gates.map((g) => [g.gate, g.status, g.value, g.threshold, g.samples, g.detail]), raw);
  }
  ctx.out.note('\nstages:');
  ctx.out.table(['stage', 'started', 'activated', 'ended', 'outcome'], r.stageHistory.map((s) => [s.stage, s.startedAt, s.activatedAt, s.endedAt, s.outcome]), raw);
  ctx.out.note('\ndevices:');
  ctx.out.table(['device', 'stage', 'want', 'online', 'in sync', 'outcome', 'last status', 'answer'], r.deviceList.map((d) => [
    d.deviceId, d.stage, d.want, d.online, d.inSync, d.outcome, d.status, d.answer,
  ]), raw);
}

function usage(message: string): PdmError {
  return new PdmError('REQUEST_INVALID', message);
}
