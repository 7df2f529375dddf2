import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { ResourceUpdatedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openWallet, priceForShape, requestShape, sat, type EcashWallet, type Market } from '@routstr-kit/core';
import { startPricedDevnet, type PricedDevnet, type Price, type TickerNode, tickIntoBook } from '@routstr-kit/devnet/priced-nodes';
import type { McpConfig } from './config.ts';
import { createContext, type McpContext } from './context.ts';
import { createMcpServer } from './server.ts';

// msat/Mtok; a request of ~30 prompt and 2 completion tokens costs a few sats at HIGH
const HIGH: Price = { prompt: 200_000_000, completion: 800_000_000 };
const MID: Price = { prompt: 120_000_000, completion: 480_000_000 };
const LOW: Price = { prompt: 50_000_000, completion: 200_000_000 };

type Structured = Record<string, any>;

interface Connected {
  client: Client;
  updates: string[];
  /** Resolves at the next resources/updated notification for `uri`. */
  nextUpdate(uri: string): Promise<void>;
  close(): Promise<void>;
}

async function connect(ctx: McpContext): Promise<Connected> {
  const server = createMcpServer(ctx);
  const client = new Client({ name: 'test', version: '0' });
  const [ct, st] = InMemoryTransport.createLinkedPair();
  await Promise.all([server.connect(st), client.connect(ct)]);
  const updates: string[] = [];
  const waiters: Array<{ uri: string; resolve: () => void }> = [];
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
    updates.push(n.params.uri);
    for (const w of waiters.filter((x) => x.uri === n.params.uri)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve();
    }
  });
  return {
    client,
    updates,
    nextUpdate: (uri) => new Promise((resolve) => waiters.push({ uri, resolve })),
    async close() {
      await client.close();
      await server.close();
    },
  };
}

/** Reads a JSON resource. */
async function readJson(conn: Connected, uri: string): Promise<any> {
  const content = (await conn.client.readResource({ uri })).contents[0] as { text: string };
  return JSON.parse(content.text);
}
const text = (r: unknown): string => ((r as CallToolResult).content[0] as { text: string }).text;
const structured = (r: unknown): Structured => (r as CallToolResult).structuredContent as Structured;

describe('mcp server on the devnet (in-memory client)', () => {
  let net: PricedDevnet;
  let node: TickerNode;
  let market: Market;
  let wallet: EcashWallet;
  let ctx: McpContext;
  let c: Connected;
  let config: McpConfig;
  const messages = (content: string) => [{ role: 'user', content }];
  const call = (name: string, args: Record<string, unknown> = {}) => c.client.callTool({ name, arguments: args });
  /** The msat price of a chat request at `p`, for the request's own shape. */
  const priceOf = (p: Price, content: string, maxTokens = 2): number => priceForShape(p, requestShape({ model: net.model, messages: messages(content), max_tokens: maxTokens }));
  const between = (a: Price, b: Price, content: string): number => Math.floor((priceOf(a, content) + priceOf(b, content)) / 2);

  const bookAt = async (price: Price): Promise<void> => void (await tickIntoBook(node, market, net.model, price));

  beforeAll(async () => {
    net = await startPricedDevnet();
    node = await net.startTicker('ticker', HIGH);
    await node.tick(HIGH);
    market = await net.openMarket();
    const opened = await net.newWallet(200);
    wallet = opened.wallet;
    config = { relays: [net.devnet.relayUrl], mints: [net.devnet.mintUrl], walletPath: opened.path, budget: {}, profile: 'cheapest', mode: 'xcashu', providerAddresses: 'any', mnemonic: undefined, configFile: undefined, http: undefined };
    ctx = await createContext(config, wallet, market);
    c = await connect(ctx);
  });
  afterEach(async () => {
    if (market.bestAsk(net.model)?.prompt !== HIGH.prompt) await bookAt(HIGH);
  });
  afterAll(async () => {
    await c?.close();
    await ctx?.close();
    await net?.stop();
  });

  describe('tools list', () => {
    it('pins names, schemas and annotations', async () => {
      const { tools } = await c.client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(
        ['cancel_order', 'chat_completion', 'get_market_price', 'get_order', 'get_order_book', 'list_models', 'run_when_cheaper', 'wallet_balance', 'wallet_fund', 'wallet_receive'],
      );
      expect(tools.map((t) => ({ name: t.name, inputSchema: t.inputSchema, outputSchema: t.outputSchema, annotations: t.annotations }))).toMatchSnapshot();
    });

    it('no tool takes a budget, a destination or a wallet setting', async () => {
      const { tools } = await c.client.listTools();
      const inputs = tools.flatMap((t) => Object.keys((t.inputSchema.properties ?? {}) as object));
      expect(inputs.filter((k) => /budget|cap|limit|mint|relay|wallet|address|invoice|destination|pay_to/i.test(k))).toEqual([]);
    });

    it('an unknown tool is a tool error', async () => {
      const r = await call('withdraw_everything', { invoice: 'lnbc1' });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/Tool withdraw_everything not found/);
    });
  });

  describe('market tools', () => {
    it('get_market_price: best, median, spread and the price of the shape, with units', async () => {
      const r = await call('get_market_price', { model: net.model, input_tokens: 1000, output_tokens: 100 });
      expect(r.isError).toBeFalsy();
      const s = structured(r);
      const expected = priceForShape(HIGH, { inputTokens: 1000, outputTokens: 100 });
      expect(s['price_msat']).toBe(expected);
      expect(s['price_sat']).toBe(Math.ceil(expected / 1000));
      expect(s['providers']).toBe(1);
      expect(s['best']['provider']).toContain(node.node.pubkey);
      expect(s['best']['completion_msat_per_mtok']).toBe(HIGH.completion);
      expect(s['median']['price_msat']).toBe(expected);
      expect(s['spread_msat']).toBe(0);
      expect(s['best']['age_ms']).toBeGreaterThanOrEqual(0);
      expect(s['units']).toMatch(/msat per million tokens/);
      expect(text(r)).toContain(`${expected} msat`);
    });

    it('get_market_price: defaults to a million tokens each way', async () => {
      const s = structured(await call('get_market_price', { model: net.model }));
      expect(s['price_msat']).toBe(HIGH.prompt + HIGH.completion);
    });

    it('get_market_price: unknown model and negative tokens are tool errors', async () => {
      const unknown = await call('get_market_price', { model: 'no-such-model' });
      expect(unknown.isError).toBe(true);
      expect(text(unknown)).toMatch(/unknown_model: no provider offers model "no-such-model"; models on offer: /);
      const negative = await call('get_market_price', { model: net.model, input_tokens: -5 });
      expect(negative.isError).toBe(true);
      expect(text(negative)).toMatch(/Input validation error/);
    });

    it('get_order_book lists the asks; bad depth and unknown model are tool errors', async () => {
      const s = structured(await call('get_order_book', { model: net.model, depth: 5 }));
      expect(s['asks']).toHaveLength(1);
      expect(s['asks'][0]['prompt_msat_per_mtok']).toBe(HIGH.prompt);
      expect((await call('get_order_book', { model: net.model, depth: 0 })).isError).toBe(true);
      expect(text(await call('get_order_book', { model: 'nope' }))).toMatch(/unknown_model/);
    });

    it('list_models lists and filters', async () => {
      const all = structured(await call('list_models'));
      expect(all['models']).toEqual([{ model: net.model, providers: 1, best_prompt_msat_per_mtok: HIGH.prompt, best_completion_msat_per_mtok: HIGH.completion }]);
      expect(structured(await call('list_models', { query: net.model.slice(0, 3).toUpperCase() }))['models']).toHaveLength(1);
      expect(structured(await call('list_models', { query: 'zzz-none' }))['models']).toEqual([]);
      expect((await call('list_models', { query: 42 })).isError).toBe(true);
    });
  });

  describe('chat_completion', () => {
    it('buys at the market and returns the answer with its receipt', async () => {
      const before = (wallet.balance() + wallet.incomingBalance());
      const r = await call('chat_completion', { model: net.model, messages: messages('hello market'), max_tokens: 2 });
      expect(r.isError).toBeFalsy();
      const s = structured(r);
      expect(typeof s['answer']).toBe('string');
      expect(s['receipt']['provider']).toContain(node.node.pubkey);
      expect(s['receipt']['price']['completion_msat_per_mtok']).toBe(HIGH.completion);
      expect(s['receipt']['charged_msat']).toBeGreaterThan(0);
      expect(s['receipt']['verdict']).not.toBe('overcharged');
      // what left the wallet is what the receipt says was paid and not returned
      expect(before - (wallet.balance() + wallet.incomingBalance())).toBe(s['receipt']['paid_sat'] - s['receipt']['change_sat']);
    });

    it('concurrent calls of one model each get their own receipt (through the same market-fetch as the framework adapters)', async () => {
      const before = (wallet.balance() + wallet.incomingBalance());
      const bounds = [1, 2, 3, 4, 5, 6];
      const results = await Promise.all(bounds.map((n) => call('chat_completion', { model: net.model, messages: messages(`count to ${n}`), max_tokens: n })));
      const receipts = results.map((r) => structured(r)['receipt'] as Record<string, number | string>);
      // a receipt swapped between calls would show a usage above its own call's bound
      receipts.forEach((r, i) => expect(Number(r['output_tokens'])).toBeLessThanOrEqual(bounds[i]!));
      expect(new Set(receipts.map((r) => r['request_id'])).size).toBe(bounds.length);
      expect(before - (wallet.balance() + wallet.incomingBalance())).toBe(receipts.reduce((sum, r) => sum + Number(r['paid_sat']) - Number(r['change_sat']), 0));
    });

    it('refuses above max_price with nothing spent', async () => {
      const before = (wallet.balance() + wallet.incomingBalance());
      const r = await call('chat_completion', { model: net.model, messages: messages('too dear'), max_tokens: 2, max_price: priceOf(LOW, 'too dear') });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/price_above_limit: .*nothing was spent/);
      expect((wallet.balance() + wallet.incomingBalance())).toBe(before);
    });

    it('bad input is a tool error with nothing spent', async () => {
      const before = (wallet.balance() + wallet.incomingBalance());
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ model: 'no-such-model', messages: messages('x') }, /unknown_model/],
        [{ model: net.model, messages: messages('x'), max_price: -10 }, /Input validation error/],
        [{ model: net.model, messages: [{ role: 'robot', content: 'x' }] }, /Input validation error/],
        [{ model: net.model, messages: 'hello' }, /Input validation error/],
        [{ model: net.model, messages: [] }, /Input validation error/],
      ];
      for (const [args, message] of cases) {
        const r = await call('chat_completion', args);
        expect(r.isError, JSON.stringify(args)).toBe(true);
        expect(text(r)).toMatch(message);
      }
      expect((wallet.balance() + wallet.incomingBalance())).toBe(before);
    });
  });

  describe('budgets from the configuration', () => {
    let capped: McpContext;
    let cc: Connected;
    let cappedWallet: EcashWallet;
    beforeAll(async () => {
      cappedWallet = (await net.newWallet(40, { name: 'capped' })).wallet;
      capped = await createContext({ ...config, budget: { perRequestMaxSat: 1, totalSat: 30 } }, cappedWallet, market);
      cc = await connect(capped);
    });
    afterAll(async () => {
      await cc.close();
      await capped.close();
    });

    it('a request over the per-request cap is refused, nothing spent', async () => {
      const r = await cc.client.callTool({ name: 'chat_completion', arguments: { model: net.model, messages: messages('over budget'), max_tokens: 2 } });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/budget_exceeded: payment exceeds the per-request cap of 1 sat .*nothing was spent/);
      expect((cappedWallet.balance() + cappedWallet.incomingBalance())).toBe(40);
    });

    it('a limit order the cap could never pay is refused at placement', async () => {
      const r = await cc.client.callTool({ name: 'run_when_cheaper', arguments: { model: net.model, messages: messages('x'), max_tokens: 2, max_price: 5000, deadline: 60 } });
      expect(r.isError).toBe(true);
      expect(text(r)).toMatch(/budget_exceeded: a limit of 5000 msat is above the per-request budget of 1 sat/);
      expect(capped.orders.store.limitsIn('resting', 'filling', 'filled')).toEqual([]);
    });

    it('wallet_balance reports the configured caps', async () => {
      const s = structured(await cc.client.callTool({ name: 'wallet_balance', arguments: {} }));
      expect(s['balance_sat']).toBe(40);
      expect(s['budget']).toEqual({ per_request_max_sat: 1, total_sat: 30, spent_sat: 0 });
    });
  });

  describe('limit orders', () => {
    it('rests, then fills on the crossing tick; the client sees progress', async () => {
      const content = 'wait for a cheaper ask';
      const limit = between(MID, HIGH, content);
      const progress: string[] = [];
      let resting: () => void = () => undefined;
      const isResting = new Promise<void>((resolve) => (resting = resolve));
      const pending = c.client.callTool(
        { name: 'run_when_cheaper', arguments: { model: net.model, messages: messages(content), max_tokens: 2, max_price: limit, deadline: 120, wait: true } },
        undefined,
        {
          onprogress: (p) => {
            progress.push(p.message ?? '');
            if (p.message?.includes('resting')) resting();
          },
          timeout: 120_000,
        },
      );
      const before = (wallet.balance() + wallet.incomingBalance());
      await isResting;
      // a tick that does not cross leaves it resting, nothing spent
      await bookAt({ prompt: HIGH.prompt - 1, completion: HIGH.completion - 1 });
      expect(progress.every((m) => m.includes('resting'))).toBe(true);
      expect((wallet.balance() + wallet.incomingBalance())).toBe(before);
      await node.tick(LOW);
      const r = await pending;
      expect(r.isError).toBeFalsy();
      const s = structured(r);
      expect(s['state']).toBe('filled');
      expect(s['fill']['price_msat']).toBe(priceOf(LOW, content));
      expect(s['fill']['price_msat']).toBeLessThanOrEqual(limit);
      expect(s['receipt']['price']['completion_msat_per_mtok']).toBe(LOW.completion);
      expect(typeof s['answer']).toBe('string');
      expect(s['spent_sat']).toBe(s['receipt']['paid_sat'] - s['receipt']['change_sat']);
      expect(progress[0]).toMatch(/^order lo_\S+ resting \(limit \d+ msat, best ask \d+ msat/);
      expect(progress.some((m) => m.includes('filled'))).toBe(true);
    });

    it('returns the handle at once; cancel_order ends it with nothing spent', async () => {
      const before = (wallet.balance() + wallet.incomingBalance());
      const r = await call('run_when_cheaper', { model: net.model, messages: messages('cancel me'), max_tokens: 2, max_price: between(MID, HIGH, 'cancel me'), deadline: new Date(Date.now() + 120_000).toISOString() });
      const placed = structured(r);
      expect(placed['state']).toBe('resting');
      expect(placed['best_ask_msat']).toBe(priceOf(HIGH, 'cancel me'));
      expect(structured(await call('get_order', { id: placed['id'] }))['state']).toBe('resting');
      const listed = await readJson(c, 'market://orders') as Structured[];
      expect(listed.find((o) => o['id'] === placed['id'])?.['state']).toBe('resting');
      const cancelled = structured(await call('cancel_order', { id: placed['id'] }));
      expect(cancelled).toMatchObject({ state: 'cancelled', spent_sat: 0 });
      // a later crossing tick does nothing
      await bookAt(LOW);
      expect(structured(await call('get_order', { id: placed['id'] }))['state']).toBe('cancelled');
      expect((wallet.balance() + wallet.incomingBalance())).toBe(before);
      // cancelling again is idempotent
      expect(structured(await call('cancel_order', { id: placed['id'] }))).toMatchObject({ state: 'cancelled', spent_sat: 0 });
    });

    it('expires with nothing spent; the order resource announces it', async () => {
      const before = (wallet.balance() + wallet.incomingBalance());
      const placed = structured(await call('run_when_cheaper', { model: net.model, messages: messages('expire me'), max_tokens: 2, max_price: between(MID, HIGH, 'expire me'), deadline: 1 }));
      const uri = `market://orders/${placed['id']}`;
      const updated = c.nextUpdate(uri);
      await c.client.subscribeResource({ uri });
      if (structured(await call('get_order', { id: placed['id'] }))['state'] === 'resting') await updated;
      const s = structured(await call('get_order', { id: placed['id'] }));
      expect(s).toMatchObject({ state: 'expired', spent_sat: 0 });
      const read = await readJson(c, uri) as Structured;
      expect(read['state']).toBe('expired');
      expect((wallet.balance() + wallet.incomingBalance())).toBe(before);
      const cancel = await call('cancel_order', { id: placed['id'] });
      expect(cancel.isError).toBe(true);
      expect(text(cancel)).toMatch(/order_final: order lo_\S+ already ended \(expired\)/);
    });

    it('bad orders are tool errors: unknown id, past deadline, negative price, unknown model', async () => {
      expect(text(await call('get_order', { id: 'lo_nope' }))).toMatch(/unknown_order/);
      expect(text(await call('cancel_order', { id: 'lo_nope' }))).toMatch(/unknown_order/);
      const base = { model: net.model, messages: messages('x'), max_tokens: 2 };
      expect(text(await call('run_when_cheaper', { ...base, max_price: 1000, deadline: '2000-01-01T00:00:00Z' }))).toMatch(/invalid_deadline/);
      expect(text(await call('run_when_cheaper', { ...base, max_price: -1, deadline: 60 }))).toMatch(/Input validation error/);
      expect(text(await call('run_when_cheaper', { ...base, model: 'nope', max_price: 1000, deadline: 60 }))).toMatch(/unknown_model/);
      expect(text(await call('run_when_cheaper', { ...base, messages: [{ content: 'no role' }], max_price: 1000, deadline: 60 }))).toMatch(/Input validation error/);
    });

    it('survives a server restart: the order resumes from the wallet store and fills', async () => {
      const { wallet: w1, path } = await net.newWallet(30, { name: 'restart' });
      const cfg = { ...config, walletPath: path };
      const ctx1 = await createContext(cfg, w1, market);
      const c1 = await connect(ctx1);
      const placed = structured(await c1.client.callTool({ name: 'run_when_cheaper', arguments: { model: net.model, messages: messages('outlive me'), max_tokens: 2, max_price: between(MID, HIGH, 'outlive me'), deadline: 120 } }));
      expect(placed['state']).toBe('resting');
      await c1.close();
      await ctx1.close();
      w1.close();

      const w2 = await openWallet({ path, mints: [net.devnet.mintUrl] });
      const ctx2 = await createContext(cfg, w2, market);
      const c2 = await connect(ctx2);
      try {
        expect(structured(await c2.client.callTool({ name: 'get_order', arguments: { id: placed['id'] } }))['state']).toBe('resting');
        const uri = `market://orders/${placed['id']}`;
        await c2.client.subscribeResource({ uri });
        const ended = new Promise<void>((resolve) => {
          const check = (): void => {
            const s = ctx2.orders.store.limit(String(placed['id']))?.state;
            if (s === 'filled' || s === 'failed') resolve();
            else void c2.nextUpdate(uri).then(check);
          };
          check();
        });
        await node.tick(LOW);
        await ended;
        const s = structured(await c2.client.callTool({ name: 'get_order', arguments: { id: placed['id'] } }));
        expect(s['state']).toBe('filled');
        expect(s['fill']['price_msat']).toBe(priceOf(LOW, 'outlive me'));
        expect((w2.balance() + w2.incomingBalance())).toBe(30 - s['spent_sat']);
      } finally {
        await c2.close();
        await ctx2.close();
        w2.close();
      }
    });
  });

  describe('wallet tools', () => {
    it('wallet_balance reports sats by mint', async () => {
      await wallet.idle(); // change kept by earlier calls is redeemed: the balance is final
      expect(wallet.incomingBalance()).toBe(0);
      const s = structured(await call('wallet_balance'));
      expect(s['balance_sat']).toBe(wallet.balance());
      expect(s['incoming_sat']).toBe(0);
      expect(s['by_mint']).toEqual({ [net.devnet.mintUrl]: wallet.balance() });
      expect(s['budget']['spent_sat']).toBe(ctx.orders.payer.spentSat());
    });

    it('wallet_receive redeems a token; a bad token is a tool error', async () => {
      const other = (await net.newWallet(10, { name: 'giver' })).wallet;
      const { token } = await other.send(sat(4), { purpose: 'gift' });
      await wallet.idle();
      const before = wallet.balance();
      const s = structured(await call('wallet_receive', { token }));
      expect(s['received_sat']).toBeGreaterThan(0);
      expect(s['received_sat']).toBeLessThanOrEqual(4);
      expect(s['balance_sat']).toBe(before + s['received_sat']);
      const spent = await call('wallet_receive', { token });
      expect(spent.isError).toBe(true);
      expect(text(spent)).toMatch(/could not receive the token/);
      const bad = await call('wallet_receive', { token: 'cashuBnotatokenatall' });
      expect(bad.isError).toBe(true);
      expect((wallet.balance() + wallet.incomingBalance())).toBe(before + s['received_sat']);
    });

    it('wallet_fund sends the invoice as progress and completes when paid', async () => {
      const before = (wallet.balance() + wallet.incomingBalance());
      const progress: string[] = [];
      const r = await c.client.callTool({ name: 'wallet_fund', arguments: { amount_sat: 20, wait_s: 60 } }, undefined, { onprogress: (p) => void progress.push(p.message ?? '') });
      const s = structured(r);
      expect(s['state']).toBe('paid');
      expect(s['invoice']).toMatch(/^ln/);
      expect(progress[0]).toContain(s['invoice']);
      expect((wallet.balance() + wallet.incomingBalance())).toBe(before + 20);
      expect((await call('wallet_fund', { amount_sat: 0 })).isError).toBe(true);
    });
  });

  describe('resources', () => {
    it('market://models and market://book/{model} read the book; list shows each book', async () => {
      const models = await readJson(c, 'market://models') as Structured;
      expect(models['models'][0]['model']).toBe(net.model);
      const { resources } = await c.client.listResources();
      expect(resources.map((r) => r.uri)).toEqual(expect.arrayContaining(['market://models', 'market://orders', `market://book/${encodeURIComponent(net.model)}`]));
      const book = (await readJson(c, `market://book/${encodeURIComponent(net.model)}`)) as Structured;
      expect(book['asks'][0]['prompt_msat_per_mtok']).toBe(HIGH.prompt);
    });

    it('a subscribed book is announced when it changes', async () => {
      const uri = `market://book/${encodeURIComponent(net.model)}`;
      await c.client.subscribeResource({ uri });
      const updated = c.nextUpdate(uri);
      await node.tick(MID);
      await updated;
      const book = await readJson(c, uri) as Structured;
      expect(book['asks'][0]['prompt_msat_per_mtok']).toBe(MID.prompt);
      await c.client.unsubscribeResource({ uri });
    });
  });
});
