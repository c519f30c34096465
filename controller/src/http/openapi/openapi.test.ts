/**
 * The OpenAPI document is made from the routes' own zod schemas: every /api route must be in it with
 * every parameter its schemas declare, and must declare its schemas in the first place (a route that
 * validates by hand inside its handler would be missing from the document, so it fails here).
 */
import type { FastifyInstance, RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startTestController, type TestController } from '../../testing/harness.js';
import { registeredRoutes } from './register.js';

interface Parameter { name: string; in: string; required?: boolean; schema?: Record<string, unknown> }
interface Operation { parameters?: Parameter[]; requestBody?: unknown; tags?: string[]; summary?: string }
interface Document {
  openapi: string;
  info: { version: string };
  paths: Record<string, Record<string, Operation>>;
  components?: { securitySchemes?: Record<string, unknown> };
}

// The whole controller, so that every route plugin it registers (with every part wired) is checked.
let tc: TestController;
let app: FastifyInstance;
let routes: readonly RouteOptions[];
let doc: Document;

beforeAll(async () => {
  tc = await startTestController();
  app = tc.app.http.app;
  routes = registeredRoutes(app);
  const res = await app.inject({ url: '/docs/json' });
  expect(res.statusCode).toBe(200);
  doc = res.json();
});
afterAll(async () => {
  await tc?.stop();
});

const keysOf = (schema: unknown): string[] => (schema instanceof z.ZodObject ? Object.keys(schema.shape) : []);
const methodsOf = (r: RouteOptions): string[] => (Array.isArray(r.method) ? r.method : [r.method]).filter((m) => m !== 'HEAD');

describe('OpenAPI document at /docs/json', () => {
  it('is OpenAPI 3.0 with the controller version and the bearer token scheme', () => {
    expect(doc.openapi).toBe('3.0.3');
    expect(doc.info.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(doc.components?.securitySchemes?.['bearer']).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('lists every /api route with every path, query and body parameter its zod schemas declare', () => {
    const api = routes.filter((r) => r.url.startsWith('/api/'));
    expect(api.length).toBeGreaterThanOrEqual(3);
    for (const route of api) {
      const schema = (route.schema ?? {}) as { params?: unknown; querystring?: unknown; body?: unknown };
      const where = `${methodsOf(route).join(',')} ${route.url}`;
      // the pattern (controller/README.md, "Adding a route"): schemas in the route options, strict objects
      const urlParams = [...route.url.matchAll(/:(\w+)/g)].map((m) => m[1]!);
      expect(keysOf(schema.params).sort(), `${where}: params schema`).toEqual([...urlParams].sort());
      // a route declaring no schema at all may be validating by hand; "no parameters" is z.strictObject({}) as querystring
      expect([schema.params, schema.querystring, schema.body].some((x) => x !== undefined), `${where}: declares its zod schemas`).toBe(true);

      const path = route.url.replace(/:(\w+)/g, '{$1}');
      for (const method of methodsOf(route)) {
        const op = doc.paths[path]?.[method.toLowerCase()];
        expect(op, `${where} in the document`).toBeDefined();
        const params = op!.parameters ?? [];
        for (const name of urlParams) expect(params, `${where}: path parameter ${name}`).toContainEqual(expect.objectContaining({ name, in: 'path', required: true }));
        for (const name of keysOf(schema.querystring)) expect(params, `${where}: query parameter ${name}`).toContainEqual(expect.objectContaining({ name, in: 'query' }));
        if (schema.body !== undefined) expect(op!.requestBody, `${where}: request body`).toBeDefined();
        expect(op!.summary, `${where}: summary`).toEqual(expect.any(String));
        expect(op!.tags?.length, `${where}: tags`).toBeGreaterThan(0);
      }
    }
  });

  it('documents a query parameter with its type and range, as the route validates it', () => {
    const op = doc.paths['/api/v1/devices/{deviceId}']!['get']!;
    expect(op.parameters).toContainEqual(expect.objectContaining({
      name: 'predictions', in: 'query', required: false, schema: expect.objectContaining({ type: 'integer', minimum: 0, maximum: 1000 }),
    }));
    const state = doc.paths['/api/v1/devices']!['get']!.parameters!.find((p) => p.name === 'state');
    expect(state?.schema).toMatchObject({ type: 'string', enum: ['unknown', 'online', 'offline'] });
  });

  it('lists /metrics and /healthz, but not Swagger UI\'s own files', () => {
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/metrics', '/healthz']));
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/docs'))).toEqual([]);
  });

  it('serves Swagger UI at /docs', async () => {
    const res = await app.inject({ url: '/docs/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.body).toContain('swagger');
    const redirect = await app.inject({ url: '/docs' });
    expect([200, 302]).toContain(redirect.statusCode);
  });

  it('keeps the validation error of the schema: 400 REQUEST_INVALID naming the field', async () => {
    const res = await app.inject({ url: '/api/v1/devices?state=sleeping' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({ code: 'REQUEST_INVALID', context: { issues: [{ field: 'query.state' }] } });
  });
});
