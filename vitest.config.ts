import { defineConfig } from 'vitest/config';

// Tests read the packages' TypeScript sources through the `pdm-source` export condition, so no build
// is needed for unit tests; end-to-end tests spawn the built programs (see test/helpers).
const conditions = ['pdm-source', 'node', 'import', 'default'];
// Only our own condition is forced onto external packages: forcing 'import' would hand CommonJS
// requires (mqtt.js's require('ws')) an ESM wrapper.
const externalConditions = ['pdm-source'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['{protocol,agent,controller,models}/src/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          // e2e suites start real processes; running them side by side on 2 cores only adds noise
          fileParallelism: false,
        },
      },
    ],
  },
});
