/** `pdmctl tokens create|ls|revoke`: API tokens and their roles (admin only). */
import { PdmError } from '@pdm/protocol';
import { requiredFlag, stringFlag, type CommandGroup } from '../command.js';

interface TokenInfo {
  name: string; role: string; source: string; created: string | null; createdBy: string | null;
  lastUsed: string | null; revoked: string | null; revokedBy: string | null;
}

export const tokensGroup: CommandGroup = {
  name: 'tokens',
  summary: 'API tokens and their roles (admin, engineer, planner, viewer)',
  commands: {
    create: {
      summary: 'create a token; it is printed once, store it now',
      usage: '--name <name> --role <admin|engineer|planner|viewer> [--reason <text>]',
      options: { name: { type: 'string' }, role: { type: 'string' }, reason: { type: 'string' } },
      async run(ctx) {
        const body = await ctx.api.post<{ token: string; info: TokenInfo }>('/api/v1/tokens', {
          name: requiredFlag(ctx, 'name', 'tokens create'), role: requiredFlag(ctx, 'role', 'tokens create'), reason: stringFlag(ctx, 'reason'),
        });
        ctx.out.record({ name: body.info.name, role: body.info.role, token: body.token }, body);
        ctx.out.note('The token is shown this once: give it to its holder now (PDM_TOKEN or --token).');
        return 0;
      },
    },
    ls: {
      summary: 'every token: where it comes from, created, last used, revoked (never the token)',
      usage: '',
      async run(ctx) {
        const body = await ctx.api.get<{ tokens: TokenInfo[] }>('/api/v1/tokens');
        ctx.out.table(['name', 'role', 'source', 'created', 'by', 'last used', 'revoked'], body.tokens.map((t) => [
          t.name, t.role, t.source, t.created, t.createdBy, t.lastUsed, t.revoked === null ? null : `${t.revoked} by ${t.revokedBy ?? '?'}`,
        ]), body);
        return 0;
      },
    },
    revoke: {
      summary: 'revoke a token created with tokens create: refused from its next request on',
      usage: '<name> [--reason <text>]',
      options: { reason: { type: 'string' } },
      async run(ctx) {
        const name = ctx.positionals[0];
        if (name === undefined) throw new PdmError('REQUEST_INVALID', 'tokens revoke needs the token\'s name');
        const body = await ctx.api.post<{ changed: boolean; info: TokenInfo }>(`/api/v1/tokens/${encodeURIComponent(name)}/revoke`, { reason: stringFlag(ctx, 'reason') });
        ctx.out.record({ name: body.info.name, revoked: body.info.revoked, by: body.info.revokedBy, changed: body.changed }, body);
        return 0;
      },
    },
  },
};
