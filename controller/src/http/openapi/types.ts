import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiContext } from '../context.js';

/**
 * A plugin of routes whose zod schemas type the request: `req.query`, `req.params` and `req.body`
 * are the schemas' outputs (defaults applied, strings turned into numbers).
 */
export type ZodRoutes<Options extends Record<string, unknown> = { ctx: ApiContext }> = FastifyPluginAsyncZod<Options>;
