/**
 * `pdmctl events add|import|ls`: machine events entered by people or a CMMS (POST /api/v1/events).
 * Flags become the request body as given, so the server's 400 names the field that is wrong
 * (`body.end` is `--end`).
 */
import { readFile } from 'node:fs/promises';
import { PdmError } from '@pdm/protocol';
import { stringFlag, type CommandContext, type CommandGroup } from '../command.js';

interface Delivery {
  type: string;
  deviceId: string | null;
  deliveredAt: string | null;
  attempts: number;
}

interface EventView {
  eventId: string;
  assetId: string;
  type: string;
  start: string;
  end: string | null;
  cause: string | null;
  component: string | null;
  source: string;
  enteredBy: string;
  deliveries: Delivery[];
}

const delivery = (e: EventView): string => {
  const done = e.deliveries.filter((d) => d.deliveredAt !== null).length;
  return `${done}/${e.deliveries.length} delivered${done > 0 ? ` to ${e.deliveries.find((d) => d.deviceId !== null)?.deviceId}` : ''}`;
};

function bodyFromFlags(ctx: CommandContext): Record<string, string> {
  const body: Record<string, string> = {};
  const map: [string, string][] = [
    ['type', 'type'], ['asset', 'assetId'], ['at', 'at'], ['start', 'start'], ['end', 'end'], ['cause', 'cause'],
    ['component', 'component'], ['source', 'source'], ['note', 'note'],
  ];
  for (const [flag, field] of map) {
    const v = stringFlag(ctx, flag);
    if (v !== undefined) body[field] = v;
  }
  return body;
}

export const eventsGroup: CommandGroup = {
  name: 'events',
  summary: 'record failures, maintenance and downtime (ground truth and reliability reports)',
  commands: {
    add: {
      summary: 'record one event; it is forwarded to the asset\'s device',
      usage: '--asset <id> --type failure|maintenance --at <iso> [--end <iso>] | --type downtime --start <iso> --end <iso> --cause unplanned|planned|other; [--component <c>] [--source operator|cmms] [--note <text>]',
      options: {
        type: { type: 'string' }, asset: { type: 'string' }, at: { type: 'string' }, start: { type: 'string' }, end: { type: 'string' },
        cause: { type: 'string' }, component: { type: 'string' }, source: { type: 'string' }, note: { type: 'string' },
      },
      async run(ctx) {
        if (stringFlag(ctx, 'type') === undefined || stringFlag(ctx, 'asset') === undefined) {
          throw new PdmError('REQUEST_INVALID', 'events add needs --type and --asset');
        }
        const body = await ctx.api.post<{ event: EventView }>('/api/v1/events', bodyFromFlags(ctx));
        const e = body.event;
        ctx.out.record({
          eventId: e.eventId, asset: e.assetId, type: e.type, start: e.start, end: e.end, cause: e.cause, component: e.component,
          source: e.source, enteredBy: e.enteredBy, delivery: delivery(e),
        }, body);
        return 0;
      },
    },
    import: {
      summary: 'record the events of a JSON file ({"events": [...]} or an array): all of them or none',
      usage: '<file.json>',
      async run(ctx) {
        const [file] = ctx.positionals;
        if (file === undefined) throw new PdmError('REQUEST_INVALID', 'events import needs a JSON file');
        let parsed: unknown;
        try {
          parsed = JSON.parse(await readFile(file, 'utf8'));
        } catch (err) {
          throw new PdmError('REQUEST_INVALID', `${file} is not readable JSON: ${(err as Error).message}`);
        }
        const events = Array.isArray(parsed) ? parsed : (parsed as { events?: unknown }).events;
        const body = await ctx.api.post<{ count: number; events: EventView[] }>('/api/v1/events/batch', { events });
        ctx.out.table(['event', 'asset', 'type', 'start', 'end', 'delivery'], body.events.map((e) => [e.eventId, e.assetId, e.type, e.start, e.end, delivery(e)]), body);
        return 0;
      },
    },
    ls: {
      summary: 'list recorded events with their delivery to devices',
      usage: '[--asset <id>] [--from <iso>] [--to <iso>] [--limit <n>]',
      options: { asset: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, limit: { type: 'string' } },
      async run(ctx) {
        const body = await ctx.api.get<{ count: number; events: EventView[] }>('/api/v1/events', {
          assetId: stringFlag(ctx, 'asset'), from: stringFlag(ctx, 'from'), to: stringFlag(ctx, 'to'), limit: stringFlag(ctx, 'limit'),
        });
        ctx.out.table(['event', 'asset', 'type', 'start', 'end', 'cause', 'component', 'by', 'delivery'],
          body.events.map((e) => [e.eventId, e.assetId, e.type, e.start, e.end, e.cause, e.component, e.enteredBy, delivery(e)]), body);
        return 0;
      },
    },
  },
};
