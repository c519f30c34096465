/** `pdmctl trust show|rotate`: the public key set devices trust, and key rotation (admin). */
import { requiredFlag, type CommandGroup } from '../command.js';

interface KeySet { version: number; threshold: number; keys: { keyid: string; publicKeyPem: string }[]; created: string }

export const trustGroup: CommandGroup = {
  name: 'trust',
  summary: 'the signing key set devices trust; rotate the signing key',
  commands: {
    show: {
      summary: 'the current key set (write it to a file for agent configs: --json)',
      usage: '',
      async run(ctx) {
        const body = await ctx.api.get<{ keySet: KeySet; signingKeyId: string }>('/api/v1/trust');
        if (ctx.out.json) { ctx.out.value(body.keySet); return 0; }
        ctx.out.record({ version: body.keySet.version, threshold: body.keySet.threshold, keyids: body.keySet.keys.map((k) => k.keyid).join(', '), created: body.keySet.created, signing: body.signingKeyId }, body);
        return 0;
      },
    },
    rotate: {
      summary: 'new signing key; the new key set is signed by the current key and sent to every device',
      usage: '--reason <text>',
      options: { reason: { type: 'string' } },
      async run(ctx) {
        const reason = requiredFlag(ctx, 'reason', 'trust rotate');
        const body = await ctx.api.post<{ previousVersion: number; keySet: KeySet; signingKeyId: string }>('/api/v1/trust/rotate', { reason });
        ctx.out.record({ from: body.previousVersion, to: body.keySet.version, signing: body.signingKeyId }, body);
        return 0;
      },
    },
  },
};
