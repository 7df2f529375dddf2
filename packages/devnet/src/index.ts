export { startDevnet } from './devnet.ts';
export type { Devnet, DevnetOptions } from './devnet.ts';
export * from './relay/index.ts';
export * from './mint/index.ts';
export * from './engine/index.ts';
export * from './hostile/index.ts';
