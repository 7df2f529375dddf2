// Issue 13 points 12 and 13, through the official SDK client: hostile or broken tool input is
// refused before anything is stored, a stored bad order never stops the server, errors stay
// small, and the error codes are the spec's.
import { DatabaseSync } from 'node:sqlite';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualOrderClock, type EcashWallet, type Market } from '@routstr-kit/core';
import { startPricedDevnet, type PricedDevnet, type Price } from '@routstr-kit/devnet/priced-nodes';
import { MAX_ERROR_CHARS } from './bounded-echo.ts';
import type { McpConfig } from './config.ts';
import { createContext, type McpContext } from './context.ts';
import { createMcpServer, RESOURCE_NOT_FOUND } from './server.ts';

const HIGH: Price = { prompt: 200_000_000, completion: 800_000_000 };
const DAY_S = 86_400;
const BIG = 'x'.repeat(1_000_000);

type Structured = Record<string, any>;
const text = (r: unknown): string => ((r as CallToolResult).content[0] as { text: string }).text;
const structured = (r: unknown): Structured => (r as CallToolResult).structuredContent as Structured;

async function connect(ctx: McpContext): Promise<{ client: Client; close(): Promise<void> }> {
  const server = createMcpServer(ctx);
  const client = new Client({ name: 'hostile', version: '0' });
  const [ct, st] = InMemoryTransport.createLinkedPair();
  await Promise.all([server.connect(st), client.connect(ct)]);
  return {
    client,
    async close() {
      await client.close();
      await server.close();
    },
  };
}

/** Asserts an error text is bounded and quotes no long run of the hostile input. */
function bounded(message: string): void {
  expect(message.length).toBeLessThanOrEqual(MAX_ERROR_CHARS + 40);
  expect(message).not.toContain('x'.repeat(MAX_ERROR_CHARS + 1));
}

describe('hostile tool input (in-memory SDK client on the devnet)', () => {
  let net: PricedDevnet;
  let market: Market;
  let wallet: EcashWallet;
  let walletPath: string;
  let config: McpConfig;
  const base = () => ({ model: net.model, messages: [{ role: 'user', content: 'x' }], max_tokens: 2, max_price: 1 });
  const allOrders = (ctx: McpContext) => ctx.orders.store.limitsIn('resting', 'filling', 'filled', 'expired', 'cancelled', 'failed');

  beforeAll(async () => {
    net = await startPricedDevnet();
    const node = await net.startTicker('ticker', HIGH);
    await node.tick(HIGH);
    market = await net.openMarket();
    ({ wallet, path: walletPath } = await net.newWallet(0));
    config = { relays: [net.devnet.relayUrl], mints: [net.devnet.mintUrl], walletPath, budget: {}, profile: 'cheapest', mode: 'xcashu', providerAddresses: 'any', mnemonic: undefined, configFile: undefined, http: undefined };
  });
  afterAll(async () => {
    await net?.stop();
  });

  it('run_when_cheaper deadline 10000000000000: refused by the schema, nothing stored, the store stays readable', async () => {
    const ctx = await createContext(config, wallet, market);
    const c = await connect(ctx);
    try {
      const before = allOrders(ctx).length;
      for (const deadline of [10_000_000_000_000, 366 * DAY_S, '9999-12-31T00:00:00Z']) {
        const r = await c.client.callTool({ name: 'run_when_cheaper', arguments: { ...base(), deadline } });
        expect(r.isError).toBe(true);
        expect(text(r)).toMatch(/Input validation error.*\n?.*deadline/s);
      }
      for (const max_price of [1e300, { prompt_msat_per_mtok: 1e300, completion_msat_per_mtok: 1 }]) {
        expect((await c.client.callTool({ name: 'run_when_cheaper', arguments: { ...base(), max_price, deadline: 60 } })).isError).toBe(true);
      }
      expect((await c.client.callTool({ name: 'get_market_price', arguments: { model: net.model, input_tokens: 1e300 } })).isError).toBe(true);
      expect(allOrders(ctx)).toHaveLength(before);
      expect(ctx.orders.store.unreadableLimits()).toEqual([]);
      // the resource that lists every order still reads
      const listed = await c.client.readResource({ uri: 'market://orders' });
      expect(JSON.parse((listed.contents[0] as { text: string }).text)).toHaveLength(before);
    } finally {
      await c.close();
      await ctx.close();
    }
  });

  it('setTimeout overflow: a deadline 30 days away rests (injectable clock), then expires on the 30th day', async () => {
    const clock = new ManualOrderClock(Date.now());
    const ctx = await createContext(config, wallet, market, { clock });
    const c = await connect(ctx);
    try {
      const placed = structured(await c.client.callTool({ name: 'run_when_cheaper', arguments: { ...base(), deadline: 30 * DAY_S } }));
      expect(placed['state']).toBe('resting');
      expect(Date.parse(placed['deadline'])).toBe(clock.now() + 30 * DAY_S * 1000);
      clock.advance(1_000);
      expect(structured(await c.client.callTool({ name: 'get_order', arguments: { id: placed['id'] } }))['state']).toBe('resting');
      clock.advance((30 * DAY_S - 2) * 1000);
      expect(structured(await c.client.callTool({ name: 'get_order', arguments: { id: placed['id'] } }))['state']).toBe('resting');
      clock.advance(1_000);
      expect(structured(await c.client.callTool({ name: 'get_order', arguments: { id: placed['id'] } }))).toMatchObject({ state: 'expired', spent_sat: 0 });
    } finally {
      await c.close();
      await ctx.close();
    }
  });

  it('a stored order with an out-of-range deadline: the server starts, reads the rest, and reports that order alone', async () => {
    // what the old server stored for `deadline: 10000000000000`
    const raw = new DatabaseSync(walletPath);
    raw
      .prepare(`INSERT INTO orders_limit (id, state, request, max_price, shape, deadline, created_at, updated_at) VALUES ('lo_broken', 'resting', ?, '1', '{"inputTokens":1,"outputTokens":2}', ?, ?, ?)`)
      .run(JSON.stringify({ model: net.model, messages: [] }), Date.now() + 10_000_000_000_000 * 1000, Date.now(), Date.now());
    raw.close();
    const ctx = await createContext(config, wallet, market);
    const c = await connect(ctx);
    try {
      expect(ctx.orders.store.unreadableLimits()).toEqual([{ id: 'lo_broken', problem: 'deadline is out of range' }]);
      const broken = await c.client.callTool({ name: 'get_order', arguments: { id: 'lo_broken' } });
      expect(broken.isError).toBe(true);
      expect(text(broken)).toMatch(/^unreadable_order: stored order lo_broken cannot be read: deadline is out of range/);
      const placed = structured(await c.client.callTool({ name: 'run_when_cheaper', arguments: { ...base(), deadline: 60 } }));
      expect(structured(await c.client.callTool({ name: 'cancel_order', arguments: { id: placed['id'] } }))['state']).toBe('cancelled');
      const listed = JSON.parse(((await c.client.readResource({ uri: 'market://orders' })).contents[0] as { text: string }).text) as Structured[];
      expect(listed.map((o) => o['id'])).toContain(placed['id']);
      expect(listed.map((o) => o['id'])).not.toContain('lo_broken');
    } finally {
      await c.close();
      await ctx.close();
    }
  });

  it('errors never echo large inputs: unknown tool, oversize arguments, unknown resources', async () => {
    const ctx = await createContext(config, wallet, market);
    const c = await connect(ctx);
    try {
      const unknownTool = await c.client.callTool({ name: BIG, arguments: {} });
      expect(unknownTool.isError).toBe(true);
      bounded(text(unknownTool));
      for (const [name, args] of [
        ['get_market_price', { model: BIG }],
        ['get_order', { id: BIG }],
        ['wallet_receive', { token: BIG }],
        ['list_models', { query: BIG }],
        ['run_when_cheaper', { ...base(), deadline: BIG }],
        // thousands of bad messages: the SDK lists every zod issue
        ['chat_completion', { model: net.model, messages: Array.from({ length: 5_000 }, () => ({ role: BIG.slice(0, 100), content: 1 })) }],
      ] as const) {
        const r = await c.client.callTool({ name, arguments: args as Record<string, unknown> });
        expect(r.isError, name).toBe(true);
        bounded(text(r));
      }
      for (const uri of [`market://orders/${BIG}`, `market://nothing/${BIG}`]) {
        const error = await c.client.readResource({ uri }).then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(McpError);
        bounded((error as McpError).message);
      }
    } finally {
      await c.close();
      await ctx.close();
    }
  });

  it('an unknown order resource is -32002 (resource not found)', async () => {
    const ctx = await createContext(config, wallet, market);
    const c = await connect(ctx);
    try {
      const error = await c.client.readResource({ uri: 'market://orders/lo_nope' }).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(McpError);
      expect((error as McpError).code).toBe(RESOURCE_NOT_FOUND);
      expect(RESOURCE_NOT_FOUND).toBe(-32002);
      expect((error as McpError).data).toEqual({ uri: 'market://orders/lo_nope' });
    } finally {
      await c.close();
      await ctx.close();
    }
  });

  it('wallet_receive of an empty or malformed token: a clear error, nothing received', async () => {
    const ctx = await createContext(config, wallet, market);
    const c = await connect(ctx);
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    try {
      const before = (wallet.balance() + wallet.incomingBalance());
      const cases: Array<[string, RegExp]> = [
        ['', /the token is empty/],
        ['          ', /the token is empty/],
        ['hello, this is not ecash', /not a Cashu token: it should start with cashuA or cashuB/],
        [`cashuA${b64({ token: [] })}`, /malformed Cashu token|holds no proofs/],
        [`cashuA${b64({})}`, /malformed Cashu token/],
        [`cashuA${b64({ token: [{ mint: net.devnet.mintUrl, proofs: [] }] })}`, /malformed Cashu token|holds no proofs/],
        ['cashuB', /malformed Cashu token/],
        ['cashuBnotatokenatall', /malformed Cashu token/],
      ];
      for (const [token, expected] of cases) {
        const r = await c.client.callTool({ name: 'wallet_receive', arguments: { token } });
        expect(r.isError, token).toBe(true);
        expect(text(r), token).toMatch(/^invalid_token: could not receive the token: /);
        expect(text(r), token).toMatch(expected);
        expect(text(r), token).not.toMatch(/Cannot read properties|undefined/);
      }
      expect((wallet.balance() + wallet.incomingBalance())).toBe(before);
    } finally {
      await c.close();
      await ctx.close();
    }
  });
});
