/**
 * A market on loopback for the buyer-side benches: the engine and the mint in a child process
 * (devnet-process.ts, their CPU work off the client's event loop), a relay, and one ticker node from
 * @routstr-kit/devnet/priced-nodes (the fixture the e2e tests use). `tick` reports the moment the
 * signed tick is handed to the relay connection, so a figure can start at the publish and not at the signing.
 */
import WebSocket from 'ws';
import type { EcashWallet, Market } from '@routstr-kit/core';
import { startRelay, type RunningRelay } from '@routstr-kit/devnet';
import { pricedNodes, type Price, type PricedNodes } from '@routstr-kit/devnet/priced-nodes';
import type { RunningProvider, WritablePriceBoard } from '@routstr-kit/provider';
import { spawnDevnet, type DevnetProcess } from './devnet-process.ts';

export type { Price } from '@routstr-kit/devnet/priced-nodes';

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
  let devnet: DevnetProcess | undefined;
  let relay: RunningRelay | undefined;
  let nodes: PricedNodes | undefined;
  const stop = async (): Promise<void> => {
    await nodes?.stop();
    await relay?.stop().catch(() => undefined);
    await devnet?.stop();
  };
  try {
    devnet = await spawnDevnet({ flavour: 'llama.cpp', maxConcurrency: slots });
    relay = await startRelay();
    const priced = pricedNodes(
      { relayUrl: relay.url, mintUrl: devnet.proxyUrl, engine: { url: devnet.engineUrl, model: devnet.model, contextSize: devnet.contextSize, flavour: 'llama.cpp' } },
      { slots },
    );
    nodes = priced;
    const ticker = await priced.startTicker('bench-ticker', price);
    const tick = async (p: Price): Promise<{ quote: string; publishedAt: number }> => {
      const prepared = ticker.prepareTick(p);
      const publishedAt = performance.now();
      await prepared.publish();
      return { quote: prepared.quote, publishedAt };
    };
    await tick(price);
    return {
      devnet,
      relay,
      node: ticker.node,
      board: ticker.board,
      model: priced.model,
      tick,
      stop,
      openMarket: () => priced.openMarket({ websocketImplementation: WebSocket as unknown as typeof globalThis.WebSocket }),
      newWallet: async (fundSat, name = 'buyer') => (await priced.newWallet(fundSat, { name })).wallet,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
