export { startRelay } from './relay.ts';
export type { RelayOptions, RunningRelay, RelayStats } from './relay.ts';
export { SqliteEventStore } from './event-store.ts';
export { startFaultyRelay } from './faulty-relay.ts';
export type { FaultyRelay, RelayFault } from './faulty-relay.ts';
