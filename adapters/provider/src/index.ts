export * from './telemetry/index.ts';
