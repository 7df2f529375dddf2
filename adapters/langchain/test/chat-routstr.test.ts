// ChatRoutstr on the devnet (real relay, mint, llama.cpp engine, ticker provider node).
// @langchain/standard-tests is not on this registry, so its ChatModelIntegrationTests checks are
// written out here under their names (testInvoke, testStream, testBatch, testUsageMetadata, …;
// tool calling and structured output on every engine surface in chat-routstr-tools.test.ts) —
// plus what the market adds: receipts, cache hits that cost nothing, limit orders, refusals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AIMessage, AIMessageChunk, HumanMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { z } from 'zod';
import type { EcashWallet, Market } from '@routstr-kit/core';
import { startPricedDevnet, type PricedDevnet, type Price, type TickerNode, tickIntoBook } from '@routstr-kit/devnet/priced-nodes';
import { ChatRoutstr, RoutstrError } from '../src/index.ts';

const HIGH: Price = { prompt: 200_000_000, completion: 800_000_000 };
const LOW: Price = { prompt: 50_000_000, completion: 200_000_000 };
const LIMIT = { prompt: 100_000_000, completion: 400_000_000 };

interface RoutstrMeta {
  costSat: number;
  cached: boolean;
  requestId: string;
  paidSat: number;
  changeSat: number;
  quote: string | null;
  price: { prompt: number; completion: number };
  verification: { verdict: string };
}
const receiptOf = (m: { response_metadata: Record<string, unknown> }): RoutstrMeta => m.response_metadata['routstr'] as RoutstrMeta;

describe('ChatRoutstr on the devnet', () => {
  let net: PricedDevnet;
  let node: TickerNode;
  let market: Market;
  let wallet: EcashWallet;
  let chat: ChatRoutstr;
  let model: string;
  const spent = (): number => (wallet.balance() + wallet.incomingBalance()) + wallet.feesPaid();
  const longer = (): ChatRoutstr => new ChatRoutstr({ model, maxTokens: 40, marketFetch: chat.marketFetch });

  const bookAt = async (price: Price): Promise<void> => void (await tickIntoBook(node, market, model, price));

  beforeAll(async () => {
    net = await startPricedDevnet();
    model = net.model;
    node = await net.startTicker('ticker', HIGH);
    await node.tick(HIGH);
    market = await net.openMarket();
    ({ wallet } = await net.newWallet(400));
    chat = new ChatRoutstr({ model, maxTokens: 4, wallet, market });
  });
  afterAll(async () => {
    await chat?.close();
    await net?.stop();
  });

  it('testInvoke / testUsageMetadata: an AIMessage with usage_metadata, model_name and the receipt; the receipt is what the wallet spent', async () => {
    const before = spent();
    const msg = await chat.invoke('Say hi');
    expect(msg).toBeInstanceOf(AIMessage);
    expect(msg.text).not.toBe('');
    expect(msg.response_metadata['model_name']).toBe(model);
    expect(msg.response_metadata['model']).toBe(model);
    expect(msg.usage_metadata?.total_tokens).toBe(msg.usage_metadata!.input_tokens + msg.usage_metadata!.output_tokens);
    expect(msg.usage_metadata?.input_tokens).toBeGreaterThan(0);
    expect(msg.usage_metadata?.output_tokens).toBeGreaterThan(0);
    const r = receiptOf(msg);
    expect(r.price.completion).toBe(HIGH.completion);
    expect(r.verification.verdict).not.toBe('overcharged');
    expect(r.cached).toBe(false);
    expect(before - spent()).toBe(r.costSat);
  });

  it.each(['xcashu', 'session'] as const)('concurrent calls of one model (%s): each gets its own receipt, whose usage is its own answer\'s', async (mode) => {
    const buyer = mode === 'xcashu' ? chat : new ChatRoutstr({ model, maxTokens: 4, wallet, market, mode });
    const before = spent();
    // different output bounds, so that swapped receipts would show in the usage
    const answers = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => new ChatRoutstr({ model, maxTokens: n, marketFetch: buyer.marketFetch }).invoke(`count to ${n}`)));
    const ids = new Set<string>();
    for (const msg of answers) {
      const r = msg.response_metadata['routstr'] as RoutstrMeta & { usage: { inputTokens: number; outputTokens: number } };
      expect(r.usage.outputTokens).toBe(msg.usage_metadata?.output_tokens);
      expect(r.usage.inputTokens).toBe(msg.usage_metadata?.input_tokens);
      ids.add(r.requestId);
    }
    expect(ids.size).toBe(answers.length);
    const costs = answers.reduce((sum, m) => sum + receiptOf(m).costSat, 0);
    if (mode === 'xcashu') {
      expect(before - spent()).toBe(costs);
      return;
    }
    await buyer.close();
    // a session key is charged in msat and refunded in whole sats on close: the receipts bound what the wallet spent
    const chargedMsat = answers.reduce((sum, m) => sum + (m.response_metadata['routstr'] as { chargedMsat: number }).chargedMsat, 0);
    expect(before - spent()).toBeGreaterThanOrEqual(Math.ceil(chargedMsat / 1000));
    expect(before - spent()).toBeLessThanOrEqual(costs);
  });

  it('getLsParams: traces say ls_provider "routstr" and the model', () => {
    expect(chat.getLsParams({} as never)).toMatchObject({ ls_provider: 'routstr', ls_model_name: model, ls_model_type: 'chat' });
  });

  it('testStream / testUsageMetadataStreaming: chunks concatenate, usage sits on one chunk, tokens reach handleLLMNewToken, the receipt comes last', async () => {
    const before = spent();
    const tokens: string[] = [];
    const chunks: AIMessageChunk[] = [];
    for await (const c of await chat.stream([new HumanMessage('Count')], { callbacks: [{ handleLLMNewToken: (t: string) => void tokens.push(t) }] })) chunks.push(c);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.filter((c) => c.usage_metadata !== undefined)).toHaveLength(1);
    const all = chunks.reduce((a, b) => a.concat(b));
    expect(all.content).toBe(tokens.join(''));
    expect(all.usage_metadata?.output_tokens).toBeGreaterThan(0);
    expect(all.response_metadata['model_name']).toBe(model);
    expect(all.response_metadata['model']).toBe(model);
    expect(before - spent()).toBe(receiptOf(all).costSat);
  });

  it('testConversation: a Human/AI/Human history gets a text answer', async () => {
    const msg = await chat.invoke([new HumanMessage('hello'), new AIMessage('hello'), new HumanMessage('how are you')]);
    expect(msg.text).not.toBe('');
  });

  it('testCacheComplexMessageTypes: with cache: true, a hit is marked cached with cost 0; the wallet spent the sum of receipt costs', async () => {
    const cached = new ChatRoutstr({ model, maxTokens: 4, marketFetch: chat.marketFetch, cache: true });
    const before = spent();
    const input = [new HumanMessage({ content: [{ type: 'text', text: 'cache me' }] })];
    const first = await cached.invoke(input);
    const second = await cached.invoke(input);
    expect(second.content).toEqual(first.content);
    const [a, b] = [receiptOf(first), receiptOf(second)];
    expect(a.cached).toBe(false);
    expect(a.costSat).toBeGreaterThan(0);
    expect(b).toMatchObject({ cached: true, costSat: 0, paidSat: 0, changeSat: 0, requestId: a.requestId });
    expect(before - spent()).toBe(a.costSat + b.costSat);
    // the first answer's receipt is not rewritten by the hit
    expect(receiptOf(first).costSat).toBe(a.costSat);
  });

  it('testBatch (market order): one answer per input, each with its receipt', async () => {
    const before = spent();
    const out = await chat.batch(['one', 'two']);
    expect(out).toHaveLength(2);
    const costs = out.map((m) => receiptOf(m).costSat);
    expect(before - spent()).toBe(costs[0]! + costs[1]!);
  });

  it('testToolCalling with a forced tool_choice returns a parsed tool call', async () => {
    const weather = tool(async ({ city }) => `sunny in ${city}`, { name: 'weather', description: 'Weather of a city', schema: z.object({ city: z.enum(['Paris', 'Oslo']) }) });
    const msg = await longer().bindTools([weather], { tool_choice: 'weather' }).invoke('Weather in Paris?');
    expect(msg.tool_calls?.[0]?.name).toBe('weather');
    expect(['Paris', 'Oslo']).toContain(msg.tool_calls?.[0]?.args['city']);
    expect(receiptOf(msg).costSat).toBeGreaterThan(0);
  });

  it('testWithStructuredOutput parses against a zod schema and traces the jsonSchema method', async () => {
    let traced: Record<string, unknown> | undefined;
    const handler = { handleChatModelStart: (_l: unknown, _m: unknown, _r: unknown, _p: unknown, extra?: Record<string, unknown>) => void (traced = extra) };
    const schema = z.object({ mood: z.enum(['good', 'bad']) });
    const out = await longer().withStructuredOutput(schema, { name: 'mood' }).invoke('How are you?', { callbacks: [handler] });
    expect(['good', 'bad']).toContain(out.mood);
    expect((traced?.['options'] as Record<string, unknown>)['ls_structured_output_format']).toMatchObject({ kwargs: { method: 'jsonSchema' }, schema: { title: 'mood' } });
  });

  it('testWithStructuredOutput with method functionCalling still forces the tool', async () => {
    const out = await longer().withStructuredOutput(z.object({ mood: z.enum(['good', 'bad']) }), { method: 'functionCalling' }).invoke('How are you?');
    expect(['good', 'bad']).toContain(out.mood);
  });

  it('an aborted signal gives an AbortError and spends nothing', async () => {
    const before = spent();
    const abort = new AbortController();
    abort.abort();
    await expect(chat.invoke('never', { signal: abort.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(spent()).toBe(before);
  });

  describe('limit orders', () => {
    it('rest, then expire at the deadline with nothing spent (RoutstrError order_expired)', async () => {
      const before = spent();
      const error = await chat.withOrder({ order: 'limit', maxPrice: LIMIT, deadline: 400 }).invoke('wait').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RoutstrError);
      expect((error as RoutstrError).code).toBe('order_expired');
      expect((error as Error).message).toMatch(/deadline/);
      expect(spent()).toBe(before);
    });

    it('abort a resting order: AbortError, nothing spent', async () => {
      const before = spent();
      const abort = new AbortController();
      chat.marketFetch.once('resting', () => abort.abort());
      const error = await chat.withOrder({ order: 'limit', maxPrice: LIMIT, deadline: 60_000 }).invoke('cancel me', { signal: abort.signal }).catch((e: unknown) => e);
      expect((error as Error).name).toBe('AbortError');
      expect(spent()).toBe(before);
    });

    it('fill on the crossing tick, billed at its quote', async () => {
      const before = spent();
      const resting = new Promise((resolve) => chat.marketFetch.once('resting', resolve));
      const call = chat.withOrder({ order: 'limit', maxPrice: LIMIT, deadline: 60_000 }).invoke('cheaper please');
      await resting;
      const quote = await node.tick(LOW);
      const r = receiptOf(await call);
      expect(r.quote).toBe(quote);
      expect(r.price.completion).toBe(LOW.completion);
      expect(before - spent()).toBe(r.costSat);
      await bookAt(HIGH);
    });

    it('stream with order "limit" streams from the crossing ask once the book is at the limit', async () => {
      await bookAt(LOW);
      const before = spent();
      const chunks: AIMessageChunk[] = [];
      for await (const c of await chat.withOrder({ order: 'limit', maxPrice: LIMIT, deadline: 60_000 }).stream('stream cheap')) chunks.push(c);
      const all = chunks.reduce((a, b) => a.concat(b));
      expect(receiptOf(all).price.completion).toBe(LOW.completion);
      expect(before - spent()).toBe(receiptOf(all).costSat);
      await bookAt(HIGH);
    });

    it('batch with order "limit" is a batch held for price: it waits, then runs every line at the crossing ask', async () => {
      const before = spent();
      const resting = new Promise((resolve) => chat.marketFetch.once('resting', resolve));
      const call = chat.withOrder({ order: 'limit', maxPrice: LIMIT, deadline: 60_000 }).batch(['doc one', 'doc two', 'doc three'], {}, { maxConcurrency: 2 });
      await resting;
      await node.tick(LOW);
      const out = await call;
      expect(out).toHaveLength(3);
      for (const m of out) {
        expect(receiptOf(m).price.completion).toBe(LOW.completion);
        expect(m.usage_metadata?.output_tokens).toBeGreaterThan(0);
      }
      expect(before - spent()).toBe(out.reduce((s, m) => s + receiptOf(m).costSat, 0));
      await bookAt(HIGH);
    });
  });

  describe('refusals', () => {
    it('price above maxPrice: RoutstrError price_above_limit, nothing spent', async () => {
      const before = spent();
      const error = await chat.withOrder({ maxPrice: 1 }).invoke('too dear').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RoutstrError);
      expect((error as RoutstrError).code).toBe('price_above_limit');
      expect((error as Error).message).toMatch(/maxPrice/);
      expect((error as Error).cause).toMatchObject({ name: 'PriceAboveLimit' });
      expect(spent()).toBe(before);
    });

    it('budget: RoutstrError budget_exceeded, nothing spent', async () => {
      const capped = new ChatRoutstr({ model, maxTokens: 4, wallet, market, budget: { perRequestMaxSat: 1 } });
      const before = spent();
      const error = await capped.invoke('over budget').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RoutstrError);
      expect((error as RoutstrError).code).toBe('budget_exceeded');
      expect((error as Error).message).toMatch(/budget/);
      expect(spent()).toBe(before);
      await capped.close();
    });
  });
});
