/**
 * Kind 38000 recommendations (RIP-02 / NIP-87 draft; parse only). Tags `k` (the recommended
 * kind, 38421 here), `d`, `u` URLs and `a` addresses `38421:<pubkey>:<d>` with an optional relay.
 */
import { firstTagValue, parseSignedEvent, tagsNamed, type EventParseOptions, type NostrEvent } from './nostr-event.ts';
import { ProtocolError } from './protocol-error.ts';

export const RECOMMENDATION_KIND = 38000;

export interface RecommendedAddress {
  readonly kind: number;
  readonly pubkey: string;
  readonly d: string;
  readonly relay: string | undefined;
}

export interface Recommendation {
  readonly id: string;
  readonly author: string;
  readonly createdAt: number;
  readonly k: string | undefined;
  readonly d: string | undefined;
  readonly urls: string[];
  readonly addresses: RecommendedAddress[];
  readonly content: string;
  readonly event: NostrEvent;
}

/** Parses a kind 38000 recommendation; malformed `a` values are a ProtocolError naming the tag. */
export function parseRecommendation(input: unknown, options: EventParseOptions = {}): Recommendation {
  const event = parseSignedEvent(input, RECOMMENDATION_KIND, options);
  const addresses: RecommendedAddress[] = [];
  event.tags.forEach((tag, i) => {
    if (tag[0] !== 'a') return;
    const value = tag[1] ?? '';
    const match = /^(\d+):([0-9a-f]{64}):(.*)$/.exec(value);
    if (!match) throw new ProtocolError('invalid_value', `tags.${i}.1`, `expected <kind>:<pubkey>:<d>, got ${JSON.stringify(value)}`);
    addresses.push({ kind: Number(match[1]), pubkey: match[2] as string, d: match[3] as string, relay: tag[2] || undefined });
  });
  return {
    id: event.id,
    author: event.pubkey,
    createdAt: event.created_at,
    k: firstTagValue(event.tags, 'k'),
    d: firstTagValue(event.tags, 'd'),
    urls: tagsNamed(event.tags, 'u').map((t) => t[1] ?? '').filter((u) => u !== ''),
    addresses,
    content: event.content,
    event,
  };
}
