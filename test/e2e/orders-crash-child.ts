// Test fixture for the orders crash scenarios: a buyer process (wallet, market, orders) that the
// parent SIGKILLs while an order rests or fills (ROUTSTR_KIT_FAILPOINT), then runs again to resume.
// Usage: node orders-crash-child.ts '<json: { walletPath, mint, relay, model, place?: { body, maxPrice, deadline } }>'
// Prints one JSON line per event; on its own it ends once no order is resting or filling.
import { openMarket, openOrders, openWallet, type LimitOrder } from '@routstr-kit/core';

interface Args {
  walletPath: string;
  mint: string;
  relay: string;
  model: string;
  place?: { body: Record<string, unknown>; maxPrice: number; deadline: number };
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const say = (o: Record<string, unknown>): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
const wallet = await openWallet({ path: args.walletPath, mints: [args.mint], pollIntervalMs: 20 });
const market = openMarket({ relays: [args.relay], tickIntervalMs: 0, maxFutureSkewSeconds: 3600, allowProviderAddresses: 'loopback' });
await market.ready();
// wait until the book has a probed price for the model (announcement asks alone carry no endpoint facts)
if (!market.depth(args.model, 10).some((a) => a.source !== 'announcement')) {
  await new Promise<void>((resolve) => {
    const off = market.onAskChange(() => {
      if (market.depth(args.model, 10).some((a) => a.source !== 'announcement')) {
        off();
        resolve();
      }
    });
  });
}
const orders = await openOrders({ wallet, market });
const watch = (o: LimitOrder): Promise<unknown> => {
  o.on('state', (state) => say({ event: 'state', id: o.id, state }));
  return o.result.then(
    (r) => say({ event: 'final', id: o.id, state: o.state, quote: r.fill.quote }),
    (e: unknown) => say({ event: 'final', id: o.id, state: o.state, code: (e as { code?: string }).code }),
  );
};
const waits = orders.live().map(watch);
for (const rec of orders.store.limitsIn('failed', 'filled', 'expired', 'cancelled')) say({ event: 'final', id: rec.id, state: rec.state, code: rec.error?.code });
if (args.place) {
  const order = orders.runWhenCheaper({ ...args.place.body, model: args.model }, { maxPrice: args.place.maxPrice, deadline: args.place.deadline });
  say({ event: 'placed', id: order.id, state: order.state });
  waits.push(watch(order));
}
await Promise.all(waits);
await orders.close();
market.close();
say({ event: 'exit', balance: wallet.balance(), fees: wallet.feesPaid(), pending: wallet.pendingBalance() });
wallet.close();
