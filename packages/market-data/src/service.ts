/** `startMarketDataService`: market ingestion + store + HTTP API in one process. */
import type { MarketDataServiceOptions } from './service-options.ts';

/** A running market-data service. */
export interface MarketDataService {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  readonly url: string;
  close(): Promise<void>;
}

/** Starts the aggregator: subscribes to relays, keeps the index and history, serves the API. */
export async function startMarketDataService(options: MarketDataServiceOptions): Promise<MarketDataService> {
  void options;
  throw new Error('not implemented yet');
}
