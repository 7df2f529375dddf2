/**
 * One node process's membership in a cluster of market makers sharing one PostgreSQL, one
 * announcement key and one public URL: the announcer lease (only its holder announces, ticks and
 * puts prices in force), this process's load sample shared with the others (the cluster's load is
 * combined from every fresh sample, see cluster-load.ts), the leader's prices, and the shared quotes.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { AnnouncerLease } from './announcer-lease.ts';
import { combineClusterLoad } from './cluster-load.ts';
import { ClusterStore } from './cluster-store.ts';
import type { LoadReading } from './load-monitor.ts';
import { MarketMakerConfigError } from './market-maker-error.ts';
import type { ModelPrice } from './price-board.ts';
import { SharedQuoteBook } from './shared-quote-book.ts';

/** The market maker's cluster setting (experimental). */
export interface ClusterOptions {
  /** The PostgreSQL every process of the provider shares (`postgres://…`). */
  database: string;
  /** This process's id among them (default: host, pid and a random suffix). */
  processId?: string;
  /** How soon another process takes over when the announcer dies: a free lease is tried every leaseS/5 s (default 5 s). */
  leaseS?: number;
  /** A process's load sample counts for this long after it was written (default 3 sample intervals, at least 3 s). */
  staleAfterMs?: number;
}

export interface ClusterContext {
  /** The provider's announcement pubkey (hex); '' without Nostr. */
  pubkey: string;
  intervalMs: number;
  /** Quotes kept in the shared table. */
  keep: number;
  clock: () => number;
  log: (message: string) => void;
}

/** This process's view of the cluster: the lease, the shared load, board and quotes. */
export class MarketCluster {
  readonly processId: string;
  readonly quotes: SharedQuoteBook;
  readonly #store: ClusterStore;
  readonly #lease: AnnouncerLease;
  readonly #ctx: ClusterContext;
  readonly #retryMs: number;
  readonly #staleAfterMs: number;
  #timer: NodeJS.Timeout | undefined;
  #trying: Promise<boolean> | undefined;
  #processes = 0;

  private constructor(store: ClusterStore, lease: AnnouncerLease, processId: string, options: ClusterOptions, ctx: ClusterContext) {
    this.#store = store;
    this.#lease = lease;
    this.processId = processId;
    this.#ctx = ctx;
    this.#retryMs = ((options.leaseS ?? 5) * 1000) / 5;
    this.#staleAfterMs = options.staleAfterMs ?? Math.max(3 * ctx.intervalMs, 3_000);
    this.quotes = new SharedQuoteBook(store, ctx.keep, () => Math.floor(ctx.clock() / 1000));
  }

  /** Migrates the shared tables and tries the lease once. */
  static async open(options: ClusterOptions, ctx: ClusterContext): Promise<MarketCluster> {
    const leaseS = options.leaseS ?? 5;
    if (!(Number.isFinite(leaseS) && leaseS > 0)) throw new MarketMakerConfigError('invalid_config', 'cluster.leaseS must be > 0');
    if (options.staleAfterMs !== undefined && !(Number.isFinite(options.staleAfterMs) && options.staleAfterMs > 0)) {
      throw new MarketMakerConfigError('invalid_config', 'cluster.staleAfterMs must be > 0');
    }
    const processId = options.processId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    // a query that hangs longer than the lease would hold up a takeover
    const timeoutMs = Math.max(1_000, leaseS * 1000);
    const store = await ClusterStore.open(options.database, { applicationName: `routstr-kit market ${processId}`, queryTimeoutMs: timeoutMs });
    const lease = new AnnouncerLease({ database: options.database, pubkey: ctx.pubkey, applicationName: `routstr-kit lease ${processId}`, timeoutMs, log: ctx.log });
    const cluster = new MarketCluster(store, lease, processId, options, ctx);
    await cluster.tryLease();
    return cluster;
  }

  /** Whether this process is the announcer now. */
  get leader(): boolean {
    return this.#lease.held;
  }

  /** Processes counted in the last combined sample. */
  get processes(): number {
    return this.#processes;
  }

  /** Called with true when this process becomes the announcer, false when it stops being it. */
  onLeadership(listener: (leader: boolean) => void): () => void {
    return this.#lease.onChange(listener);
  }

  /** Tries the lease now (a holder checks its connection); never two attempts at once. */
  tryLease(): Promise<boolean> {
    this.#trying ??= this.#lease.tryTake().finally(() => (this.#trying = undefined));
    return this.#trying;
  }

  /** Tries the lease every leaseS/5 s until closed. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.tryLease(), this.#retryMs);
    this.#timer.unref();
  }

  /** Writes this process's sample and returns the cluster's, combined from every fresh one. */
  async share(own: LoadReading): Promise<LoadReading> {
    const now = this.#ctx.clock();
    await this.#store.writeLoad(this.processId, now, own);
    // the announcer clears rows of processes dead for ten stale windows (a restarted process has a new id)
    if (this.leader) await this.#store.pruneLoads(now - 10 * this.#staleAfterMs);
    const rows = (await this.#store.freshLoads(now - this.#staleAfterMs)).filter((r) => r.processId !== this.processId);
    const all = [{ processId: this.processId, at: now, reading: own }, ...rows];
    this.#processes = all.length;
    return combineClusterLoad(all, own.at);
  }

  /** Puts the leader's prices in force for every process. */
  async writeBoard(prices: readonly ModelPrice[]): Promise<void> {
    await this.#store.writeBoard(this.#ctx.pubkey, prices, this.#ctx.clock());
  }

  /** The prices the announcer put in force, if any. */
  readBoard(): Promise<ModelPrice[] | undefined> {
    return this.#store.board(this.#ctx.pubkey);
  }

  /** Gives up the lease, forgets this process's sample, closes the connections. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#trying?.catch(() => undefined);
    await this.#lease.close();
    await this.#store.removeLoad(this.processId).catch(() => undefined);
    await this.#store.close();
  }
}
