/**
 * The one pointer file of the model store (`<dataDir>/models/state.json`): which model is active,
 * which one is its fallback, which one runs in shadow, and whether a new one is in trial. Every change
 * of what runs is one atomic write of this file (RELIABILITY.md: "the active pointer is one atomic
 * write, never several"), so after a kill -9 at any moment it names exactly one complete active model.
 */
import { z } from 'zod';
import { deploymentModeSchema, modelRefSchema, modelRoleSchema, timeSchema, type ModelRef } from '@pdm/protocol';

/** A version directory under `versions/`: a plain name, never a path. */
export const versionDirSchema = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9._@-]{0,160}$/, 'a version directory name');

/** A model installed from a signed manifest, kept in its own version directory. */
export const storedEntrySchema = z.strictObject({
  kind: z.literal('store'),
  dir: versionDirSchema,
  model: modelRefSchema,
  release: z.number().int().min(1),
  mode: deploymentModeSchema,
  deploymentId: z.string().min(1).max(128),
});
export type StoredEntry = z.infer<typeof storedEntrySchema>;

/** The model named by the agent's configuration (`model`): the factory model, last-resort fallback. */
export const configEntrySchema = z.strictObject({ kind: z.literal('config'), model: modelRefSchema });
export type ConfigEntry = z.infer<typeof configEntrySchema>;

export const entrySchema = z.discriminatedUnion('kind', [storedEntrySchema, configEntrySchema]);
export type Entry = z.infer<typeof entrySchema>;

export const trialSchema = z.strictObject({
  /** Which entry is on trial: the active one (fallback: `previous`) or the shadow one (fallback: none). */
  role: modelRoleSchema,
  deploymentId: z.string().min(1).max(128),
  /** Agent starts while this trial was on; more than `updates.trial.maxBoots` is a crash loop. */
  boots: z.number().int().min(0),
  since: timeSchema,
});
export type Trial = z.infer<typeof trialSchema>;

export const pointerSchema = z
  .strictObject({
    schemaVersion: z.literal(1),
    active: entrySchema,
    /** The last committed active model, kept (never pruned) until the next commit. */
    previous: entrySchema.optional(),
    shadow: storedEntrySchema.optional(),
    trial: trialSchema.optional(),
  })
  .refine((p) => p.trial === undefined || p.trial.role === 'shadow' || p.previous !== undefined, {
    message: 'an active model in trial needs a previous one to fall back to',
    path: ['previous'],
  })
  .refine((p) => p.trial?.role !== 'shadow' || p.shadow !== undefined, { message: 'a shadow trial needs a shadow entry', path: ['shadow'] });
export type Pointer = z.infer<typeof pointerSchema>;

export function initialPointer(factory: ModelRef): Pointer {
  return { schemaVersion: 1, active: { kind: 'config', model: factory } };
}

/** Version directories the pointer refers to: never pruned. */
export function referencedDirs(p: Pointer): Set<string> {
  const dirs = new Set<string>();
  for (const e of [p.active, p.previous, p.shadow]) if (e?.kind === 'store') dirs.add(e.dir);
  return dirs;
}

/** The highest release the pointer names for `modelName` (0 when none). */
export function pointerRelease(p: Pointer, modelName: string): number {
  let max = 0;
  for (const e of [p.active, p.previous, p.shadow]) if (e?.kind === 'store' && e.model.name === modelName) max = Math.max(max, e.release);
  return max;
}
