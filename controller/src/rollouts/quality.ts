/**
 * The model-quality gate's source of numbers. Precision and recall need ground truth that arrives
 * later (a failure within the prediction horizon, FIELD.md), so they exist only for predictions whose
 * labels have matured. The model-quality part of the controller implements this interface and is
 * plugged into the rollout engine (`RolloutEngine.setQualityProvider`). Until one is plugged in, or
 * while fewer than the gate's `minSamples` predictions have matured, the gate reports `insufficient`:
 * it never passes on missing evidence (unless the stage marks it optional), and it never fails on it.
 */
import type { ModelRef } from '@pdm/protocol';

export interface QualityEvidenceRequest {
  /** The version under evaluation. */
  model: ModelRef;
  /** Devices that ran it in this rollout. */
  deviceIds: readonly string[];
  /** Only evidence the controller received from this time on (ISO 8601, controller clock) counts: when the rollout began. */
  since: string;
}

export interface QualityEvidence {
  /** Matured predictions the numbers are computed from (the gate's minSamples compares with this). */
  samples: number;
  /** tp / (tp + fp); null when the version raised no alert on matured rows. */
  precision: number | null;
  /** tp / (tp + fn); null when no failure happened in the matured rows. */
  recall: number | null;
  /** Free text for people: window, definitions, confidence interval. */
  detail?: string;
}

export interface QualityEvidenceProvider {
  evidence(request: QualityEvidenceRequest): QualityEvidence | Promise<QualityEvidence>;
}
