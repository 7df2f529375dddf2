/**
 * What the market knows about each provider: its live announcement, what its probes said
 * (mints, npub, health, latency, success rate), and what reviewers and recommenders said.
 * Plain data, no I/O; the provider id is the announcement address `38421:<pubkey>:<d>`.
 */
import { normalizeEndpointUrl, normalizeMintUrl, type Announcement, type NodeInfo, type Recommendation, type Review, type ReviewSentiment } from '../protocol/index.ts';

export type ProviderHealth = 'unknown' | 'healthy' | 'unhealthy';

/** One provider as the market sees it. */
export interface ProviderRecord {
  readonly id: string;
  readonly pubkey: string;
  readonly d: string;
  announcement: Announcement;
  /** Normalised endpoint URLs (ending in `/`), as announced. */
  urls: string[];
  /** Epoch ms of the announcement's NIP-40 expiration. */
  expiresAt: number | undefined;
  info: NodeInfo | undefined;
  /** Mints from `/v1/info` (normalised), else the announcement's; empty = accepts any mint. */
  mints: string[];
  health: ProviderHealth;
  lastProbeAt: number | undefined;
  lastProbeOkAt: number | undefined;
  consecutiveProbeFailures: number;
  lastError: string | undefined;
  /** Moving average of probe and reported request latency. */
  latencyMs: number | undefined;
  successes: number;
  failures: number;
}

/** Laplace-smoothed success rate in (0, 1): an unknown provider sits at 0.5. */
export function successRate(record: Pick<ProviderRecord, 'successes' | 'failures'>): number {
  return (record.successes + 1) / (record.successes + record.failures + 2);
}

/** The host of the provider's first URL (its failure domain, with the pubkey). */
export function providerHost(record: Pick<ProviderRecord, 'urls'>): string {
  const url = record.urls[0];
  if (!url) return '';
  try {
    return new URL(url).hostname;
  } catch {
    return url;
  }
}

const LATENCY_WEIGHT = 0.3;

/** Providers by id, with reviews and recommendations. */
export class ProviderRegistry {
  readonly #providers = new Map<string, ProviderRecord>();
  /** providers per pubkey (for the per-pubkey cap) */
  readonly #perPubkey = new Map<string, number>();
  /** newest review per `author \0 node` */
  readonly #reviews = new Map<string, Review>();
  /** newest recommendation per author+d; addresses recommended */
  readonly #recommendations = new Map<string, Recommendation>();

  /** Adds or replaces a provider's announcement; returns the record and whether it is new. */
  upsertAnnouncement(announcement: Announcement, expiresAt: number | undefined): { record: ProviderRecord; created: boolean } {
    const existing = this.#providers.get(announcement.address);
    const urls = announcement.urls.map(normalizeEndpointUrl);
    if (existing) {
      existing.announcement = announcement;
      existing.urls = urls;
      existing.expiresAt = expiresAt;
      if (!existing.info) existing.mints = announcement.mints.map(normalizeMintUrl);
      return { record: existing, created: false };
    }
    const record: ProviderRecord = {
      id: announcement.address,
      pubkey: announcement.pubkey,
      d: announcement.d,
      announcement,
      urls,
      expiresAt,
      info: undefined,
      mints: announcement.mints.map(normalizeMintUrl),
      health: 'unknown',
      lastProbeAt: undefined,
      lastProbeOkAt: undefined,
      consecutiveProbeFailures: 0,
      lastError: undefined,
      latencyMs: undefined,
      successes: 0,
      failures: 0,
    };
    this.#providers.set(record.id, record);
    this.#perPubkey.set(record.pubkey, this.countFor(record.pubkey) + 1);
    return { record, created: true };
  }

  /** Forgets a provider; returns whether it was known. */
  remove(id: string): boolean {
    const record = this.#providers.get(id);
    if (!record) return false;
    this.#providers.delete(id);
    const left = this.countFor(record.pubkey) - 1;
    if (left > 0) this.#perPubkey.set(record.pubkey, left);
    else this.#perPubkey.delete(record.pubkey);
    return true;
  }

  /** How many providers `pubkey` has. */
  countFor(pubkey: string): number {
    return this.#perPubkey.get(pubkey) ?? 0;
  }

  get(id: string): ProviderRecord | undefined {
    return this.#providers.get(id);
  }

  all(): ProviderRecord[] {
    return [...this.#providers.values()];
  }

  get size(): number {
    return this.#providers.size;
  }

  /** Records a successful probe. */
  probeSucceeded(id: string, info: NodeInfo, latencyMs: number, at: number): void {
    const r = this.#providers.get(id);
    if (!r) return;
    r.info = info;
    r.mints = info.mints.map(normalizeMintUrl);
    r.health = 'healthy';
    r.lastProbeAt = at;
    r.lastProbeOkAt = at;
    r.consecutiveProbeFailures = 0;
    r.lastError = undefined;
    this.#observe(r, true, latencyMs);
  }

  /** Records a failed probe; the provider is unhealthy until a probe succeeds. */
  probeFailed(id: string, error: string, at: number): void {
    const r = this.#providers.get(id);
    if (!r) return;
    r.health = 'unhealthy';
    r.lastProbeAt = at;
    r.consecutiveProbeFailures += 1;
    r.lastError = error;
    this.#observe(r, false, undefined);
  }

  /** Records the outcome of a real request (latency only for successes). */
  requestOutcome(id: string, ok: boolean, latencyMs?: number): void {
    const r = this.#providers.get(id);
    if (r) this.#observe(r, ok, latencyMs);
  }

  #observe(r: ProviderRecord, ok: boolean, latencyMs: number | undefined): void {
    if (ok) r.successes += 1;
    else r.failures += 1;
    if (latencyMs !== undefined && Number.isFinite(latencyMs) && latencyMs >= 0) {
      r.latencyMs = r.latencyMs === undefined ? latencyMs : r.latencyMs + LATENCY_WEIGHT * (latencyMs - r.latencyMs);
    }
  }

  /** Keeps a review if it is the newest from its author about each node it names (created_at, then id). */
  addReview(review: Review): void {
    for (const node of review.nodes) {
      const key = `${review.author}\u0000${node}`;
      const old = this.#reviews.get(key);
      if (!old || review.createdAt > old.createdAt || (review.createdAt === old.createdAt && review.id > old.id)) this.#reviews.set(key, review);
    }
  }

  /**
   * What trusted reviewers say of `pubkey`, the SDK's way: negative if any says negative,
   * positive if one says positive, else neutral.
   */
  reviewSentiment(pubkey: string, reviewers: readonly string[]): ReviewSentiment {
    let positive = false;
    for (const author of reviewers) {
      const r = this.#reviews.get(`${author}\u0000${pubkey}`);
      if (r?.sentiment === 'negative') return 'negative';
      if (r?.sentiment === 'positive') positive = true;
    }
    return positive ? 'positive' : 'neutral';
  }

  /** Keeps the newest recommendation list per author and d. */
  addRecommendation(rec: Recommendation): void {
    const key = `${rec.author}\u0000${rec.d ?? ''}`;
    const old = this.#recommendations.get(key);
    if (!old || rec.createdAt > old.createdAt || (rec.createdAt === old.createdAt && rec.id > old.id)) this.#recommendations.set(key, rec);
  }

  /** Authors among `from` (all when undefined) whose newest list recommends the provider. */
  recommenders(id: string, from?: readonly string[]): string[] {
    const out = new Set<string>();
    for (const rec of this.#recommendations.values()) {
      if (from && !from.includes(rec.author)) continue;
      if (rec.addresses.some((a) => `${a.kind}:${a.pubkey}:${a.d}` === id)) out.add(rec.author);
    }
    return [...out];
  }
}
