// Session mode on the devnet: one funded `sk-` key per provider instead of a token per request.
// Same answers and verified receipts, fewer operations at the mint, and the balance comes back
// to the wallet when the paying fetch closes.
import OpenAI from 'openai';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPayingFetch, type Market, type Receipt } from '@routstr-kit/core';
import { startPricedDevnet, type PricedDevnet } from '@routstr-kit/devnet/priced-nodes';

let net: PricedDevnet;
let market: Market;
beforeAll(async () => {
  net = await startPricedDevnet();
  for (const spec of [
    { name: 'cheap', price: { prompt: 200_000_000, completion: 1_000_000_000 } },
    { name: 'dear', price: { prompt: 400_000_000, completion: 2_000_000_000 } },
  ]) await net.startNode(spec);
  market = await net.openMarket();
});
afterAll(async () => {
  await net?.stop();
});

async function runTen(mode: 'xcashu' | 'session'): Promise<{ receipts: readonly Receipt[]; swaps: number; spentSat: number; revenue: number; texts: string[] }> {
  const { wallet } = await net.newWallet(1000, { name: mode });
  const swapsBefore = net.devnet.parts.mint.stats().swaps;
  const revenueBefore = net.revenueMsat();
  const pf = createPayingFetch({ wallet, market: market, mode, profile: 'cheapest', session: { minDepositSat: 60 } });
  const client = new OpenAI({ baseURL: 'http://routstr.invalid/v1', apiKey: 'unused', fetch: pf, maxRetries: 0 });
  const texts: string[] = [];
  for (let i = 0; i < 10; i++) {
    if (i % 2 === 0) {
      const r = await client.chat.completions.create({ model: net.model, messages: [{ role: 'user', content: `Hello number ${i}` }], max_tokens: 8 });
      texts.push(r.choices[0]?.message.content ?? '');
    } else {
      const s = await client.chat.completions.create({ model: net.model, messages: [{ role: 'user', content: `Hello number ${i}` }], max_tokens: 8, stream: true });
      let t = '';
      for await (const c of s) t += c.choices[0]?.delta?.content ?? '';
      texts.push(t);
    }
  }
  await pf.close();
  expect(wallet.unsettled()).toEqual([]);
  expect(wallet.pendingBalance()).toBe(0);
  return {
    receipts: pf.receipts(),
    swaps: net.devnet.parts.mint.stats().swaps - swapsBefore,
    spentSat: 1000 - wallet.balance(),
    revenue: net.revenueMsat() - revenueBefore,
    texts,
  };
}

it('serves the same requests with verified receipts, fewer mint operations, and refunds the key on close', async () => {
  const x = await runTen('xcashu');
  const s = await runTen('session');
  for (const run of [x, s]) {
    expect(run.texts.every((t) => t.length > 0)).toBe(true);
    expect(run.receipts).toHaveLength(10);
    for (const r of run.receipts) {
      expect(r.provider.id).toBe(net.idOf(market, 'cheap'));
      expect(r.verification.verdict).toBe('ok');
      expect(r.costMsat).toBe(r.expectedCostMsat);
    }
  }
  expect(s.receipts.every((r) => r.mode === 'session' && r.changeSat === 0)).toBe(true);
  const charged = s.receipts.reduce((sum, r) => sum + r.chargedMsat, 0);
  // the node earned exactly the charges; the wallet paid them, plus at most the sub-sat rest the refund (whole sats) leaves
  expect(s.revenue).toBe(charged);
  expect(s.spentSat * 1000).toBeGreaterThanOrEqual(charged);
  expect(s.spentSat * 1000 - charged).toBeLessThan(1000);
  expect(x.spentSat * 1000).toBe(x.receipts.reduce((sum, r) => sum + r.chargedMsat, 0));
  // a token per request costs swaps every time; a session only at deposit, top-up and refund
  expect(s.swaps).toBeLessThan(x.swaps / 2);

  const cheap = net.providers.get('cheap');
  expect(cheap?.payee.balances().liabilitiesMsat).toBeLessThan(1000);
});

it('top-ups run ahead of requests (issue 16): a burst no larger than one before never waits for a top-up', async () => {
  const { wallet } = await net.newWallet(1000, { name: 'fund-ahead' });
  // the smallest first deposit: the key runs low after a request or two, so it is topped up over and over
  const pf = createPayingFetch({ wallet, market: market, mode: 'session', profile: 'cheapest', session: { minDepositSat: 7 }, limits: { maxConcurrent: 4 } });
  const client = new OpenAI({ baseURL: 'http://routstr.invalid/v1', apiKey: 'unused', fetch: pf, maxRetries: 0 });
  const burst = (k: number): Promise<unknown> =>
    Promise.all(Array.from({ length: 4 }, (_, i) => client.chat.completions.create({ model: net.model, messages: [{ role: 'user', content: `burst ${k}.${i}` }], max_tokens: 8 })));
  await burst(0);
  await pf.settled();
  const first = pf.payer.sessionFunding();
  for (let k = 1; k <= 3; k++) {
    await burst(k);
    await pf.settled();
  }
  const after = pf.payer.sessionFunding();
  // the first burst opened the key and may have outrun it; every later one found the key funded ahead
  expect(after.topUpsWaited).toBe(first.topUpsWaited);
  expect(after.topUpsAhead).toBeGreaterThan(first.topUpsAhead);
  expect(pf.receipts()).toHaveLength(16);
  await pf.close();
  expect(wallet.unsettled()).toEqual([]);
});
