// The "devnet plus priced provider nodes" fixture of the tests, examples and benchmarks: provider
// nodes at prices the caller sets (fixed, dynamic, or ticked from a board the caller holds), markets
// that have seen them all, funded wallets, and the nodes' books for conservation checks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { msatPerMtok, openMarket, openWallet, sat, type EcashWallet, type Market, type OpenMarketOptions, type OpenWalletOptions } from '@routstr-kit/core';
import { startProvider, type DynamicBoardConfig, type RunningProvider, type StartProviderOptions } from '@routstr-kit/provider';
import { startDevnet, type Devnet } from '../devnet.ts';
import type { EngineFlavour } from '../engine/index.ts';
import { startTickerNode, type Price, type PricedNetwork, type TickerNode } from './ticker-node.ts';

/** A node whose own market maker prices and announces it: a fixed price or a dynamic board. */
export type NodeSpec = ({ name: string; price: Price } | { name: string; dynamic: Omit<DynamicBoardConfig, 'mode'> }) & {
  /** This node's own slots and queue over the fixture's (e.g. `{ maxConcurrency: 1, queueSize: 0 }` for a node that answers 429). */
  node?: Pick<StartProviderOptions, 'maxConcurrency' | 'queueSize'>;
};

export interface PricedNodesOptions {
  /** Concurrent engine slots per node (default 2). */
  slots?: number;
  /** Requests a node queues beyond its slots (default 64). */
  queueSize?: number;
}

export interface PricedNodes {
  network: PricedNetwork;
  model: string;
  /** Every running node by name. */
  providers: Map<string, RunningProvider>;
  /** The ticker nodes in start order. */
  nodes: TickerNode[];
  /** Starts a node whose price the caller ticks. */
  startTicker(name: string, price: Price): Promise<TickerNode>;
  /** Starts (or restarts on its old port and data) a node its own market maker prices. */
  startNode(spec: NodeSpec, port?: number): Promise<RunningProvider>;
  /** A market on the relay, resolved once it holds an ask of every node (a ticked one for ticker nodes). */
  openMarket(options?: Partial<OpenMarketOptions>): Promise<Market>;
  /** Resolves once `market` has an ask of every named node (default: all). */
  waitForAsks(market: Market, names?: string[]): Promise<void>;
  /** Provider id (`38421:<pubkey>:<d>`) of a named node as `market` knows it. */
  idOf(market: Market, name: string): string;
  /** Name of the node behind a provider id (the id itself when none). */
  nameOf(id: string): string;
  /** A wallet on the mint, funded with `fund` sat. */
  newWallet(fund: number, options?: { name?: string; budgets?: OpenWalletOptions['budgets']; pollIntervalMs?: number }): Promise<{ wallet: EcashWallet; path: string }>;
  /** Σ revenue of the nodes in msat. */
  revenueMsat(): number;
  /** Sats held by the nodes' wallets. */
  providerHeldSat(): number;
  /** The ROUTSTR_KIT_* environment of a fresh home that points the kit (CLI, adapters, MCP) at this network. */
  kitEnv(): Record<string, string>;
  /** A fresh temporary folder, removed at stop. */
  tmp(): string;
  stop(): Promise<void>;
}

/** Priced nodes on an existing network (a devnet of the caller's). stop() ends the nodes, markets and wallets, not the network. */
export function pricedNodes(network: PricedNetwork, options: PricedNodesOptions = {}): PricedNodes {
  const slots = options.slots ?? 2;
  const queueSize = options.queueSize ?? 64;
  const model = network.engine.model;
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'routstr-priced-'));
    dirs.push(d);
    return d;
  };
  const providers = new Map<string, RunningProvider>();
  const dataDirs = new Map<string, string>();
  const tickerNames = new Set<string>();
  const nodes: TickerNode[] = [];
  const markets: Market[] = [];
  const wallets: EcashWallet[] = [];

  const dataDirOf = (name: string): string => {
    const dir = dataDirs.get(name) ?? tmp();
    dataDirs.set(name, dir);
    return dir;
  };

  async function waitForAsks(market: Market, names = [...providers.keys()]): Promise<void> {
    const have = (): boolean =>
      names.every((name) => {
        const p = providers.get(name);
        // a ticker node counts once its tick (not only its announcement) is in the book
        return p !== undefined && market.depth(model, 50).some((a) => a.provider.includes(p.pubkey) && (!tickerNames.has(name) || a.source !== 'announcement'));
      });
    await untilBook(market, have);
  }

  return {
    network,
    model,
    providers,
    nodes,
    tmp,
    waitForAsks,
    kitEnv() {
      const home = tmp();
      return { HOME: home, ROUTSTR_KIT_WALLET: join(home, 'wallet.db'), ROUTSTR_KIT_MINTS: network.mintUrl, ROUTSTR_KIT_RELAYS: network.relayUrl, ROUTSTR_KIT_PROVIDER_ADDRESSES: 'loopback' };
    },
    async startTicker(name, price) {
      const ticker = await startTickerNode(network, { name, price, dataDir: dataDirOf(name), slots, queueSize });
      providers.set(name, ticker.node);
      tickerNames.add(name);
      nodes.push(ticker);
      return ticker;
    },
    async startNode(spec, port) {
      const pricing: Partial<StartProviderOptions> =
        'price' in spec
          ? { price: { prompt: msatPerMtok(spec.price.prompt), completion: msatPerMtok(spec.price.completion) } }
          : { pricing: { mode: 'dynamic', ...spec.dynamic } };
      const node = await startProvider({
        engine: network.engine.flavour,
        upstream: network.engine.url,
        mints: [network.mintUrl],
        relays: [network.relayUrl],
        dataDir: dataDirOf(spec.name),
        contextLength: network.engine.contextSize,
        maxConcurrency: slots,
        queueSize,
        name: spec.name,
        tick: { intervalMs: 0, expirationS: 3600 },
        log: () => undefined,
        ...(port ? { port } : {}),
        ...pricing,
        ...spec.node,
      });
      providers.set(spec.name, node);
      return node;
    },
    async openMarket(marketOptions = {}) {
      const market = openMarket({ relays: [network.relayUrl], tickIntervalMs: 0, maxFutureSkewSeconds: 3600, allowProviderAddresses: 'loopback', ...marketOptions });
      markets.push(market);
      await market.ready();
      await waitForAsks(market);
      return market;
    },
    idOf(market, name) {
      const p = providers.get(name);
      const r = p && market.registry.all().find((x) => x.pubkey === p.pubkey);
      if (!r) throw new Error(`market does not know ${name}`);
      return r.id;
    },
    nameOf: (id) => [...providers].find(([, p]) => id.includes(p.pubkey))?.[0] ?? id,
    async newWallet(fund, walletOptions = {}) {
      const path = join(tmp(), `${walletOptions.name ?? 'buyer'}.db`);
      const wallet = await openWallet({
        path,
        mints: [network.mintUrl],
        pollIntervalMs: walletOptions.pollIntervalMs ?? 20,
        ...(walletOptions.budgets ? { budgets: walletOptions.budgets } : {}),
      });
      wallets.push(wallet);
      if (fund > 0) await (await wallet.fund(sat(fund))).complete();
      return { wallet, path };
    },
    revenueMsat: () => [...providers.values()].reduce((s, p) => s + p.payee.balances().revenueMsat, 0),
    providerHeldSat: () => [...providers.values()].reduce((s, p) => s + p.payee.balances().heldSat, 0),
    async stop() {
      for (const m of markets) m.close();
      for (const w of wallets) {
        try {
          w.close();
        } catch {
          // closed already by the caller
        }
      }
      for (const n of nodes) await n.stop().catch(() => undefined);
      for (const [name, p] of providers) if (!tickerNames.has(name)) await p.stop().catch(() => undefined);
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

export interface PricedDevnet extends PricedNodes {
  devnet: Devnet;
}

export interface PricedDevnetOptions extends PricedNodesOptions {
  /** The engine surface the nodes sell (default llama.cpp). */
  flavour?: EngineFlavour;
  /** Ticker nodes to start, each with a first tick of its price published. */
  tickers?: Array<{ name: string; price: Price }>;
}

/** Starts an in-process devnet (relay, mint, one engine of `flavour`) with priced nodes on it; stop() ends it all. */
export async function startPricedDevnet(options: PricedDevnetOptions = {}): Promise<PricedDevnet> {
  const flavour = options.flavour ?? 'llama.cpp';
  const devnet = await startDevnet({ engines: { llama: { flavour, maxConcurrency: options.slots ?? 2 } } });
  const engine = devnet.parts.engines['llama'];
  if (!engine) throw new Error('the devnet started no engine');
  const nodes = pricedNodes({ relayUrl: devnet.relayUrl, mintUrl: devnet.mintUrl, engine: { url: engine.url, model: engine.model, contextSize: engine.contextSize, flavour } }, options);
  const stop = async (): Promise<void> => {
    await nodes.stop();
    await devnet.stop();
  };
  try {
    for (const t of options.tickers ?? []) await (await nodes.startTicker(t.name, t.price)).tick(t.price);
  } catch (error) {
    await stop();
    throw error;
  }
  return { ...nodes, devnet, stop };
}

/** Ticks `price` on `node` and waits until `market`'s best ask of `model` carries that quote. */
export async function tickIntoBook(node: TickerNode, market: Market, model: string, price: Price, options: Parameters<TickerNode['tick']>[1] = {}): Promise<string> {
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

/** Resolves with the first emission of `event` on `emitter`. */
export function once<T>(emitter: { once(event: string, listener: (value: T) => void): unknown }, event: string): Promise<T> {
  return new Promise((resolve) => emitter.once(event, resolve));
}

/** Resolves once `holds()` is true of `market`'s book (checked now and at every ask change). */
export async function untilBook(market: Market, holds: () => boolean): Promise<void> {
  if (holds()) return;
  await new Promise<void>((resolve) => {
    const off = market.onAskChange(() => {
      if (holds()) {
        off();
        resolve();
      }
    });
  });
}
