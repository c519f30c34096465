/**
 * OpenAPI for the HTTP API, generated from the zod schemas the routes validate with: one schema per
 * route part, declared once in the route's options (controller/README.md, "Adding a route"). Serves
 * the document at GET /docs/json (and /docs/yaml) and Swagger UI at GET /docs.
 *
 * Call before any route plugin is registered: @fastify/swagger learns the routes from onRoute.
 */
import { readFileSync } from 'node:fs';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { jsonSchemaTransform, serializerCompiler } from 'fastify-type-provider-zod';
import type { GuardedRouteConfig } from '../../auth/guard.js';
import { permissions } from '../../auth/roles.js';
import { zodValidatorCompiler } from './validator.js';

export const DOCS_PREFIX = '/docs';

const version = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Tags group the routes in the document; a route names one or more in `schema.tags`. */
export const API_TAGS = [
  { name: 'operations', description: 'health, metrics' },
  { name: 'devices', description: 'the fleet: presence, records, reconciliation' },
  { name: 'ingest', description: 'what the controller took in and refused' },
  { name: 'models', description: 'the model registry: versions, cards, artifacts' },
  { name: 'trust', description: 'the key set devices trust; signing key rotation' },
  { name: 'rollouts', description: 'staged rollouts with evidence gates, rollback' },
  { name: 'audit', description: 'who changed what, when and why' },
  { name: 'tokens', description: 'API tokens and their roles (admin only)' },
];

const registered = new WeakMap<FastifyInstance, RouteOptions[]>();

/** Every route registered on `app` after registerOpenApi, with its schema (for the test that checks the document). */
export function registeredRoutes(app: FastifyInstance): readonly RouteOptions[] {
  return registered.get(app) ?? [];
}

/**
 * The zod transform, then what the guard (src/auth/guard.ts) asks of the route: a route that needs a
 * token says so (`security` without the empty alternative) and names its permission and roles.
 */
const withPermissions: typeof jsonSchemaTransform = (input) => {
  const out = jsonSchemaTransform(input);
  const permission = (input.route.config as GuardedRouteConfig | undefined)?.permission;
  const mutating = [input.route.method].flat().some((m) => !['GET', 'HEAD', 'OPTIONS'].includes(m));
  if (permission === undefined && !mutating) return out;
  const who = (permission === undefined ? undefined : (permissions[permission] as readonly string[] | undefined)?.join(', ')) ?? 'admin';
  const schema = out.schema as { description?: string };
  const needs = `Needs a bearer token of role ${who}${permission === undefined ? '' : ` (permission ${permission})`}.`;
  return { ...out, schema: { ...out.schema, security: [{ bearer: [] }], description: schema.description === undefined ? needs : `${schema.description}\n\n${needs}` } };
};

export function registerOpenApi(app: FastifyInstance): void {
  const routes: RouteOptions[] = [];
  registered.set(app, routes);
  app.addHook('onRoute', (route) => { routes.push(route); });
  app.setValidatorCompiler(zodValidatorCompiler);
  // Only routes that declare a zod `response` schema use it; the others serialize as before.
  app.setSerializerCompiler(serializerCompiler);
  void app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'pdm controller API',
        version,
        description: 'Errors always have the shape {"error":{"code","message","context"}} (controller/README.md, "Errors").',
      },
      tags: API_TAGS,
      // src/auth/guard.ts: mutating routes need a token, reads too when apiReads is "token"; `{}` = may go without
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API token (controller/README.md)' } } },
      security: [{ bearer: [] }, {}],
    },
    transform: withPermissions,
  });
  void app.register(fastifySwaggerUi, { routePrefix: DOCS_PREFIX });
}
