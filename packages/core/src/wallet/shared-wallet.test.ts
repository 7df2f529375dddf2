// Issue 19: an agent running as several instances shares one wallet on PostgreSQL with the same
// guarantees as one file: two buyer processes spending from it at once never spend a proof twice,
// and the books conserve to the sat against the mint. And owner liveness across hosts: a killed
// process's in-flight send is recovered by another once its PostgreSQL connection is gone, a live one's never.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Wallet as CashuWallet, getDecodedToken } from '@cashu/cashu-ts';
import { startPostgresCluster, type PostgresCluster } from '@routstr-kit/devnet/postgres';
import { startMint, type RunningMint } from '@routstr-kit/devnet/mint';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sat } from '../money/index.ts';
import { failpointEnv } from './failpoint.ts';
import { openWallet } from './open-wallet.ts';

const driver = fileURLToPath(new URL('./crash-driver.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'shared-wallet-'));
let cluster: PostgresCluster;
let mint: RunningMint;
let cashu: CashuWallet;
beforeAll(async () => {
  [cluster, mint] = await Promise.all([startPostgresCluster(), startMint({ inputFeePpk: 100 })]);
  cashu = new CashuWallet(mint.url);
  await cashu.loadMint();
}, 120_000);
afterAll(async () => {
  await mint?.stop();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Child = ChildProcessByStdio<Writable, Readable, Readable>;

/** Starts the driver; resolves once it printed `ready` (it holds the wallet open). */
function startSpender(path: string, count: number, amount: number): Promise<{ child: Child; done: Promise<string[]> }> {
  const child = spawn(process.execPath, [driver, JSON.stringify({ path, mint: mint.url, action: 'sends', count, amount })], { env: failpointEnv(null), stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<string[]>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`spender exited ${code}: ${err}`));
      else resolve((JSON.parse(out.trim().split('\n').pop() ?? '{}') as { result: string[] }).result);
    });
  });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      const before = out;
      out += d.toString();
      if (!before.includes('ready\n') && out.includes('ready\n')) resolve({ child, done });
    });
    done.catch(reject);
  });
}

describe('one wallet on PostgreSQL, two buyer processes', () => {
  it('two processes spending concurrently never spend a proof twice, and the books conserve to the sat against the mint', async () => {
    const path = await cluster.newDatabase('shared_spend');
    const funder = await openWallet({ path, mints: [mint.url] });
    await (await funder.fund(sat(600))).complete();
    funder.close();

    const spenders = await Promise.all([startSpender(path, 10, 9), startSpender(path, 10, 9)]);
    for (const { child } of spenders) child.stdin.end('go\n');
    const tokens = (await Promise.all(spenders.map((s) => s.done))).flat();
    expect(tokens).toHaveLength(20);

    // every proof secret in at most one sent token
    const proofs = tokens.flatMap((t) => getDecodedToken(t, [mint.keysetId]).proofs);
    const secrets = proofs.map((p) => p.secret);
    expect(new Set(secrets).size).toBe(secrets.length);
    const sent = tokens.reduce((s, t) => s + getDecodedToken(t, [mint.keysetId]).proofs.reduce((a, p) => a + Number(p.amount), 0), 0);
    expect(sent).toBe(180);

    // the wallet's books: what it holds, what it paid the mint, and what it sent make what it was funded with
    const wallet = await openWallet({ path, mints: [mint.url], reclaimOnOpen: false });
    expect(wallet.pendingBalance()).toBe(0);
    expect(wallet.journal({ status: 'outstanding' })).toHaveLength(20);
    expect(wallet.balance() + wallet.feesPaid() + sent).toBe(600);
    // …and the mint agrees: every proof the wallet keeps is unspent there and none is in a sent token
    const kept = wallet.store.proofs(mint.url, 'unspent');
    expect(kept.some((p) => secrets.includes(p.secret))).toBe(false);
    const states = await cashu.checkProofsStates([...kept.map((p) => ({ ...p, amount: p.amount as never })), ...proofs]);
    expect(states.every((s) => s.state === 'UNSPENT')).toBe(true);
    expect(kept.reduce((s, p) => s + p.amount, 0)).toBe(wallet.balance());
    // every sent token redeems (a proof spent twice would be refused by the mint)
    const recipient = await openWallet({ path: join(dir, 'recipient.db'), mints: [mint.url] });
    for (const token of tokens) await recipient.receive(token);
    expect(recipient.balance() + recipient.feesPaid()).toBe(180);
    recipient.close();
    wallet.close();
  });
});

describe('owner liveness on PostgreSQL (the owner connection\'s backend, so across hosts)', () => {
  /** Marks every owner row as another host's, so only its PostgreSQL backend can tell whether it lives. */
  async function asIfOnAnotherHost(url: string): Promise<number[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ backend_pid: string }>("UPDATE wallet.live_owners SET host = 'another-host' RETURNING backend_pid");
      return rows.map((r) => Number(r.backend_pid));
    } finally {
      await client.end();
    }
  }

  /** Resolves once none of these backends is connected any more (the server noticed the closed connections). */
  async function backendsGone(url: string, pids: number[]): Promise<void> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await vi.waitFor(async () => {
        const { rows } = await client.query('SELECT pid FROM pg_stat_activity WHERE pid = ANY($1::int[])', [pids]);
        expect(rows).toEqual([]);
      }, { timeout: 10_000, interval: 20 });
    } finally {
      await client.end();
    }
  }

  it('a SIGKILLed process\'s in-flight send is recovered by another process once its backend is gone', async () => {
    const path = await cluster.newDatabase('liveness');
    const funder = await openWallet({ path, mints: [mint.url], inventory: false });
    await (await funder.fund(sat(300))).complete();
    funder.close();

    // a process killed after it reserved its inputs (send:after-reserve), its row made another host's
    const killed = spawn(process.execPath, [driver, JSON.stringify({ path, mint: mint.url, action: 'send', amount: 100, inventory: false })], { env: failpointEnv('send:after-reserve'), stdio: 'ignore' });
    const signal = await new Promise((resolve) => killed.on('close', (_code, s) => resolve(s)));
    expect(signal).toBe('SIGKILL');
    const backends = await asIfOnAnotherHost(path);
    expect(backends).toHaveLength(1);
    await backendsGone(path, backends);

    const recovering = await openWallet({ path, mints: [mint.url], inventory: false, reclaimOnOpen: false });
    expect(recovering.lastRecovery?.operationsResolved).toBe(1);
    expect(recovering.pendingBalance()).toBe(0);
    expect(recovering.balance() + recovering.feesPaid()).toBe(300);
    recovering.close();
  });

  it('a live owner whose row says another host keeps its in-flight send until it closes: its backend is connected', async () => {
    const path = await cluster.newDatabase('liveness_live');
    const dbPath = join(dir, 'outage-mint.db');
    let outage = await startMint({ dbPath });
    const port = Number(new URL(outage.url).port);
    const first = await openWallet({ path, mints: [outage.url], inventory: false });
    await (await first.fund(sat(100))).complete();
    await outage.stop();
    await first.send(sat(30), { purpose: 'during outage' }).catch(() => undefined);
    const held = first.pendingBalance();
    expect(held).toBeGreaterThan(0);
    outage = await startMint({ dbPath, port });
    try {
      await asIfOnAnotherHost(path);
      const second = await openWallet({ path, mints: [outage.url], inventory: false });
      expect(second.lastRecovery?.operationsResolved).toBe(0);
      expect(second.pendingBalance()).toBe(held);
      first.close();
      expect((await second.recover()).operationsResolved).toBe(1);
      expect(second.balance()).toBe(100);
      second.close();
    } finally {
      await outage.stop();
    }
  });
});
