export { AttachedTables, DurableDatabase, type DurableDatabaseOptions, type Row } from './durable-database.ts';
export { OwnerRegistry, pidAlive, processStarted } from './owner-liveness.ts';
