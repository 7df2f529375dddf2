/** The price index in a node:sqlite file (or ':memory:'), on core's DurableDatabase. */
import { DurableDatabase } from '@routstr-kit/core/storage';
import { BEST_AT, CANDLES, HAS_MODEL, PRUNE, SCHEMA, UPSERT_INDEX, candleParams, candlesFromRow, type CandleSeries, type IndexRow, type MarketStore } from './market-store.ts';

/** A sqlite-backed MarketStore; queries run synchronously, wrapped in resolved promises. */
export class SqliteMarketStore extends DurableDatabase implements MarketStore {
  readonly kind = 'sqlite' as const;

  constructor(path: string) {
    super(path, SCHEMA);
    // prices, not money: a power cut may lose the last second of the index, never corrupt it
    this.db.exec('PRAGMA synchronous = NORMAL');
  }

  recordIndex(rows: readonly IndexRow[]): Promise<void> {
    if (rows.length > 0) {
      this.tx(() => {
        for (const r of rows) this.run(UPSERT_INDEX, r.model, r.at, r.bestMsat ?? null, r.medianMsat ?? null, r.asks);
      });
    }
    return Promise.resolve();
  }

  candles(model: string, from: number, to: number, intervalMs: number): Promise<CandleSeries> {
    const series: CandleSeries = { bestAsk: [], median: [] };
    for (const row of this.all(CANDLES, ...candleParams(model, from, to, intervalMs))) candlesFromRow(row, series);
    return Promise.resolve(series);
  }

  bestAskAt(model: string, at: number): Promise<number | undefined> {
    const row = this.get(BEST_AT, model, at);
    return Promise.resolve(row === undefined ? undefined : Number(row['best_msat']));
  }

  hasModel(model: string): Promise<boolean> {
    return Promise.resolve(this.get(HAS_MODEL, model) !== undefined);
  }

  prune(before: number): Promise<number> {
    return Promise.resolve(this.run(PRUNE, before));
  }

  override close(): Promise<void> {
    super.close();
    return Promise.resolve();
  }
}
