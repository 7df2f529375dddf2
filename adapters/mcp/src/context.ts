/** What one server process holds: the wallet, the market, the orders, and a feed of order changes. */
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { openMarket, openOrders, openWallet, type EcashWallet, type LimitOrder, type Market, type OrderClock, type Orders } from '@routstr-kit/core';
import type { McpConfig } from './config.ts';

export interface McpContext {
  readonly config: McpConfig;
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

/** Builds a context over an open wallet and market; opening the orders resumes resting ones. */
export async function createContext(config: McpConfig, wallet: EcashWallet, market: Market, options: { ownsParts?: boolean; clock?: OrderClock } = {}): Promise<McpContext> {
  const orders = await openOrders({
    wallet,
    market,
    ...(options.clock ? { clock: options.clock } : {}),
    profile: config.profile,
    mode: config.mode,
    budget: config.budget,
  });
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
    wallet,
    market,
    orders,
    orderChanges,
    lifetime: lifetime.signal,
    track,
    async close() {
      lifetime.abort(new Error('server closing'));
      await orders.close();
      if (options.ownsParts) {
        market.close();
        wallet.close();
      }
    },
  };
}

/** Opens the wallet and market the config names, then the context over them; on failure closes what it opened. */
export async function openContext(config: McpConfig): Promise<McpContext> {
  // the wallet file holds the mnemonic and proofs: a folder the kit creates is the user's alone
  mkdirSync(dirname(config.walletPath), { recursive: true, mode: 0o700 });
  const wallet = await openWallet({ path: config.walletPath, mints: config.mints, ...(config.mnemonic !== undefined ? { mnemonic: config.mnemonic } : {}) });
  let market: Market | undefined;
  try {
    market = openMarket({ relays: config.relays, allowProviderAddresses: config.providerAddresses });
    // answer the first tool call from a book that has read the relays once
    await market.ready();
    return await createContext(config, wallet, market, { ownsParts: true });
  } catch (error) {
    // a server that cannot start must not keep relay sockets (or the wallet) open: the process would never exit
    market?.close();
    wallet.close();
    throw error;
  }
}
