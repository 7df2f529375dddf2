import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'e2e',
    environment: 'node',
    include: ['e2e/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // Each file starts its own devnet and nodes; running them one at a time keeps 2 cores usable.
    fileParallelism: false,
  },
});
