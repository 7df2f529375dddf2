// Acceptance (issue 15, 1): 32 concurrent calls of one model through each of the AI SDK provider,
// ChatRoutstr and the MCP `chat_completion` tool, in X-Cashu and in session mode, on a devnet with two
// provider nodes at different prices. Every call's receipt must be the receipt of its OWN response:
// each call has its own prompt length and max_tokens, so a receipt handed to the wrong call shows
// as usage or a price that is not this response's. The receipts add up to what the wallet spent and
// what the nodes earned, to the msat.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { priceForShape, type Market } from '@routstr-kit/core';
import type { PricedDevnet } from '@routstr-kit/devnet/priced-nodes';
import { ADAPTER_BUYERS, CHEAP, DEAR, PAYMENT_MODES, buyConcurrently, startTwoPriceMarket, type BuyerCall } from './adapter-buyers.ts';

const CALLS = 32;
const FUND_SAT = 4000;

/** Call i: a prompt one word longer than call i−1's and a max_tokens of its own (4–24), so no two calls share both. */
const callOf = (i: number): BuyerCall => ({ prompt: `Call ${i}:${' tell'.repeat(i + 1)}`, maxTokens: 4 + ((i * 5) % 21) });

let net: PricedDevnet;
let market: Market;
/** Input tokens of each prompt as the responses themselves reported them (the AI SDK run passes the response's usage on). */
const inputTokensOf = new Map<string, number>();

beforeAll(async () => {
  ({ net, market } = await startTwoPriceMarket());
});
afterAll(async () => {
  await net?.stop();
});

const priceOfNode = (providerId: string): { prompt: number; completion: number } | undefined => {
  const name = net.nameOf(providerId);
  return name === CHEAP.name ? CHEAP.price : name === DEAR.name ? DEAR.price : undefined;
};

describe.each(PAYMENT_MODES)('%s mode', (mode) => {
  it.each(ADAPTER_BUYERS)('32 concurrent calls through %s: each receipt is its own response\'s, and they add up to the msat', async (adapterName, make) => {
    const run = await buyConcurrently(net, market, make, { name: adapterName, mode, fundSat: FUND_SAT }, Array.from({ length: CALLS }, (_, i) => callOf(i)));
    const outcomes = run.outcomes;
    const failed = outcomes.flatMap((o, i) => (o.ok ? [] : [`call ${i}: ${o.code} ${o.message}`]));
    expect(failed).toEqual([]);
    const done = outcomes.map((o) => {
      if (!o.ok) throw new Error('unreachable');
      return o;
    });

    // 1. each receipt belongs to its own call: usage and price of this response, not another's
    const mismatches: string[] = [];
    done.forEach((o, i) => {
      const call = callOf(i);
      const r = o.receipt;
      const price = priceOfNode(r.provider);
      const seen = o.usage ?? { inputTokens: inputTokensOf.get(call.prompt), outputTokens: undefined };
      if (o.usage && adapterName === 'AI SDK provider') inputTokensOf.set(call.prompt, o.usage.inputTokens);
      const problems: string[] = [];
      if (!price) problems.push(`provider ${r.provider} is neither node`);
      else if (r.price.prompt !== price.prompt || r.price.completion !== price.completion) problems.push(`price ${JSON.stringify(r.price)} is not ${net.nameOf(r.provider)}'s ${JSON.stringify(price)}`);
      if (r.outputTokens === undefined || r.outputTokens > call.maxTokens) problems.push(`receipt bills ${r.outputTokens} output tokens, the call allowed ${call.maxTokens}`);
      if (o.finishReason === 'length' && r.outputTokens !== call.maxTokens) problems.push(`the response stopped at its max_tokens ${call.maxTokens}, the receipt bills ${r.outputTokens}`);
      if (seen.inputTokens !== undefined && r.inputTokens !== seen.inputTokens) problems.push(`receipt bills ${r.inputTokens} input tokens, the response used ${seen.inputTokens}`);
      if (seen.outputTokens !== undefined && r.outputTokens !== seen.outputTokens) problems.push(`receipt bills ${r.outputTokens} output tokens, the response produced ${seen.outputTokens}`);
      if (price && r.inputTokens !== undefined && r.outputTokens !== undefined) {
        const cost = priceForShape(price, { inputTokens: r.inputTokens, outputTokens: r.outputTokens });
        // X-Cashu takes whole sats (face − change), at most the token's face (a cost above it leaves no
        // change, routstr-core's rule); a session key is debited the msat cost
        const charged = mode === 'xcashu' ? Math.min(Math.ceil(cost / 1000), r.paidSat) * 1000 : cost;
        if (r.chargedMsat !== charged) problems.push(`charged ${r.chargedMsat} msat (paid ${r.paidSat}, change ${r.changeSat} sat), this usage at this price costs ${charged}`);
      }
      if (mode === 'xcashu' && r.chargedMsat !== (r.paidSat - r.changeSat) * 1000) problems.push(`charged ${r.chargedMsat} msat ≠ paid ${r.paidSat} − change ${r.changeSat} sat`);
      if (problems.length > 0) mismatches.push(`call ${i} (max_tokens ${call.maxTokens}): ${problems.join('; ')}`);
    });
    expect(mismatches).toEqual([]);
    // 32 calls, 32 different requests' receipts: no receipt handed to two calls
    const ids = done.map((o) => o.receipt.requestId);
    expect(new Set(ids).size).toBe(CALLS);
    const charged = done.reduce((s, o) => s + o.receipt.chargedMsat, 0);

    // 2. the receipts add up to what the nodes earned and what the wallet spent, to the msat
    const { spentSat } = run;
    expect(run.earnedMsat).toBe(charged);
    if (mode === 'xcashu') {
      expect(spentSat * 1000).toBe(charged);
    } else {
      // a key is refunded in whole sats: the wallet paid the charges plus, per key, the sub-sat rest the node keeps
      const keys = new Set(done.map((o) => o.receipt.provider)).size;
      expect(spentSat * 1000).toBeGreaterThanOrEqual(charged);
      expect(spentSat * 1000 - charged).toBeLessThan(1000 * keys);
    }
    // and every sat that left the wallet is held by a node
    expect(run.nodesGainedSat).toBe(spentSat);
    expect(run.pendingSat).toBe(0);
  });
});
