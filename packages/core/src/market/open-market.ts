/**
 * `openMarket`: relays → feed → registry and book; probes → registry and book; book → history
 * and change events; registry + book + cooldowns → selection. Every timer is unref'd and
 * everything stops on `close()` or when `signal` aborts.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { ROUTSTR_PUBKEY, type Announcement, type PriceTick } from '../protocol/index.ts';
import { ChangeStream, type ChangeIterationOptions } from './change-stream.ts';
import { systemClock, type MarketClock } from './clock.ts';
import { CooldownTracker, cooldownScope } from './cooldown.ts';
import { loadWasmVerifier } from './event-verifier.ts';
import { MarketFeed, marketFilters, type IngestOutcome } from './market-feed.ts';
import { MarketStats } from './market-stats.ts';
import { ModelIdResolver } from './model-id.ts';
import { OrderBook, type AskChange, type BestAskChange, type MarketPrice, type PricedAsk, type RequestShape } from './order-book.ts';
import type { OpenMarketOptions } from './open-market-options.ts';
import { PriceHistory, type HistoryPoint } from './price-history.ts';
import { ProbeScheduler, SkippedProbe } from './probe-scheduler.ts';
import { ProbeError, literalHostScope, scopeAllowed, type ProviderAddressPolicy } from './provider-probe.ts';
import { subscribeRelays, type RelaySubscription } from './relay-subscription.ts';
import { ProviderRegistry, providerHost, successRate, type ProviderRecord } from './provider-registry.ts';
import { selectProviders, type Selection, type SelectionCandidate, type SelectionRequest } from './selection.ts';

export type { OpenMarketOptions } from './open-market-options.ts';

/** The relays routstr-sdk's ModelManager reads (routstr-chat, routstrd). */
export const DEFAULT_MARKET_RELAYS: readonly string[] = ['wss://relay.damus.io', 'wss://nos.lol', 'wss://relay.routstr.com'];

/** Why a provider left the market. */
export type DepartureReason = 'expired' | 'deleted' | 'probes-failing' | 'address-refused';

/** How a failure should cool a provider down. */
export interface FailureReport {
  /** The model the request was for: the cooldown covers that model only. */
  readonly model?: string;
  /** Network errors and unreachable mints cool the whole provider (routstr SDK). */
  readonly wholeProvider?: boolean;
  readonly reason?: string;
}

/** A live market: discovery, order book, selection. */
export class Market {
  readonly book: OrderBook;
  readonly registry = new ProviderRegistry();
  readonly stats = new MarketStats();
  readonly priceHistory: PriceHistory;
  readonly cooldowns: CooldownTracker;
  /** Every tick the book took (verified, from a known provider, newer seq), after the book changed. */
  readonly ticks = new ChangeStream<PriceTick>();
  readonly #clock: MarketClock;
  readonly #options: OpenMarketOptions;
  readonly #abort = new AbortController();
  readonly #inflight = new Map<string, Promise<void>>();
  readonly #lastRecorded = new Map<string, number>();
  readonly #dirty = new Map<string, boolean>();
  readonly #departures = new Set<(provider: string, reason: DepartureReason) => void>();
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  readonly #probes: ProbeScheduler;
  #feed: MarketFeed | undefined;
  #subscription: RelaySubscription | undefined;
  readonly #synced: Promise<void>;
  #markSynced: () => void = () => {};
  readonly #verifierReady: Promise<void>;

  constructor(options: OpenMarketOptions = {}) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#probes = new ProbeScheduler({ maxConcurrent: options.maxConcurrentProbes });
    this.book = new OrderBook({ clock: this.#clock, resolver: new ModelIdResolver(options.aliases ?? []) });
    this.priceHistory = new PriceHistory(options.history);
    this.cooldowns = new CooldownTracker({ ...options.cooldown, clock: this.#clock });
    this.#synced = new Promise((resolve) => {
      this.#markSynced = resolve;
    });
    this.book.bestAskChanges.on((c) => this.#record(c.model, true));
    this.book.askChanges.on((c) => this.#record(c.model, false));

    const verifier = options.verifyEvent ? Promise.resolve(options.verifyEvent) : loadWasmVerifier();
    this.#verifierReady = verifier.then((verify) => {
      this.#feed = new MarketFeed({
        clock: this.#clock,
        stats: this.stats,
        verify,
        maxFutureSkewSeconds: options.maxFutureSkewSeconds,
        rate: options.eventRate,
        handlers: {
          announcement: (a, expiresAt) => this.#onAnnouncement(a, expiresAt),
          admitAnnouncement: (a) => this.#admit(a),
          announcementDeleted: (address) => this.#depart(address, 'deleted'),
          tick: (t) => this.#onTick(t),
          review: (r) => this.registry.addReview(r),
          recommendation: (r) => this.registry.addRecommendation(r),
        },
      });
    });
    this.#verifierReady.then(() => this.#start(), () => this.#markSynced());
    if (options.signal?.aborted) this.close();
    else options.signal?.addEventListener('abort', () => this.close(), { once: true });
    const interval = options.tickIntervalMs ?? 1_000;
    if (interval > 0) {
      const timer = setInterval(() => {
        this.sweep();
        this.refresh({ onlyDue: true });
      }, interval);
      timer.unref();
      this.#timers.push(timer);
    }
  }

  /**
   * Resolves once every relay has synced (EOSE, timeout or close) and the probes that started
   * meanwhile have settled, or `readyProbeWaitMs` passed (probes queue 16 at a time: on a relay
   * full of dead hosts, waiting for all of them would hold a caller for minutes).
   */
  async ready(): Promise<void> {
    await this.#synced;
    const settled = (async () => {
      while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight.values()]);
    })();
    const limit = new AbortController();
    await Promise.race([settled, delay(this.#options.readyProbeWaitMs ?? 30_000, undefined, { ref: false, signal: limit.signal }).catch(() => undefined)]);
    limit.abort();
  }

  /** Ingests one event as a relay would deliver it (tests, other transports). Waits for the verifier on first use. */
  async ingestEvent(event: unknown): Promise<IngestOutcome> {
    await this.#verifierReady;
    return this.ingestEventSync(event);
  }

  /** Synchronous ingest; throws if the verifier is not loaded yet (await `ready()` or `ingestEvent` first). */
  ingestEventSync(event: unknown): IngestOutcome {
    if (!this.#feed) throw new Error('market verifier not loaded yet');
    return this.#feed.ingest(event);
  }

  /** Cheapest live ask for `model` (priced for `shape` when given). */
  bestAsk(model: string, shape?: RequestShape): PricedAsk | undefined {
    return this.book.bestAsk(model, shape);
  }

  /** The `n` cheapest asks for `model`. */
  depth(model: string, n: number, shape?: RequestShape): PricedAsk[] {
    return this.book.depth(model, n, shape);
  }

  /** Median and spread of live asks for `model`. */
  marketPrice(model: string, shape?: RequestShape): MarketPrice | undefined {
    return this.book.marketPrice(model, shape);
  }

  /** Best and median of `model` over the last `windowMs`, oldest first. */
  history(model: string, windowMs: number): HistoryPoint[] {
    const now = this.#clock.now();
    for (const key of this.book.resolver.lookupKeys(model)) {
      const points = this.priceHistory.query(key, windowMs, now);
      if (points.length > 0) return points;
    }
    return [];
  }

  /** Models with at least one live ask. */
  models(): string[] {
    return this.book.models();
  }

  /** Calls `listener` on every ask change (synchronously, in the ingesting tick). */
  onAskChange(listener: (change: AskChange) => void): () => void {
    return this.book.askChanges.on(listener);
  }

  /** Calls `listener` whenever a model's best ask changes. */
  onBestAskChange(listener: (change: BestAskChange) => void): () => void {
    return this.book.bestAskChanges.on(listener);
  }

  /** Calls `listener` when a provider leaves the market. */
  onDeparture(listener: (provider: string, reason: DepartureReason) => void): () => void {
    this.#departures.add(listener);
    return () => this.#departures.delete(listener);
  }

  askChanges(options?: ChangeIterationOptions): AsyncIterableIterator<AskChange> {
    return this.book.askChanges.iterate(options);
  }

  bestAskChanges(options?: ChangeIterationOptions): AsyncIterableIterator<BestAskChange> {
    return this.book.bestAskChanges.iterate(options);
  }

  /** Ranks the providers for a request: `providers[0]` to use, the rest to fail over to. */
  select(request: SelectionRequest): Selection {
    const trusted = new Set(this.#options.trustedPubkeys ?? []);
    const reviewers = this.#options.reviewers ?? [ROUTSTR_PUBKEY];
    const candidates: SelectionCandidate[] = [];
    for (const ask of this.book.asks(request.model, request.shape)) {
      const record = this.registry.get(ask.provider);
      if (!record) continue;
      const sentiment = this.registry.reviewSentiment(record.pubkey, reviewers);
      candidates.push({
        provider: record.id,
        ask,
        pubkey: record.pubkey,
        host: providerHost(record),
        mints: record.mints,
        latencyMs: record.latencyMs,
        successRate: successRate(record),
        sentiment: sentiment === 'negative' ? 'negative' : trusted.has(record.pubkey) ? 'positive' : sentiment,
        coolingDown: this.cooldowns.isCoolingDown(record.id, ask.model),
        // a provider is chosen only after a probe passed: an announcement alone costs nothing to fake
        healthy: record.health === 'healthy',
      });
    }
    return selectProviders(candidates, request);
  }

  /** A request to `provider` failed: counts against its success rate and may start a cooldown. */
  reportFailure(provider: string, report: FailureReport = {}): void {
    this.registry.requestOutcome(provider, false);
    const model = report.model === undefined || report.wholeProvider ? undefined : this.book.resolver.key(report.model);
    this.cooldowns.recordFailure(cooldownScope(provider, model));
  }

  /** A request to `provider` succeeded in `latencyMs`. */
  reportSuccess(provider: string, latencyMs: number): void {
    this.registry.requestOutcome(provider, true, latencyMs);
  }

  /** Probes providers now: all of them, one, or only those whose last probe is older than the TTL. */
  refresh(options: { provider?: string; onlyDue?: boolean } = {}): Promise<void> {
    const ttl = this.#options.probeTtlMs ?? 300_000;
    const now = this.#clock.now();
    const targets = options.provider ? [this.registry.get(options.provider)].filter((r): r is ProviderRecord => r !== undefined) : this.registry.all();
    const runs = targets.filter((r) => !options.onlyDue || r.lastProbeAt === undefined || now - r.lastProbeAt >= ttl).map((r) => this.#probe(r.id));
    return Promise.allSettled(runs).then(() => undefined);
  }

  /** Applies expiries due at the clock's time: ticks and prices lapse, expired announcements leave. */
  sweep(): void {
    const now = this.#clock.now();
    for (const r of this.registry.all()) if (r.expiresAt !== undefined && r.expiresAt <= now) this.#depart(r.id, 'expired');
    this.book.sweep();
  }

  /** Stops subscriptions, probes and timers. */
  close(): void {
    if (this.#abort.signal.aborted) return;
    this.#abort.abort();
    this.#subscription?.close();
    this.#probes.stop();
    for (const t of this.#timers) clearInterval(t);
    this.#markSynced();
  }

  get closed(): boolean {
    return this.#abort.signal.aborted;
  }

  #start(): void {
    if (this.closed) return;
    const relays = this.#options.relays ?? DEFAULT_MARKET_RELAYS;
    if (relays.length === 0) {
      this.#markSynced();
      return;
    }
    this.#subscription = subscribeRelays({
      relays,
      filters: marketFilters(this.#options.reviewers ?? [ROUTSTR_PUBKEY]),
      onEvent: (event) => {
        if (!this.closed) this.#feed?.ingest(event);
      },
      onSynced: () => this.#markSynced(),
      eoseTimeoutMs: this.#options.eoseTimeoutMs,
      connectTimeoutMs: this.#options.connectTimeoutMs,
      reconnect: this.#options.reconnect,
      signal: this.#abort.signal,
      websocketImplementation: this.#options.websocketImplementation,
    });
  }

  get #addressPolicy(): ProviderAddressPolicy {
    return this.#options.allowProviderAddresses ?? 'public';
  }

  /** Drops the URLs whose literal host the policy refuses (names are checked by the probe, after DNS). */
  #allowedUrls(a: Announcement): string[] {
    const policy = this.#addressPolicy;
    return a.urls.filter((u) => {
      try {
        const scope = literalHostScope(new URL(u));
        return scope === undefined || scopeAllowed(scope, policy);
      } catch {
        return false;
      }
    });
  }

  /** Whether the feed should take this announcement: refused when no URL of it may be dialed, or over the caps. */
  #admit(a: Announcement): 'address' | 'capacity' | undefined {
    if (this.#allowedUrls(a).length === 0) {
      this.#depart(a.address, 'address-refused');
      return 'address';
    }
    if (this.registry.get(a.address)) return undefined;
    if (this.registry.countFor(a.pubkey) >= (this.#options.maxProvidersPerPubkey ?? 8)) return 'capacity';
    // full: newcomers wait until providers leave (expiry, deletion, failing probes); evicting one for
    // each newcomer would let a flood buy a probe per announcement
    return this.registry.size < (this.#options.maxProviders ?? 1_000) ? undefined : 'capacity';
  }

  #onAnnouncement(announced: Announcement, expiresAt: number | undefined): void {
    const a = { ...announced, urls: this.#allowedUrls(announced) };
    const before = this.registry.get(a.address)?.urls.join(' ');
    const { record, created } = this.registry.upsertAnnouncement(a, expiresAt);
    this.book.setAsks(record.id, 'announcement', a.asks, { expiresAt });
    if (created || before !== record.urls.join(' ')) void this.#probe(record.id);
  }

  #onTick(t: PriceTick): 'accepted' | 'stale-seq' | 'orphan' {
    if (!this.registry.get(t.address)) return 'orphan';
    const ok = this.book.setAsks(t.address, 'tick', t.models, { expiresAt: t.expiration * 1000, seq: t.seq, quoteId: t.id });
    if (ok && this.ticks.active) this.ticks.emit(t);
    return ok ? 'accepted' : 'stale-seq';
  }

  #depart(provider: string, reason: DepartureReason): void {
    if (!this.registry.remove(provider)) return;
    this.book.removeProvider(provider);
    this.cooldowns.forget(provider);
    this.#feed?.forget(provider);
    for (const listener of this.#departures) listener(provider, reason);
  }

  #probeUrl(record: ProviderRecord): string | undefined {
    const skipOnion = this.#options.skipOnion ?? true;
    return record.urls.find((u) => !skipOnion || !/\.onion(:\d+)?\/?$/i.test(new URL(u).host));
  }

  #probe(id: string): Promise<void> {
    const running = this.#inflight.get(id);
    if (running) return running;
    const record = this.registry.get(id);
    const url = record && this.#probeUrl(record);
    if (!record || !url || this.closed) return Promise.resolve();
    const options = { ...this.#options.probe, signal: this.#abort.signal, allowAddresses: this.#addressPolicy };
    const run = this.#probes
      .probe(url, options, () => !this.closed && this.registry.get(id) === record)
      .then(
        (result) => {
          if (this.closed || this.registry.get(id) !== record) return;
          const now = this.#clock.now();
          this.stats.probesOk += 1;
          for (const [alias, canonical] of result.aliases) this.book.resolver.addAlias(alias, canonical);
          this.registry.probeSucceeded(id, result.info, result.latencyMs, now);
          this.book.setAsks(id, 'models', result.asks, { expiresAt: now + (this.#options.modelsStaleAfterMs ?? 900_000) });
        },
        (error: unknown) => {
          if (this.closed || this.registry.get(id) !== record || error instanceof SkippedProbe) return;
          const e = error instanceof ProbeError ? error : new ProbeError('network', url, String(error));
          this.stats.probesFailed += 1;
          if (e.code === 'malformed_body') {
            this.stats.malformedBodies += 1;
            this.stats.reject('malformed');
          }
          this.registry.probeFailed(id, `${e.code}: ${e.message}`, this.#clock.now());
          // a name that resolves to a refused address: the payer must never be handed it
          if (e.code === 'private_address') this.#depart(id, 'address-refused');
          else if (record.consecutiveProbeFailures >= (this.#options.evictAfterProbeFailures ?? 3)) this.#depart(id, 'probes-failing');
        },
      )
      .finally(() => this.#inflight.delete(id));
    this.#inflight.set(id, run);
    return run;
  }

  // history is sampled after the ingest that changed the book, never inside it
  #record(model: string, bestChanged: boolean): void {
    const pending = this.#dirty.get(model);
    this.#dirty.set(model, (pending ?? false) || bestChanged);
    if (pending !== undefined || this.#dirty.size > 1) return;
    queueMicrotask(() => this.#flushHistory());
  }

  #flushHistory(): void {
    const now = this.#clock.now();
    const resolution = this.#options.history?.resolutionMs ?? 1_000;
    const dirty = [...this.#dirty];
    this.#dirty.clear();
    for (const [model, bestChanged] of dirty) {
      const last = this.#lastRecorded.get(model);
      if (!bestChanged && last !== undefined && now - last < resolution) continue;
      this.#lastRecorded.set(model, now);
      const price = this.book.marketPrice(model);
      this.priceHistory.record(model, {
        at: now,
        bestMsat: price?.bestMsat,
        medianMsat: price?.medianMsat,
        asks: price?.asks ?? 0,
        bestProvider: this.book.bestAsk(model)?.provider,
      });
    }
  }
}

/** Opens a market on `relays`: discovery, probes, order book and selection. Call `close()` (or abort `signal`) when done. */
export function openMarket(options: OpenMarketOptions = {}): Market {
  return new Market(options);
}
