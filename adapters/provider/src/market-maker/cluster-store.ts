/**
 * The market maker's shared state in PostgreSQL, for several node processes of one provider: each
 * process's latest load sample (`market_load`), the quotes behind the leader's ticks
 * (`market_quotes`) and the prices the leader put in force (`market_board`). Migrated at open like
 * the batch store: versioned rows of component 'market-maker' in `schema_version`, under an advisory
 * lock so processes starting together migrate once.
 */
import pg from 'pg';
import type { ProcessLoad } from './cluster-load.ts';
import type { LoadReading } from './load-monitor.ts';
import type { ModelPrice } from './price-board.ts';
import { openMigratedPool } from '../storage/pg-migrations.ts';

/** The component name of this store's rows in schema_version. */
const COMPONENT = 'market-maker';

/** Migrations in order; migration n brings the schema to version n. Never edit one that shipped: add the next. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE market_load (process_id TEXT PRIMARY KEY, at BIGINT NOT NULL, reading JSONB NOT NULL);
  CREATE TABLE market_quotes (seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE, prices JSONB NOT NULL, expires_at BIGINT NOT NULL);
  CREATE INDEX market_quotes_expiry ON market_quotes (expires_at);
  CREATE TABLE market_board (pubkey TEXT PRIMARY KEY, prices JSONB NOT NULL, at BIGINT NOT NULL);`,
];

/** A stored quote: a tick's prices until `expiresAt` (unix s). */
export interface StoredQuote {
  prices: ModelPrice[];
  expiresAt: number;
}

/** The market maker's tables; see the module doc. */
export class ClusterStore {
  readonly #pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Connects to `url` (`postgres://…`) and migrates the market maker's tables. */
  static async open(url: string, options: { applicationName?: string; queryTimeoutMs?: number } = {}): Promise<ClusterStore> {
    const config: pg.PoolConfig = {
      connectionString: url,
      max: 2,
      ...(options.applicationName ? { application_name: options.applicationName } : {}),
      ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs, connectionTimeoutMillis: options.queryTimeoutMs } : {}),
    };
    return new ClusterStore(await openMigratedPool(config, COMPONENT, MIGRATIONS));
  }

  /** Writes this process's latest sample (one row per process, replaced each time). */
  async writeLoad(processId: string, at: number, reading: LoadReading): Promise<void> {
    await this.#pool.query(
      'INSERT INTO market_load (process_id, at, reading) VALUES ($1, $2, $3) ON CONFLICT (process_id) DO UPDATE SET at = EXCLUDED.at, reading = EXCLUDED.reading',
      [processId, at, JSON.stringify(reading)],
    );
  }

  /** Every process's sample written after `since` (unix ms). */
  async freshLoads(since: number): Promise<ProcessLoad[]> {
    const { rows } = await this.#pool.query<{ process_id: string; at: string; reading: LoadReading }>('SELECT process_id, at, reading FROM market_load WHERE at > $1', [since]);
    return rows.map((r) => ({ processId: r.process_id, at: Number(r.at), reading: r.reading }));
  }

  /** Deletes the samples written before `before` (unix ms): processes long dead, so the table stays bounded. */
  async pruneLoads(before: number): Promise<void> {
    await this.#pool.query('DELETE FROM market_load WHERE at < $1', [before]);
  }

  /** Forgets this process's sample (a clean stop); rows of dead processes just go stale. */
  async removeLoad(processId: string): Promise<void> {
    await this.#pool.query('DELETE FROM market_load WHERE process_id = $1', [processId]);
  }

  /** Stores a published tick as a quote; prunes expired quotes and all but the newest `keep`. */
  async insertQuote(quoteId: string, prices: readonly ModelPrice[], expiresAt: number, nowS: number, keep: number): Promise<void> {
    await this.#pool.query('INSERT INTO market_quotes (id, prices, expires_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING', [quoteId, JSON.stringify(prices), expiresAt]);
    await this.#pool.query(
      `DELETE FROM market_quotes WHERE expires_at <= $1
         OR seq <= (SELECT seq FROM market_quotes ORDER BY seq DESC OFFSET $2 LIMIT 1)`,
      [nowS, keep],
    );
  }

  /** A stored quote, or undefined when unknown (or pruned). */
  async quote(quoteId: string): Promise<StoredQuote | undefined> {
    const { rows } = await this.#pool.query<{ prices: ModelPrice[]; expires_at: string }>('SELECT prices, expires_at FROM market_quotes WHERE id = $1', [quoteId]);
    const row = rows[0];
    return row ? { prices: row.prices, expiresAt: Number(row.expires_at) } : undefined;
  }

  /** Puts the leader's prices in force for every process of the provider `pubkey`. */
  async writeBoard(pubkey: string, prices: readonly ModelPrice[], at: number): Promise<void> {
    await this.#pool.query(
      'INSERT INTO market_board (pubkey, prices, at) VALUES ($1, $2, $3) ON CONFLICT (pubkey) DO UPDATE SET prices = EXCLUDED.prices, at = EXCLUDED.at',
      [pubkey, JSON.stringify(prices), at],
    );
  }

  /** The prices the leader last put in force, if any. */
  async board(pubkey: string): Promise<ModelPrice[] | undefined> {
    const { rows } = await this.#pool.query<{ prices: ModelPrice[] }>('SELECT prices FROM market_board WHERE pubkey = $1', [pubkey]);
    return rows[0]?.prices;
  }

  async close(): Promise<void> {
    if (!this.#pool.ended) await this.#pool.end();
  }
}
