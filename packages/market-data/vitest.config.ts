import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'market-data',
    environment: 'node',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});
