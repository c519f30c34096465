/** Test helpers, exported as `@pdm/controller/testing` so they stay out of the main import. */
export { startTestController, type TestController } from './harness.js';
export { connectDevice, onceWithin, type TestDevice } from './device-client.js';
export { captureLogs, type LogLine } from './log-capture.js';
export { exampleFor, protocolExamples } from './protocol-examples.js';
export { tempDir } from './temp-dir.js';
export * as fixtures from './fixtures.js';
