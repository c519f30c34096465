/**
 * The model card and the feature spec it carries. The feature spec is the contract between a model
 * file and the agent: which signals the agent reads, how it turns windows of readings into the input
 * tensor, and which output is the score. Any ONNX model (scikit-learn, XGBoost, PyTorch export, or the
 * reference models in models/) runs on the agent when it comes with one.
 */
import { z } from 'zod';
import { modelRefSchema, nameSchema } from './messages/common.js';

const identifier = z.string().min(1).max(64).regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'an identifier');

export const signalSpecSchema = z.strictObject({
  name: identifier,
  unit: z.string().max(32).optional(),
  /** Readings outside [min, max] are rejected as out-of-range and never reach the model. */
  min: z.number().finite(),
  max: z.number().finite(),
  /** For categorical signals: the reading is one of these strings and enters as its index. */
  categories: z.array(z.string().min(1).max(32)).min(1).max(64).optional(),
}).refine((s) => s.min <= s.max, { message: 'min must not exceed max', path: ['max'] });
export type SignalSpec = z.infer<typeof signalSpecSchema>;

export const aggregations = ['last', 'mean', 'std', 'min', 'max', 'slope'] as const;
export type Aggregation = (typeof aggregations)[number];

export const featureSpecEntrySchema = z.strictObject({
  name: identifier,
  signal: identifier,
  /** `std` is the sample standard deviation (n-1); `slope` is the least-squares slope per reading. */
  agg: z.enum(aggregations),
  /** Window length in readings (the last `window` accepted readings of the signal). */
  window: z.number().int().min(1).max(10_000),
});
export type FeatureSpecEntry = z.infer<typeof featureSpecEntrySchema>;

export const featureSpecSchema = z
  .strictObject({
    signals: z.array(signalSpecSchema).min(1).max(256),
    features: z.array(featureSpecEntrySchema).min(1).max(1024),
    /** The single float32 input tensor, shape [N, features.length], features in the order above. */
    input: z.strictObject({ name: z.string().min(1).max(128) }),
    /** The score is output[row * width + column], where width is the output's second dimension. */
    output: z.strictObject({ name: z.string().min(1).max(128), column: z.number().int().min(0).max(1023) }),
    task: z.enum(['failure-within-horizon', 'failure-now', 'remaining-useful-life']),
    /** Alert when score >= threshold (`above`) or score <= threshold (`below`, e.g. remaining life). */
    threshold: z.number().finite(),
    alertWhen: z.enum(['above', 'below']),
    horizonHours: z.number().positive().max(24 * 365).optional(),
    /** Expected time between readings; the replay and the quality windows use it. */
    readingIntervalSeconds: z.number().positive().max(86_400 * 7),
  })
  .superRefine((spec, ctx) => {
    const signals = new Set(spec.signals.map((s) => s.name));
    const seen = new Set<string>();
    spec.features.forEach((f, i) => {
      if (!signals.has(f.signal)) {
        ctx.addIssue({ code: 'custom', path: ['features', i, 'signal'], message: `unknown signal "${f.signal}"` });
      }
      if (seen.has(f.name)) {
        ctx.addIssue({ code: 'custom', path: ['features', i, 'name'], message: `duplicate feature "${f.name}"` });
      }
      seen.add(f.name);
    });
    if (spec.task === 'failure-within-horizon' && spec.horizonHours === undefined) {
      ctx.addIssue({ code: 'custom', path: ['horizonHours'], message: 'required for failure-within-horizon' });
    }
  });
export type FeatureSpec = z.infer<typeof featureSpecSchema>;

/** Number of readings of history the spec needs before the first prediction. */
export function warmupReadings(spec: FeatureSpec): number {
  return Math.max(...spec.features.map((f) => f.window));
}

const metricSchema = z.strictObject({
  value: z.number().finite(),
  /** Confidence interval, e.g. Wilson 95% for proportions. */
  ci: z.tuple([z.number().finite(), z.number().finite()]).optional(),
  note: z.string().max(512).optional(),
});

export const modelCardSchema = z.strictObject({
  schemaVersion: z.literal(1),
  ...modelRefSchema.shape,
  description: z.string().min(1).max(4000),
  /** `reference` models are the best we ship; `degraded` ones are deliberately worse, for rollout demos. */
  variant: z.enum(['reference', 'degraded']),
  data: z.strictObject({
    name: nameSchema,
    source: z.string().max(512),
    licence: z.string().max(256),
    rows: z.number().int().min(0),
  }),
  featureSpec: featureSpecSchema,
  split: z.string().min(1).max(2000),
  metrics: z.record(identifier, metricSchema),
  thresholdChoice: z.string().min(1).max(2000),
  limits: z.array(z.string().max(1000)).max(50),
  training: z.strictObject({
    algorithm: z.string().max(256),
    params: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])),
    seed: z.number().int(),
    seconds: z.number().min(0).optional(),
  }),
  /** Reference distributions from training, for drift checks: per feature and for the score. */
  reference: z
    .strictObject({
      bins: z.record(z.string(), z.strictObject({
        edges: z.array(z.number().finite()).min(2).max(101),
        shares: z.array(z.number().min(0).max(1)).min(1).max(100),
      })),
    })
    .optional(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/).optional(),
  createdAt: z.iso.datetime({ offset: true }),
});
export type ModelCard = z.infer<typeof modelCardSchema>;
