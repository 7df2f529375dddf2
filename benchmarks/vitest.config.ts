import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'benchmarks',
    environment: 'node',
    include: ['src/**/*.test.ts'],
    testTimeout: 120_000,
  },
});
