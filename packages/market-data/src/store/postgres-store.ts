/** The price index in PostgreSQL (`pg` pool); the same schema and queries as the sqlite store. */
import pg from 'pg';
import { BEST_AT, CANDLES, HAS_MODEL, PRUNE, SCHEMA, candleParams, candlesFromRow, type CandleSeries, type IndexRow, type MarketStore } from './market-store.ts';

/** `?` placeholders → `$1, $2, …` (the queries hold no `?` inside literals). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** UPSERT_INDEX for many rows at once; a batch holds one row per model and second. */
const UPSERT_BATCH = `INSERT INTO price_index (model, at, best_msat, median_msat, asks)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::integer[])
ON CONFLICT (model, at) DO UPDATE SET best_msat = excluded.best_msat, median_msat = excluded.median_msat, asks = excluded.asks`;

const Q = { candles: numbered(CANDLES), bestAt: numbered(BEST_AT), hasModel: numbered(HAS_MODEL), prune: numbered(PRUNE) };

/** A PostgreSQL-backed MarketStore. Open it with `PostgresMarketStore.open(url)`. */
export class PostgresMarketStore implements MarketStore {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /** Connects and creates the schema (idempotent; several services may share one database). */
  static async open(url: string): Promise<PostgresMarketStore> {
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    // an idle client that loses its server must not crash the process; the next query reports it
    pool.on('error', () => undefined);
    try {
      const client = await pool.connect();
      try {
        // concurrent CREATE IF NOT EXISTS can race in PostgreSQL: one service at a time
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock(28421)');
        await client.query(SCHEMA);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return new PostgresMarketStore(pool);
  }

  async recordIndex(rows: readonly IndexRow[]): Promise<void> {
    if (rows.length === 0) return;
    // one statement per batch (arrays unnested server-side), not one round trip per model
    await this.#pool.query(UPSERT_BATCH, [
      rows.map((r) => r.model),
      rows.map((r) => r.at),
      rows.map((r) => r.bestMsat ?? null),
      rows.map((r) => r.medianMsat ?? null),
      rows.map((r) => r.asks),
    ]);
  }

  async candles(model: string, from: number, to: number, intervalMs: number): Promise<CandleSeries> {
    const series: CandleSeries = { bestAsk: [], median: [] };
    const result = await this.#pool.query(Q.candles, candleParams(model, from, to, intervalMs));
    for (const row of result.rows as Record<string, unknown>[]) candlesFromRow(row, series);
    return series;
  }

  async bestAskAt(model: string, at: number): Promise<number | undefined> {
    const result = await this.#pool.query(Q.bestAt, [model, at]);
    const row = result.rows[0] as Record<string, unknown> | undefined;
    return row === undefined ? undefined : Number(row['best_msat']);
  }

  async hasModel(model: string): Promise<boolean> {
    return (await this.#pool.query(Q.hasModel, [model])).rows.length > 0;
  }

  async prune(before: number): Promise<number> {
    return (await this.#pool.query(Q.prune, [before])).rowCount ?? 0;
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
