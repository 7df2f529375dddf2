// Issue 13 point 12: a limit order's deadline, however far, neither overflows setTimeout nor
// makes the wallet's order store unreadable.
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualOrderClock, MAX_TIMER_MS, OrderError, openOrders, UnreadableOrder, type EcashWallet, type Market } from '@routstr-kit/core';
import { startPricedDevnet, type PricedDevnet, type Price } from '@routstr-kit/devnet/priced-nodes';

const HIGH: Price = { prompt: 200_000_000, completion: 800_000_000 };
const DAY_MS = 86_400_000;
const request = (model: string) => ({ model, messages: [{ role: 'user', content: 'far away' }], max_tokens: 2 });

describe('limit order deadlines far away', () => {
  let net: PricedDevnet;
  let market: Market;
  let wallet: EcashWallet;
  let walletPath: string;

  beforeAll(async () => {
    net = await startPricedDevnet();
    const node = await net.startTicker('ticker', HIGH);
    await node.tick(HIGH);
    market = await net.openMarket();
    ({ wallet, path: walletPath } = await net.newWallet(0));
  });
  afterAll(async () => {
    await net?.stop();
  });

  it('setTimeout overflow: a deadline 30 days away rests for 30 days, then expires', async () => {
    const clock = new ManualOrderClock(Date.now());
    const orders = await openOrders({ wallet, market, clock });
    try {
      const order = orders.runWhenCheaper(request(net.model), { maxPrice: 1, deadline: clock.now() + 30 * DAY_MS });
      clock.advance(1_000);
      expect(order.state).toBe('resting');
      clock.advance(25 * DAY_MS);
      expect(order.state).toBe('resting');
      clock.advance(5 * DAY_MS - 1_001);
      expect(order.state).toBe('resting');
      clock.advance(1);
      expect(order.state).toBe('expired');
      expect(orders.store.limit(order.id)?.state).toBe('expired');
      // no timer was ever asked for more than setTimeout can hold
      expect(Math.max(...clock.delays)).toBeLessThanOrEqual(MAX_TIMER_MS);
      expect(clock.pending()).toBe(0);
    } finally {
      await orders.close();
    }
  });

  it('deadline 10000000000000 s (the MCP bug): refused before anything is stored', async () => {
    const orders = await openOrders({ wallet, market });
    try {
      const before = orders.store.limitsIn('resting', 'filling', 'filled', 'expired', 'cancelled', 'failed').length;
      for (const deadline of [Date.now() + 10_000_000_000_000 * 1000, Number.NaN, Number.POSITIVE_INFINITY, 0, -1]) {
        expect(() => orders.runWhenCheaper(request(net.model), { maxPrice: 1, deadline })).toThrow(OrderError);
      }
      expect(() => orders.runWhenCheaper(request(net.model), { maxPrice: 1e300, deadline: Date.now() + 60_000 })).toThrow(/maxPrice/);
      expect(orders.store.limitsIn('resting', 'filling', 'filled', 'expired', 'cancelled', 'failed')).toHaveLength(before);
      expect(orders.store.unreadableLimits()).toEqual([]);
    } finally {
      await orders.close();
    }
  });

  it('a stored order with an out-of-range deadline leaves the rest of the store readable and the orders open', async () => {
    const first = await openOrders({ wallet, market });
    const good = first.runWhenCheaper(request(net.model), { maxPrice: 1, deadline: Date.now() + 3_600_000 });
    await first.close();
    // what the old server wrote for `deadline: 10000000000000` (seconds from now, in ms: past 2^53)
    const raw = new DatabaseSync(walletPath);
    raw
      .prepare(`INSERT INTO orders_limit (id, state, request, max_price, shape, deadline, created_at, updated_at) VALUES ('lo_bad', 'resting', ?, '1', '{"inputTokens":1,"outputTokens":2}', ?, 1, 1)`)
      .run(JSON.stringify(request(net.model)), 1e16 + Date.now());
    raw.close();

    const orders = await openOrders({ wallet, market });
    try {
      expect(orders.live().map((o) => o.id)).toEqual([good.id]);
      expect(orders.store.limitsIn('resting').map((o) => o.id)).toEqual([good.id]);
      expect(orders.store.unreadableLimits()).toEqual([{ id: 'lo_bad', problem: 'deadline is out of range' }]);
      expect(() => orders.store.limit('lo_bad')).toThrow(UnreadableOrder);
      expect(() => orders.get('lo_bad')).toThrow(/lo_bad cannot be read: deadline is out of range/);
      expect(orders.get(good.id)?.state).toBe('resting');
    } finally {
      orders.get(good.id)?.cancel();
      await orders.close();
    }
  });
});
