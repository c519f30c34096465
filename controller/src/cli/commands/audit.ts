/** `pdmctl audit ls`: who changed what, when and why, newest first, one page at a time. */
import { stringFlag, type CommandGroup } from '../command.js';

interface Entry { id: number; at: string; actor: string; role: string | null; action: string; target: { type: string; id: string }; reason: string | null }

export const auditGroup: CommandGroup = {
  name: 'audit',
  summary: 'the audit log of every change',
  commands: {
    ls: {
      summary: 'audit entries, newest first (--before <id> for the next page)',
      usage: '[--actor <name>] [--action <a or prefix.>] [--target-type <t>] [--target-id <id>] [--since <iso>] [--until <iso>] [--limit <n>] [--before <id>]',
      options: {
        actor: { type: 'string' }, action: { type: 'string' }, 'target-type': { type: 'string' }, 'target-id': { type: 'string' },
        since: { type: 'string' }, until: { type: 'string' }, limit: { type: 'string' }, before: { type: 'string' },
      },
      async run(ctx) {
        const body = await ctx.api.get<{ entries: Entry[]; nextBefore: number | null }>('/api/v1/audit', {
          actor: stringFlag(ctx, 'actor'), action: stringFlag(ctx, 'action'), targetType: stringFlag(ctx, 'target-type'), targetId: stringFlag(ctx, 'target-id'),
          since: stringFlag(ctx, 'since'), until: stringFlag(ctx, 'until'), limit: stringFlag(ctx, 'limit'), before: stringFlag(ctx, 'before'),
        });
        ctx.out.table(['id', 'at', 'actor', 'role', 'action', 'target', 'reason'], body.entries.map((e) => [
          e.id, e.at, e.actor, e.role, e.action, `${e.target.type} ${e.target.id}`, e.reason,
        ]), body);
        if (body.nextBefore !== null) ctx.out.note(`more: --before ${body.nextBefore}`);
        return 0;
      },
    },
  },
};
