/**
 * Integers in a URL's query, for the schemas of routes and of the domain modules whose queries they
 * declare (reliability-service.ts): here, not in http/, so that a domain module imports no HTTP layer.
 */
import { z } from 'zod';

export const QUERY_INT_MESSAGE = 'must be an integer in digits, such as 20';

/**
 * Query values arrive as strings; only plain integers become numbers. Anything else ("", "1.5", "1e3")
 * is refused as not an integer: left to `schema` it would read "expected number, received string".
 */
export const queryInt = (schema: z.ZodNumber) =>
  z.preprocess((v, ctx) => {
    if (typeof v !== 'string') return v;
    if (/^-?\d+$/.test(v)) return Number(v);
    ctx.addIssue({ code: 'custom', message: QUERY_INT_MESSAGE, input: v });
    return z.NEVER;
  }, schema);
