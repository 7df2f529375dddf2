/**
 * The root of @routstr-kit/core: every module's public surface, as that module's own index lists
 * it (one list per module, kept there). `root-surface.test.ts` checks that the root is exactly the
 * union of the modules and that no two modules export the same name.
 */
export * from './money/index.ts';
export * from './protocol/index.ts';
export * from './pricing/index.ts';
export * from './wallet/index.ts';
export * from './payments/index.ts';
export * from './market/index.ts';
export * from './storage/index.ts';
export * from './orders/index.ts';
export * from './market-fetch/index.ts';
export * from './config/index.ts';
