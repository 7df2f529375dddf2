/**
 * Kind 38421: a provider's announcement, exactly as routstr-core's `routstr/nostr/listing.py`
 * publishes it (tags `d`, `u`…, `mint`…, `version`; content compact `{"name","about"}` with
 * non-ASCII escaped), plus our optional `["model", id, prompt, completion]` ask tags.
 */
import { finalizeEvent, getPublicKey } from 'nostr-tools';
import { firstTagValue, parseSignedEvent, tagsNamed, type EventParseOptions, type NostrEvent } from './nostr-event.ts';
import { modelTag, parseModelTags, type ModelAsk } from './model-tag.ts';
import { ProtocolError } from './protocol-error.ts';
import { pythonJsonDumps } from './python-json.ts';

export const ANNOUNCEMENT_KIND = 38421;

/** What a provider announces. */
export interface AnnouncementInput {
  readonly d: string;
  /** Endpoint URLs in order: the HTTP URL first, then `http://….onion`. */
  readonly urls: readonly string[];
  readonly mints: readonly string[];
  readonly version: string;
  readonly name: string;
  readonly about: string;
  readonly asks?: readonly ModelAsk[];
  /** Unix seconds; defaults to now. */
  readonly createdAt?: number;
}

/** A parsed kind 38421 event. */
export interface Announcement {
  readonly id: string;
  readonly pubkey: string;
  readonly createdAt: number;
  readonly d: string;
  /** `38421:<pubkey>:<d>`, the address price ticks refer to. */
  readonly address: string;
  /** Every non-empty `u` value, in tag order (at least one). */
  readonly urls: string[];
  readonly mints: string[];
  readonly version: string | undefined;
  readonly name: string | undefined;
  readonly about: string | undefined;
  readonly asks: ModelAsk[];
  readonly event: NostrEvent;
}

/** The unsigned event routstr-core would build for `input` (tag order and content bytes included). */
export function announcementTemplate(input: AnnouncementInput): { kind: number; created_at: number; tags: string[][]; content: string } {
  const tags: string[][] = [['d', input.d]];
  for (const url of input.urls) tags.push(['u', url]);
  for (const mint of input.mints) if (mint !== '') tags.push(['mint', mint]);
  tags.push(['version', input.version]);
  (input.asks ?? []).forEach((ask, i) => tags.push(modelTag(ask, `asks.${i}`)));
  // Python json.dumps({"name","about"}, separators=(",",":")) with ensure_ascii left on
  const content = pythonJsonDumps({ name: input.name, about: input.about }, { compact: true, ensureAscii: true });
  return { kind: ANNOUNCEMENT_KIND, created_at: input.createdAt ?? Math.floor(Date.now() / 1000), tags, content };
}

/** Builds and signs a kind 38421 announcement. */
export function buildAnnouncement(input: AnnouncementInput, secretKey: Uint8Array): NostrEvent {
  if (input.urls.length === 0) throw new ProtocolError('missing_url', 'urls', 'an announcement needs at least one endpoint URL');
  return finalizeEvent(announcementTemplate(input), secretKey);
}

/** The string whose sha256 is the event id (NIP-01; same bytes as Python's `ensure_ascii=False` dump). */
export function eventIdPreimage(event: { pubkey: string; created_at: number; kind: number; tags: readonly (readonly string[])[]; content: string }): string {
  return JSON.stringify([0, event.pubkey, event.created_at, event.kind, event.tags, event.content]);
}

function readContent(content: string): { name: string | undefined; about: string | undefined } {
  // routstr-core defaults missing fields; non-JSON content is tolerated (the SDK ignores content)
  try {
    const parsed: unknown = JSON.parse(content);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      const o = parsed as Record<string, unknown>;
      return {
        name: typeof o['name'] === 'string' ? o['name'] : undefined,
        about: typeof o['about'] === 'string' ? o['about'] : undefined,
      };
    }
  } catch {
    // not JSON: keep going without name/about
  }
  return { name: undefined, about: undefined };
}

/** Parses a kind 38421 event (routstr-core, SDK and legacy test shapes); rejects one without a `u`. */
export function parseAnnouncement(input: unknown, options: EventParseOptions = {}): Announcement {
  const event = parseSignedEvent(input, ANNOUNCEMENT_KIND, options);
  const d = firstTagValue(event.tags, 'd');
  if (d === undefined) throw new ProtocolError('missing_field', 'tags.d', 'announcement has no d tag');
  const urls = tagsNamed(event.tags, 'u')
    .map((t) => t[1] ?? '')
    .filter((u) => u.trim() !== '');
  if (urls.length === 0) throw new ProtocolError('missing_url', 'tags.u', 'announcement has no non-empty u tag');
  const mints = tagsNamed(event.tags, 'mint')
    .map((t) => t[1] ?? '')
    .filter((m) => m !== '');
  const { name, about } = readContent(event.content);
  return {
    id: event.id,
    pubkey: event.pubkey,
    createdAt: event.created_at,
    d,
    address: `${ANNOUNCEMENT_KIND}:${event.pubkey}:${d}`,
    urls,
    mints,
    version: firstTagValue(event.tags, 'version'),
    name,
    about,
    asks: parseModelTags(event.tags),
    event,
  };
}

/**
 * The d-tag routstr-core uses: the configured PROVIDER_ID, else the `d` of our newest own
 * 38421 event on the relays, else the first 12 hex chars of the pubkey.
 */
export function determineProviderId(options: {
  readonly providerId?: string | undefined;
  readonly pubkey: string;
  readonly ownEvents?: readonly { pubkey: string; kind: number; created_at: number; tags: readonly (readonly string[])[] }[];
}): string {
  if (options.providerId) return options.providerId;
  const own = (options.ownEvents ?? [])
    .filter((e) => e.kind === ANNOUNCEMENT_KIND && e.pubkey === options.pubkey && firstTagValue(e.tags, 'd'))
    .sort((a, b) => b.created_at - a.created_at);
  const newest = own[0];
  if (newest) return firstTagValue(newest.tags, 'd') as string;
  return options.pubkey.slice(0, 12);
}

/** The public key (hex) an announcement signed with `secretKey` will carry. */
export function announcerPubkey(secretKey: Uint8Array): string {
  return getPublicKey(secretKey);
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const sa = new Set(a);
  const sb = new Set(b);
  return sa.size === sb.size && [...sa].every((x) => sb.has(x));
}

function sameJson(a: string, b: string): boolean {
  try {
    return JSON.stringify(sortKeys(JSON.parse(a))) === JSON.stringify(sortKeys(JSON.parse(b)));
  } catch {
    return a === b;
  }
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, x]) => [k, sortKeys(x)]));
  }
  return v;
}

/**
 * routstr-core's republish test: same kind, d, set of `u`, set of `mint`, version, and content
 * as a JSON dict. Also compares our `model` asks, so a price change republishes.
 */
export function announcementsEquivalent(a: NostrEvent, b: NostrEvent): boolean {
  const values = (e: NostrEvent, name: string) => tagsNamed(e.tags, name).map((t) => t[1] ?? '');
  const asks = (e: NostrEvent) => tagsNamed(e.tags, 'model').map((t) => t.join('\u0000'));
  return (
    a.kind === b.kind &&
    firstTagValue(a.tags, 'd') === firstTagValue(b.tags, 'd') &&
    sameSet(values(a, 'u'), values(b, 'u')) &&
    sameSet(values(a, 'mint'), values(b, 'mint')) &&
    firstTagValue(a.tags, 'version') === firstTagValue(b.tags, 'version') &&
    sameSet(asks(a), asks(b)) &&
    sameJson(a.content, b.content)
  );
}

/** The SDK's URL normalisation: add `https://` when no scheme, end with `/`. */
export function normalizeEndpointUrl(url: string): string {
  const trimmed = url.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
  return withScheme.endsWith('/') ? withScheme : `${withScheme}/`;
}
