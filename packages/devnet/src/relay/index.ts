export { startRelay } from './relay.ts';
export type { RelayOptions, RunningRelay, RelayStats } from './relay.ts';
export { SqliteEventStore } from './event-store.ts';
