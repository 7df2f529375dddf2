import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'packed',
    environment: 'node',
    include: ['*.test.ts'],
    // npm installs of the packed tarballs (and of the lowest supported Node) dominate: generous limits.
    testTimeout: 180_000,
    hookTimeout: 600_000,
    fileParallelism: false,
  },
});
