/** What `startMarketDataService` takes. */
import type { OpenMarketOptions, ProviderAddressPolicy } from '@routstr-kit/core/market';

export interface MarketDataServiceOptions {
  /** Relays to read. */
  readonly relays: readonly string[];
  /** Where history is kept: a sqlite file path, ':memory:', or a postgres:// URL. */
  readonly store: string;
  /** Port to listen on (default 0: any free port). */
  readonly port?: number;
  /** Address to listen on (default 127.0.0.1). */
  readonly host?: string;
  /** Which provider addresses probes may dial (default 'public'; the devnet needs 'loopback'). */
  readonly providerAddresses?: ProviderAddressPolicy;
  /** Models kept in the index (default 2 000); beyond it, the model with the fewest asks is not indexed. */
  readonly maxModels?: number;
  /** Recent ticks kept per model for the book (default 50). */
  readonly maxTicksPerModel?: number;
  /** How often the per-second price index is sampled (default 1 000 ms). */
  readonly indexIntervalMs?: number;
  /** Index rows older than this are deleted (default 400 days). */
  readonly retentionMs?: number;
  /** Open `/api/stream` connections at once (default 1 000); beyond it a stream request gets 503. */
  readonly maxStreams?: number;
  /** Where operational messages go (default: stderr). */
  readonly log?: (line: string) => void;
  /** Extra options for the underlying market (tests: probe timing, limits). */
  readonly market?: Omit<OpenMarketOptions, 'relays' | 'allowProviderAddresses' | 'signal'>;
}
