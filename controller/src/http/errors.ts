/**
 * The one place where errors become HTTP responses: a PdmError keeps its code and the catalogue's
 * status; fastify's own client errors (bad JSON body, body too large, ...) become REQUEST_INVALID or
 * PAYLOAD_TOO_LARGE; anything else is INTERNAL with a generic message, its detail only in the log.
 */
import { PdmError, errorCatalogue, isPdmError } from '@pdm/protocol';

export interface ErrorBody {
  error: { code: string; message: string; context: Record<string, unknown> };
}

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
}

/** What the error handler knows of the request that failed. */
export interface RequestLimits {
  /** The route's body limit in bytes (fastify's, or the route's own). */
  bodyLimit?: number | undefined;
}

export function toPdmError(err: unknown, limits: RequestLimits = {}): PdmError {
  if (isPdmError(err)) return err;
  const e = err as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const context = { fastifyCode: typeof e.code === 'string' ? e.code : null };
    if (e.statusCode === 413) return bodyTooLarge(limits.bodyLimit, context);
    return new PdmError('REQUEST_INVALID', typeof e.message === 'string' ? e.message : errorCatalogue.REQUEST_INVALID.text, { context });
  }
  return new PdmError('INTERNAL', errorCatalogue.INTERNAL.text, { cause: err });
}

function bodyTooLarge(limit: number | undefined, context: { fastifyCode: string | null }): PdmError {
  // the catalogue's text speaks of MQTT topics; an HTTP client wants the route's limit
  if (limit === undefined) return new PdmError('PAYLOAD_TOO_LARGE', errorCatalogue.PAYLOAD_TOO_LARGE.text, { context });
  return new PdmError('PAYLOAD_TOO_LARGE', `request body is larger than this route's limit of ${limit} bytes`, { context: { ...context, limitBytes: limit } });
}

export function toErrorResponse(err: unknown, limits: RequestLimits = {}): ErrorResponse {
  const pdm = toPdmError(err, limits);
  return { status: pdm.httpStatus, body: { error: pdm.toJSON() } };
}
