/** Opens the store a `store` setting names: a postgres:// URL, else a sqlite path or ':memory:'. */
import { PostgresMarketStore } from './postgres-store.ts';
import { SqliteMarketStore } from './sqlite-store.ts';
import { isPostgresUrl, type MarketStore } from './market-store.ts';

/** The MarketStore for `store`. */
export async function openMarketStore(store: string): Promise<MarketStore> {
  return isPostgresUrl(store) ? PostgresMarketStore.open(store) : new SqliteMarketStore(store);
}
