/**
 * Relay ingest. `MarketFeed.ingest` is the hot path every event takes, from any transport:
 * shape check, cross-relay duplicate drop (before verifying, so each id is verified once),
 * clock skew and NIP-40 checks, id and signature, then parse and replaceable semantics.
 * `subscribeRelays` (relay-subscription.ts) feeds it from several relays.
 */
import type { Filter } from 'nostr-tools/filter';
import {
  ANNOUNCEMENT_KIND,
  PRICE_TICK_KIND,
  RECOMMENDATION_KIND,
  REVIEW_KIND,
  firstTagValue,
  parseAnnouncement,
  parsePriceTick,
  parseRecommendation,
  parseReview,
  type Announcement,
  type NostrEvent,
  type PriceTick,
  type Recommendation,
  type Review,
} from '../protocol/index.ts';
import { unixSeconds, type MarketClock } from './clock.ts';
import { classifyUnverified, type EventVerifier } from './event-verifier.ts';
import type { MarketStats, RejectReason } from './market-stats.ts';
import { PubkeyRateLimiter, type PubkeyRateOptions } from './pubkey-rate-limit.ts';

export const DELETION_KIND = 5;

/** What the feed hands on; the tick handler says whether the book took the tick. */
export interface FeedHandlers {
  announcement(announcement: Announcement, expiresAt: number | undefined): void;
  /** Says why a newer announcement is refused (its addresses, caps), or undefined to take it. */
  admitAnnouncement?(announcement: Announcement): RejectReason | undefined;
  /** The announcement at `address` was deleted (NIP-09) by its author. */
  announcementDeleted(address: string): void;
  tick(tick: PriceTick): 'accepted' | 'stale-seq' | 'orphan';
  review(review: Review): void;
  recommendation(recommendation: Recommendation): void;
}

export type IngestOutcome = 'accepted' | 'duplicate' | 'superseded' | RejectReason;

export interface MarketFeedOptions {
  readonly clock: MarketClock;
  readonly stats: MarketStats;
  readonly verify: EventVerifier;
  readonly handlers: FeedHandlers;
  /** Events dated further ahead than this are dropped (default 120 s). */
  readonly maxFutureSkewSeconds?: number;
  /** Accepted ids remembered for duplicate detection (default 100 000). */
  readonly rememberIds?: number;
  /** Events per second per pubkey (token bucket); beyond it events are refused as 'rate-limited'. */
  readonly rate?: PubkeyRateOptions;
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;
const KINDS: ReadonlySet<number> = new Set([ANNOUNCEMENT_KIND, PRICE_TICK_KIND, REVIEW_KIND, RECOMMENDATION_KIND, DELETION_KIND]);

function isEventShape(x: unknown): x is NostrEvent {
  if (typeof x !== 'object' || x === null) return false;
  const e = x as Record<string, unknown>;
  if (typeof e['id'] !== 'string' || !HEX64.test(e['id'])) return false;
  if (typeof e['pubkey'] !== 'string' || !HEX64.test(e['pubkey'])) return false;
  if (typeof e['sig'] !== 'string' || !HEX128.test(e['sig'])) return false;
  if (!Number.isSafeInteger(e['kind']) || !Number.isSafeInteger(e['created_at']) || (e['created_at'] as number) < 0) return false;
  if (typeof e['content'] !== 'string' || !Array.isArray(e['tags'])) return false;
  for (const tag of e['tags'] as unknown[]) {
    if (!Array.isArray(tag)) return false;
    for (const v of tag) if (typeof v !== 'string') return false;
  }
  return true;
}

interface Latest {
  readonly id: string;
  readonly createdAt: number;
}

// NIP-01: newer created_at wins; on a tie the lower id wins
function newer(a: Latest, b: Latest): boolean {
  return a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.id < b.id);
}

/** Verifies, de-duplicates and routes market events; counts what it refuses. */
export class MarketFeed {
  readonly #clock: MarketClock;
  readonly #stats: MarketStats;
  readonly #verify: EventVerifier;
  readonly #handlers: FeedHandlers;
  readonly #skew: number;
  readonly #rememberIds: number;
  readonly #seen = new Set<string>();
  readonly #rate: PubkeyRateLimiter;
  readonly #announcements = new Map<string, Latest>();
  /** address → created_at of the newest deletion by its author */
  readonly #deletedAt = new Map<string, number>();

  constructor(options: MarketFeedOptions) {
    this.#clock = options.clock;
    this.#stats = options.stats;
    this.#verify = options.verify;
    this.#handlers = options.handlers;
    this.#skew = options.maxFutureSkewSeconds ?? 120;
    this.#rememberIds = options.rememberIds ?? 100_000;
    this.#rate = new PubkeyRateLimiter(options.rate);
  }

  /** Takes one event as a relay sent it (any JSON value); returns what became of it. */
  ingest(raw: unknown): IngestOutcome {
    if (!isEventShape(raw) || !KINDS.has(raw.kind)) return this.#reject('malformed');
    const event = raw;
    if (this.#seen.has(event.id)) {
      this.#stats.duplicates += 1;
      return 'duplicate';
    }
    const now = unixSeconds(this.#clock);
    if (event.created_at > now + this.#skew) return this.#reject('future');
    const expiration = firstTagValue(event.tags, 'expiration');
    let expiresAt: number | undefined;
    if (expiration !== undefined) {
      const seconds = Number(expiration);
      if (!/^\d+$/.test(expiration) || !Number.isSafeInteger(seconds)) return this.#reject('malformed');
      if (seconds <= now) return this.#reject('expired');
      expiresAt = seconds * 1000;
    }
    // the bucket is checked before the (costly) signature check and spent only after it passed
    const nowMs = this.#clock.now();
    if (!this.#rate.allows(event.pubkey, nowMs)) return this.#reject('rate-limited');
    if (!this.#verify(event)) return this.#reject(classifyUnverified(event));
    this.#rate.take(event.pubkey, nowMs);
    this.#remember(event.id);
    const outcome = this.#route(event, expiresAt);
    if (outcome === 'accepted') this.#stats.accepted += 1;
    else if (outcome === 'superseded') this.#stats.superseded += 1;
    else this.#stats.reject(outcome);
    return outcome;
  }

  /** Forgets the replaceable state of an address (after the market dropped the provider). */
  forget(address: string): void {
    this.#announcements.delete(address);
  }

  #reject(reason: RejectReason): IngestOutcome {
    this.#stats.reject(reason);
    return reason;
  }

  #remember(id: string): void {
    this.#seen.add(id);
    if (this.#seen.size > this.#rememberIds) {
      // Sets iterate in insertion order: drop the oldest id
      const oldest = this.#seen.values().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
  }

  #route(event: NostrEvent, expiresAt: number | undefined): Exclude<IngestOutcome, 'duplicate'> {
    try {
      switch (event.kind) {
        case ANNOUNCEMENT_KIND:
          return this.#announcement(parseAnnouncement(event, { verify: false }), expiresAt);
        case PRICE_TICK_KIND: {
          const tick = parsePriceTick(event, { verify: false });
          return this.#handlers.tick(tick);
        }
        case REVIEW_KIND:
          this.#handlers.review(parseReview(event, { verify: false }));
          return 'accepted';
        case RECOMMENDATION_KIND:
          this.#handlers.recommendation(parseRecommendation(event, { verify: false }));
          return 'accepted';
        case DELETION_KIND:
          return this.#deletion(event);
        default:
          return 'malformed';
      }
    } catch {
      // a ProtocolError from a parser: the event is signed but unusable
      return 'malformed';
    }
  }

  #announcement(a: Announcement, expiresAt: number | undefined): 'accepted' | 'superseded' | RejectReason {
    const candidate = { id: a.id, createdAt: a.createdAt };
    const current = this.#announcements.get(a.address);
    if (current && !newer(candidate, current)) return 'superseded';
    const deletedAt = this.#deletedAt.get(a.address);
    if (deletedAt !== undefined && a.createdAt <= deletedAt) return 'superseded';
    const refused = this.#handlers.admitAnnouncement?.(a);
    if (refused !== undefined) return refused;
    this.#announcements.set(a.address, candidate);
    this.#handlers.announcement(a, expiresAt);
    return 'accepted';
  }

  #deletion(event: NostrEvent): 'accepted' {
    for (const tag of event.tags) {
      let address: string | undefined;
      if (tag[0] === 'a' && tag[1]?.startsWith(`${ANNOUNCEMENT_KIND}:${event.pubkey}:`)) address = tag[1];
      else if (tag[0] === 'e' && tag[1]) {
        for (const [addr, latest] of this.#announcements) if (latest.id === tag[1] && addr.split(':')[1] === event.pubkey) address = addr;
      }
      if (address === undefined) continue;
      const previous = this.#deletedAt.get(address) ?? -1;
      if (tag[0] === 'a' && event.created_at > previous) this.#deletedAt.set(address, event.created_at);
      const current = this.#announcements.get(address);
      if (current && (tag[0] === 'e' || current.createdAt <= event.created_at)) {
        this.#announcements.delete(address);
        this.#handlers.announcementDeleted(address);
      }
    }
    return 'accepted';
  }
}

/** The filters the market subscribes to on every relay. */
export function marketFilters(reviewers: readonly string[]): Filter[] {
  const filters: Filter[] = [
    { kinds: [ANNOUNCEMENT_KIND] },
    { kinds: [PRICE_TICK_KIND] },
    { kinds: [RECOMMENDATION_KIND], '#k': [String(ANNOUNCEMENT_KIND)] },
    { kinds: [DELETION_KIND], '#k': [String(ANNOUNCEMENT_KIND)] },
  ];
  if (reviewers.length > 0) filters.push({ kinds: [REVIEW_KIND], authors: [...reviewers] });
  return filters;
}
