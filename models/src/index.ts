/**
 * @pdm/models: reference predictive-maintenance models (training, ONNX export, model cards) and the
 * check other packages run on any model file against its feature spec.
 */
export { checkModelAgainstSpec } from './onnx/check.js';
export { buildFeatureRows, type FeatureRows, type TimedReading } from './features.js';
export { renderCard } from './card/render.js';
export { artifactPath, ARTIFACTS_DIR, DATA_DIR } from './paths.js';
