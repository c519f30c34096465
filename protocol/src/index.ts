export * from './errors.js';
export * from './topics.js';
export * from './messages/index.js';
export * from './model-card.js';
export * from './codec.js';
export * from './features.js';
export * from './log-signals.js';
export * from './manifest.js';
export const PROTOCOL_VERSION = 'v1';
