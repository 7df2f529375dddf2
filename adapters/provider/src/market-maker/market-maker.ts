/**
 * The market maker: samples the node's load, moves the board's prices (dynamic) or holds them
 * (fixed, a limit sell), and keeps the node's Nostr presence current: the kind 38421 announcement
 * (republished on a change of endpoint, mints or asks, and now and then with a fresh created_at)
 * and kind 28421 ticks (on every price change and as a heartbeat), each tick kept as a quote.
 * With `cluster` (several node processes of one provider on one PostgreSQL), only the holder of the
 * announcer lease announces, ticks and sets prices; every process shares its load sample, prices
 * from the cluster's combined load, bills at the announcer's prices and honours its quotes.
 */
import type { NostrEvent } from '@routstr-kit/core';
import type { Utilisation } from '../telemetry/index.ts';
import { DynamicPricer, type DynamicBoardConfig, type ModelPricingState } from './dynamic-pricer.ts';
import { LoadMonitor, type LoadReading, type TelemetryOptions } from './load-monitor.ts';
import { MarketCluster, type ClusterOptions } from './market-cluster.ts';
import { MarketMakerConfigError } from './market-maker-error.ts';
import { NostrListing, type NostrListingOptions, type PublishOutcome } from './nostr-listing.ts';
import { createPriceBoard, type ModelPrice, type NodeLoad, type PriceBoard, type WritablePriceBoard } from './price-board.ts';

/** `board: { mode: 'fixed', prices }`: sell at these prices whatever the load. */
export interface FixedBoardConfig {
  mode: 'fixed';
  prices: ModelPrice[];
}

export interface MarketMakerOptions {
  board: FixedBoardConfig | DynamicBoardConfig;
  /** Served model ids; each gets a price. */
  models: string[];
  load: NodeLoad;
  telemetry?: TelemetryOptions;
  nostr?: NostrListingOptions;
  tick?: {
    /** Publish a tick when none went out for this long (default 60 s); 0 turns the heartbeat off. */
    heartbeatS?: number;
    /** How long a tick binds its prices as a quote (NIP-40 `expiration`; default 180 s). */
    expirationS?: number;
    /** Load sampling interval (default 1000 ms); 0 samples only on `sampleNow()`. */
    intervalMs?: number;
    /** Recent ticks kept as quotes (default 64). */
    keep?: number;
  };
  announce?: {
    /** Republish an unchanged announcement after this long, with a fresh created_at (default 3600 s). */
    refreshS?: number;
    /** Republish for changed asks at most this often (default 60 s, at least 1 s); endpoint/mint changes go out at once. */
    minIntervalS?: number;
  };
  /** Window in which 429s count as unmet demand (default 10 s). */
  rejectedWindowMs?: number;
  /**
   * Experimental: this process is one of several node processes of one provider sharing this
   * PostgreSQL (and the same `nostr` key and URL). Without it the market maker is alone, as before.
   */
  cluster?: ClusterOptions;
  /** Unix ms; tests move it. */
  clock?: () => number;
  log?: (message: string) => void;
}

/** Why a tick went out. */
export type TickReason = 'price' | 'heartbeat' | 'manual';

export interface TickRecord {
  id: string;
  seq: number;
  createdAt: number;
  expiresAt: number;
  load: number;
  reason: TickReason;
  prices: ModelPrice[];
}

/** The price inputs and outputs, for the admin view. */
export interface MarketMakerState {
  mode: 'fixed' | 'dynamic';
  running: boolean;
  samples: number;
  utilisation: Utilisation | null;
  /** The last load sample (node counters, vLLM, Ollama, GPUs, telemetry errors). */
  reading: LoadReading | null;
  prices: Record<string, ModelPrice>;
  /** Dynamic mode: per-model cost basis, target and smoothed utilisation. */
  pricing: Record<string, ModelPricingState> | null;
  nostr: {
    pubkey: string;
    d: string | undefined;
    announcement: { id: string; createdAt: number } | null;
    lastPublish: PublishOutcome | null;
  } | null;
  lastTick: TickRecord | null;
  ticksPublished: number;
  nvidiaSmiOff: boolean;
  /** With `cluster`: this process, whether it holds the announcer lease, how many processes the last sample counted. */
  cluster: { processId: string; leader: boolean; processes: number } | null;
}

export interface MarketMaker extends PriceBoard {
  /** Starts (or resumes) interval sampling; a no-op when running or when intervalMs is 0. */
  start(): void;
  /** Stops sampling, waits for a sample in progress, closes relay connections. */
  stop(): Promise<void>;
  state(): MarketMakerState;
  /** The announcement in force, or null without Nostr. */
  announcement(): NostrEvent | null;
  /** Takes one load sample now and acts on it (prices, ticks, announcement); samples never overlap. */
  sampleNow(): Promise<MarketMakerState>;
  /** Publishes a tick at the current prices now (null without Nostr). */
  publishTick(reason?: TickReason): Promise<TickRecord | null>;
  /** Called with true when this process becomes the cluster's announcer, false when it stops (never without `cluster`). */
  onLeadership(listener: (leader: boolean) => void): () => void;
  /** Changes the endpoint, mints or metadata; republishes at once if the announcement changes. */
  updateListing(change: Partial<Pick<NostrListingOptions, 'urls' | 'mints' | 'version' | 'name' | 'about'>>): Promise<NostrEvent | null>;
}

function fixedPrices(models: readonly string[], prices: readonly ModelPrice[]): ModelPrice[] {
  const byModel = new Map(prices.map((p) => [p.model, p]));
  return models.map((model) => {
    const price = byModel.get(model);
    if (!price) throw new MarketMakerConfigError('invalid_config', `model ${model} has no fixed price`);
    return price;
  });
}

/** The announcer's prices for the models this process serves; a model it did not price keeps ours. */
function ownModels(models: readonly string[], shared: readonly ModelPrice[], current: ReadonlyMap<string, ModelPrice>): ModelPrice[] {
  const byModel = new Map(shared.map((p) => [p.model, p]));
  return models.map((model) => byModel.get(model) ?? (current.get(model) as ModelPrice));
}

function checkOptions(options: MarketMakerOptions): void {
  if (options.models.length === 0) throw new MarketMakerConfigError('invalid_config', 'no models to price');
  if (new Set(options.models).size !== options.models.length) throw new MarketMakerConfigError('invalid_config', 'a model is listed twice');
  const t = options.tick ?? {};
  for (const [name, v] of [['tick.heartbeatS', t.heartbeatS], ['tick.intervalMs', t.intervalMs], ['announce.refreshS', options.announce?.refreshS], ['announce.minIntervalS', options.announce?.minIntervalS]] as const) {
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new MarketMakerConfigError('invalid_config', `${name} must be ≥ 0`);
  }
  if (t.expirationS !== undefined && !(Number.isSafeInteger(t.expirationS) && t.expirationS > 0)) {
    throw new MarketMakerConfigError('invalid_config', 'tick.expirationS must be a positive integer');
  }
  if (options.nostr && options.nostr.urls.filter((u) => u.trim() !== '').length === 0) {
    throw new MarketMakerConfigError('missing_url', 'an announcement needs at least one endpoint URL (nostr.urls)');
  }
}

/** Starts the market maker: first load sample, d-tag and announcement, then interval sampling. */
export async function startMarketMaker(options: MarketMakerOptions): Promise<MarketMaker> {
  checkOptions(options);
  const clock = options.clock ?? Date.now;
  const log = options.log ?? ((m: string) => console.warn(m));
  const heartbeatMs = (options.tick?.heartbeatS ?? 60) * 1000;
  const expirationS = options.tick?.expirationS ?? 180;
  const intervalMs = options.tick?.intervalMs ?? 1000;
  const refreshS = options.announce?.refreshS ?? 3600;
  // at most one asks-driven republish a second, so created_at never has to run ahead of the clock
  const minIntervalS = Math.max(1, options.announce?.minIntervalS ?? 60);
  const nowS = () => Math.floor(clock() / 1000);

  const monitor = new LoadMonitor({
    load: options.load,
    ...(options.telemetry ? { telemetry: options.telemetry } : {}),
    ...(options.rejectedWindowMs !== undefined ? { rejectedWindowMs: options.rejectedWindowMs } : {}),
    clock,
    log,
  });
  const first = await monitor.sample();
  const mode = options.board.mode;
  const pricer = options.board.mode === 'dynamic' ? new DynamicPricer(options.models, options.board, first) : null;
  const listing = options.nostr ? new NostrListing(options.nostr, { log }) : null;
  const cluster = options.cluster
    ? await MarketCluster.open(options.cluster, { pubkey: listing?.pubkey ?? '', intervalMs, keep: options.tick?.keep ?? 64, clock, log })
    : null;
  const board: WritablePriceBoard = createPriceBoard(pricer ? pricer.prices() : fixedPrices(options.models, (options.board as FixedBoardConfig).prices), {
    ...(options.tick?.keep !== undefined ? { quoteCapacity: options.tick.keep } : {}),
    ...(cluster ? { quotes: cluster.quotes } : {}),
  });
  const asks = () => [...board.current().values()];
  /** Whether this process may announce and tick: alone, or holding the cluster's lease. */
  const announcer = () => cluster === null || cluster.leader;

  let announcedAt = 0;
  let asksDirty = false;
  // In a cluster the listing is opened (its d chosen, the announcement checked) when the lease is first taken.
  let listingOpen = false;
  async function openListing(): Promise<void> {
    if (!listing || listingOpen) return;
    await listing.open(asks(), nowS());
    listingOpen = true;
    announcedAt = listing.announcement()?.created_at ?? nowS();
  }
  /** A start that fails after the cluster opened gives its connections (and the lease) back. */
  const orClose = async (step: () => Promise<unknown>): Promise<void> => {
    try {
      await step();
    } catch (error) {
      await cluster?.close().catch(() => undefined);
      throw error;
    }
  };
  if (announcer()) await orClose(openListing);

  let reading: LoadReading = first;
  let samples = 0;
  let lastTick: TickRecord | null = null;
  let lastTickAtMs: number | undefined;
  let ticksPublished = 0;
  let lastSeq = 0;

  async function publishTick(reason: TickReason = 'manual'): Promise<TickRecord | null> {
    if (!listing || !announcer()) return null;
    await openListing();
    const nowMs = clock();
    // unix ms as a floor keeps seq rising across restarts without storing it
    const seq = Math.max(lastSeq + 1, Math.floor(nowMs));
    const createdAt = Math.floor(nowMs / 1000);
    const prices = asks();
    const load = Math.round(Math.min(1, Math.max(0, reading.utilisation.value)) * 1000) / 1000;
    const event = listing.signTick({ expiration: createdAt + expirationS, seq, load, models: prices, createdAt });
    // a quote must be honoured from the moment anyone can see it (by every process, in a cluster)
    await board.rememberQuote(event.id, prices, createdAt + expirationS);
    // a leader that lost its lease meanwhile stays silent: another may be ticking already
    if (!announcer()) return null;
    lastSeq = seq;
    lastTickAtMs = nowMs;
    lastTick = { id: event.id, seq, createdAt, expiresAt: createdAt + expirationS, load, reason, prices };
    ticksPublished += 1;
    await listing.publish(event);
    return lastTick;
  }

  async function announce(): Promise<NostrEvent | null> {
    if (!listing || !announcer()) return null;
    const event = await listing.announce(asks(), nowS());
    // when, by our clock, it went out (created_at may be a second ahead after a quick succession)
    announcedAt = nowS();
    asksDirty = false;
    return event;
  }

  // In a cluster: whether the board in force was written for the others since this process became the announcer.
  let boardShared = false;
  async function act(own: LoadReading): Promise<void> {
    const sample = cluster ? await cluster.share(own) : own;
    reading = sample;
    samples += 1;
    let changed = false;
    if (cluster) {
      // every process keeps its pricer warm on the cluster's load; only the announcer's prices are in force
      const moved = pricer ? pricer.update(sample) : false;
      if (!cluster.leader) {
        const shared = await cluster.readBoard();
        if (shared) board.set(ownModels(options.models, shared, board.current()));
        return;
      }
      if (pricer && (moved || !boardShared)) changed = board.set(pricer.prices());
      if (changed || !boardShared) {
        await cluster.writeBoard(asks());
        boardShared = true;
      }
      await openListing();
    } else if (pricer && pricer.update(sample)) {
      changed = board.set(pricer.prices());
    }
    if (!listing) return;
    if (changed) {
      asksDirty = true;
      await publishTick('price');
    } else if (heartbeatMs > 0 && (lastTickAtMs === undefined || clock() - lastTickAtMs >= heartbeatMs)) {
      await publishTick('heartbeat');
    }
    const age = nowS() - announcedAt;
    if ((asksDirty && age >= minIntervalS && listing.differs(asks(), nowS())) || age >= refreshS) await announce();
  }

  // Samples run one after another: a sampleNow() during an interval sample waits for it.
  let chain: Promise<unknown> = act(first);
  await orClose(() => chain);
  function sampleNow(): Promise<MarketMakerState> {
    const run = chain.then(async () => {
      await act(await monitor.sample());
      return state();
    });
    chain = run.catch(() => undefined);
    return run;
  }

  let running = false;
  let timer: NodeJS.Timeout | undefined;
  cluster?.onLeadership((leader) => {
    if (!leader) return log(`market maker: announcer lease lost by ${cluster.processId}; ticks stop here`);
    log(`market maker: announcer lease taken by ${cluster.processId}`);
    // the market hears from us at once: a heartbeat is due, the prices in force are shared
    lastTickAtMs = undefined;
    boardShared = false;
    sampleNow().catch((error: unknown) => log(`market maker: sample failed: ${error instanceof Error ? error.message : String(error)}`));
  });
  cluster?.start();
  function schedule(): void {
    timer = setTimeout(() => {
      sampleNow()
        .catch((error: unknown) => log(`market maker: sample failed: ${error instanceof Error ? error.message : String(error)}`))
        .finally(() => {
          if (running) schedule();
        });
    }, intervalMs);
    timer.unref();
  }

  function state(): MarketMakerState {
    const prices: Record<string, ModelPrice> = {};
    for (const [model, p] of board.current()) prices[model] = { ...p };
    const announcement = listing?.announcement() ?? null;
    return {
      mode,
      running,
      samples,
      utilisation: reading.utilisation,
      reading,
      prices,
      pricing: pricer ? pricer.state() : null,
      nostr: listing
        ? {
            pubkey: listing.pubkey,
            d: listing.providerId,
            announcement: announcement ? { id: announcement.id, createdAt: announcement.created_at } : null,
            lastPublish: listing.lastPublish,
          }
        : null,
      lastTick,
      ticksPublished,
      nvidiaSmiOff: monitor.nvidiaSmiOff,
      cluster: cluster ? { processId: cluster.processId, leader: cluster.leader, processes: cluster.processes } : null,
    };
  }

  const maker: MarketMaker = {
    current: () => board.current(),
    quote: (quoteId, model, at) => board.quote(quoteId, model, at ?? nowS()),
    onChange: (listener) => board.onChange(listener),
    start() {
      if (running || intervalMs === 0) return;
      running = true;
      schedule();
    },
    async stop() {
      running = false;
      if (timer) clearTimeout(timer);
      await chain;
      // a stopped process gives the lease up at once (and for good) and stops counting in the cluster's load
      await cluster?.close();
      listing?.close();
    },
    state,
    announcement: () => listing?.announcement() ?? null,
    onLeadership: (listener) => cluster?.onLeadership(listener) ?? (() => undefined),
    sampleNow,
    publishTick: (reason) => {
      const run = chain.then(() => publishTick(reason));
      chain = run.catch(() => undefined);
      return run;
    },
    async updateListing(change) {
      if (!listing) return null;
      const run = chain.then(async () => {
        listing.update(change);
        return listing.differs(asks(), nowS()) ? announce() : listing.announcement();
      });
      chain = run.catch(() => undefined);
      return run;
    },
  };
  maker.start();
  return maker;
}

