export * from './money/index.ts';
export * from './protocol/index.ts';
export * from './pricing/index.ts';
export * from './wallet/index.ts';
export * from './payments/index.ts';
export * from './market/index.ts';
export * from './storage/index.ts';
export * from './orders/index.ts';
