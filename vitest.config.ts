import { defineConfig } from 'vitest/config';

// One project per package; `pnpm test` runs them all.
export default defineConfig({
  test: {
    projects: ['packages/*', 'adapters/*', 'benchmarks', 'test', 'test/packed'],
  },
});
