// The AI SDK provider on the devnet (real relay, mint, llama.cpp engine, ticker provider node):
// generate, stream, structured output, a tool loop, limit orders and refusals, with every
// receipt checked against what left the wallet.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateObject, generateText, stepCountIs, streamText, tool } from 'ai';
import { z } from 'zod';
import type { EcashWallet, Market, Receipt } from '@routstr-kit/core';
import { startPricedDevnet, tickIntoBook, type PricedDevnet, type Price, type TickerNode } from '@routstr-kit/devnet/priced-nodes';
import { createRoutstr, routstr as defaultRoutstr, RoutstrCallError, type RoutstrProvider } from '../src/index.ts';

(globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false;

const HIGH: Price = { prompt: 200_000_000, completion: 800_000_000 };
const LOW: Price = { prompt: 50_000_000, completion: 200_000_000 };
/** A limit between LOW and HIGH, in msat/Mtok. */
const LIMIT = { prompt: 100_000_000, completion: 400_000_000 };

interface RoutstrMeta {
  costSat: number;
  paidSat: number;
  changeSat: number;
  quote: string | null;
  price: { prompt: number; completion: number; quoteId?: string };
  provider: { id: string };
  verification: { verdict: string };
}
const meta = (m: unknown): RoutstrMeta => (m as { routstr: RoutstrMeta }).routstr;

describe('createRoutstr on the devnet', () => {
  let net: PricedDevnet;
  let node: TickerNode;
  let market: Market;
  let wallet: EcashWallet;
  let routstr: RoutstrProvider;
  let model: string;
  const spent = (): number => (wallet.balance() + wallet.incomingBalance()) + wallet.feesPaid();

  const bookAt = (price: Price): Promise<string> => tickIntoBook(node, market, model, price);

  beforeAll(async () => {
    net = await startPricedDevnet();
    model = net.model;
    node = await net.startTicker('ticker', HIGH);
    await node.tick(HIGH);
    market = await net.openMarket();
    ({ wallet } = await net.newWallet(300));
    routstr = createRoutstr({ wallet, market });
  });
  afterAll(async () => {
    await routstr?.close();
    await net?.stop();
  });

  it('generateText pays one provider; usage and the receipt come back; the receipt is what the wallet spent', async () => {
    const before = spent();
    const r = await generateText({ model: routstr(model), prompt: 'Say hi', maxOutputTokens: 4 });
    expect(r.usage.inputTokens).toBeGreaterThan(0);
    expect(r.usage.outputTokens).toBeGreaterThan(0);
    const m = meta(r.providerMetadata);
    expect(m.provider.id).toContain(node.node.pubkey);
    expect(m.price.completion).toBe(HIGH.completion);
    expect(m.verification.verdict).not.toBe('overcharged');
    expect(m.costSat).toBe(m.paidSat - m.changeSat);
    expect(before - spent()).toBe(m.costSat);
  });

  it('streamText streams, reports usage, and its receipt matches the spend', async () => {
    const before = spent();
    const st = streamText({ model: routstr(model), prompt: 'Count', maxOutputTokens: 6 });
    let text = '';
    for await (const delta of st.textStream) text += delta;
    const usage = await st.usage;
    expect(text.length).toBeGreaterThan(0);
    expect(usage.outputTokens).toBeGreaterThan(0);
    const m = meta(await st.providerMetadata);
    expect(m.costSat).toBeGreaterThan(0);
    expect(before - spent()).toBe(m.costSat);
  });

  it('generateObject returns an object valid against the schema', async () => {
    const before = spent();
    const r = await generateObject({ model: routstr(model), schema: z.object({ mood: z.enum(['good', 'bad']) }), prompt: 'How are you?', maxOutputTokens: 40 });
    expect(['good', 'bad']).toContain(r.object.mood);
    expect(before - spent()).toBe(meta(r.providerMetadata).costSat);
  });

  it('a two-step tool loop: a tool call (no tool_choice needed), its result, then an answer; each step carries its own receipt', async () => {
    const before = spent();
    const calls: string[] = [];
    const r = await generateText({
      model: routstr(model),
      prompt: 'What is the weather in Paris?',
      maxOutputTokens: 40,
      tools: {
        weather: tool({
          description: 'Weather of a city',
          inputSchema: z.object({ city: z.enum(['Paris', 'Oslo']) }),
          execute: async ({ city }) => {
            calls.push(city);
            return `sunny in ${city}`;
          },
        }),
      },
      // like a tool-calling model, the engine calls a tool after the user's turn and answers after the tool's
      prepareStep: ({ stepNumber }) => (stepNumber === 1 ? { maxOutputTokens: 4 } : {}),
      stopWhen: stepCountIs(2),
    });
    expect(r.steps).toHaveLength(2);
    expect(r.steps[0]?.toolCalls[0]?.toolName).toBe('weather');
    expect(calls).toHaveLength(1);
    expect(['Paris', 'Oslo']).toContain(calls[0]);
    const costs = r.steps.map((s) => meta(s.providerMetadata).costSat);
    expect(costs.every((c) => c > 0)).toBe(true);
    expect(before - spent()).toBe(costs[0]! + costs[1]!);
  });

  describe('providerOptions.routstr: per-call order settings', () => {
    it('maxPrice for one call: refused above it (price_above_limit), nothing spent; the model default is untouched', async () => {
      const before = spent();
      const error = await generateText({ model: routstr(model), prompt: 'too dear', maxOutputTokens: 4, providerOptions: { routstr: { maxPrice: 1 } } }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RoutstrCallError);
      expect((error as RoutstrCallError).code).toBe('price_above_limit');
      expect(spent()).toBe(before);
      const ok = await generateText({ model: routstr(model), prompt: 'fine', maxOutputTokens: 4 });
      expect(before - spent()).toBe(meta(ok.providerMetadata).costSat);
    });

    it('order "limit" for one call rests and expires at its deadline with nothing spent', async () => {
      const before = spent();
      const error = await generateText({ model: routstr(model), prompt: 'wait', maxOutputTokens: 4, providerOptions: { routstr: { order: 'limit', maxPrice: LIMIT, deadline: 300 } } }).catch((e: unknown) => e);
      expect((error as RoutstrCallError).code).toBe('order_expired');
      expect(spent()).toBe(before);
    });

    it('bad per-call options are typed errors before anything is paid', async () => {
      const before = spent();
      const noPrice = await generateText({ model: routstr(model), prompt: 'x', maxOutputTokens: 4, providerOptions: { routstr: { order: 'limit' } } }).catch((e: unknown) => e);
      expect(noPrice).toBeInstanceOf(RoutstrCallError);
      expect((noPrice as Error).message).toMatch(/maxPrice/);
      const unknownKey = await generateText({ model: routstr(model), prompt: 'x', maxOutputTokens: 4, providerOptions: { routstr: { maxPrise: 5 } } }).catch((e: unknown) => e);
      expect((unknownKey as Error).name).toBe('AI_InvalidArgumentError');
      expect(spent()).toBe(before);
    });
  });

  it('a stream aborted mid-way still delivers its receipt (market "receipt" event); it is what the wallet spent', async () => {
    const before = spent();
    const abort = new AbortController();
    const receipt = new Promise<Receipt>((resolve) => routstr.market.once('receipt', ({ receipt: r }) => resolve(r)));
    const st = streamText({ model: routstr(model), prompt: 'Talk for a long while', maxOutputTokens: 60, abortSignal: abort.signal });
    const kinds: string[] = [];
    for await (const part of st.fullStream) {
      kinds.push(part.type);
      if (part.type === 'text-delta') abort.abort();
    }
    expect(kinds).toContain('abort');
    expect(kinds).not.toContain('finish');
    const r = await receipt;
    expect(r.usage?.outputTokens ?? 0).toBeLessThan(60);
    expect(r.chargedMsat).toBeGreaterThan(0);
    expect(before - spent()).toBe(Math.ceil(r.chargedMsat / 1000));
  });

  describe('limit orders', () => {
    it('rests until the deadline and expires with nothing spent', async () => {
      const before = spent();
      const resting = new Promise((resolve) => routstr.market.once('resting', resolve));
      const call = generateText({ model: routstr(model, { order: 'limit', maxPrice: LIMIT, deadline: 400 }), prompt: 'wait', maxOutputTokens: 4 });
      await resting;
      const error = await call.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RoutstrCallError);
      expect((error as RoutstrCallError).code).toBe('order_expired');
      expect((error as Error).message).toMatch(/deadline/);
      expect(spent()).toBe(before);
    });

    it('an abort signal cancels a resting order with nothing spent', async () => {
      const before = spent();
      const abort = new AbortController();
      routstr.market.once('resting', () => abort.abort());
      const error = await generateText({ model: routstr(model, { order: 'limit', maxPrice: LIMIT, deadline: 60_000 }), prompt: 'cancel me', maxOutputTokens: 4, abortSignal: abort.signal }).catch((e: unknown) => e);
      expect((error as Error).name).toBe('AbortError');
      expect(spent()).toBe(before);
    });

    it('fills on the tick that crosses the limit, billed at that quote', async () => {
      const before = spent();
      const resting = new Promise((resolve) => routstr.market.once('resting', resolve));
      const call = generateText({ model: routstr(model, { order: 'limit', maxPrice: LIMIT, deadline: 60_000 }), prompt: 'cheaper please', maxOutputTokens: 4 });
      await resting;
      const quote = await node.tick(LOW);
      const r = await call;
      const m = meta(r.providerMetadata);
      expect(m.quote).toBe(quote);
      expect(m.price.completion).toBe(LOW.completion);
      expect(before - spent()).toBe(m.costSat);
    });

    it('streams a limit buy once the book is at or below the limit', async () => {
      await bookAt(LOW);
      const before = spent();
      const st = streamText({ model: routstr(model, { order: 'limit', maxPrice: LIMIT, deadline: 60_000 }), prompt: 'stream cheap', maxOutputTokens: 4 });
      for await (const _ of st.textStream) void _;
      const m = meta(await st.providerMetadata);
      expect(m.price.completion).toBe(LOW.completion);
      expect(before - spent()).toBe(m.costSat);
      await bookAt(HIGH);
    });

    it('a streamed limit buy rests as a durable order; the crossing tick streams it, paid at exactly that quote', async () => {
      const before = spent();
      const resting = new Promise<{ orderId: string | undefined }>((resolve) => routstr.market.once('resting', resolve));
      const st = streamText({ model: routstr(model, { order: 'limit', maxPrice: LIMIT, deadline: 60_000 }), prompt: 'stream when cheap', maxOutputTokens: 4 });
      const read = (async () => {
        let text = '';
        for await (const t of st.textStream) text += t;
        return text;
      })();
      const { orderId } = await resting;
      const { orders } = await routstr.market.open();
      expect(orders.store.limit(orderId ?? '')?.state).toBe('resting');
      const quote = await node.tick(LOW);
      expect(await read).not.toBe('');
      const m = meta(await st.providerMetadata);
      expect(m.quote).toBe(quote);
      expect(m.price.completion).toBe(LOW.completion);
      expect(before - spent()).toBe(m.costSat);
      const order = orders.get(orderId ?? '');
      const filled = await order?.result;
      expect(filled?.receipt.price.quoteId).toBe(quote);
      expect(orders.store.limit(orderId ?? '')?.state).toBe('filled');
      await bookAt(HIGH);
    });
  });

  it('call records are kept only while a call can ask for them: none is left after paid, refused and broken-off calls', async () => {
    const own = createRoutstr({ wallet, market });
    await generateText({ model: own(model), prompt: 'one', maxOutputTokens: 4 });
    await generateText({ model: own(model, { maxPrice: 1 }), prompt: 'too dear', maxOutputTokens: 4 }).catch(() => undefined);
    const abort = new AbortController();
    const st = streamText({ model: own(model), prompt: 'Talk for a while', maxOutputTokens: 30, abortSignal: abort.signal });
    const brokenOff = new Promise<Receipt>((resolve) => own.market.once('receipt', ({ receipt }) => resolve(receipt)));
    for await (const part of st.fullStream) if (part.type === 'text-delta') abort.abort();
    expect(own.market.waitingCalls()).toBe(0);
    // the broken-off stream's change comes back in the background: let it land before the next test counts
    expect((await brokenOff).stream).toBe(true);
    await own.close();
  });

  it('session mode: each call still gets its own receipt', async () => {
    const session = createRoutstr({ wallet, market, mode: 'session' });
    const a = await generateText({ model: session(model), prompt: 'one', maxOutputTokens: 4 });
    const b = await generateText({ model: session(model), prompt: 'two', maxOutputTokens: 4 });
    const [ra, rb] = [a, b].map((r) => (r.providerMetadata as { routstr: { mode: string; requestId: string; usage: { outputTokens: number } } }).routstr);
    expect(ra?.mode).toBe('session');
    expect(rb?.mode).toBe('session');
    expect(ra?.requestId).not.toBe(rb?.requestId);
    expect(ra?.usage.outputTokens).toBe(a.usage.outputTokens);
    await session.close();
  });

  describe('refusals', () => {
    it('the default provider opens nothing until used; a wallet it cannot open is a RoutstrCallError', async () => {
      const saved = { ...process.env };
      // the default wallet lives under HOME: point it at a mint that is not there
      process.env['HOME'] = net.tmp();
      process.env['ROUTSTR_KIT_MINTS'] = 'http://127.0.0.1:9';
      process.env['ROUTSTR_KIT_RELAYS'] = net.devnet.relayUrl;
      try {
        const m = defaultRoutstr(model);
        expect(m.provider).toBe('routstr');
        const error = await generateText({ model: m, prompt: 'x', maxOutputTokens: 4 }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(RoutstrCallError);
      } finally {
        for (const key of ['HOME', 'ROUTSTR_KIT_MINTS', 'ROUTSTR_KIT_RELAYS']) {
          if (saved[key] === undefined) delete process.env[key];
          else process.env[key] = saved[key];
        }
      }
    });

    it('a price above maxPrice is a RoutstrCallError (price_above_limit); nothing is spent', async () => {
      const before = spent();
      const error = await generateText({ model: routstr(model, { maxPrice: 1 }), prompt: 'too dear', maxOutputTokens: 4 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RoutstrCallError);
      expect((error as RoutstrCallError).code).toBe('price_above_limit');
      expect((error as RoutstrCallError).statusCode).toBe(402);
      expect((error as Error).message).toMatch(/maxPrice/);
      expect((error as Error).cause).toMatchObject({ name: 'PriceAboveLimit' });
      expect(spent()).toBe(before);
    });

    it('a budget cap is a RoutstrCallError (budget_exceeded); nothing is spent', async () => {
      const capped = createRoutstr({ wallet, market, budget: { perRequestMaxSat: 1 } });
      const before = spent();
      const viaGenerate = await generateText({ model: capped(model), prompt: 'over budget', maxOutputTokens: 4 }).catch((e: unknown) => e);
      expect(viaGenerate).toBeInstanceOf(RoutstrCallError);
      expect((viaGenerate as RoutstrCallError).code).toBe('budget_exceeded');
      expect((viaGenerate as Error).message).toMatch(/budget/);
      expect(spent()).toBe(before);
      await capped.close();
    });
  });
});
