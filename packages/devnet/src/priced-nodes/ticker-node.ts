// A provider node whose price the caller holds: it bills from a board we keep and publishes its own
// 38421 announcement and signed 28421 ticks (each remembered as a quote), exactly as the market
// maker does, so a test or a bench decides when the book moves and with which quote.
import { generateSecretKey } from 'nostr-tools';
import { msatPerMtok } from '@routstr-kit/core';
import { createPriceBoard, NostrListing, PROVIDER_VERSION, startProvider, type RunningProvider, type WritablePriceBoard } from '@routstr-kit/provider';
import type { EngineFlavour } from '../engine/index.ts';

/** Prices of the one model in msat per million tokens. */
export interface Price {
  prompt: number;
  completion: number;
}

/** Where priced nodes sell: the relay they announce on, the mint they take, the engine they resell. */
export interface PricedNetwork {
  relayUrl: string;
  mintUrl: string;
  engine: { url: string; model: string; contextSize: number; flavour: EngineFlavour };
}

export interface TickOptions {
  /** The node's own price moves on to this at once: only the quote can make a fill cost the ticked price. */
  billAfter?: Price;
  /** false publishes a tick the node will not honour (a forged or forgotten quote). */
  remember?: boolean;
}

/** A signed tick ready to go out, so a caller can time the publish alone. */
export interface PreparedTick {
  quote: string;
  publish(): Promise<void>;
}

export interface TickerNode {
  name: string;
  node: RunningProvider;
  board: WritablePriceBoard;
  /** Puts `price` in force and signs a tick for it (not yet published). */
  prepareTick(price: Price, options?: TickOptions): PreparedTick;
  /** Puts `price` in force and publishes a tick for it; resolves with the tick id (the quote) once relays took it. */
  tick(price: Price, options?: TickOptions): Promise<string>;
  stop(): Promise<void>;
}

/** The board entries of `price` for `model`. */
export function asksOf(model: string, price: Price) {
  return [{ model, prompt: msatPerMtok(price.prompt), completion: msatPerMtok(price.completion) }];
}

/** Starts a ticker node named `name` at `price` with its data in `dataDir`. */
export async function startTickerNode(
  network: PricedNetwork,
  options: { name: string; price: Price; dataDir: string; slots: number; queueSize: number },
): Promise<TickerNode> {
  const { engine } = network;
  const asks = (p: Price) => asksOf(engine.model, p);
  const board = createPriceBoard(asks(options.price));
  const secretKey = generateSecretKey();
  const node = await startProvider({
    engine: engine.flavour,
    upstream: engine.url,
    mints: [network.mintUrl],
    dataDir: options.dataDir,
    contextLength: engine.contextSize,
    maxConcurrency: options.slots,
    queueSize: options.queueSize,
    name: options.name,
    board,
    nsec: Buffer.from(secretKey).toString('hex'),
    log: () => undefined,
  });
  const listing = new NostrListing(
    { relays: [network.relayUrl], secretKey, urls: [node.url], mints: [network.mintUrl], version: PROVIDER_VERSION, name: options.name, about: 'devnet priced node' },
    { log: () => undefined },
  );
  try {
    await listing.open(asks(options.price), Math.floor(Date.now() / 1000));
  } catch (error) {
    listing.close();
    await node.stop().catch(() => undefined);
    throw error;
  }
  let seq = 0;
  const prepareTick = (p: Price, tickOptions: TickOptions = {}): PreparedTick => {
    board.set(asks(p));
    const createdAt = Math.floor(Date.now() / 1000);
    seq = Math.max(seq + 1, Date.now());
    const event = listing.signTick({ expiration: createdAt + 3600, seq, load: 0, models: asks(p), createdAt });
    if (tickOptions.remember !== false) board.rememberQuote(event.id, asks(p), createdAt + 3600);
    if (tickOptions.billAfter) board.set(asks(tickOptions.billAfter));
    return {
      quote: event.id,
      publish: async () => {
        await listing.publish(event);
      },
    };
  };
  return {
    name: options.name,
    node,
    board,
    prepareTick,
    async tick(p, tickOptions) {
      const prepared = prepareTick(p, tickOptions);
      await prepared.publish();
      return prepared.quote;
    },
    async stop() {
      listing.close();
      await node.stop();
    },
  };
}
