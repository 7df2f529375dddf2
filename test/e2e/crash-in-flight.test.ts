// Issue 13, acceptance 4: SIGKILL of the node, the mint or the buyer while 10 paid requests are in
// flight, in X-Cashu and in session mode. The node, the mint and the buyer each run in their own
// process (relay and engine stay in this one); the kill comes when the buyer sees its first streamed
// content, so the other requests are at every other stage (redeeming, queued at the engine,
// generating, settling), or, for the node, at a failpoint mid-redeem of the first token. After the dead party restarts, the buyer recovers, and the node restarts
// once more (its recovery must not refund what the buyer already took back), every sat is accounted
// for: the buyer's wallet plus what the node earned and owes equals what was funded, and the node's
// wallet holds exactly what its books say (a refund paid twice would leave it short).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPayingFetch, openMarket, openWallet, sat } from '@routstr-kit/core';
import { startEngine, startRelay, type RunningEngine, type RunningRelay } from '@routstr-kit/devnet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnProviderChild, type NodeChild, type ProviderChildArgs } from '../../adapters/provider/test/spawn-provider-child.ts';

const mintChild = fileURLToPath(new URL('./mint-child.ts', import.meta.url));
const buyerChild = fileURLToPath(new URL('./buyer-driver.ts', import.meta.url));
const ADMIN = 'crash-in-flight-admin';
const FUNDED = 300;
const IN_FLIGHT = 10;
const MAX_TOKENS = 16;

interface Child {
  proc: ChildProcess;
  exited: Promise<void>;
}

/** Spawns a fixture and resolves with its first JSON line carrying `url`; `onLine` sees every JSON line. */
function spawnChild(script: string, args: unknown, onLine: (message: Record<string, unknown>) => void = () => undefined): Promise<Child & { url: string }> & { child: Child } {
  const proc = spawn(process.execPath, [script, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const ready = new Promise<Child & { url: string }>((resolve, reject) => {
    let buffer = '';
    proc.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        const message = JSON.parse(line) as Record<string, unknown>;
        if (typeof message['url'] === 'string') resolve({ proc, exited, url: message['url'] });
        onLine(message);
      }
    });
    proc.on('exit', (code, signal) => reject(new Error(`${script} exited (${code ?? signal}): ${err}`)));
  });
  return Object.assign(ready, { child: { proc, exited } });
}

let relay: RunningRelay;
let engine: RunningEngine;
let mint: Child & { url: string };
let mintPort: number;
let node: NodeChild;
let nodePort: number;
const dir = mkdtempSync(join(tmpdir(), 'crash-in-flight-'));
let n = 0;

const startMintChild = (port?: number): Promise<Child & { url: string }> => spawnChild(mintChild, { dbPath: join(dir, 'mint.db'), ...(port ? { port } : {}) });
const nodeArgs = (): ProviderChildArgs => ({
  upstream: engine.url, mint: mint.url, dataDir: join(dir, 'node'), model: engine.model, prompt: 50_000_000, completion: 200_000_000,
  contextLength: engine.contextSize, adminToken: ADMIN, relays: [relay.url], maxConcurrency: IN_FLIGHT, queueSize: IN_FLIGHT,
  ...(nodePort ? { port: nodePort } : {}),
});
const exitedOf = (child: NodeChild): Promise<void> => child.exited.then(() => undefined);

/** The node's books and wallet: earned + owed (msat) and held (sat). */
async function nodeBooks(): Promise<{ valueMsat: number; heldSat: number }> {
  const b = (await (await fetch(`${node.url}/admin/api/balances`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as Record<string, number>;
  return { valueMsat: (b['revenue_msats'] ?? 0) + (b['owed_msats'] ?? 0), heldSat: (b['held_sats'] ?? 0) + (b['pending_sats'] ?? 0) };
}

/** Reopens the buyer's wallet and runs its payer's recovery; returns what the wallet holds after it. */
async function recoverBuyer(path: string, mode: 'xcashu' | 'session'): Promise<{ balance: number; pending: number; outstanding: number }> {
  const wallet = await openWallet({ path, mints: [mint.url] });
  const market = openMarket({ relays: [], tickIntervalMs: 0, allowProviderAddresses: 'loopback' });
  const pf = createPayingFetch({ wallet, market, mode });
  const report = await pf.ready;
  await pf.close();
  market.close();
  const out = { balance: wallet.balance(), pending: report.pending + wallet.pendingBalance(), outstanding: wallet.journal({ status: 'outstanding' }).length + wallet.unsettled().length };
  wallet.close();
  return out;
}

beforeAll(async () => {
  relay = await startRelay();
  engine = await startEngine({ flavour: 'llama.cpp', maxConcurrency: 2 });
  mint = await startMintChild();
  mintPort = Number(new URL(mint.url).port);
  node = await spawnProviderChild(nodeArgs(), null);
  nodePort = Number(new URL(node.url).port);
}, 60_000);

afterAll(async () => {
  for (const p of [node?.proc, mint?.proc]) p?.kill('SIGTERM');
  await Promise.all([node ? exitedOf(node) : undefined, mint?.exited]);
  await engine?.stop();
  await relay?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Who dies, and when: at the buyer's first streamed content, or (the node) at a failpoint it hits itself. */
const CASES: Array<{ mode: 'xcashu' | 'session'; party: 'node' | 'mint' | 'buyer'; failpoint?: string }> = [
  ...(['xcashu', 'session'] as const).flatMap((mode) => (['node', 'mint', 'buyer'] as const).map((party) => ({ mode, party }))),
  // mid-redeem of the first token, the other nine on their way in: the point-4 double refund's ground
  { mode: 'xcashu', party: 'node', failpoint: 'receive:after-swap' },
];

describe(`SIGKILL with ${IN_FLIGHT} requests in flight: every sat accounted for, no refund paid twice`, () => {
  for (const { mode, party, failpoint } of CASES) {
    it(`${mode}: the ${party} is killed ${failpoint ? `at ${failpoint}` : 'at the first streamed content'}`, { timeout: 90_000 }, async () => {
      if (failpoint) {
        node.proc.kill('SIGKILL');
        await exitedOf(node);
        node = await spawnProviderChild(nodeArgs(), failpoint);
      }
      const path = join(dir, `buyer-${n++}.db`);
      const funding = await openWallet({ path, mints: [mint.url] });
      await (await funding.fund(sat(FUNDED))).complete();
      funding.close();
      const before = await nodeBooks();

      let firstChunk!: () => void;
      const sawFirstChunk = new Promise<void>((resolve) => (firstChunk = resolve));
      const buyer = spawnChild(buyerChild, { walletPath: path, mint: mint.url, relay: relay.url, model: engine.model, mode, stream: true, count: IN_FLIGHT, maxTokens: MAX_TOKENS, maxAttempts: 1 }, (m) => {
        if ('firstChunk' in m) firstChunk();
      });
      buyer.catch(() => undefined); // it never prints a url; its exit is awaited below

      if (failpoint) {
        await exitedOf(node); // it killed itself at the failpoint
        [node] = await Promise.all([spawnProviderChild(nodeArgs(), null), buyer.child.exited]);
      } else if (party === 'buyer') {
        await sawFirstChunk;
        buyer.child.proc.kill('SIGKILL');
        await buyer.child.exited;
      } else if (party === 'node') {
        await sawFirstChunk;
        node.proc.kill('SIGKILL');
        await exitedOf(node);
        // its requests fail; it leaves what it could not settle for recovery (or reaches the restarted node)
        [node] = await Promise.all([spawnProviderChild(nodeArgs(), null), buyer.child.exited]);
      } else {
        await sawFirstChunk;
        mint.proc.kill('SIGKILL');
        await mint.exited;
        [mint] = await Promise.all([startMintChild(mintPort), buyer.child.exited]);
      }

      await recoverBuyer(path, mode);
      // The node dies once more: its recovery on restart must not pay back what the buyer already took.
      node.proc.kill('SIGKILL');
      await exitedOf(node);
      node = await spawnProviderChild(nodeArgs(), null);
      const buyerAfter = await recoverBuyer(path, mode);
      const after = await nodeBooks();

      expect(buyerAfter.pending).toBe(0);
      expect(buyerAfter.outstanding).toBe(0);
      const nodeValueMsat = after.valueMsat - before.valueMsat;
      expect(buyerAfter.balance * 1000 + nodeValueMsat).toBe(FUNDED * 1000);
      expect((after.heldSat - before.heldSat) * 1000).toBe(nodeValueMsat);
    });
  }
});
