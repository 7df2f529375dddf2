import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ProtocolError,
  buildBalanceInfo,
  buildChildKeyResponse,
  buildCreateBalanceResponse,
  buildRefundResponse,
  buildTopupResponse,
  fastApiJson,
  parseBalanceInfo,
  parseChildKeyResponse,
  parseCreateBalanceResponse,
  parseRefundResponse,
  parseTopupResponse,
} from './index.ts';

const fixtures = new URL('../../../../fixtures/routstr/', import.meta.url);
const fixture = (name: string) => JSON.parse(readFileSync(new URL(name, fixtures), 'utf8')) as Record<string, unknown>;

describe('balance endpoint bodies', () => {
  it('parses the real (partial) /v1/balance/info, keeping unknown keys', () => {
    const info = parseBalanceInfo(fixture('v1_balance_info_partial_real.json'));
    expect(info).toMatchObject({ balance: 4_404_339, reserved: 0, is_child: false });
    expect((info as Record<string, unknown>)['parent_key']).toBeNull();
    // core#520: a negative available balance must still parse
    expect(parseBalanceInfo({ api_key: 'sk-x', balance: -6297 }).balance).toBe(-6297);
  });

  it('parses the old refund format (int msats, null recipient) and the current string amounts', () => {
    expect(parseRefundResponse(fixture('v1_balance_refund_partial_real.json'))).toMatchObject({ unit: 'msat', amountMsat: 15_998, recipient: undefined });
    expect(parseRefundResponse({ token: 'cashuBxyz', sats: '15' })).toEqual({ token: 'cashuBxyz', recipient: undefined, unit: 'sat', amountMsat: 15_000 });
    expect(parseRefundResponse({ recipient: 'me@ln.tld', msats: '1234' })).toEqual({ token: undefined, recipient: 'me@ln.tld', unit: 'msat', amountMsat: 1234 });
  });

  it('builds bodies in routstr-core key order with string refund amounts', () => {
    expect(fastApiJson(buildRefundResponse({ token: 'cashuBxyz', unit: 'sat', amountMsat: 15_998 }))).toBe('{"token":"cashuBxyz","sats":"15"}');
    expect(fastApiJson(buildRefundResponse({ recipient: 'a@b.c', unit: 'msat', amountMsat: 15_998 }))).toBe('{"recipient":"a@b.c","msats":"15998"}');
    expect(fastApiJson(buildCreateBalanceResponse('sk-' + 'a'.repeat(64), 1000))).toBe(`{"api_key":"sk-${'a'.repeat(64)}","balance":1000}`);
    expect(fastApiJson(buildTopupResponse(2000))).toBe('{"msats":2000}');
    const info = buildBalanceInfo({ apiKey: 'sk-1', balance: 10, reserved: 2, isChild: false, totalRequests: 3, totalSpent: 4, childKeys: [] });
    expect(fastApiJson(info)).toBe(
      '{"api_key":"sk-1","balance":10,"reserved":2,"is_child":false,"total_requests":3,"total_spent":4,"balance_limit":null,"balance_limit_reset":null,"validity_date":null,"child_keys":[]}',
    );
    expect(parseBalanceInfo(info)).toEqual(info);
    const child = buildChildKeyResponse(['sk-c1', 'sk-c2'], 2500, 10_500);
    expect(fastApiJson(child)).toBe('{"api_keys":["sk-c1","sk-c2"],"count":2,"cost_msats":2500,"cost_sats":2,"parent_balance":10500,"parent_balance_sats":10}');
    expect(parseChildKeyResponse(child)).toEqual(child);
    expect(parseCreateBalanceResponse({ api_key: 'sk-1', balance: 5 }).balance).toBe(5);
    expect(parseTopupResponse({ msats: 7 }).msats).toBe(7);
  });

  it('wrong types are ProtocolErrors naming the field', () => {
    expect(() => parseRefundResponse({ token: 'cashuB', sats: '1.5' })).toThrow(expect.objectContaining({ field: 'sats' }));
    expect(() => parseRefundResponse({ sats: '1' })).toThrow(expect.objectContaining({ code: 'missing_field', field: 'token' }));
    expect(() => parseTopupResponse({ msats: '5' })).toThrow(expect.objectContaining({ code: 'invalid_type', field: 'msats' }));
    expect(() => parseRefundResponse({ token: 'x', sats: '99999999999999999999' })).toThrow(ProtocolError);
  });

  it('fuzz: every parser gives a value or a ProtocolError', () => {
    const parsers = [parseBalanceInfo, parseRefundResponse, parseTopupResponse, parseChildKeyResponse, parseCreateBalanceResponse];
    const refundish = fc.record({ token: fc.option(fc.string()), recipient: fc.option(fc.string()), sats: fc.oneof(fc.string(), fc.nat(), fc.stringMatching(/^\d{1,25}$/)), msats: fc.anything() }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.oneof(fc.anything(), refundish), (body) => {
        for (const parse of parsers) {
          try {
            parse(body);
          } catch (e) {
            expect(e).toBeInstanceOf(ProtocolError);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
