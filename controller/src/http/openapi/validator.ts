/**
 * Fastify's validator compiler for zod route schemas: the schema a route declares under
 * `schema.params / querystring / body / headers` validates the request (with parseRequest, so the
 * 400 REQUEST_INVALID names each field as `query.state`, `params.deviceId`, ...) and, through
 * @fastify/swagger, is the same object the OpenAPI document is generated from.
 */
import type { FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';
import { PdmError } from '@pdm/protocol';
import { parseRequest, type RequestPart } from '../validate.js';

const PARTS: Record<string, RequestPart> = { params: 'params', querystring: 'query', body: 'body', headers: 'headers' };

export const zodValidatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart, method, url }) => {
  const part = PARTS[httpPart ?? ''];
  // Fails at start-up, naming the route, rather than on the first request.
  if (part === undefined || !(schema instanceof z.ZodType)) {
    throw new PdmError('INTERNAL', 'route schemas must be zod schemas', { context: { method, url, httpPart: httpPart ?? null } });
  }
  return (data: unknown) => {
    try {
      return { value: parseRequest(schema, data, part) };
    } catch (err) {
      return { error: err as Error };
    }
  };
};
