import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ProtocolError, attachCostMetadata, buildCostHeaders, parseCostHeaders, readReportedCost, type CostData } from './index.ts';

const cost: CostData = {
  base_msats: 0,
  input_msats: 145,
  output_msats: 254,
  total_msats: 399,
  total_usd: 0.000399,
  input_tokens: 950,
  output_tokens: 420,
  cache_read_input_tokens: 0,
  cache_creation_input_tokens: 0,
  cache_read_msats: 0,
  cache_creation_msats: 0,
};

describe('cost metadata', () => {
  it('attaches usage.cost, cost_sats, metadata.routstr and legacy cost in routstr-core key order', () => {
    const body = attachCostMetadata({ id: 'c1', usage: { prompt_tokens: 950, completion_tokens: 420 } }, cost, 600);
    expect(Object.keys(body.usage)).toEqual(['prompt_tokens', 'completion_tokens', 'cost', 'cost_sats', 'remaining_balance_msats']);
    expect(Object.keys(body.usage['cost'] as object)).toEqual([
      'base_msats',
      'input_msats',
      'output_msats',
      'total_msats',
      'cache_read_input_tokens',
      'cache_creation_input_tokens',
      'cache_read_msats',
      'cache_creation_msats',
      'total_usd',
    ]);
    expect(body.usage['cost_sats']).toBe(0);
    expect(readReportedCost(body)).toEqual({ totalMsat: 399, inputMsat: 145, outputMsat: 254, source: 'usage.cost' });
  });

  it('reads the SDK fallbacks in order: metadata.routstr, cost_sats, header', () => {
    expect(readReportedCost({ metadata: { routstr: { cost: { total_msats: 7 } } } })?.source).toBe('metadata.routstr');
    expect(readReportedCost({ usage: { cost_sats: 2 } })).toMatchObject({ totalMsat: 2000, source: 'usage.cost_sats' });
    // OpenRouter's numeric usage.cost (USD) is not ours: fall through to the header
    const headers = new Headers(buildCostHeaders(cost));
    expect(readReportedCost({ usage: { cost: 0.0001 } }, headers)).toEqual({ totalMsat: 399, inputMsat: 145, outputMsat: 254, source: 'header' });
    expect(readReportedCost({}, {})).toBeUndefined();
  });

  it('builds the X-Routstr-Cost-* headers and parses them case-insensitively', () => {
    expect(buildCostHeaders(cost)).toEqual({
      'X-Routstr-Cost-Msats': '399',
      'X-Routstr-Input-Cost-Msats': '145',
      'X-Routstr-Output-Cost-Msats': '254',
      'X-Routstr-Cost-Usd': '0.000399',
    });
    expect(parseCostHeaders({ 'x-routstr-cost-msats': '12' })).toMatchObject({ totalMsat: 12, inputMsat: undefined });
  });

  it('wrong types are ProtocolErrors naming the field', () => {
    expect(() => readReportedCost({ usage: { cost: { total_msats: '399' } } })).toThrow(expect.objectContaining({ field: 'usage.cost.total_msats' }));
    expect(() => parseCostHeaders({ 'X-Routstr-Cost-Msats': '3.5' })).toThrow(ProtocolError);
  });

  it('fuzz: any body/headers give a cost, undefined or a ProtocolError', () => {
    fc.assert(
      fc.property(fc.anything(), fc.dictionary(fc.constantFrom('X-Routstr-Cost-Msats', 'x-routstr-input-cost-msats', 'other'), fc.string()), (body, headers) => {
        try {
          readReportedCost(body, headers);
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
