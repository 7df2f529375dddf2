export * from './amounts.ts';
