/** Test helpers of @pdm/agent (the "./testing" export): real broker, tiny ONNX models, clocks, loggers. */
export { TestBroker, startTestBroker, type SeenPublish } from './broker.js';
export { FakeClock } from './fake-clock.js';
export { captureLogger, silentLogger, type CapturedLog } from './logger.js';
export { tinyCard, tinyOnnx, tinySpec, writeTinyModel, type TinyModelOptions } from './tiny-model.js';
export { waitFor, within } from './waiting.js';
export { eventDraft, fillWithCritical } from '../outbox/suite-drafts.js';
