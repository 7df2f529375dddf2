// Buyer-side acceptance on the devnet: relay, mint, one llama.cpp engine and three provider nodes
// at different prices (one dynamic, quoting through price ticks). The official openai client pays
// through createPayingFetch; every receipt is checked against the wallet and the nodes' books.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateSecretKey } from 'nostr-tools';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AllProvidersFailed,
  BudgetExceeded,
  ManualClock,
  PriceAboveLimit,
  buildAnnouncement,
  createPayingFetch,
  createRoutstrClient,
  msatPerMtok,
  sat,
  type EcashWallet,
  type Market,
  type Receipt,
} from '@routstr-kit/core';
import { createFixedPriceBoard, startProvider, type RunningProvider } from '@routstr-kit/provider';
import { startPricedDevnet, type NodeSpec, type PricedDevnet } from '@routstr-kit/devnet/priced-nodes';

const CHEAP: NodeSpec = { name: 'cheap', price: { prompt: 200_000_000, completion: 1_000_000_000 } };
const DEAR: NodeSpec = { name: 'dear', price: { prompt: 400_000_000, completion: 2_000_000_000 } };
const DYNAMIC: NodeSpec = {
  name: 'dynamic',
  dynamic: { powerWatts: 100, electricityMsatPerKwh: 100_000, tokensPerSecond: 100, margin: 2_500_000_000, alpha: 1, maxStep: 1 },
};

let net: PricedDevnet;
let market: Market;
let clock: ManualClock;
const messages = (i: number): Array<{ role: 'user'; content: string }> => [{ role: 'user', content: `Say hi to the market, number ${i}` }];

beforeAll(async () => {
  net = await startPricedDevnet();
  for (const spec of [CHEAP, DEAR, DYNAMIC]) await net.startNode(spec);
  clock = new ManualClock(Date.now());
  market = await net.openMarket({ clock });
});
afterAll(async () => {
  await net?.stop();
});

const totalCharged = (rs: readonly Receipt[]): number => rs.reduce((s, r) => s + r.chargedMsat, 0);

/** Runs `n` jobs with at most `width` at once. */
async function pool<T>(n: number, width: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await job(i);
      }
    }),
  );
  return out;
}

describe('paying fetch through the openai client', () => {
  it('100 requests (half streamed): every answer served, every receipt verified, spend = Σ cost = node revenue', async () => {
    // the dynamic node quotes by tick: its asks carry a quote id the payer must send
    const dynamic = net.providers.get('dynamic') as RunningProvider;
    const ticked = new Promise<void>((resolve) => {
      const off = market.onAskChange((c) => {
        if (c.current?.source === 'tick' && c.provider.includes(dynamic.pubkey)) {
          off();
          resolve();
        }
      });
    });
    await dynamic.marketMaker?.publishTick();
    await ticked;

    const { wallet } = await net.newWallet(4000, { name: 'bulk' });
    const revenueBefore = net.revenueMsat();
    const receipts: Receipt[] = [];
    const pf = createPayingFetch({ wallet, market: market, mode: 'xcashu', profile: 'balanced', onReceipt: (r) => receipts.push(r) });
    const client = new OpenAI({ baseURL: 'http://routstr.invalid/v1', apiKey: 'unused', fetch: pf, maxRetries: 0 });

    const answers = await pool(100, 4, async (i) => {
      if (i % 2 === 0) {
        const r = await client.chat.completions.create({ model: net.model, messages: messages(i), max_tokens: 8 });
        return { text: r.choices[0]?.message.content ?? '', completion: r.usage?.completion_tokens ?? -1 };
      }
      const s = await client.chat.completions.create({ model: net.model, messages: messages(i), max_tokens: 8, stream: true, stream_options: { include_usage: true } });
      let text = '';
      let completion = -1;
      for await (const chunk of s) {
        text += chunk.choices[0]?.delta?.content ?? '';
        if (chunk.usage) completion = chunk.usage.completion_tokens;
      }
      return { text, completion };
    });

    for (const a of answers) {
      expect(a.text.length).toBeGreaterThan(0);
      expect(a.completion).toBeGreaterThan(0);
      expect(a.completion).toBeLessThanOrEqual(8);
    }
    // the receipt of a stream is written before its end reaches the caller
    expect(receipts).toHaveLength(100);
    expect(receipts.filter((r) => r.stream)).toHaveLength(50);
    for (const r of receipts) {
      expect(r.verification.verdict).toBe('ok');
      expect(r.changePending).toBe(false);
      expect(r.costMsat).toBe(r.expectedCostMsat);
      expect(r.chargedMsat).toBe(Math.ceil((r.costMsat as number) / 1000) * 1000);
      expect(r.paidSat * 1000).toBeGreaterThanOrEqual(r.gateMsat);
    }
    expect(receipts.reduce((s, r) => s + (r.usage?.outputTokens ?? 0), 0)).toBe(answers.reduce((s, a) => s + a.completion, 0));
    const quoted = receipts.filter((r) => r.price.quoteId !== undefined);
    expect(quoted.length).toBeGreaterThan(0);
    for (const r of quoted) expect(r.provider.pubkey).toBe(dynamic.pubkey);
    expect(new Set(receipts.map((r) => r.provider.url)).size).toBe(3);

    await wallet.idle(); // kept change is redeemed in the background: the balance is final once it has been
    expect((4000 - wallet.balance()) * 1000).toBe(totalCharged(receipts));
    expect(net.revenueMsat() - revenueBefore).toBe(totalCharged(receipts));
    expect(wallet.pendingBalance()).toBe(0);
    expect(wallet.unsettled()).toEqual([]);
    expect(wallet.journal({ status: 'outstanding' })).toEqual([]);
    await pf.close();
  });

  it('refuses over budget or above maxPrice with typed errors, before any token leaves', async () => {
    const { wallet } = await net.newWallet(300, { name: 'capped', budgets: { perRequestMax: sat(3) } });
    const swapsBefore = net.devnet.parts.mint.stats().swaps;
    const journalBefore = wallet.journal().length;
    const request = { model: net.model, messages: messages(0), max_tokens: 8 };

    const walletCapped = createRoutstrClient({ wallet, market: market, profile: 'cheapest' });
    await expect(walletCapped.chat(request)).rejects.toBeInstanceOf(BudgetExceeded);
    const payerCapped = createRoutstrClient({ wallet, market: market, profile: 'cheapest', budget: { perRequestMaxSat: 2 } });
    await expect(payerCapped.chat(request)).rejects.toMatchObject({ code: 'budget_exceeded', cap: { kind: 'per_request', limit: 2 } });
    const priceCapped = createRoutstrClient({ wallet, market: market, profile: 'cheapest', maxPrice: 1000 });
    const refusal = await priceCapped.chat(request).catch((e: unknown) => e);
    expect(refusal).toBeInstanceOf(PriceAboveLimit);
    const cheapest = market.select({ model: net.model, profile: 'cheapest', topN: 1 }).providers[0];
    expect((refusal as PriceAboveLimit).bestAsk.provider).toBe(net.idOf(market, 'cheap'));
    expect(cheapest?.provider).toBe(net.idOf(market, 'cheap'));
    const perMtokCapped = createRoutstrClient({ wallet, market: market, maxPrice: { prompt: 1, completion: 1 } });
    await expect(perMtokCapped.chat(request)).rejects.toBeInstanceOf(PriceAboveLimit);

    expect(wallet.balance()).toBe(300);
    expect(wallet.journal()).toHaveLength(journalBefore);
    expect(net.devnet.parts.mint.stats().swaps).toBe(swapsBefore);
    for (const c of [walletCapped, payerCapped, priceCapped, perMtokCapped]) await c.close();
  });
});

describe('a provider that overcharges', () => {
  let node: RunningProvider;
  let proxy: Server;

  afterAll(async () => {
    proxy?.closeAllConnections();
    await new Promise<void>((resolve) => (proxy ? proxy.close(() => resolve()) : resolve()));
    await node?.stop();
  });

  it('is caught by charge verification and avoided afterwards', async () => {
    // A real node at the lowest price behind a proxy that keeps every change token for itself
    // (drops the X-Cashu header and the `: x-cashu` comment, denies the refund route).
    node = await startProvider({
      engine: 'llama.cpp',
      upstream: net.devnet.engines['llama'] as string,
      mints: [net.devnet.mintUrl],
      board: createFixedPriceBoard([{ model: net.model, prompt: msatPerMtok(100_000_000), completion: msatPerMtok(500_000_000) }]),
      dataDir: net.tmp(),
      contextLength: net.devnet.parts.engines['llama']?.contextSize ?? 2048,
      log: () => undefined,
    });
    proxy = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if ((req.url ?? '').includes('/wallet/refund') || (req.url ?? '').includes('/balance/refund')) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ detail: 'No refund found for this token' }));
          return;
        }
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'content-length', 'connection'].includes(k)) headers[k] = v;
        void fetch(`${node.url}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, ...(req.method === 'POST' ? { body: Buffer.concat(chunks) } : {}) }).then(async (up) => {
          const out: Record<string, string> = {};
          up.headers.forEach((v, k) => {
            if (!['x-cashu', 'content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(k)) out[k] = v;
          });
          res.writeHead(up.status, out);
          const text = await up.text();
          res.end(text.split('\n').filter((l) => !l.startsWith(': x-cashu')).join('\n'));
        });
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', () => resolve()));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const event = buildAnnouncement(
      { d: 'greedy', urls: [proxyUrl], mints: [net.devnet.mintUrl], version: '0.1.0', name: 'greedy', about: 'keeps the change', asks: [{ model: net.model, prompt: msatPerMtok(100_000_000), completion: msatPerMtok(500_000_000) }] },
      generateSecretKey(),
    );
    await market.ingestEvent(event);
    const greedyId = `38421:${event.pubkey}:greedy`;
    await market.refresh({ provider: greedyId });
    expect(market.select({ model: net.model, profile: 'cheapest', topN: 1 }).providers[0]?.provider).toBe(greedyId);

    const { wallet } = await net.newWallet(500, { name: 'verifier' });
    const overcharged: Receipt[] = [];
    // a generous margin leaves change a provider must give back: keeping it is an overcharge
    const pf = createPayingFetch({ wallet, market: market, mode: 'xcashu', profile: 'cheapest', sizing: { marginPercent: 100 }, onOvercharge: (r) => overcharged.push(r) });
    const client = new OpenAI({ baseURL: 'http://routstr.invalid/v1', apiKey: 'unused', fetch: pf, maxRetries: 0 });
    for (let i = 0; i < 4; i++) await client.chat.completions.create({ model: net.model, messages: messages(i), max_tokens: 8 });

    const receipts = pf.receipts();
    expect(receipts[0]?.provider.id).toBe(greedyId);
    expect(receipts[0]?.changeSat).toBe(0);
    expect(receipts[0]?.verification.verdict).toBe('overcharged');
    expect(receipts[0]?.verification.overchargeMsat).toBeGreaterThan(receipts[0]?.verification.toleranceMsat ?? Infinity);
    expect(overcharged.map((r) => r.requestId)).toEqual([receipts[0]?.requestId]);
    expect(pf.payer.distrusted()).toEqual([greedyId]);
    for (const r of receipts.slice(1)) {
      expect(r.provider.id).not.toBe(greedyId);
      expect(r.verification.verdict).toBe('ok');
    }
    // the change is the wallet's once kept; its redeem runs in the background
    await pf.settled();
    expect((500 - wallet.balance()) * 1000).toBe(totalCharged(receipts));
    await pf.close();
  });
});

describe('cheapest-first with failover and cooldown', () => {
  it('sends traffic to the cheapest, fails over when it stops, returns to it after the cooldown', async () => {
    const cheapId = net.idOf(market, 'cheap');
    const { wallet } = await net.newWallet(2000, { name: 'failover' });
    const failed: string[] = [];
    const pf = createPayingFetch({ wallet, market: market, mode: 'xcashu', profile: 'cheapest', onAttemptFailed: (a) => failed.push(a.provider) });
    const client = new OpenAI({ baseURL: 'http://routstr.invalid/v1', apiKey: 'unused', fetch: pf, maxRetries: 0 });
    const run = async (n: number, stream: boolean): Promise<Receipt[]> => {
      const from = pf.receipts().length;
      for (let i = 0; i < n; i++) {
        if (stream) {
          const s = await client.chat.completions.create({ model: net.model, messages: messages(i), max_tokens: 8, stream: true });
          for await (const _ of s);
        } else {
          await client.chat.completions.create({ model: net.model, messages: messages(i), max_tokens: 8 });
        }
      }
      return pf.receipts().slice(from);
    };
    const revenueBefore = net.revenueMsat();

    const first = await run(4, false);
    expect(first.map((r) => r.provider.id)).toEqual(Array(4).fill(cheapId));

    const cheap = net.providers.get('cheap') as RunningProvider;
    const revenueCheap = cheap.payee.balances().revenueMsat;
    const port = Number(new URL(cheap.url).port);
    await cheap.stop();
    const during = [...(await run(3, false)), ...(await run(3, true))];
    for (const r of during) expect(r.provider.id).not.toBe(cheapId);
    // two failures cool it down (routstr SDK rule): later requests do not try it at all
    // (the proxy of the overcharge test is gone too: its failures are not counted here)
    expect(failed.filter((p) => p === cheapId)).toEqual([cheapId, cheapId]);
    const triedCheap = during.flatMap((r) => r.attempts).filter((a) => a.provider === cheapId);
    expect(triedCheap).toHaveLength(2);
    for (const a of triedCheap) {
      expect(a.code).toBe('network');
      expect(a.returnedSat).toBe(a.paidSat); // the unredeemed token came back whole
      expect(a.pendingRecovery).toBe(false);
    }
    expect(market.cooldowns.isCoolingDown(cheapId)).toBe(true);

    const restarted = await net.startNode(CHEAP, port);
    expect(restarted.payee.balances().revenueMsat).toBe(revenueCheap);
    const cooling = await run(2, false);
    for (const r of cooling) expect(r.provider.id).not.toBe(cheapId);
    clock.advance(211_000);
    const back = await run(3, true);
    expect(back.map((r) => r.provider.id)).toEqual(Array(3).fill(cheapId));

    const all = pf.receipts();
    expect(all).toHaveLength(15);
    expect(all.every((r) => r.verification.ok && !r.changePending)).toBe(true);
    // no double payment, nothing lost: the wallet paid exactly what the nodes earned (change redeemed)
    await pf.settled();
    expect((2000 - wallet.balance()) * 1000).toBe(totalCharged(all));
    expect(net.revenueMsat() - revenueBefore).toBe(totalCharged(all));
    expect(wallet.unsettled()).toEqual([]);
    await pf.close();
  });

  it('gives up with AllProvidersFailed listing every attempt when no provider can serve', async () => {
    const { wallet } = await net.newWallet(200, { name: 'nobody' });
    const client = createRoutstrClient({ wallet, market: market });
    const err = await client.chat({ model: 'no-such-model', messages: messages(0), max_tokens: 8 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AllProvidersFailed);
    expect((err as AllProvidersFailed).attempts).toEqual([]);
    expect(wallet.balance()).toBe(200);
    await client.close();
  });
});
