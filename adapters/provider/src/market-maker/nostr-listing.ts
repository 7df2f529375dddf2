/**
 * The provider's presence on Nostr: its kind 38421 announcement (exactly as routstr-core builds
 * it, plus our `model` asks) and its kind 28421 price ticks, published to every configured relay.
 */
import { getPublicKey, verifyEvent } from 'nostr-tools';
import { AbstractSimplePool } from 'nostr-tools/pool';
import {
  announcementsEquivalent,
  announcementTemplate,
  ANNOUNCEMENT_KIND,
  buildAnnouncement,
  buildPriceTick,
  determineProviderId,
  firstTagValue,
  type AnnouncementInput,
  type ModelAsk,
  type NostrEvent,
  type PriceTickInput,
  relaySocketClass,
} from '@routstr-kit/core';

/** Who the node is on Nostr and what it announces. */
export interface NostrListingOptions {
  relays: string[];
  secretKey: Uint8Array;
  /** The d-tag (routstr-core's PROVIDER_ID); default: reuse our newest 38421's d from the relays, else pubkey[:12]. */
  d?: string;
  /** Endpoint URLs, HTTP first, then `http://….onion`. */
  urls: string[];
  /** Exactly the strings `/v1/info` serves in `mints`. */
  mints: string[];
  version: string;
  name: string;
  about: string;
  /** Wait for a relay (connection, OK, EOSE) at most this long (default 5 000 ms). */
  maxWaitMs?: number;
}

/** How a publish went on each relay. */
export interface PublishOutcome {
  eventId: string;
  kind: number;
  accepted: string[];
  failed: { relay: string; reason: string }[];
}

/** Announces and ticks over a pool of relay connections (ws, no global WebSocket needed). */
export class NostrListing {
  readonly pubkey: string;
  private readonly options: NostrListingOptions;
  private readonly pool: AbstractSimplePool;
  private readonly log: (message: string) => void;
  private readonly maxWaitMs: number;
  private d: string | undefined;
  private current: NostrEvent | null = null;
  /** Relays that have not acknowledged the announcement in force (down, stalled, restarted). */
  private readonly lacking = new Set<string>();
  lastPublish: PublishOutcome | null = null;

  constructor(options: NostrListingOptions, settings: { log: (message: string) => void; maxWaitMs?: number }) {
    this.options = { ...options, urls: [...options.urls], mints: [...options.mints] };
    this.pubkey = getPublicKey(options.secretKey);
    this.log = settings.log;
    this.maxWaitMs = settings.maxWaitMs ?? options.maxWaitMs ?? 5_000;
    // relaySocketClass: a relay that stalls the handshake, drops or sends garbage is a failed
    // publish, never an uncaught `ws` error that ends the node
    this.pool = new AbstractSimplePool({
      verifyEvent,
      websocketImplementation: relaySocketClass({ handshakeTimeoutMs: this.maxWaitMs }),
      maxWaitForConnection: this.maxWaitMs,
    });
  }

  /** Our d-tag, once `open` has chosen it. */
  get providerId(): string | undefined {
    return this.d;
  }

  /** The announcement in force (published by us now or found equivalent on the relays). */
  announcement(): NostrEvent | null {
    return this.current;
  }

  /** What the listing says now (endpoint, mints, name…). */
  listing(): Readonly<NostrListingOptions> {
    return this.options;
  }

  /**
   * Chooses the d-tag (configured, else our newest 38421's d, else pubkey[:12]) and publishes the
   * announcement unless the relays already hold an equivalent one (routstr-core's start-up rule).
   */
  async open(asks: readonly ModelAsk[], nowS: number): Promise<NostrEvent> {
    const own = (await this.pool.querySync(this.options.relays, { kinds: [ANNOUNCEMENT_KIND], authors: [this.pubkey], limit: 10 }, { maxWait: this.maxWaitMs })) as NostrEvent[];
    this.d = determineProviderId({ providerId: this.options.d, pubkey: this.pubkey, ownEvents: own });
    const sameD = own.filter((e) => e.pubkey === this.pubkey && firstTagValue(e.tags, 'd') === this.d).sort((a, b) => b.created_at - a.created_at);
    const candidate = this.template(asks, nowS);
    const newest = sameD[0];
    if (newest && sameD.every((e) => announcementsEquivalent(e, { ...candidate, id: '', pubkey: this.pubkey, sig: '' }))) {
      this.current = newest;
      // the query merges relays: one that was down may not hold it, so the next tick re-sends it (a duplicate is harmless)
      for (const relay of this.options.relays) this.lacking.add(relay);
      return newest;
    }
    return this.announce(asks, nowS, sameD[0]?.created_at);
  }

  /** Whether the announcement for these asks would differ from the one in force. */
  differs(asks: readonly ModelAsk[], nowS: number): boolean {
    if (!this.current) return true;
    return !announcementsEquivalent(this.current, { ...this.template(asks, nowS), id: '', pubkey: this.pubkey, sig: '' });
  }

  /** Changes what the listing says (takes effect on the next `announce`). */
  update(change: Partial<Pick<NostrListingOptions, 'urls' | 'mints' | 'version' | 'name' | 'about'>>): void {
    Object.assign(this.options, change);
  }

  /** Signs and publishes a fresh announcement (created_at always after the previous one, so it replaces it). */
  async announce(asks: readonly ModelAsk[], nowS: number, after?: number): Promise<NostrEvent> {
    const previous = Math.max(after ?? 0, this.current?.created_at ?? 0);
    const event = buildAnnouncement({ ...this.input(asks), createdAt: Math.max(nowS, previous + 1) }, this.options.secretKey) as NostrEvent;
    this.current = event;
    for (const relay of this.options.relays) this.lacking.add(relay);
    await this.publish(event);
    return event;
  }

  /** Signs a tick (not yet published). */
  signTick(input: Omit<PriceTickInput, 'd' | 'url'>): NostrEvent {
    const url = this.options.urls[0] as string;
    return buildPriceTick({ ...input, d: this.requireD(), url }, this.options.secretKey) as NostrEvent;
  }

  /** Sends an event to every relay and waits for their verdicts. */
  async publish(event: NostrEvent): Promise<PublishOutcome> {
    const relays = this.options.relays;
    const results = await Promise.allSettled(this.pool.publish(relays, event, { maxWait: this.maxWaitMs }));
    const outcome: PublishOutcome = { eventId: event.id, kind: event.kind, accepted: [], failed: [] };
    results.forEach((r, i) => {
      const relay = relays[i] as string;
      if (r.status === 'fulfilled') outcome.accepted.push(relay);
      else outcome.failed.push({ relay, reason: r.reason instanceof Error ? r.reason.message : String(r.reason) });
    });
    if (outcome.accepted.length === 0 && relays.length > 0) {
      this.log(`market maker: kind ${event.kind} ${event.id} reached no relay: ${outcome.failed.map((f) => `${f.relay}: ${f.reason}`).join('; ')}`);
    }
    this.lastPublish = outcome;
    await this.catchUp(event, outcome.accepted);
    return outcome;
  }

  /**
   * Relays that took `event` are reachable again: hand the ones still lacking the announcement in
   * force their copy, so ticks after an outage or a relay restart are not orphans.
   */
  private async catchUp(event: NostrEvent, accepted: readonly string[]): Promise<void> {
    const current = this.current;
    if (!current) return;
    if (event.id === current.id) {
      for (const relay of accepted) this.lacking.delete(relay);
      return;
    }
    const due = accepted.filter((relay) => this.lacking.has(relay));
    if (due.length === 0) return;
    const results = await Promise.allSettled(this.pool.publish(due, current, { maxWait: this.maxWaitMs }));
    results.forEach((r, i) => {
      if (r.status === 'fulfilled' && this.current === current) this.lacking.delete(due[i] as string);
    });
  }

  /** Closes the relay connections (they reopen on the next publish). */
  close(): void {
    this.pool.close(this.options.relays);
  }

  private requireD(): string {
    if (this.d === undefined) throw new Error('the listing is not open yet');
    return this.d;
  }

  private input(asks: readonly ModelAsk[]): AnnouncementInput {
    const o = this.options;
    return { d: this.requireD(), urls: o.urls, mints: o.mints, version: o.version, name: o.name, about: o.about, asks: asks.map((a) => ({ ...a })) };
  }

  private template(asks: readonly ModelAsk[], nowS: number): ReturnType<typeof announcementTemplate> {
    return announcementTemplate({ ...this.input(asks), createdAt: nowS });
  }
}
