/** `startMarketDataService`: market ingestion + price index store + HTTP API in one process. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openMarket, systemClock, type Market } from '@routstr-kit/core/market';
import { handleRequest } from './http-api.ts';
import { IndexRecorder } from './index-recorder.ts';
import { MarketIndex } from './market-index.ts';
import { NpubCache } from './market-views.ts';
import type { MarketDataServiceOptions } from './service-options.ts';
import { SseHub } from './sse-hub.ts';
import { openMarketStore } from './store/open-store.ts';
import type { MarketStore } from './store/market-store.ts';

/** A running market-data service. */
export interface MarketDataService {
  /** Base URL, e.g. http://127.0.0.1:8421 */
  readonly url: string;
  /** The market it reads (tests and benchmarks feed it events with `ingestEvent`). */
  readonly market: Market;
  /** Which database holds the history. */
  readonly storeKind: MarketStore['kind'];
  /** Writes the current index to the store now (otherwise once a second). */
  recordNow(): Promise<void>;
  close(): Promise<void>;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** Starts the aggregator: subscribes to relays, keeps the index and its history, serves the API. */
export async function startMarketDataService(options: MarketDataServiceOptions): Promise<MarketDataService> {
  const store = await openMarketStore(options.store);
  const clock = options.market?.clock ?? systemClock;
  // an aggregator watches the whole market: room for 10 000 providers (a buyer's market keeps 1 000)
  const market = openMarket({ maxProviders: 10_000, ...options.market, relays: options.relays, allowProviderAddresses: options.providerAddresses ?? 'public' });
  const index = new MarketIndex({ market, clock, maxModels: options.maxModels ?? 2_000, maxTicksPerModel: options.maxTicksPerModel ?? 50 });
  const hub = new SseHub(15_000, options.maxStreams ?? 1_000);
  const offIndex = index.listen({ model: (s) => hub.send('model', s), book: (b) => hub.send('book', b) });
  const log = options.log ?? ((line: string) => console.error(line));
  const recorder = new IndexRecorder({
    index,
    store,
    clock,
    intervalMs: options.indexIntervalMs,
    retentionMs: options.retentionMs,
    onError: (error) => log(`market-data: writing the price index failed: ${(error as Error).message}`),
  });
  const context = { market, index, store, hub, clock, npubs: new NpubCache(), log };
  const server = createServer((req, res) => void handleRequest(context, req, res));
  const host = options.host ?? '127.0.0.1';
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await recorder.close();
    index.close();
    hub.close();
    market.close();
    await store.close();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${hostForUrl(host)}:${port}`,
    market,
    storeKind: store.kind,
    recordNow: () => recorder.sample(),
    close() {
      closing ??= (async () => {
        hub.close();
        offIndex();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        market.close();
        await recorder.sample();
        await recorder.close();
        index.close();
        await store.close();
      })();
      return closing;
    },
  };
}
