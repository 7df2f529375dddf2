// Test fixture: a devnet market for the buyer-side scenarios — relay, mint, one llama.cpp engine,
// provider nodes announced on the relay, and a market (injectable clock) that has seen them all.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, msatPerMtok, openMarket, openWallet, sat, type EcashWallet, type Market } from '@routstr-kit/core';
import { startDevnet, type Devnet } from '@routstr-kit/devnet';
import { startProvider, type DynamicBoardConfig, type RunningProvider, type StartProviderOptions } from '@routstr-kit/provider';

export type ProviderSpec = (
  | { name: string; price: { prompt: number; completion: number } }
  | { name: string; dynamic: Omit<DynamicBoardConfig, 'mode'> }
) & {
  /** Node settings over the fixture's defaults (e.g. `{ maxConcurrency: 1, queueSize: 0 }` for a node that answers 429). */
  node?: Pick<StartProviderOptions, 'maxConcurrency' | 'queueSize'>;
};

export interface MarketDevnet {
  devnet: Devnet;
  model: string;
  providers: Map<string, RunningProvider>;
  clock: ManualClock;
  market: Market;
  /** Provider id (`38421:<pubkey>:<d>`) of a named node. */
  idOf(name: string): string;
  nameOf(id: string): string;
  /** Starts (or restarts on its old port and data) a named node. */
  startNode(spec: ProviderSpec, port?: number): Promise<RunningProvider>;
  /** Resolves once every named node has an ask in the book. */
  waitForAsks(names?: string[]): Promise<void>;
  newWallet(fund: number, options?: { budgets?: Parameters<typeof openWallet>[0]['budgets']; name?: string }): Promise<{ wallet: EcashWallet; path: string }>;
  tmp(): string;
  stop(): Promise<void>;
}

export async function startMarketDevnet(specs: ProviderSpec[]): Promise<MarketDevnet> {
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'payer-e2e-'));
    dirs.push(d);
    return d;
  };
  const devnet = await startDevnet({ engines: { llama: { flavour: 'llama.cpp', maxConcurrency: 2 } } });
  const engine = devnet.parts.engines['llama'];
  if (!engine) throw new Error('no engine');
  const providers = new Map<string, RunningProvider>();
  const dataDirs = new Map<string, string>();
  const wallets: EcashWallet[] = [];

  async function startNode(spec: ProviderSpec, port?: number): Promise<RunningProvider> {
    const dataDir = dataDirs.get(spec.name) ?? tmp();
    dataDirs.set(spec.name, dataDir);
    const pricing: Partial<StartProviderOptions> =
      'price' in spec
        ? { price: { prompt: msatPerMtok(spec.price.prompt), completion: msatPerMtok(spec.price.completion) } }
        : { pricing: { mode: 'dynamic', ...spec.dynamic } };
    const p = await startProvider({
      engine: 'llama.cpp',
      upstream: engine!.url,
      mints: [devnet.mintUrl],
      relays: [devnet.relayUrl],
      dataDir,
      contextLength: engine!.contextSize,
      maxConcurrency: 2,
      queueSize: 32,
      name: spec.name,
      tick: { intervalMs: 0, expirationS: 3600 },
      log: () => undefined,
      ...(port ? { port } : {}),
      ...pricing,
      ...spec.node,
    });
    providers.set(spec.name, p);
    return p;
  }

  for (const spec of specs) await startNode(spec);
  const clock = new ManualClock(Date.now());
  const market = openMarket({ relays: [devnet.relayUrl], clock, tickIntervalMs: 0, maxFutureSkewSeconds: 3600, allowProviderAddresses: 'loopback' });
  await market.ready();

  const idOf = (name: string): string => {
    const p = providers.get(name);
    const r = p && market.registry.all().find((x) => x.pubkey === p.pubkey);
    if (!r) throw new Error(`market does not know ${name}`);
    return r.id;
  };
  const nameOf = (id: string): string => [...providers].find(([, p]) => id.includes(p.pubkey))?.[0] ?? id;

  async function waitForAsks(names = specs.map((s) => s.name)): Promise<void> {
    const have = (): boolean =>
      names.every((n) => {
        const p = providers.get(n);
        return p !== undefined && market.depth(engine!.model, 50).some((a) => a.provider.includes(p.pubkey));
      });
    if (have()) return;
    await new Promise<void>((resolve) => {
      const off = market.onAskChange(() => {
        if (have()) {
          off();
          resolve();
        }
      });
    });
  }
  await waitForAsks();

  return {
    devnet,
    model: engine.model,
    providers,
    clock,
    market,
    idOf,
    nameOf,
    startNode,
    waitForAsks,
    tmp,
    async newWallet(fund, options = {}) {
      const path = join(tmp(), `${options.name ?? 'buyer'}.db`);
      const wallet = await openWallet({ path, mints: [devnet.mintUrl], ...(options.budgets ? { budgets: options.budgets } : {}) });
      if (fund > 0) await (await wallet.fund(sat(fund))).complete();
      wallets.push(wallet);
      return { wallet, path };
    },
    async stop() {
      market.close();
      for (const w of wallets) w.close();
      for (const p of providers.values()) await p.stop().catch(() => undefined);
      await devnet.stop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** Σ revenue of the nodes (msats). */
export function revenueMsat(providers: Iterable<RunningProvider>): number {
  let total = 0;
  for (const p of providers) total += p.payee.balances().revenueMsat;
  return total;
}
