export * from './usage.ts';
export * from './gate.ts';
export * from './cost.ts';
export * from './verify-charge.ts';
export * from './dynamic-price.ts';
