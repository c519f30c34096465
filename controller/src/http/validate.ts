/** Request validation with zod: a 400 REQUEST_INVALID naming every offending field. */
import { z } from 'zod';
import { PdmError } from '@pdm/protocol';

/**
 * A body that may be left out: fastify hands a missing body to the route's validator as null, which
 * this validates as `{}` (so the schema's defaults apply). `schema: { body: optionalBody(actionBody) }`.
 */
export const optionalBody = <T extends z.ZodType>(schema: T) => z.preprocess((v) => v ?? {}, schema);

export type RequestPart = 'params' | 'query' | 'body' | 'headers';

export function parseRequest<T extends z.ZodType>(schema: T, value: unknown, part: RequestPart): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.slice(0, 10).map((i) => {
    const keys = i.code === 'unrecognized_keys' ? i.keys : [];
    const field = [part, ...i.path.map(String), ...(keys.length === 1 ? keys : [])].join('.');
    return { field, message: i.message };
  });
  const text = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
  throw new PdmError('REQUEST_INVALID', text, { context: { issues } });
}
