// Acceptance (issue 15, 2): a total budget of N sat and 50 concurrent requests that would each cost
// more than N/10, through each of the AI SDK provider, ChatRoutstr and the MCP `chat_completion`
// tool, in X-Cashu and in session mode. The sats that left the wallet never exceed N — checked
// against the wallet and against what the nodes took in — and every refused request gets the
// budget error and spends nothing: the paid requests' receipts account for all that left.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Market, PaymentMode } from '@routstr-kit/core';
import { startPricedDevnet, type PricedDevnet } from '@routstr-kit/devnet/priced-nodes';
import { aiSdkBuyer, chatRoutstrBuyer, mcpBuyer, type AdapterBuyer, type BuyerOutcome, type BuyerSetup } from './adapter-buyers.ts';

/** The total budget, sat. */
const N = 60;
const REQUESTS = 50;
const FUND_SAT = 1000;
const MAX_TOKENS = 8;

let net: PricedDevnet;
let market: Market;

beforeAll(async () => {
  net = await startPricedDevnet({ queueSize: 64 });
  // at these prices a request of ~20 prompt and 8 completion tokens costs more than N/10 sat
  await net.startNode({ name: 'cheap', price: { prompt: 200_000_000, completion: 1_000_000_000 } });
  await net.startNode({ name: 'dear', price: { prompt: 300_000_000, completion: 1_300_000_000 } });
  market = await net.openMarket();
});
afterAll(async () => {
  await net?.stop();
});

type Make = (s: BuyerSetup) => AdapterBuyer | Promise<AdapterBuyer>;
const ADAPTERS: Array<[string, Make]> = [
  ['AI SDK provider', aiSdkBuyer],
  ['ChatRoutstr', chatRoutstrBuyer],
  ['MCP chat_completion', mcpBuyer],
];
const MODES: PaymentMode[] = ['xcashu', 'session'];

describe.each(MODES)('%s mode', (mode) => {
  it.each(ADAPTERS)(`a total budget of ${N} sat and ${REQUESTS} concurrent requests through %s: never more than ${N} sat leaves, the refused spend nothing`, async (adapterName, make) => {
    const { wallet, path } = await net.newWallet(FUND_SAT, { name: `budget-${adapterName.replace(/\W/g, '-')}-${mode}` });
    const revenueBefore = net.revenueMsat();
    const heldBefore = net.providerHeldSat();
    const buyer = await make({ wallet, walletPath: path, market, mode, relayUrl: net.devnet.relayUrl, mintUrl: net.devnet.mintUrl, budget: { totalSat: N } });
    let outcomes: BuyerOutcome[];
    try {
      outcomes = await Promise.all(
        Array.from({ length: REQUESTS }, (_, i) => buyer.call({ prompt: `Budget request ${i}: describe the weather in a few words please`, maxTokens: MAX_TOKENS })),
      );
    } finally {
      await buyer.close();
    }
    const paid = outcomes.flatMap((o) => (o.ok ? [o] : []));
    const refused = outcomes.flatMap((o) => (o.ok ? [] : [o]));
    const spentSat = FUND_SAT - wallet.balance() - wallet.feesPaid();
    const earnedMsat = net.revenueMsat() - revenueBefore;
    const charged = paid.reduce((s, o) => s + o.receipt.chargedMsat, 0);

    // the premise: each paid request cost more than a tenth of the budget, and the budget ran out
    for (const o of paid) expect(o.receipt.chargedMsat).toBeGreaterThan((N * 1000) / 10);
    expect(paid.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);

    // never more than N left the wallet, by the wallet's count and by the nodes'
    expect(spentSat).toBeLessThanOrEqual(N);
    expect(net.providerHeldSat() - heldBefore).toBe(spentSat);
    expect(earnedMsat).toBeLessThanOrEqual(N * 1000);

    // every refusal is the budget error, and refused requests spent nothing: the paid receipts are all the nodes earned
    expect(refused.map((o) => o.code)).toEqual(refused.map(() => 'budget_exceeded'));
    expect(earnedMsat).toBe(charged);
    if (mode === 'xcashu') expect(spentSat * 1000).toBe(charged);
    else expect(spentSat * 1000 - charged).toBeLessThan(1000 * new Set(paid.map((o) => o.receipt.provider)).size);
    expect(wallet.pendingBalance()).toBe(0);
  });
});
