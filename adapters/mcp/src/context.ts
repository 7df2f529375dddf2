/**
 * What one server process holds: the market-fetch the AI SDK and LangChain adapters use too
 * (wallet, market and orders opened through it), and a feed of order changes.
 */
import { EventEmitter } from 'node:events';
import { MarketFetch, type EcashWallet, type LimitOrder, type Market, type OrderClock, type Orders } from '@routstr-kit/core';
import type { McpConfig } from './config.ts';

export interface McpContext {
  readonly config: McpConfig;
  /** How every tool buys: the same entry point as the framework adapters. */
  readonly marketFetch: MarketFetch;
  readonly wallet: EcashWallet;
  readonly market: Market;
  readonly orders: Orders;
  /** Emits `changed` with an order id whenever an order of this process changes state. */
  readonly orderChanges: EventEmitter<{ changed: [string] }>;
  /** Aborted on close: background work (invoice collection) stops with it. */
  readonly lifetime: AbortSignal;
  /** Starts reporting `order`'s state changes on `orderChanges` (idempotent). */
  track(order: LimitOrder): void;
  close(): Promise<void>;
}

/**
 * Builds a context over `config`: over `wallet` and `market` when given (they stay open on close), otherwise the
 * market-fetch opens (and on close closes) what the config names. Opening resumes resting orders; a server that
 * cannot open closes what it opened and throws.
 */
export async function createContext(config: McpConfig, wallet?: EcashWallet, market?: Market, options: { clock?: OrderClock } = {}): Promise<McpContext> {
  const given = { ...(wallet ? { wallet } : {}), ...(market ? { market } : {}), ...(options.clock ? { clock: options.clock } : {}) };
  const marketFetch = new MarketFetch(given, {}, config);
  const parts = await marketFetch.open();
  const { orders } = parts;
  const orderChanges = new EventEmitter<{ changed: [string] }>();
  orderChanges.setMaxListeners(0);
  const tracked = new WeakSet<LimitOrder>();
  const lifetime = new AbortController();
  const track = (order: LimitOrder): void => {
    if (tracked.has(order)) return;
    tracked.add(order);
    order.on('state', () => orderChanges.emit('changed', order.id));
  };
  for (const o of orders.live()) track(o);
  return {
    config,
    marketFetch,
    wallet: parts.wallet,
    market: parts.market,
    orders,
    orderChanges,
    lifetime: lifetime.signal,
    track,
    async close() {
      lifetime.abort(new Error('server closing'));
      await marketFetch.close();
    },
  };
}

/** Opens the wallet and market the config names, then the context over them. */
export function openContext(config: McpConfig): Promise<McpContext> {
  return createContext(config);
}
