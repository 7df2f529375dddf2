// Acceptance (issue 15, 2): a total budget of N sat and 50 concurrent requests that would each cost
// more than N/10, through each of the AI SDK provider, ChatRoutstr and the MCP `chat_completion`
// tool, in X-Cashu and in session mode. The sats that left the wallet never exceed N — checked
// against the wallet and against what the nodes took in — and every refused request gets the
// budget error and spends nothing: the paid requests' receipts account for all that left.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Market } from '@routstr-kit/core';
import type { PricedDevnet } from '@routstr-kit/devnet/priced-nodes';
import { ADAPTER_BUYERS, PAYMENT_MODES, buyConcurrently, startTwoPriceMarket } from './adapter-buyers.ts';

/** The total budget, sat. */
const N = 60;
const REQUESTS = 50;
const FUND_SAT = 1000;
const MAX_TOKENS = 8;

let net: PricedDevnet;
let market: Market;

beforeAll(async () => {
  // at either node's price a request of ~20 prompt and 8 completion tokens costs more than N/10 sat
  ({ net, market } = await startTwoPriceMarket());
});
afterAll(async () => {
  await net?.stop();
});

describe.each(PAYMENT_MODES)('%s mode', (mode) => {
  it.each(ADAPTER_BUYERS)(`a total budget of ${N} sat and ${REQUESTS} concurrent requests through %s: never more than ${N} sat leaves, the refused spend nothing`, async (adapterName, make) => {
    const calls = Array.from({ length: REQUESTS }, (_, i) => ({ prompt: `Budget request ${i}: describe the weather in a few words please`, maxTokens: MAX_TOKENS }));
    const { outcomes, spentSat, earnedMsat, nodesGainedSat, pendingSat } = await buyConcurrently(net, market, make, { name: `budget-${adapterName}`, mode, fundSat: FUND_SAT, budget: { totalSat: N } }, calls);
    const paid = outcomes.flatMap((o) => (o.ok ? [o] : []));
    const refused = outcomes.flatMap((o) => (o.ok ? [] : [o]));
    const charged = paid.reduce((s, o) => s + o.receipt.chargedMsat, 0);
    const summary = `${paid.length} paid (${paid.map((o) => o.receipt.chargedMsat).join(', ')} msat), ${refused.length} refused; spent ${spentSat} sat, nodes earned ${earnedMsat} msat`;

    // the premise: each paid request cost more than a tenth of the budget, and the budget ran out
    for (const o of paid) expect(o.receipt.chargedMsat).toBeGreaterThan((N * 1000) / 10);
    expect(paid.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);

    // never more than N left the wallet, by the wallet's count and by the nodes'
    expect(spentSat).toBeLessThanOrEqual(N);
    expect(nodesGainedSat).toBe(spentSat);
    expect(earnedMsat).toBeLessThanOrEqual(N * 1000);

    // every refusal is the budget error, and refused requests spent nothing: the paid receipts are all the nodes earned
    expect(refused.map((o) => o.code)).toEqual(refused.map(() => 'budget_exceeded'));
    expect(new Set(paid.map((o) => o.receipt.requestId)).size).toBe(paid.length);
    expect(earnedMsat, summary).toBe(charged);
    if (mode === 'xcashu') expect(spentSat * 1000).toBe(charged);
    else expect(spentSat * 1000 - charged).toBeLessThan(1000 * new Set(paid.map((o) => o.receipt.provider)).size);
    expect(pendingSat).toBe(0);
  });
});
