/**
 * Configuration of signed updates, trial, shadow and act mode: sub-schemas of the one agent schema
 * (config/schema.ts), kept here beside the code they configure. Every field has its default and a
 * description (--help and agent/README.md).
 */
import { z } from 'zod';
import { MAX_CHUNK_BYTES } from '@pdm/protocol';
import { crashSteps } from './faults.js';

const keyIdSchema = z.string().regex(/^[0-9a-f]{16,64}$/, 'hex key id');

export const trustConfigSchema = z
  .strictObject({
    keys: z
      .array(
        z.strictObject({
          keyid: keyIdSchema.describe('key id: the first 16 bytes (hex) of sha256 over the public key\'s SPKI DER'),
          publicKeyPem: z.string().min(1).max(4096).describe('Ed25519 public key, PEM (SPKI)'),
        }),
      )
      .max(8)
      .default([])
      .describe('public keys trusted to sign deployment manifests and key sets, until a signed key set replaces them'),
    threshold: z.number().int().min(1).max(8).default(1).describe('distinct trusted keys whose signatures a manifest or key set needs'),
    version: z.number().int().min(1).default(1).describe('version of the configured key set; a stored set with a higher version (trust-keys) wins'),
    keySetFile: z
      .string()
      .min(1)
      .optional()
      .describe('a key set JSON file (schemaVersion, version, threshold, keys, created) instead of keys/threshold/version'),
  })
  .prefault({})
  .refine((t) => t.keySetFile === undefined || t.keys.length === 0, { message: 'set keys or keySetFile, not both', path: ['keySetFile'] })
  .refine((t) => t.keys.length === 0 || t.threshold <= t.keys.length, { message: 'threshold exceeds the number of keys', path: ['threshold'] })
  .describe('keys that sign model deployments');
export type TrustConfig = z.output<typeof trustConfigSchema>;

export const updatesConfigSchema = z
  .strictObject({
    keepVersions: z.number().int().min(1).max(50).default(3).describe('installed model versions kept on disk (besides the active, fallback and shadow ones)'),
    minFreeBytes: z
      .number()
      .int()
      .min(0)
      .default(16 * 1024 * 1024)
      .describe('free disk space that must remain after a download, in bytes; less refuses the deployment (rejected:disk)'),
    download: z
      .strictObject({
        chunkBytes: z.number().int().min(1024).max(MAX_CHUNK_BYTES).default(64 * 1024).describe('bytes asked for per up/fetch request'),
        chunkTimeoutMs: z.number().int().min(100).max(600_000).default(10_000).describe('a chunk not answered in this long (link up) is asked for again'),
        retries: z.number().int().min(0).max(100).default(5).describe('attempts in a row without progress, while the link is up, before failed:download'),
        retryInitialMs: z.number().int().min(1).max(600_000).default(500).describe('first delay before asking again (jittered, doubling)'),
        retryMaxMs: z.number().int().min(1).max(3_600_000).default(30_000).describe('longest delay before asking again'),
      })
      .prefault({}),
    trial: z
      .strictObject({
        inferences: z.number().int().min(1).max(1_000_000).default(100).describe('rows a new model must score, all finite, before it is committed'),
        latencyBudgetMs: z.number().positive().max(600_000).default(250).describe('largest p95 of a new model\'s onnxruntime run latency in trial, in ms'),
        maxBoots: z.number().int().min(1).max(100).default(3).describe('agent starts allowed while a model is in trial; one more reverts it (failed:crash-loop)'),
        linkLossSeconds: z.number().positive().max(86_400 * 7).default(300).describe('link down this long during a trial reverts it (failed:link-lost)'),
      })
      .prefault({}),
  })
  .prefault({})
  .describe('signed model updates on the device');
export type UpdatesConfig = z.output<typeof updatesConfigSchema>;

export const actionsConfigSchema = z
  .strictObject({
    url: z
      .url()
      .refine((u) => /^https?:\/\//.test(u), 'expected an http:// or https:// URL')
      .optional()
      .describe('act mode: where a confident alert is POSTed as JSON (e.g. a CMMS work-order endpoint); without it every alert asks for review'),
    headers: z.record(z.string().min(1), z.string()).default({}).describe('extra HTTP headers of the POST (e.g. authorization); never logged'),
    confidenceThreshold: z
      .number()
      .finite()
      .default(0.9)
      .describe('act mode: a score at or past this (>= for alert-above models, <= for alert-below) triggers the action; below it the alert asks for review'),
    timeoutMs: z.number().int().min(100).max(600_000).default(5_000).describe('give up one POST attempt after this long'),
    retries: z.number().int().min(0).max(20).default(3).describe('POST attempts after the first on a network error, timeout or 5xx'),
  })
  .prefault({})
  .describe('the action of act mode');
export type ActionsConfig = z.output<typeof actionsConfigSchema>;

export const crashAtSchema = z
  .enum(crashSteps)
  .optional()
  .describe('TESTS ONLY: SIGKILL the agent at this step of an update (env PDM_AGENT_CRASH_AT)');
