import { openOrders, priceForShape, requestShape, type Market, type Orders } from '@routstr-kit/core';
import type { Benchmark } from '../harness.ts';
import { takeMintCalls } from './mint-timing-proxy.ts';
import { startTickerDevnet, type Price, type TickerDevnet } from './ticker-devnet.ts';

/** routstr-core clients learn prices by polling `/v1/models`; routstr-core re-prices every 120 s. */
const POLL_INTERVAL_MS = 120_000;
// msat/Mtok. The order's limit sits between the two: HIGH rests it, LOW crosses it.
const HIGH: Price = { prompt: 200_000_000, completion: 800_000_000 };
const LOW: Price = { prompt: 50_000_000, completion: 200_000_000 };

const isFill = (input: string | URL | Request, init: RequestInit | undefined): boolean => {
  const url = input instanceof Request ? input.url : String(input);
  const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
  return method === 'POST' && /\/v1\/chat\/completions$/.test(url);
};

export const limitOrderReaction: Benchmark = {
  name: 'limit-order-reaction',
  description: 'a tick that crosses a resting limit order → the fill’s HTTP request leaves the client, over the devnet relay on loopback',
  async run(ctx) {
    const warmup = ctx.scale === 'full' ? 5 : 1;
    const total = warmup + ctx.samples(100, 3);
    let net: TickerDevnet | undefined;
    let orders: Orders | undefined;
    try {
      net = await startTickerDevnet(HIGH);
      const market: Market = await net.openMarket();
      const wallet = await net.newWallet(100 + 20 * total);
      // The transport the payer sends with: the fill's request leaves the client when this is called.
      let onFillSent: ((at: number) => void) | undefined;
      const stampingFetch: typeof fetch = (input, init) => {
        if (isFill(input, init)) onFillSent?.(performance.now());
        return fetch(input, init);
      };
      orders = await openOrders({ wallet, market, fetch: stampingFetch });
      const model = net.model;
      const tick = net.tick;

      /** Ticks `price` and waits until the book shows that tick. */
      const bookAt = async (price: Price): Promise<void> => {
        const { quote } = await tick(price);
        const seen = (): boolean => market.bestAsk(model)?.quoteId === quote;
        if (seen()) return;
        await new Promise<void>((resolve) => {
          const off = market.onAskChange(() => {
            if (seen()) {
              off();
              resolve();
            }
          });
        });
      };

      const toRequest: number[] = [];
      const toFilling: number[] = [];
      const trigger: number[] = [];
      const swapMint: number[] = [];
      const epoch = (t: number): number => performance.timeOrigin + t;
      for (let i = 0; i < total; i++) {
        await bookAt(HIGH);
        const body = { model, messages: [{ role: 'user', content: `wait for a cheaper ask ${i}` }], max_tokens: 4 };
        const shape = requestShape(body);
        const limit = Math.floor((priceForShape(LOW, shape) + priceForShape(HIGH, shape)) / 2);
        const order = orders.runWhenCheaper(body, { maxPrice: limit, deadline: Date.now() + 60_000 });
        if (order.state !== 'resting') throw new Error(`order ${order.id} is ${order.state}, not resting, above the book`);
        const sent = new Promise<number>((resolve) => (onFillSent = resolve));
        const filling = new Promise<number>((resolve) => order.once('filling', () => resolve(performance.now())));
        const { publishedAt } = await tick(LOW);
        const [sentAt, fillingAt] = await Promise.all([sent, filling]);
        onFillSent = undefined;
        const result = await order.result;
        if (result.fill.price.completion !== LOW.completion) throw new Error(`filled at ${result.fill.price.completion}, not at the crossing tick`);
        await orders.payer.settled();
        const calls = await takeMintCalls(net.devnet.proxyUrl);
        if (i < warmup) continue;
        // Mint work between the trigger and the request leaving: the wallet's swap for the token.
        swapMint.push(calls.filter((c) => c.start >= epoch(fillingAt) && c.end <= epoch(sentAt)).reduce((a, c) => a + (c.end - c.start), 0));
        toRequest.push(sentAt - publishedAt);
        toFilling.push(fillingAt - publishedAt);
        if (order.triggerLatencyMs === undefined) throw new Error('the order reported no triggerLatencyMs');
        trigger.push(order.triggerLatencyMs);
      }
      ctx.log(`${toRequest.length} fills (after ${warmup} warm-up); polling baseline modelled at ${POLL_INTERVAL_MS / 1000} s`);
      // Modelled, not waited for: a client polling every 120 s at a random phase sees the cheaper
      // price uniform(0, 120 s) after it appears (samples spread evenly over the interval), and its
      // request goes out then (its own send time not counted).
      const polled = toRequest.map((_, i) => ((i + 0.5) / toRequest.length) * POLL_INTERVAL_MS);
      return {
        name: this.name,
        description: this.description,
        series: [
          { name: 'poll-models-120s', unit: 'ms', samples: polled, better: 'lower', note: 'modelled: uniform wait for the next 120 s poll of /v1/models' },
          {
            name: 'tick-to-fill-request', unit: 'ms', samples: toRequest, baseline: 'poll-models-120s', better: 'lower',
            target: { op: '<=', value: 20, of: 'median', note: 'p50 ≤ 20 ms on loopback' },
            note: 'tick handed to the relay → the payer calls its transport fetch with the fill’s POST (X-Cashu token already made)',
          },
          { name: 'tick-to-filling', unit: 'ms', samples: toFilling, baseline: 'poll-models-120s', better: 'lower', note: 'tick handed to the relay → the order’s `filling` event (relay, verify, book, limit check)' },
          { name: 'token-swap-mint', unit: 'ms', samples: swapMint, better: 'lower', note: 'mint time between `filling` and the request leaving (the wallet’s swap for the X-Cashu token), at the mint’s timing proxy' },
          { name: 'order-trigger-latency', unit: 'ms', samples: trigger, better: 'lower', note: 'the order’s own triggerLatencyMs: book change that crossed → the payer asks the wallet for the token (before the swap)' },
        ],
        notes: [
          'one ticker node on the devnet (engine and mint in a child process), relay and market in this process; the order is placed resting at a limit between the HIGH and LOW ticks, then LOW is published',
          'tick-to-fill-request includes the X-Cashu token: the wallet’s send (a swap at the mint when no exact proofs are held) runs before the request can leave',
          'the clock starts after the tick is signed, just before it is handed to the relay connection; it ends when the payer hands the POST to fetch (the bytes leave on loopback right after)',
        ],
      };
    } finally {
      await orders?.close().catch(() => undefined);
      await net?.stop();
    }
  },
};
