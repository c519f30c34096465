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

export function toPdmError(err: unknown): PdmError {
  if (isPdmError(err)) return err;
  const e = err as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const context = { fastifyCode: typeof e.code === 'string' ? e.code : null };
    if (e.statusCode === 413) return new PdmError('PAYLOAD_TOO_LARGE', errorCatalogue.PAYLOAD_TOO_LARGE.text, { context });
    return new PdmError('REQUEST_INVALID', typeof e.message === 'string' ? e.message : errorCatalogue.REQUEST_INVALID.text, { context });
  }
  return new PdmError('INTERNAL', errorCatalogue.INTERNAL.text, { cause: err });
}

export function toErrorResponse(err: unknown): ErrorResponse {
  const pdm = toPdmError(err);
  return { status: pdm.httpStatus, body: { error: pdm.toJSON() } };
}
