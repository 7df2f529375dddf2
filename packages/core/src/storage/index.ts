export { AttachedTables, DurableDatabase, type DurableDatabaseOptions, type Row } from './durable-database.ts';
export { OwnerRegistry } from './owner-liveness.ts';
