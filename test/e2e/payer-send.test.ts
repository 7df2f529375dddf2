// Payer.send() on the devnet, in X-Cashu and session mode: every request resolves to its response
// with its OWN receipt (no searching receipt lists), and the paths nothing tested before —
// a 429 with Retry-After retried on the same provider, a stream the caller aborts (its change
// still collected), the idle refund of a session — with the money conserved to the sat.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BudgetExceeded, InvalidPayOptions, Payer, PriceAboveLimit, requestShape, type AttemptRecord, type PricedAsk, type PayerMarket, type PaymentMode, type PayerOptions, type Receipt, type Market } from '@routstr-kit/core';
import { startPricedDevnet, type NodeSpec, type PricedDevnet } from '@routstr-kit/devnet/priced-nodes';

const CHAT = 'v1/chat/completions';
const PRICES = {
  // the cheapest, with one engine slot and no queue: a second request while one runs gets 429 + Retry-After: 1
  narrow: { prompt: 100_000_000, completion: 500_000_000 },
  cheap: { prompt: 200_000_000, completion: 1_000_000_000 },
  dear: { prompt: 400_000_000, completion: 2_000_000_000 },
} as const;

let net: PricedDevnet;
/** A market that has seen every node (provider ids come from it). */
let market: Market;
/** The market without the narrow node (its 429s belong to the Retry-After test alone). */
let wide: PayerMarket;

beforeAll(async () => {
  net = await startPricedDevnet();
  for (const spec of [
    { name: 'narrow', price: PRICES.narrow, node: { maxConcurrency: 1, queueSize: 0 } },
    { name: 'cheap', price: PRICES.cheap },
    { name: 'dear', price: PRICES.dear },
  ] satisfies NodeSpec[]) await net.startNode(spec);
  market = await net.openMarket();
  const narrow = net.idOf(market, 'narrow');
  wide = {
    select: (request) => market.select({ ...request, exclude: [...(request.exclude ?? []), narrow] }),
    depth: (model, n, shape) => market.depth(model, n, shape).filter((a) => a.provider !== narrow),
    reportFailure: (provider, report) => market.reportFailure(provider, report),
    reportSuccess: (provider, latencyMs) => market.reportSuccess(provider, latencyMs),
    registry: market.registry,
  };
}, 180_000);
afterAll(async () => {
  await net?.stop();
});

const chat = (content: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ model: net.model, messages: [{ role: 'user', content }], ...extra });

/** Reads a stream to its end; the `usage` of its last chunk that had one. */
async function readStream(res: Response): Promise<{ completion_tokens: number; prompt_tokens: number } | undefined> {
  let usage: { completion_tokens: number; prompt_tokens: number } | undefined;
  for (const line of (await res.text()).split('\n')) {
    if (!line.startsWith('data: {')) continue;
    const json = JSON.parse(line.slice(6)) as { usage?: { completion_tokens: number; prompt_tokens: number } };
    if (json.usage) usage = json.usage;
  }
  return usage;
}

/** Reads on after the caller aborted: what was buffered still comes, then the read fails (never a clean end). */
async function readUntilBroken(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<'broken' | 'done'> {
  try {
    for (;;) if ((await reader.read()).done) return 'done';
  } catch {
    return 'broken';
  }
}

/**
 * A funded wallet and a payer over it; `spent()`: sats that left the wallet (change kept in its
 * incoming journal, not yet redeemed, is still the wallet's), `earned()`: msats the nodes earned since.
 */
async function buyer(mode: PaymentMode, fund: number, options: Partial<PayerOptions> = {}) {
  const { wallet } = await net.newWallet(fund, { name: `${mode}-${Math.random().toString(36).slice(2)}` });
  const revenueBefore = net.revenueMsat();
  const payer = new Payer({ wallet, market: wide, mode, session: { minDepositSat: 50 }, ...options });
  return { wallet, payer, spent: () => fund - wallet.balance() - wallet.incomingBalance(), earned: () => net.revenueMsat() - revenueBefore };
}

/** Wallet and nodes agree to the sat: X-Cashu exactly; a session may leave each key's sub-sat rest on the node. */
function expectConserved(mode: PaymentMode, spentSat: number, earnedMsat: number, sessions = 1): void {
  if (mode === 'xcashu') expect(spentSat * 1000).toBe(earnedMsat);
  else {
    expect(spentSat * 1000).toBeGreaterThanOrEqual(earnedMsat);
    expect(spentSat * 1000 - earnedMsat).toBeLessThan(1000 * sessions);
  }
}

describe.each(['xcashu', 'session'] as const)('Payer.send (%s)', (mode) => {
  it('a 429 with Retry-After is waited out and retried on the same provider, not failed over', async () => {
    const narrow = net.idOf(market, 'narrow');
    const occupant = new AbortController();
    const failed: AttemptRecord[] = [];
    const { payer, spent, earned } = await buyer(mode, 1_000, {
      market: market,
      profile: 'cheapest',
      // the 429 frees the slot: the request holding it is aborted (its change is still collected)
      onAttemptFailed: (a) => {
        failed.push(a);
        if (a.code === 'rate_limited') occupant.abort();
      },
    });
    const held = await payer.send(CHAT, chat('hold the only slot', { max_tokens: 600, stream: true }), { signal: occupant.signal });
    const reader = (held.response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read(); // the narrow node's only slot is held now
    expect(held.requestId).toBeTypeOf('string');
    expect(net.providers.get('narrow')?.load.inFlight).toBe(1);

    const paid = await payer.send(CHAT, chat('second', { max_tokens: 4 }));
    const receipt = await paid.receipt;
    expect(paid.attempts).toMatchObject([{ provider: narrow, status: 429, code: 'rate_limited' }]);
    expect(failed.map((a) => a.code)).toEqual(['rate_limited']);
    expect(receipt.provider.id).toBe(narrow);
    expect(receipt.attempts.map((a) => [a.provider, a.code])).toEqual([[narrow, 'rate_limited'], [narrow, 'ok']]);
    expect(receipt.requestId).toBe(paid.requestId);
    const body = (await paid.response.json()) as { usage: { completion_tokens: number } };
    expect(receipt.usage?.outputTokens).toBe(body.usage.completion_tokens);

    expect(await readUntilBroken(reader)).toBe('broken');
    const heldReceipt = await held.receipt;
    expect(heldReceipt.requestId).toBe(held.requestId);
    expect(heldReceipt.changePending).toBe(false);
    await payer.close();
    expectConserved(mode, spent(), earned());
  }, 60_000);

  it('abort mid-stream: the change is still collected, the receipt settles, wallet and nodes agree', async () => {
    const { wallet, payer, spent, earned } = await buyer(mode, 2_000, { profile: 'cheapest' });
    const abort = new AbortController();
    const paid = await payer.send(CHAT, chat('a long answer', { max_tokens: 400, stream: true }), { signal: abort.signal });
    const reader = (paid.response.body as ReadableStream<Uint8Array>).getReader();
    expect((await reader.read()).done).toBe(false);
    abort.abort();
    expect(await readUntilBroken(reader)).toBe('broken');
    const receipt = await paid.receipt;
    expect(receipt).toMatchObject({ requestId: paid.requestId, stream: true, mode, changePending: false, provider: { id: net.idOf(market, 'cheap') } });
    // regression: a broken-off stream has no usage; the node's honest bill for what it generated is not an overcharge
    expect(receipt.problems).toContain('broken_off');
    expect(receipt.verification.verdict).not.toBe('overcharged');
    expect(payer.distrusted()).toEqual([]);
    if (mode === 'xcashu') {
      // the token's change came back (from the refund route): only what the node generated was kept
      expect(receipt.changeSat).toBeGreaterThan(0);
      expect(receipt.chargedMsat).toBe((receipt.paidSat - receipt.changeSat) * 1000);
      expect(spent() * 1000).toBe(receipt.chargedMsat);
    }
    await payer.close();
    expect(wallet.unsettled()).toEqual([]);
    expectConserved(mode, spent(), earned());
  }, 60_000);

  it('ask pins the provider at its quote; above maxPriceMsat (pinned or chosen) PriceAboveLimit, nothing spent; requestId is journaled', async () => {
    const { wallet, payer, spent, earned } = await buyer(mode, 500, { profile: 'cheapest' });
    const dear = net.idOf(market, 'dear');
    const body = chat('pinned', { max_tokens: 4 });
    const asks = market.depth(net.model, 10, requestShape(body)).filter((a) => a.provider !== net.idOf(market, 'narrow'));
    const dearAsk = asks.find((a) => a.provider === dear) as PricedAsk;
    const paid = await payer.send(CHAT, body, { ask: dearAsk, requestId: `pinned-${mode}` });
    await paid.response.text();
    const receipt = await paid.receipt;
    expect(receipt.provider.id).toBe(dear); // not the cheapest: the pinned one
    expect(receipt.price).toMatchObject({ prompt: dearAsk.prompt, completion: dearAsk.completion, quoteId: dearAsk.quoteId });
    expect(receipt.requestId).toBe(`pinned-${mode}`);
    if (mode === 'xcashu') expect(wallet.journal({ requestId: `pinned-${mode}` }).map((e) => e.amount)).toEqual([receipt.paidSat]);
    await payer.settled();
    const balance = wallet.balance();
    const journal = wallet.journal().length;
    const pinnedLimit = dearAsk.priceMsat - 1;
    await expect(payer.send(CHAT, body, { ask: dearAsk, maxPriceMsat: pinnedLimit })).rejects.toMatchObject({ code: 'price_above_limit', provider: dear, maxPriceMsat: pinnedLimit });
    const cheapest = Math.min(...asks.map((a) => a.priceMsat));
    const refused = await payer.send(CHAT, body, { maxPriceMsat: cheapest - 1 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PriceAboveLimit);
    expect(refused).toMatchObject({ limit: 'max_price', maxPriceMsat: cheapest - 1, bestAsk: { priceMsat: cheapest } });
    // bad options: a typed error, nothing changes
    await expect(payer.send(CHAT, body, { maxPriceMsat: Number.NaN })).rejects.toBeInstanceOf(InvalidPayOptions);
    await expect(payer.send(CHAT, body, { requestId: '' })).rejects.toMatchObject({ code: 'invalid_pay_options' });
    expect(wallet.balance()).toBe(balance);
    expect(wallet.journal()).toHaveLength(journal);
    await payer.close();
    expectConserved(mode, spent(), earned());
  }, 60_000);

  it('a total budget under 50 concurrent sends: what left the wallet never exceeds it; the refused get BudgetExceeded and spend nothing', async () => {
    const N = 40; // each request costs about 10 sat (8 output tokens at 1 sat, the prompt at 0.2 sat a token): more than N/10
    const { wallet, payer, spent, earned } = await buyer(mode, 1_000, { budget: { totalSat: N }, profile: 'cheapest', session: {} });
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, async (_, i) => {
        const paid = await payer.send(CHAT, chat(`budget ${i}`, { max_tokens: 8 }));
        await paid.response.text();
        return paid.receipt;
      }),
    );
    await payer.close();
    const served = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    expect(served.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    for (const reason of refused) expect(reason).toBeInstanceOf(BudgetExceeded);
    expect(spent()).toBeLessThanOrEqual(N);
    expect(wallet.unsettled()).toEqual([]);
    const charged = (await Promise.all(served)).reduce((sum, r) => sum + r.chargedMsat, 0);
    // regression (session): concurrent requests kept only their gates free on a small key, ran it dry, and the node
    // charged the last ones less than it reported, so the receipts added up to more than it earned
    expect(earned()).toBe(charged);
    if (mode === 'xcashu') expect(payer.spentSat() * 1000).toBe(charged);
    expectConserved(mode, spent(), earned());
  }, 120_000);

  it('32 concurrent sends of one model: each receipt is its own response\'s usage and price, and they add up', async () => {
    const { payer, spent, earned } = await buyer(mode, 3_000, { limits: { maxConcurrent: 8 } });
    const names = new Map([...net.providers.keys()].map((n) => [net.idOf(market, n), n]));
    const runs = await Promise.all(
      Array.from({ length: 32 }, async (_, i) => {
        const stream = i % 2 === 1;
        const paid = await payer.send(CHAT, chat(`count to ${i + 1}`, { max_tokens: i + 1, ...(stream ? { stream: true } : {}) }), { requestId: `concurrent-${mode}-${i}` });
        const usage = stream ? await readStream(paid.response) : ((await paid.response.json()) as { usage: { completion_tokens: number; prompt_tokens: number } }).usage;
        return { i, paid, usage, receipt: await paid.receipt };
      }),
    );
    const receipts: Receipt[] = [];
    for (const { i, paid, usage, receipt } of runs) {
      expect(paid.requestId).toBe(`concurrent-${mode}-${i}`);
      expect(receipt.requestId).toBe(paid.requestId);
      expect(receipt.stream).toBe(i % 2 === 1);
      expect(usage?.completion_tokens).toBeLessThanOrEqual(i + 1);
      expect(receipt.usage).toMatchObject({ inputTokens: usage?.prompt_tokens, outputTokens: usage?.completion_tokens });
      // priced at its own provider's ask, and charged exactly that
      const name = names.get(receipt.provider.id) as keyof typeof PRICES;
      expect(receipt.price).toMatchObject({ prompt: PRICES[name].prompt, completion: PRICES[name].completion });
      expect(receipt.verification.verdict).toBe('ok');
      expect(receipt.costMsat).toBe(receipt.expectedCostMsat);
      receipts.push(receipt);
    }
    expect(new Set(receipts.map((r) => r.requestId)).size).toBe(32);
    await payer.close();
    const charged = receipts.reduce((sum, r) => sum + r.chargedMsat, 0);
    expect(earned()).toBe(charged);
    expectConserved(mode, spent(), earned(), new Set(receipts.map((r) => r.provider.id)).size);
  }, 180_000);
});

describe('session idle refund', () => {
  it('refunds an idle session\'s balance after its idle time (injected scheduler), and a new request cancels the wait', async () => {
    const scheduled: Array<{ run: () => void; ms: number; cancelled: boolean }> = [];
    const { wallet, payer, spent, earned } = await buyer('session', 500, {
      profile: 'cheapest',
      session: {
        minDepositSat: 50,
        idleRefundMs: 45_000,
        scheduleIdle: (run, ms) => {
          const entry = { run, ms, cancelled: false };
          scheduled.push(entry);
          return { cancel: () => (entry.cancelled = true) };
        },
      },
    });
    const first = await payer.send(CHAT, chat('one', { max_tokens: 4 }));
    await first.receipt;
    expect(scheduled).toHaveLength(1);
    expect(scheduled[0]?.ms).toBe(45_000);
    // a request on the key before the idle time ran out: the wait is cancelled and armed again after it
    await (await payer.send(CHAT, chat('two', { max_tokens: 4 }))).receipt;
    expect(scheduled.map((s) => s.cancelled)).toEqual([true, false]);
    const [session] = payer.sessions();
    expect(session?.balanceMsat).toBeGreaterThan(0);
    const balanceBefore = wallet.balance();

    (scheduled[1] as { run: () => void }).run(); // the idle time is up
    await payer.settled();
    expect(payer.sessions()).toEqual([]);
    expect(wallet.balance()).toBeGreaterThan(balanceBefore);
    expect(wallet.balance() - balanceBefore).toBe(Math.floor((session?.balanceMsat ?? 0) / 1000));
    expect(wallet.unsettled()).toEqual([]);
    expectConserved('session', spent(), earned());
    await payer.close();
  }, 60_000);
});
