/** What `openMarket` takes: relays, probes, limits against floods and hostile addresses. */
import type { CooldownOptions } from './cooldown.ts';
import type { MarketClock } from './clock.ts';
import type { EventVerifier } from './event-verifier.ts';
import type { PriceHistoryOptions } from './price-history.ts';
import type { ProbeOptions, ProviderAddressPolicy } from './provider-probe.ts';
import type { PubkeyRateOptions } from './pubkey-rate-limit.ts';
import type { ReconnectOptions } from './relay-subscription.ts';

export interface OpenMarketOptions {
  /** Relays to read (default: the routstr SDK's). An empty list: feed events with `ingestEvent`. */
  readonly relays?: readonly string[];
  readonly clock?: MarketClock;
  readonly signal?: AbortSignal;
  /** Id and signature check (default: nostr-tools' wasm verifier). */
  readonly verifyEvent?: EventVerifier;
  /** Probe settings (fetch, timeout, retries, backoff). */
  readonly probe?: Omit<ProbeOptions, 'signal' | 'allowAddresses'>;
  /** Re-probe a provider when its last probe is older than this (default 300 000 ms). */
  readonly probeTtlMs?: number;
  /** `/v1/models` prices lapse this long after the probe that saw them (default 900 000 ms). */
  readonly modelsStaleAfterMs?: number;
  /** Consecutive failed probes after which a provider leaves the market (default 3). */
  readonly evictAfterProbeFailures?: number;
  /**
   * Which provider addresses the market dials (probes, and the payer through the market):
   * 'public' (default) refuses hosts on or resolving to private, loopback and link-local
   * addresses; 'loopback' also allows this machine (the devnet); 'any' allows everything.
   */
  readonly allowProviderAddresses?: ProviderAddressPolicy;
  /** Skip `.onion` endpoints (default true: no Tor here). */
  readonly skipOnion?: boolean;
  readonly maxFutureSkewSeconds?: number;
  /** Whose 38425 reviews count (default: the Routstr pubkey). */
  readonly reviewers?: readonly string[];
  /** Provider pubkeys trusted outright (the `trusted` profile ranks them as positively reviewed). */
  readonly trustedPubkeys?: readonly string[];
  /** Model id mappings alias → canonical (e.g. from 38426). */
  readonly aliases?: Iterable<readonly [string, string]>;
  readonly cooldown?: Omit<CooldownOptions, 'clock'>;
  readonly history?: PriceHistoryOptions;
  /** How often expiries are applied and due probes run (default 1 000 ms; 0 = only on `sweep()`/`refresh()`). */
  readonly tickIntervalMs?: number;
  readonly eoseTimeoutMs?: number;
  /** A relay connection must open within this (default 10 000 ms); a stalled one is retried. */
  readonly connectTimeoutMs?: number;
  /** Backoff between reconnections to a relay that failed, dropped or restarted. */
  readonly reconnect?: ReconnectOptions;
  readonly websocketImplementation?: unknown;
  /** Providers known at once (default 1 000); when full, newcomers are refused until providers leave. */
  readonly maxProviders?: number;
  /** Providers (d-tags) one pubkey may have (default 8). */
  readonly maxProvidersPerPubkey?: number;
  /** Events per second per pubkey (token bucket; default 10/s, burst 100). */
  readonly eventRate?: PubkeyRateOptions;
  /** How long `ready()` waits for queued probes after the relays synced (default 30 000 ms). */
  readonly readyProbeWaitMs?: number;
  /** Probes running at once (default 16); the rest queue, and one URL is never probed twice at once. */
  readonly maxConcurrentProbes?: number;
}
