/**
 * Kind 38425 provider reviews, as the routstr SDK reads them (parse only): the first `t` tag,
 * lower-cased, is the label; one or more `node` tags name the reviewed 38421 pubkeys.
 */
import { parseSignedEvent, tagsNamed, type EventParseOptions, type NostrEvent } from './nostr-event.ts';
import { ProtocolError } from './protocol-error.ts';

export const REVIEW_KIND = 38425;
/** The Routstr pubkey whose reviews the SDK trusts by default. */
export const ROUTSTR_PUBKEY = '4ad6fa2d16e2a9b576c863b4cf7404a70d4dc320c0c447d10ad6ff58993eacc8';
export const POSITIVE_REVIEW_LABELS: readonly string[] = ['trusted', 'verified', 'lgtm', 'lgtm2'];
export const NEGATIVE_REVIEW_LABELS: readonly string[] = ['suspicious', 'avoid', 'blacklisted', 'removed'];

export type ReviewSentiment = 'positive' | 'negative' | 'neutral';

export interface Review {
  readonly id: string;
  readonly author: string;
  readonly createdAt: number;
  readonly label: string | undefined;
  readonly sentiment: ReviewSentiment;
  readonly nodes: string[];
  readonly event: NostrEvent;
}

/** Positive, negative or neutral, as the SDK classifies a label. */
export function reviewSentiment(label: string | undefined): ReviewSentiment {
  if (label === undefined) return 'neutral';
  if (POSITIVE_REVIEW_LABELS.includes(label)) return 'positive';
  if (NEGATIVE_REVIEW_LABELS.includes(label)) return 'negative';
  return 'neutral';
}

/** Parses a kind 38425 review; it must name at least one node. */
export function parseReview(input: unknown, options: EventParseOptions = {}): Review {
  const event = parseSignedEvent(input, REVIEW_KIND, options);
  const label = tagsNamed(event.tags, 't')[0]?.[1]?.toLowerCase();
  const nodes = tagsNamed(event.tags, 'node')
    .map((t) => t[1] ?? '')
    .filter((n) => n !== '');
  if (nodes.length === 0) throw new ProtocolError('missing_field', 'tags.node', 'review names no node');
  return { id: event.id, author: event.pubkey, createdAt: event.created_at, label, sentiment: reviewSentiment(label), nodes, event };
}
