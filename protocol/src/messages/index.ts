import type { z } from 'zod';
import type { TopicKind } from '../topics.js';
import { chunkSchema, commandSchema, fetchRequestSchema, replySchema } from './commands.js';
import { recordSchemas } from './records.js';
import { statusSchema } from './status.js';

export * from './common.js';
export * from './status.js';
export * from './records.js';
export * from './commands.js';

/** Every topic kind mapped to the one schema of its payload. */
export const payloadSchemas = {
  status: statusSchema,
  ...recordSchemas,
  reply: replySchema,
  fetch: fetchRequestSchema,
  cmd: commandSchema,
  chunk: chunkSchema,
} as const satisfies Record<TopicKind, z.ZodType>;

export type PayloadOf<K extends TopicKind> = z.infer<(typeof payloadSchemas)[K]>;
