/**
 * Kind 28421 (ephemeral): a spot price tick, our wire addition (DESIGN.md "Wire additions" 2–3).
 * Signed by the announcement key; tags `a`, `u`, `expiration`, `seq`, `load`, then one `model`
 * tag per model. Content empty. A tick's id doubles as a quote id (`X-Routstr-Quote`).
 */
import { finalizeEvent, getPublicKey } from 'nostr-tools';
import { ANNOUNCEMENT_KIND } from './announcement.ts';
import { modelTag, parseModelTags, type ModelAsk } from './model-tag.ts';
import { firstTagValue, parseSignedEvent, type EventParseOptions, type NostrEvent } from './nostr-event.ts';
import { ProtocolError } from './protocol-error.ts';

export const PRICE_TICK_KIND = 28421;

/** What a provider puts in a tick. */
export interface PriceTickInput {
  /** The d-tag of the provider's 38421 announcement. */
  readonly d: string;
  readonly url: string;
  /** Unix seconds after which the quote is void (NIP-40). */
  readonly expiration: number;
  /** Monotonic per provider. */
  readonly seq: number;
  /** Utilisation 0..1 (sent with 3 decimals). */
  readonly load: number;
  readonly models: readonly ModelAsk[];
  readonly createdAt?: number;
}

/** A parsed, checked price tick. */
export interface PriceTick {
  readonly id: string;
  readonly pubkey: string;
  readonly createdAt: number;
  /** `38421:<pubkey>:<d>` */
  readonly address: string;
  readonly d: string;
  readonly url: string;
  readonly expiration: number;
  readonly seq: number;
  readonly load: number;
  readonly models: ModelAsk[];
  readonly event: NostrEvent;
}

const UINT = /^(0|[1-9][0-9]*)$/;

function uint(value: string | undefined, field: string): number {
  if (value === undefined) throw new ProtocolError('missing_field', field, 'missing');
  if (!UINT.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new ProtocolError('invalid_value', field, `expected a non-negative decimal integer, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

function checkInput(input: PriceTickInput): void {
  if (!Number.isSafeInteger(input.seq) || input.seq < 0) throw new ProtocolError('invalid_value', 'seq', 'seq must be a non-negative integer');
  if (!Number.isSafeInteger(input.expiration) || input.expiration < 0) throw new ProtocolError('invalid_value', 'expiration', 'expiration must be unix seconds');
  if (!(input.load >= 0 && input.load <= 1)) throw new ProtocolError('invalid_value', 'load', 'load must be within 0..1');
  if (input.url === '') throw new ProtocolError('missing_url', 'url', 'a tick needs the endpoint URL');
}

/** Builds and signs a kind 28421 price tick. */
export function buildPriceTick(input: PriceTickInput, secretKey: Uint8Array): NostrEvent {
  checkInput(input);
  const pubkey = getPublicKey(secretKey);
  const tags: string[][] = [
    ['a', `${ANNOUNCEMENT_KIND}:${pubkey}:${input.d}`],
    ['u', input.url],
    ['expiration', String(input.expiration)],
    ['seq', String(input.seq)],
    ['load', input.load.toFixed(3)],
    ...input.models.map((m, i) => modelTag(m, `models.${i}`)),
  ];
  return finalizeEvent(
    { kind: PRICE_TICK_KIND, created_at: input.createdAt ?? Math.floor(Date.now() / 1000), tags, content: '' },
    secretKey,
  );
}

/** Parses and checks a kind 28421 tick: signature, `a` naming the signer's announcement, integer prices. */
export function parsePriceTick(input: unknown, options: EventParseOptions = {}): PriceTick {
  const event = parseSignedEvent(input, PRICE_TICK_KIND, options);
  const a = firstTagValue(event.tags, 'a');
  if (a === undefined) throw new ProtocolError('missing_field', 'tags.a', 'tick has no a tag');
  const [kind, author, ...rest] = a.split(':');
  const d = rest.join(':');
  if (kind !== String(ANNOUNCEMENT_KIND) || author !== event.pubkey || rest.length === 0) {
    throw new ProtocolError('invalid_value', 'tags.a', `a must be 38421:<signer pubkey>:<d>, got ${JSON.stringify(a)}`);
  }
  const url = firstTagValue(event.tags, 'u');
  if (!url) throw new ProtocolError('missing_url', 'tags.u', 'tick has no u tag');
  const loadText = firstTagValue(event.tags, 'load');
  if (loadText === undefined) throw new ProtocolError('missing_field', 'tags.load', 'missing');
  const load = Number(loadText);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(loadText) || !(load >= 0 && load <= 1)) {
    throw new ProtocolError('invalid_value', 'tags.load', `load must be a decimal within 0..1, got ${JSON.stringify(loadText)}`);
  }
  return {
    id: event.id,
    pubkey: event.pubkey,
    createdAt: event.created_at,
    address: a,
    d,
    url,
    expiration: uint(firstTagValue(event.tags, 'expiration'), 'tags.expiration'),
    seq: uint(firstTagValue(event.tags, 'seq'), 'tags.seq'),
    load,
    models: parseModelTags(event.tags),
    event,
  };
}

/** Whether a tick still binds its prices at `nowSeconds`. */
export function isTickLive(tick: Pick<PriceTick, 'expiration'>, nowSeconds: number): boolean {
  return nowSeconds < tick.expiration;
}
