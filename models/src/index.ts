/**
 * @pdm/models: reference predictive-maintenance models (training, ONNX export, model cards) and the
 * check other packages run on any model file against its feature spec.
 */
export { checkModelAgainstSpec } from './onnx/check.js';
/** Seeded pseudo-random numbers (mulberry32), the ones training uses; tests and benchmarks seed their data with it. */
export { seededRandom } from './gbdt/random.js';
export { buildFeatureRows, type FeatureRows, type TimedReading } from './features.js';
export { renderCard } from './card/render.js';
export { artifactPath, ARTIFACTS_DIR, DATA_DIR } from './paths.js';
/** Signal name -> AI4I CSV column (names with units and spaces), for a CSV replay of ai4i2020.csv. */
export { AI4I_COLUMNS } from './data/ai4i.js';
/** Column order of the header-less C-MAPSS text files; signal names are these column names. */
export { CMAPSS_COLUMNS } from './data/cmapss.js';
