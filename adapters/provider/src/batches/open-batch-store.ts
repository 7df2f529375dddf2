/** Chooses the batch store from where it lives: a `postgres://` URL or a SQLite file path. */
import type { BatchStore } from './batch-store.ts';
import { PostgresBatchStore } from './postgres-batch-store.ts';
import { SqliteBatchStore } from './sqlite-batch-store.ts';

/** Whether a database location is a PostgreSQL URL (otherwise it is a SQLite file). */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** Opens the batch store at `location`: PostgreSQL for a `postgres://` URL (migrated at open), else a SQLite file. */
export async function openBatchStore(location: string): Promise<BatchStore> {
  return isPostgresUrl(location) ? PostgresBatchStore.open(location) : new SqliteBatchStore(location);
}
