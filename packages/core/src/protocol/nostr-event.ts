import { verifyEvent } from 'nostr-tools';
import { z } from 'zod';
import { ProtocolError, parseWith } from './protocol-error.ts';

const hex = (length: number) => z.string().regex(new RegExp(`^[0-9a-f]{${length}}$`), `expected ${length} lowercase hex chars`);

/** A signed Nostr event (NIP-01) as it comes from a relay; unknown fields are kept. */
export const nostrEventSchema = z
  .object({
    id: hex(64),
    pubkey: hex(64),
    created_at: z.number().int().nonnegative(),
    kind: z.number().int().nonnegative(),
    tags: z.array(z.array(z.string())),
    content: z.string(),
    sig: hex(128),
  })
  .loose();

/** A Nostr event; parsed events also keep any unknown fields. */
export interface NostrEvent {
  id: string;
  pubkey: string;
  created_at: number;
  kind: number;
  tags: string[][];
  content: string;
  sig: string;
}

/** The same shape without format checks on id/pubkey/sig, for unsigned test fixtures and stores. */
const unverifiedEventSchema = nostrEventSchema.extend({
  id: z.string(),
  pubkey: z.string(),
  sig: z.string().optional(),
});

/** Options for event parsers. */
export interface EventParseOptions {
  /** Check id and BIP-340 signature (default true). When false, id/pubkey/sig formats are not checked either. */
  readonly verify?: boolean;
}

/** Validates the NIP-01 shape, the kind and (by default) the signature. */
export function parseSignedEvent(input: unknown, kind: number, options: EventParseOptions = {}): NostrEvent {
  const event = (options.verify === false ? parseWith(unverifiedEventSchema, input) : parseWith(nostrEventSchema, input)) as NostrEvent;
  if (event.kind !== kind) throw new ProtocolError('wrong_kind', 'kind', `expected kind ${kind}, got ${event.kind}`);
  // verifyEvent caches its verdict on the object, so check a fresh copy
  if (options.verify !== false && !verifies(event)) {
    throw new ProtocolError('invalid_signature', 'sig', 'event id or signature does not verify');
  }
  return event;
}

function verifies(event: NostrEvent): boolean {
  try {
    return verifyEvent(structuredClone(event) as Parameters<typeof verifyEvent>[0]);
  } catch {
    return false;
  }
}

/** All tags named `name`. */
export function tagsNamed(tags: readonly (readonly string[])[], name: string): (readonly string[])[] {
  return tags.filter((t) => t[0] === name);
}

/** The value of the first tag named `name`. */
export function firstTagValue(tags: readonly (readonly string[])[], name: string): string | undefined {
  return tags.find((t) => t[0] === name)?.[1];
}
