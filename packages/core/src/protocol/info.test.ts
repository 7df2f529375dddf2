import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError, buildNodeInfo, normalizeMintUrl, parseNodeInfo, serializeNodeInfo } from './index.ts';

const fixtures = new URL('../../../../fixtures/routstr/', import.meta.url);
const raw = JSON.parse(readFileSync(new URL('v1_info_constructed.json', fixtures), 'utf8')) as Record<string, unknown>;
// python3: json.dumps(info, ensure_ascii=False, separators=(",",":"))
const PYTHON_BYTES =
  '{"name":"ARoutstrNode","description":"A Routstr Node","version":"0.4.5","npub":"npub1...(bech32 of node pubkey)","mints":["https://mint.minibits.cash/Bitcoin","https://mint.cubabitcoin.org"],"http_url":"https://node.example.com","onion_url":"http://exampleonionaddressxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion","child_key_cost_msats":0}';

describe('/v1/info', () => {
  it('round-trips the fixture byte for byte', () => {
    const info = parseNodeInfo(raw);
    const rebuilt = buildNodeInfo({
      name: info.name,
      description: info.description ?? '',
      version: info.version,
      npub: info.npub ?? '',
      mints: info.mints,
      httpUrl: info.http_url ?? '',
      onionUrl: info.onion_url ?? '',
      childKeyCostMsats: info.child_key_cost_msats ?? 0,
    });
    expect(serializeNodeInfo(rebuilt)).toBe(PYTHON_BYTES);
  });

  it('keeps an old node\'s models key and accepts empty mints', () => {
    const info = parseNodeInfo({ ...raw, mints: [], models: [{ id: 'x' }] });
    expect(info.mints).toEqual([]);
    expect((info as Record<string, unknown>)['models']).toEqual([{ id: 'x' }]);
  });

  it('names the wrong field', () => {
    expect(() => parseNodeInfo({ ...raw, mints: 'https://m' })).toThrow(ProtocolError);
    expect(() => parseNodeInfo({ ...raw, child_key_cost_msats: -1 })).toThrow(expect.objectContaining({ field: 'child_key_cost_msats', code: 'invalid_value' }));
    expect(() => parseNodeInfo({ ...raw, version: undefined })).toThrow(expect.objectContaining({ field: 'version', code: 'missing_field' }));
  });

  it('fuzz: never throws anything but ProtocolError', () => {
    fc.assert(
      fc.property(fc.anything(), (x) => {
        try {
          parseNodeInfo(x);
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('normalises mint URLs like the SDK', () => {
    expect(normalizeMintUrl('https://mint.minibits.cash/Bitcoin/')).toBe('https://mint.minibits.cash/Bitcoin');
  });
});
