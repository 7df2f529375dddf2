import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { generateSecretKey, getEventHash, getPublicKey } from 'nostr-tools';
import { msatPerMtok } from '../money/index.ts';
import {
  ProtocolError,
  announcementTemplate,
  announcementsEquivalent,
  buildAnnouncement,
  determineProviderId,
  eventIdPreimage,
  normalizeEndpointUrl,
  parseAnnouncement,
} from './index.ts';

const fixtures = new URL('../../../../fixtures/routstr/', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, fixtures), 'utf8');
const signed = JSON.parse(read('38421_constructed_signed.json')) as Record<string, unknown>;
const preimage = read('38421_constructed_id_preimage.txt').trimEnd();

/** Expects fn to throw a ProtocolError (and nothing else); returns it. */
function protocolError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return e as ProtocolError;
  }
  throw new Error('expected a ProtocolError');
}

describe('kind 38421 announcement', () => {
  it('parses the routstr-core fixture and verifies its signature', () => {
    const a = parseAnnouncement(signed);
    expect(a.d).toBe('e9eb22e388c2');
    expect(a.urls).toEqual(['https://node.example.com', 'http://exampleonionaddressxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion']);
    expect(a.mints).toEqual(['https://mint.minibits.cash/Bitcoin', 'https://mint.cubabitcoin.org']);
    expect(a.version).toBe('0.4.5');
    expect(a.name).toBe('ARoutstrNode');
    expect(a.about).toBe('A Routstr Node');
    expect(a.asks).toEqual([]);
    expect(a.address).toBe(`38421:${a.pubkey}:e9eb22e388c2`);
  });

  it('rebuilds byte-identical: same id preimage and id as routstr-core', () => {
    const a = parseAnnouncement(signed);
    const template = announcementTemplate({
      d: a.d,
      urls: a.urls,
      mints: a.mints,
      version: a.version ?? '',
      name: a.name ?? '',
      about: a.about ?? '',
      createdAt: a.createdAt,
    });
    const unsigned = { ...template, pubkey: a.pubkey };
    expect(eventIdPreimage(unsigned)).toBe(preimage);
    expect(getEventHash(unsigned)).toBe(signed['id']);
  });

  it('builds, signs and parses back an announcement with asks', () => {
    const sk = generateSecretKey();
    const asks = [{ model: 'llama-3.2-1b', prompt: msatPerMtok(40_000), completion: msatPerMtok(120_000) }];
    const ev = buildAnnouncement({ d: 'node-1', urls: ['https://p.example'], mints: ['https://mint.example'], version: '0.1.0', name: 'Nœud ☃', about: 'GPU', asks, createdAt: 1_800_000_000 }, sk);
    expect(ev.tags).toEqual([
      ['d', 'node-1'],
      ['u', 'https://p.example'],
      ['mint', 'https://mint.example'],
      ['version', '0.1.0'],
      ['model', 'llama-3.2-1b', '40000', '120000'],
    ]);
    // Python json.dumps with ensure_ascii: non-ASCII escaped, no spaces
    expect(ev.content).toBe('{"name":"N\\u0153ud \\u2603","about":"GPU"}');
    const back = parseAnnouncement(JSON.parse(JSON.stringify(ev)));
    expect(back.pubkey).toBe(getPublicKey(sk));
    expect(back.asks).toEqual(asks);
    expect(back.name).toBe('Nœud ☃');
  });

  it('accepts the legacy/test shape (unsigned, spaced content, no mint/version) when not verifying', () => {
    const legacy = JSON.parse(read('38421_test_fixtures_unsigned.json')) as unknown[];
    const parsed = legacy.map((e) => parseAnnouncement(e, { verify: false }));
    expect(parsed.map((p) => [p.d, p.urls[0], p.name, p.version])).toEqual([
      ['provider1', 'http://provider1.onion', 'Provider 1', undefined],
      ['provider2', 'http://provider2.onion', 'Provider 2', undefined],
    ]);
    expect(protocolError(() => parseAnnouncement(legacy[0])).field).toBe('id');
  });

  it('accepts non-JSON content (the SDK ignores content)', () => {
    const ev = buildAnnouncement({ d: 'x', urls: ['https://a'], mints: [], version: '1', name: 'n', about: 'a' }, generateSecretKey());
    const raw = JSON.parse(JSON.stringify(ev)) as Record<string, unknown>;
    const unsigned = { ...raw, content: 'not json', sig: '0'.repeat(128) };
    expect(parseAnnouncement(unsigned, { verify: false }).name).toBeUndefined();
  });

  it('rejects events without a u, without a d, of another kind, or tampered', () => {
    const sk = generateSecretKey();
    const noU = buildAnnouncement({ d: 'x', urls: ['https://a'], mints: [], version: '1', name: 'n', about: 'a' }, sk);
    const stripped = { ...JSON.parse(JSON.stringify(noU)), tags: [['d', 'x'], ['u', '']] };
    expect(protocolError(() => parseAnnouncement(stripped, { verify: false })).code).toBe('missing_url');
    const noD = { ...JSON.parse(JSON.stringify(noU)), tags: [['u', 'https://a']] };
    expect(protocolError(() => parseAnnouncement(noD, { verify: false })).field).toBe('tags.d');
    expect(protocolError(() => parseAnnouncement({ ...signed, kind: 1 })).code).toBe('wrong_kind');
    expect(protocolError(() => parseAnnouncement({ ...signed, content: '{}' })).code).toBe('invalid_signature');
    expect(protocolError(() => buildAnnouncement({ d: 'x', urls: [], mints: [], version: '1', name: 'n', about: 'a' }, sk)).code).toBe('missing_url');
  });

  it('names the bad field for a malformed ask tag', () => {
    const bad = { ...signed, tags: [...(signed['tags'] as string[][]), ['model', 'm', '1.5', '2']] };
    const err = protocolError(() => parseAnnouncement(bad, { verify: false }));
    expect(err.field).toBe('tags.6.2');
    expect(err.code).toBe('invalid_value');
  });

  it('fuzz: arbitrary input and mutated events give ProtocolError or a valid parse, never anything else', () => {
    const tag = fc.array(fc.oneof(fc.constantFrom('d', 'u', 'mint', 'version', 'model'), fc.string(), fc.stringMatching(/^[0-9]{1,20}$/)), { maxLength: 5 });
    const mutated = fc.record({
      tags: fc.array(tag, { maxLength: 8 }),
      content: fc.oneof(fc.string(), fc.json()),
      created_at: fc.oneof(fc.nat(), fc.double(), fc.string()),
    });
    fc.assert(
      fc.property(fc.oneof(fc.anything(), mutated.map((m) => ({ ...signed, ...m }))), (input) => {
        for (const verify of [true, false]) {
          try {
            parseAnnouncement(input, { verify });
          } catch (e) {
            expect(e).toBeInstanceOf(ProtocolError);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('determineProviderId', () => {
  const pubkey = 'e9eb22e388c21141da191c0ebd2d0ea679d3fc09ddca438fa8095d05d5552c94';
  it('prefers PROVIDER_ID, then the newest own event d, then pubkey[:12]', () => {
    const own = [
      { pubkey, kind: 38421, created_at: 10, tags: [['d', 'old']] },
      { pubkey, kind: 38421, created_at: 20, tags: [['d', 'new']] },
      { pubkey: 'f'.repeat(64), kind: 38421, created_at: 30, tags: [['d', 'someone-else']] },
    ];
    expect(determineProviderId({ providerId: 'configured', pubkey, ownEvents: own })).toBe('configured');
    expect(determineProviderId({ pubkey, ownEvents: own })).toBe('new');
    expect(determineProviderId({ pubkey })).toBe('e9eb22e388c2');
  });
});

describe('announcementsEquivalent and URL normalisation', () => {
  it('ignores tag order within u/mint and content key order, but not an ask change', () => {
    const sk = generateSecretKey();
    const base = { d: 'x', urls: ['https://a', 'http://b.onion'], mints: ['m1', 'm2'], version: '1', name: 'n', about: 'a' };
    const a = buildAnnouncement(base, sk);
    const b = buildAnnouncement({ ...base, urls: ['http://b.onion', 'https://a'], mints: ['m2', 'm1'], createdAt: 1 }, sk);
    expect(announcementsEquivalent(a, { ...b, content: '{"about":"a","name":"n"}' })).toBe(true);
    const c = buildAnnouncement({ ...base, asks: [{ model: 'm', prompt: msatPerMtok(1), completion: msatPerMtok(2) }] }, sk);
    expect(announcementsEquivalent(a, c)).toBe(false);
    expect(announcementsEquivalent(a, buildAnnouncement({ ...base, version: '2' }, sk))).toBe(false);
  });

  it('normalises like the SDK', () => {
    expect(normalizeEndpointUrl('node.example.com')).toBe('https://node.example.com/');
    expect(normalizeEndpointUrl('http://x.onion/')).toBe('http://x.onion/');
  });
});
