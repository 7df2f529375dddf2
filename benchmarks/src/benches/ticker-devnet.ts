/**
 * A market on loopback for the buyer-side benches: the engine and the mint in a child process
 * (devnet-process.ts, their CPU work off the client's event loop), a relay, and one provider node
 * that announces itself on Nostr and publishes signed 28421 ticks from a price board we hold —
 * like test/e2e/orders-devnet.ts, but `tick` reports the moment the signed tick is handed to the
 * relay connection, so a figure can start at the publish and not at the signing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { generateSecretKey } from 'nostr-tools';
import { msatPerMtok, openMarket, openWallet, sat, type EcashWallet, type Market } from '@routstr-kit/core';
import { startRelay, type RunningRelay } from '@routstr-kit/devnet';
import { createPriceBoard, NostrListing, PROVIDER_VERSION, startProvider, type RunningProvider, type WritablePriceBoard } from '@routstr-kit/provider';
import { spawnDevnet, type DevnetProcess } from './devnet-process.ts';

/** msat/Mtok prices of the one model. */
export interface Price {
  prompt: number;
  completion: number;
}

export interface TickerDevnet {
  devnet: DevnetProcess;
  relay: RunningRelay;
  node: RunningProvider;
  board: WritablePriceBoard;
  model: string;
  /** Puts `price` in force, signs a tick and publishes it; `publishedAt` is performance.now() just before the publish. */
  tick(price: Price): Promise<{ quote: string; publishedAt: number }>;
  /** A market subscribed to the relay, resolved once it holds the node's probed ask. */
  openMarket(): Promise<Market>;
  /** A funded wallet on the devnet mint (through the mint's timing proxy). */
  newWallet(fundSat: number, name?: string): Promise<EcashWallet>;
  stop(): Promise<void>;
}

/** Starts the child devnet, a relay and a ticker node at `price`. */
export async function startTickerDevnet(price: Price, options: { slots?: number } = {}): Promise<TickerDevnet> {
  const slots = options.slots ?? 2;
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'bench-ticker-'));
    dirs.push(d);
    return d;
  };
  const markets: Market[] = [];
  const wallets: EcashWallet[] = [];
  let devnet: DevnetProcess | undefined;
  let relay: RunningRelay | undefined;
  let node: RunningProvider | undefined;
  let listing: NostrListing | undefined;
  const stop = async (): Promise<void> => {
    for (const m of markets) m.close();
    for (const w of wallets) {
      try {
        w.close();
      } catch {
        // closed already
      }
    }
    listing?.close();
    await node?.stop().catch(() => undefined);
    await relay?.stop().catch(() => undefined);
    await devnet?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  try {
    devnet = await spawnDevnet({ flavour: 'llama.cpp', maxConcurrency: slots });
    relay = await startRelay();
    const model = devnet.model;
    const asks = (p: Price) => [{ model, prompt: msatPerMtok(p.prompt), completion: msatPerMtok(p.completion) }];
    const board = createPriceBoard(asks(price));
    const secretKey = generateSecretKey();
    node = await startProvider({
      engine: 'llama.cpp', upstream: devnet.engineUrl, mints: [devnet.proxyUrl], dataDir: tmp(), contextLength: devnet.contextSize,
      maxConcurrency: slots, queueSize: 64, name: 'bench-ticker', board, nsec: Buffer.from(secretKey).toString('hex'), log: () => undefined,
    });
    const url = node.url;
    const pubkey = node.pubkey;
    listing = new NostrListing(
      { relays: [relay.url], secretKey, urls: [url], mints: [devnet.proxyUrl], version: PROVIDER_VERSION, name: 'bench-ticker', about: 'benchmark' },
      { log: () => undefined },
    );
    const opened = listing;
    await opened.open(asks(price), Math.floor(Date.now() / 1000));
    let seq = 0;
    const relayUrl = relay.url;
    const mintUrl = devnet.proxyUrl;
    const tick = async (p: Price): Promise<{ quote: string; publishedAt: number }> => {
      board.set(asks(p));
      const createdAt = Math.floor(Date.now() / 1000);
      seq = Math.max(seq + 1, Date.now());
      const event = opened.signTick({ expiration: createdAt + 3600, seq, load: 0, models: asks(p), createdAt });
      board.rememberQuote(event.id, asks(p), createdAt + 3600);
      const publishedAt = performance.now();
      await opened.publish(event);
      return { quote: event.id, publishedAt };
    };
    await tick(price);
    return {
      devnet, relay, node, board, model, tick, stop,
      async openMarket() {
        const market = openMarket({ relays: [relayUrl], tickIntervalMs: 0, maxFutureSkewSeconds: 3600, allowProviderAddresses: 'loopback', websocketImplementation: WebSocket as unknown as typeof globalThis.WebSocket });
        markets.push(market);
        await market.ready();
        const have = (): boolean => market.depth(model, 50).some((a) => a.provider.includes(pubkey) && a.source !== 'announcement');
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
      async newWallet(fundSat, name = 'buyer') {
        const wallet = await openWallet({ path: join(tmp(), `${name}.db`), mints: [mintUrl], pollIntervalMs: 20 });
        wallets.push(wallet);
        if (fundSat > 0) await (await wallet.fund(sat(fundSat))).complete();
        return wallet;
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
