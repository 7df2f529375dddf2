// Market acceptance: two real provider nodes on the devnet — one at a fixed price, one priced by
// load — appear in a market's order book at the prices they advertise, and the dynamic node's
// price ticks move the book.
import { msatPerMtok, type AskChange, type Market } from '@routstr-kit/core';
import type { RunningProvider } from '@routstr-kit/provider';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPricedDevnet, type PricedDevnet } from '@routstr-kit/devnet/priced-nodes';

let net: PricedDevnet;
let market: Market;
beforeAll(async () => {
  net = await startPricedDevnet();
  for (const spec of [
    { name: 'fixed', price: { prompt: 300_000_000, completion: 1_500_000_000 } },
    { name: 'dynamic', dynamic: { powerWatts: 100, electricityMsatPerKwh: 100_000, tokensPerSecond: 100, margin: 2_500_000_000, alpha: 1, maxStep: 1 } },
  ]) await net.startNode(spec);
  market = await net.openMarket();
});
afterAll(async () => {
  await net?.stop();
});

it('shows both nodes at their advertised prices, and follows the dynamic node\'s ticks', async () => {
  const fixed = net.providers.get('fixed') as RunningProvider;
  const dynamic = net.providers.get('dynamic') as RunningProvider;
  const askOf = (p: RunningProvider) => market.depth(net.model, 10).find((a) => a.provider.includes(p.pubkey));

  expect(askOf(fixed)).toMatchObject({ prompt: msatPerMtok(300_000_000), completion: msatPerMtok(1_500_000_000) });
  const idle = dynamic.board.current().get(net.model);
  expect(idle).toBeDefined();
  expect(askOf(dynamic)).toMatchObject({ prompt: idle?.prompt, completion: idle?.completion });
  // the fixed node's announcement carries its ask too (our 38421 `model` tag)
  expect(market.registry.get(net.idOf(market, 'fixed'))?.announcement.asks).toEqual([{ model: net.model, prompt: 300_000_000, completion: 1_500_000_000 }]);

  // load the dynamic node: a stream in flight while it samples raises its price, and it ticks
  const moved = new Promise<AskChange>((resolve) => {
    const off = market.onAskChange((c) => {
      if (c.provider.includes(dynamic.pubkey) && c.current?.source === 'tick' && c.current.completion !== idle?.completion) {
        off();
        resolve(c);
      }
    });
  });
  const res = await fetch(`${dynamic.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await depositToken()}` },
    body: JSON.stringify({ model: net.model, messages: [{ role: 'user', content: 'keep me busy' }], max_tokens: 100, stream: true }),
  });
  expect(res.status).toBe(200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  await reader.read(); // the request is in flight now
  await dynamic.marketMaker?.sampleNow();
  const change = await moved;
  await reader.cancel();

  const busy = dynamic.board.current().get(net.model);
  expect(busy?.completion).toBeGreaterThan(idle?.completion ?? Infinity);
  expect(change.current).toMatchObject({ source: 'tick', prompt: busy?.prompt, completion: busy?.completion });
  expect(change.current?.quoteId).toMatch(/^[0-9a-f]{64}$/);
  expect(askOf(dynamic)).toMatchObject({ completion: busy?.completion, source: 'tick' });
  expect(askOf(fixed)?.completion).toBe(1_500_000_000);
});

/** A Cashu token that opens a key at the node (the stream is paid like any other). */
async function depositToken(): Promise<string> {
  const { wallet } = await net.newWallet(300, { name: 'loader' });
  return (await wallet.send(200 as Parameters<typeof wallet.send>[0], { purpose: 'load test deposit' })).token;
}
