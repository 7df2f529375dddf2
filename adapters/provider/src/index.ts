export * from './telemetry/index.ts';
export * from './market-maker/index.ts';
export * from './node/index.ts';
export * from './batches/index.ts';
export { startProvider, PROVIDER_VERSION, type StartProviderOptions, type RunningProvider } from './start-provider.ts';
export { parseSecretKey, InvalidSecretKey } from './secret-key.ts';
