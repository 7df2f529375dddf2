// Test fixture: a devnet (relay and mint, no engine) with a market, where hostile providers
// announce themselves; each scenario serves its own model id, so a buyer's request for it can only
// reach that provider.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openMarket, openWallet, sat, type EcashWallet, type Market } from '@routstr-kit/core';
import { startDevnet, startHostileProvider, type Devnet, type HostileBehaviour, type HostileProvider, type HostileProviderOptions } from '@routstr-kit/devnet';
import { untilBook } from '@routstr-kit/devnet/priced-nodes';

/** 0.1 sat per prompt token, 1 sat per output token. */
export const HOSTILE_PRICE = { prompt: 100_000_000, completion: 1_000_000_000 };

export interface HostileDevnet {
  devnet: Devnet;
  market: Market;
  /** Starts a hostile node serving a model of its own and waits until the market has its ask. */
  hostile(behaviour: HostileBehaviour, options?: Partial<HostileProviderOptions>): Promise<{ node: HostileProvider; model: string }>;
  newWallet(fund: number): Promise<EcashWallet>;
  stop(): Promise<void>;
}

export async function startHostileDevnet(): Promise<HostileDevnet> {
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'hostile-e2e-'));
    dirs.push(d);
    return d;
  };
  const devnet = await startDevnet({ engines: {} });
  const market = openMarket({ relays: [devnet.relayUrl], allowProviderAddresses: 'loopback' });
  await market.ready();
  const nodes: HostileProvider[] = [];
  const wallets: EcashWallet[] = [];
  let n = 0;

  async function waitForAsk(model: string, pubkey: string): Promise<void> {
    // from its /v1/models, not only its announcement: the market selects a provider only once a probe passed
    await untilBook(market, () => market.depth(model, 50).some((a) => a.provider.includes(pubkey) && a.source !== 'announcement'));
  }

  return {
    devnet,
    market,
    async hostile(behaviour, options = {}) {
      const model = options.model ?? `hostile-${behaviour}-${n++}`;
      const node = await startHostileProvider({ behaviour, mintUrl: devnet.mintUrl, relayUrl: devnet.relayUrl, model, price: HOSTILE_PRICE, dataDir: tmp(), ...options });
      nodes.push(node);
      await waitForAsk(model, node.pubkey);
      return { node, model };
    },
    async newWallet(fund) {
      const wallet = await openWallet({ path: join(tmp(), 'buyer.db'), mints: [devnet.mintUrl] });
      if (fund > 0) await (await wallet.fund(sat(fund))).complete();
      wallets.push(wallet);
      return wallet;
    },
    async stop() {
      for (const node of nodes) await node.stop().catch(() => undefined);
      for (const w of wallets) w.close();
      market.close();
      await devnet.stop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}
