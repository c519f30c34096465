export { API_TAGS, DOCS_PREFIX, registerOpenApi, registeredRoutes } from './register.js';
export { zodValidatorCompiler } from './validator.js';
export type { ZodRoutes } from './types.js';
