/** The records of the monitor's windows, as drafts for the outbox (validated there against their topic's schema). */
import type { ModelRef, ModelRole } from '@pdm/protocol';
import type { RecordDraft } from '../outbox/outbox.js';
import type { DriftFigures } from './drift-windows.js';
import type { QualityFigures } from './quality-windows.js';

/** Whose window it is: a model version in a role, with its horizon for quality windows. */
export interface WindowOwner {
  readonly model: ModelRef;
  readonly role: ModelRole;
  readonly horizonHours: number | undefined;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function qualityDraft(assetId: string, t: WindowOwner, f: QualityFigures): RecordDraft {
  return {
    kind: 'quality',
    record: {
      time: iso(f.windowEnd),
      assetId,
      model: t.model,
      role: t.role,
      windowStart: iso(f.windowStart),
      windowEnd: iso(f.windowEnd),
      horizonHours: t.horizonHours!,
      confusion: f.confusion,
      events: f.events,
    },
  };
}

export function driftDraft(assetId: string, t: WindowOwner, f: DriftFigures): RecordDraft {
  return {
    kind: 'drift',
    record: {
      time: iso(f.windowEnd),
      assetId,
      model: t.model,
      role: t.role,
      windowStart: iso(f.windowStart),
      windowEnd: iso(f.windowEnd),
      n: f.n,
      features: f.features,
      ...(f.score === undefined ? {} : { score: f.score }),
    },
  };
}
