// Crash safety of the buyer: a child process pays for one request and is SIGKILLed at each
// failpoint; reopening the wallet and the paying fetch recovers everything — the token taken back,
// the change fetched from the provider's refund route, the session balance refunded — so that
// wallet + what the provider earned and owes = what was funded, to the msat.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPayingFetch, openMarket, openWallet } from '@routstr-kit/core';
import { failpointEnv } from '@routstr-kit/core/testing';
import type { RunningProvider } from '@routstr-kit/provider';
import { startPricedDevnet, type PricedDevnet } from '@routstr-kit/devnet/priced-nodes';

const driver = fileURLToPath(new URL('./buyer-driver.ts', import.meta.url));
const FUNDED = 200;

let net: PricedDevnet;
let node: RunningProvider;
beforeAll(async () => {
  net = await startPricedDevnet();
  await net.startNode({ name: 'only', price: { prompt: 200_000_000, completion: 1_000_000_000 } });
  node = net.providers.get('only') as RunningProvider;
});
afterAll(async () => {
  await net?.stop();
});

function runChild(args: Record<string, unknown>, failpointName: string | null): Promise<{ signal: NodeJS.Signals | null; code: number | null; err: string }> {
  return new Promise((resolve, reject) => {
    const env = failpointEnv(failpointName);
    const child = spawn(process.execPath, [driver, JSON.stringify(args)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.resume();
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, err }));
  });
}

/** What the node holds of the buyer's money: earned plus owed (change not yet delivered, key balances), msats. */
const nodeValueMsat = (): number => {
  const b = node.payee.balances();
  return b.revenueMsat + b.liabilitiesMsat;
};

const cases: Array<{ mode: 'xcashu' | 'session'; stream: boolean; step: string | null }> = [
  { mode: 'xcashu', stream: false, step: 'payer:before-send' },
  { mode: 'xcashu', stream: false, step: 'payer:after-send' },
  { mode: 'xcashu', stream: false, step: 'payer:before-change-stored' },
  { mode: 'xcashu', stream: true, step: 'payer:after-send' },
  { mode: 'xcashu', stream: true, step: 'payer:mid-stream' },
  { mode: 'xcashu', stream: true, step: 'payer:before-change-stored' },
  { mode: 'xcashu', stream: true, step: null },
  // issue 16: change kept as a string (incoming journal), redeemed in the background after the answer
  { mode: 'xcashu', stream: false, step: 'incoming:before-swap' },
  { mode: 'xcashu', stream: true, step: 'incoming:after-swap' },
  { mode: 'xcashu', stream: false, step: 'incoming:after-store' },
  { mode: 'session', stream: false, step: 'payer:session-before-deposit' },
  { mode: 'session', stream: false, step: 'payer:session-after-deposit' },
  { mode: 'session', stream: true, step: 'payer:mid-stream' },
  { mode: 'session', stream: false, step: null },
];

describe('buyer killed at each step, restarted, nothing lost', () => {
  let n = 0;
  for (const c of cases) {
    it(`${c.mode}${c.stream ? ' stream' : ''}: killed at ${c.step ?? 'no step (completes)'}`, { timeout: 120_000 }, async () => {
      const { wallet, path } = await net.newWallet(FUNDED, { name: `crash-${n++}` });
      wallet.close();
      const before = nodeValueMsat();
      const child = await runChild({ walletPath: path, mint: net.devnet.mintUrl, relay: net.devnet.relayUrl, model: net.model, mode: c.mode, stream: c.stream }, c.step);
      const killed = c.step !== null;
      expect(child.signal, child.err).toBe(killed ? 'SIGKILL' : null);

      // restart: the wallet reclaims what never left; the payer collects what the provider holds
      const reopened = await openWallet({ path, mints: [net.devnet.mintUrl] });
      const market = openMarket({ relays: [], tickIntervalMs: 0, allowProviderAddresses: 'loopback' });
      const pf = createPayingFetch({ wallet: reopened, market, mode: c.mode });
      const report = await pf.ready;
      expect(report.pending).toBe(0);
      await pf.close();
      market.close();

      expect(reopened.incomingBalance()).toBe(0);
      expect(reopened.balance() * 1000 + (nodeValueMsat() - before)).toBe(FUNDED * 1000);
      expect(reopened.pendingBalance()).toBe(0);
      expect(reopened.unsettled()).toEqual([]);
      expect(reopened.journal({ status: 'outstanding' })).toEqual([]);
      // the key is refunded down to its sub-sat rest
      for (const s of pf.payer.store.sessions()) expect(s.state).toBe('closed');
      if (killed) expect(reopened.balance()).toBeLessThanOrEqual(FUNDED);
      reopened.close();
    });
  }
});

