/**
 * `pdmctl models ls|show|publish`: the model registry. Publishing reads the ONNX file and the card
 * locally and sends both to POST /api/v1/models; the controller checks the card and the file against
 * its feature spec, so a bad file gets the server's precise 400 back.
 */
import { readFile } from 'node:fs/promises';
import { PdmError } from '@pdm/protocol';
import { stringFlag, type CommandContext, type CommandGroup } from '../command.js';

interface ModelSummary {
  name: string;
  latestVersion: string | null;
  versions: number;
  latestRelease: number;
}

interface ModelVersion {
  name: string;
  version: string;
  sha256: string;
  length: number;
  cardSha256: string;
  publishedAt: string;
  publishedBy: string;
  variant?: string;
}

export const modelsGroup: CommandGroup = {
  name: 'models',
  summary: 'publish model versions to the registry and list them',
  commands: {
    ls: {
      summary: 'list models and their latest version',
      usage: '',
      async run({ api, out }) {
        const body = await api.get<{ models: ModelSummary[] }>('/api/v1/models');
        out.table(['name', 'latest', 'versions', 'release'], body.models.map((m) => [m.name, m.latestVersion, m.versions, m.latestRelease]), body);
        return 0;
      },
    },
    show: {
      summary: 'show the versions of one model, or one version with its card',
      usage: '<name> [version]',
      async run(ctx) {
        const [name, version] = ctx.positionals;
        if (name === undefined) throw usage('models show needs a model name');
        if (version !== undefined) return showVersion(ctx, name, version);
        const body = await ctx.api.get<{ name: string; versions: ModelVersion[] }>(`/api/v1/models/${encodeURIComponent(name)}`);
        ctx.out.table(
          ['version', 'variant', 'sha256', 'bytes', 'published', 'by'],
          body.versions.map((v) => [v.version, v.variant, v.sha256.slice(0, 12), v.length, v.publishedAt, v.publishedBy]),
          body,
        );
        return 0;
      },
    },
    publish: {
      summary: 'publish an ONNX model with its model card',
      usage: '<file.onnx> --card <card.json> [--name <n>] [--version <v>] [--reason <text>]',
      options: { name: { type: 'string' }, version: { type: 'string' }, card: { type: 'string' }, reason: { type: 'string' } },
      async run(ctx) {
        const [file] = ctx.positionals;
        const cardFile = stringFlag(ctx, 'card');
        if (file === undefined || cardFile === undefined) throw usage('models publish needs <file.onnx> and --card <card.json>');
        const card = parseCard(await readFile(cardFile, 'utf8'), cardFile);
        const bytes = await readFile(file);
        const name = stringFlag(ctx, 'name') ?? String(card.name ?? '');
        const version = stringFlag(ctx, 'version') ?? String(card.version ?? '');
        const reason = stringFlag(ctx, 'reason');
        const body = await ctx.api.post<{ model: ModelVersion }>('/api/v1/models', {
          name, version, card, model: bytes.toString('base64'), ...(reason === undefined ? {} : { reason }),
        });
        ctx.out.record(versionFields(body.model), body);
        return 0;
      },
    },
  },
};

async function showVersion(ctx: CommandContext, name: string, version: string): Promise<number> {
  const body = await ctx.api.get<{ model: ModelVersion & { card: Record<string, unknown> } }>(
    `/api/v1/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`,
  );
  const card = body.model.card;
  ctx.out.record({ ...versionFields(body.model), description: String(card.description ?? '') }, body);
  return 0;
}

function versionFields(m: ModelVersion): Record<string, string | number | undefined> {
  return { name: m.name, version: m.version, sha256: m.sha256, bytes: m.length, card: m.cardSha256, published: m.publishedAt, by: m.publishedBy };
}

function parseCard(text: string, file: string): Record<string, unknown> {
  try {
    const card = JSON.parse(text) as unknown;
    if (typeof card === 'object' && card !== null && !Array.isArray(card)) return card as Record<string, unknown>;
  } catch (err) {
    throw new PdmError('MODEL_CARD_INVALID', `${file} is not valid JSON`, { cause: err, context: { file } });
  }
  throw new PdmError('MODEL_CARD_INVALID', `${file} must hold a JSON object`, { context: { file } });
}

function usage(message: string): PdmError {
  return new PdmError('REQUEST_INVALID', message);
}
