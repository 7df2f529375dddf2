export { AttachedTables, DurableDatabase, type DurableDatabaseOptions, type Row } from './durable-database.ts';
