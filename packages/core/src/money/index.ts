export * from './amounts.ts';
export * from './prices.ts';
export { pythonRound } from './decimal.ts';
