// Test fixture for the orders scenarios: a devnet (relay, mint, llama.cpp engine) with provider
// nodes whose prices the test moves. A "ticker" node bills from a board we hold and publishes its
// own 38421 announcement and signed 28421 ticks (each remembered as a quote), exactly as the
// market maker does, so a test decides when the book crosses a limit and with which quote.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSecretKey } from 'nostr-tools';
import { msatPerMtok, openMarket, openWallet, sat, type EcashWallet, type Market } from '@routstr-kit/core';
import { startDevnet, type Devnet, type EngineFlavour } from '@routstr-kit/devnet';
import { createPriceBoard, NostrListing, PROVIDER_VERSION, startProvider, type RunningProvider, type WritablePriceBoard } from '@routstr-kit/provider';

export interface Price {
  prompt: number;
  completion: number;
}

export interface TickerNode {
  name: string;
  node: RunningProvider;
  board: WritablePriceBoard;
  /** Puts `price` in force and publishes a tick for it; resolves with the tick id (the quote) once relays took it. */
  tick(price: Price, options?: { billAfter?: Price; remember?: boolean }): Promise<string>;
  stop(): Promise<void>;
}

export interface OrdersDevnet {
  devnet: Devnet;
  model: string;
  nodes: TickerNode[];
  startTicker(name: string, price: Price): Promise<TickerNode>;
  openMarket(): Promise<Market>;
  newWallet(fund: number, name?: string): Promise<{ wallet: EcashWallet; path: string }>;
  /** Sats held by the nodes' wallets. */
  providerHeldSat(): number;
  tmp(): string;
  stop(): Promise<void>;
}

/** Starts the fixture; `flavour` picks the engine surface the nodes sell (default llama.cpp). */
export async function startOrdersDevnet(options: { flavour?: EngineFlavour } = {}): Promise<OrdersDevnet> {
  const flavour = options.flavour ?? 'llama.cpp';
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'orders-e2e-'));
    dirs.push(d);
    return d;
  };
  const devnet = await startDevnet({ engines: { llama: { flavour, maxConcurrency: 2 } } });
  const engine = devnet.parts.engines['llama'];
  if (!engine) throw new Error('no engine');
  const nodes: TickerNode[] = [];
  const markets: Market[] = [];
  const wallets: EcashWallet[] = [];

  async function startTicker(name: string, price: Price): Promise<TickerNode> {
    const asks = (p: Price) => [{ model: engine!.model, prompt: msatPerMtok(p.prompt), completion: msatPerMtok(p.completion) }];
    const board = createPriceBoard(asks(price));
    const secretKey = generateSecretKey();
    const node = await startProvider({
      engine: flavour,
      upstream: engine!.url,
      mints: [devnet.mintUrl],
      dataDir: tmp(),
      contextLength: engine!.contextSize,
      maxConcurrency: 2,
      queueSize: 64,
      name,
      board,
      nsec: Buffer.from(secretKey).toString('hex'),
      log: () => undefined,
    });
    const listing = new NostrListing(
      { relays: [devnet.relayUrl], secretKey, urls: [node.url], mints: [devnet.mintUrl], version: PROVIDER_VERSION, name, about: 'orders e2e' },
      { log: () => undefined },
    );
    await listing.open(asks(price), Math.floor(Date.now() / 1000));
    let seq = 0;
    const ticker: TickerNode = {
      name,
      node,
      board,
      async tick(p, options = {}) {
        board.set(asks(p));
        const createdAt = Math.floor(Date.now() / 1000);
        seq = Math.max(seq + 1, Date.now());
        const event = listing.signTick({ expiration: createdAt + 3600, seq, load: 0, models: asks(p), createdAt });
        // remember: false publishes a tick the node will not honour (a forged or forgotten quote)
        if (options.remember !== false) board.rememberQuote(event.id, asks(p), createdAt + 3600);
        // the node's own price moves on at once: only the quote can make a fill cost `p`
        if (options.billAfter) board.set(asks(options.billAfter));
        await listing.publish(event);
        return event.id;
      },
      async stop() {
        listing.close();
        await node.stop();
      },
    };
    nodes.push(ticker);
    return ticker;
  }

  return {
    devnet,
    model: engine.model,
    nodes,
    startTicker,
    async openMarket() {
      const market = openMarket({ relays: [devnet.relayUrl], tickIntervalMs: 0, maxFutureSkewSeconds: 3600, allowProviderAddresses: 'loopback' });
      markets.push(market);
      await market.ready();
      // the book has every node once each has an ask and a probed endpoint
      const have = (): boolean => nodes.every((n) => market.depth(engine.model, 50).some((a) => a.provider.includes(n.node.pubkey) && a.source !== 'announcement'));
      if (!have()) {
        await new Promise<void>((resolve) => {
          const off = market.onAskChange(() => {
            if (have()) {
              off();
              resolve();
            }
          });
        });
      }
      return market;
    },
    async newWallet(fund, name = 'buyer') {
      const path = join(tmp(), `${name}.db`);
      const wallet = await openWallet({ path, mints: [devnet.mintUrl], pollIntervalMs: 20 });
      if (fund > 0) await (await wallet.fund(sat(fund))).complete();
      wallets.push(wallet);
      return { wallet, path };
    },
    providerHeldSat: () => nodes.reduce((s, n) => s + n.node.payee.balances().heldSat, 0),
    tmp,
    async stop() {
      for (const m of markets) m.close();
      for (const w of wallets) {
        try {
          w.close();
        } catch {
          // already closed by the test
        }
      }
      for (const n of nodes) await n.stop().catch(() => undefined);
      await devnet.stop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** Resolves with the first emission of `event` on `emitter`. */
export function once<T>(emitter: { once(event: string, listener: (value: T) => void): unknown }, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, resolve));
}

/** Ticks `price` on `node` (with `options` as TickerNode.tick takes them) and waits until `market`'s best ask carries that quote. */
export async function tickIntoBook(
  node: TickerNode,
  market: Market,
  model: string,
  price: Price,
  options: { billAfter?: Price; remember?: boolean } = {},
): Promise<string> {
  const quote = await node.tick(price, options);
  const seen = (): boolean => market.bestAsk(model)?.quoteId === quote;
  if (seen()) return quote;
  await new Promise<void>((resolve) => {
    const off = market.onAskChange(() => {
      if (seen()) {
        off();
        resolve();
      }
    });
  });
  return quote;
}
