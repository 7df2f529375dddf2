export { AttachedTables, DurableDatabase, type DurableDatabaseOptions, type Row, type StoreSchema } from './durable-database.ts';
export { OwnerRegistry } from './owner-liveness.ts';
export { isPostgresUrl, redactLocation, type Dialect, type ReadOptions, type SqlConnection, type SqlValue } from './sql-connection.ts';
