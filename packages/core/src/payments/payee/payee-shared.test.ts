// Shared books: several node processes (child processes, each its own Payee) on one payee
// database and one wallet file; one is SIGKILLed mid-request. Value is conserved to the sat.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startMint, type RunningMint } from '@routstr-kit/devnet/mint';
import { sat } from '../../money/index.ts';
import { openWallet, type EcashWallet } from '../../wallet/index.ts';
import { failpointEnv } from '../../testing/index.ts';
import { storeBackends } from '../../storage/store-backends.ts';
import { openPayee } from './payee.ts';
import { PayeeStore } from './payee-store.ts';

const driver = fileURLToPath(new URL('./shared-driver.ts', import.meta.url));

type Answer = { ok: true; result: unknown } | { ok: false; code: string; message: string };

/** One node process on the shared books (shared-driver.ts). */
class NodeProcess {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<NodeJS.Signals | null>;
  #next = 0;
  readonly #waiting = new Map<number, (a: Answer) => void>();
  #stderr = '';

  constructor(args: { walletPath: string; dbPath: string; mint: string; recoverEveryMs?: number }) {
    this.child = spawn(process.execPath, [driver, JSON.stringify(args)], { env: failpointEnv(null), stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr?.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.on('close', (_code, signal) => resolve(signal)));
    this.ready = new Promise((resolve, reject) => {
      void this.exited.then(() => reject(new Error(`node process exited: ${this.#stderr}`)));
      createInterface({ input: this.child.stdout! }).on('line', (line) => {
        const m = JSON.parse(line) as { ready?: boolean; id?: number } & Answer;
        if (m.ready) return resolve();
        this.#waiting.get(m.id as number)?.(m);
        this.#waiting.delete(m.id as number);
      });
    });
  }

  /** Sends one command; resolves with its answer. */
  call(op: string, params: Record<string, unknown> = {}): Promise<Answer> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, resolve);
      void this.exited.then(() => reject(new Error(`node process died before answering ${op}: ${this.#stderr}`)));
      this.child.stdin?.write(`${JSON.stringify({ id, op, ...params })}\n`);
    });
  }

  /** Sends a command that must succeed; its result. */
  async ok<T>(op: string, params: Record<string, unknown> = {}): Promise<T> {
    const a = await this.call(op, params);
    if (!a.ok) throw new Error(`${op} failed: ${a.code} ${a.message}`);
    return a.result as T;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await this.call('close').catch(() => undefined);
    await this.exited;
  }
}

describe.each(storeBackends('payee-shared'))('shared books on $name: several node processes on one payee database', (backend) => {
  const dir = mkdtempSync(join(tmpdir(), 'payee-shared-'));
  let n = 0;
  const path = (name: string): string => join(dir, `${name}-${n++}.db`);
  let mint: RunningMint;
  let client: EcashWallet;
  const nodes: NodeProcess[] = [];
  const startNode = async (books: { walletPath: string; dbPath: string; recoverEveryMs?: number }): Promise<NodeProcess> => {
    const node = new NodeProcess({ ...books, mint: mint.url });
    nodes.push(node);
    await node.ready;
    return node;
  };
  const pay = async (amount: number): Promise<string> => (await client.send(sat(amount), { purpose: 'test' })).token;

  beforeAll(async () => {
    mint = await startMint();
    client = await openWallet({ path: path('client'), mints: [mint.url] });
    await (await client.fund(sat(2000))).complete();
  });
  afterAll(async () => {
    await Promise.all(nodes.map((p) => p.close()));
    client.close();
    await mint.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // (PostgreSQL books are always shared: no single-process Payee there.)
  it.runIf(backend.name === 'sqlite')('books open in a single-process Payee refuse a second Payee of either kind; shared books refuse a single-process one', { timeout: 30_000 }, async () => {
    const dbPath = path('payee');
    const w = await openWallet({ path: path('node'), mints: [mint.url], reclaimOnOpen: false });
    try {
      const single = await openPayee({ wallet: w, dbPath });
      await expect(openPayee({ wallet: w, dbPath })).rejects.toThrow(/single-process Payee/);
      await expect(openPayee({ wallet: w, dbPath, shared: true })).rejects.toThrow(/single-process Payee/);
      single.close();
      const shared = [await openPayee({ wallet: w, dbPath, shared: true }), await openPayee({ wallet: w, dbPath, shared: true })];
      await expect(openPayee({ wallet: w, dbPath })).rejects.toThrow(/open shared by another process/);
      for (const p of shared) p.close();
      (await openPayee({ wallet: w, dbPath })).close();
    } finally {
      w.close();
    }
  });

  it('one X-Cashu token sent to two processes at once is redeemed exactly once; the other process answers the same change after', { timeout: 60_000 }, async () => {
    const books = { walletPath: path('node'), dbPath: await backend.fresh('payee') };
    const [a, b] = await Promise.all([startNode(books), startNode(books)]);
    const before = client.balance();
    const token = await pay(21);
    const refusals = (): number => Object.values(mint.stats().errorsByCode).reduce((x, y) => x + y, 0);
    const refusedBefore = refusals();
    const answers = await Promise.all([a, b].map((p) => p.call('xcashu', { token, costMsat: 3_001 })));
    const won = answers.filter((x) => x.ok);
    expect(won).toHaveLength(1);
    expect(answers.find((x) => !x.ok)).toMatchObject({ ok: false, code: 'cashu_token_already_spent' });
    expect(refusals()).toBe(refusedBefore); // the loser never sent the token to the mint (a second swap of it is refused there)
    const change = (won[0] as { result: { changeSat: number; token: string } }).result;
    expect(change.changeSat).toBe(17);
    // Either process finds the request done, with the same change token (the row decides).
    for (const p of [a, b]) expect(await p.ok('refund-for', { token })).toEqual({ state: 'done', token: change.token, changeSat: 17 });
    expect(await client.receive(change.token)).toBe(17);
    await Promise.all([a, b].map((p) => p.close()));
    const w = await openWallet({ path: books.walletPath, mints: [mint.url], reclaimOnOpen: false });
    expect(w.balance()).toBe(4);
    expect(client.balance() + w.balance()).toBe(before); // conserved to the sat
    w.close();
  });

  it('one sk- balance spent concurrently through two processes never goes negative and its decrease equals the sum of the charges', { timeout: 60_000 }, async () => {
    const books = { walletPath: path('node'), dbPath: await backend.fresh('payee') };
    const [a, b] = await Promise.all([startNode(books), startNode(books)]);
    const apiKey = await a.ok<string>('deposit', { token: await pay(4) });
    // Each request costs more than its gate: the two processes' held gates take all 4 000 msat, and the
    // second settle finds less than its cost: it is charged as far as the balance goes, never below zero.
    const holds = await Promise.all([a, b].map((p) => p.ok<string>('hold', { apiKey, gateMsat: 2_000 })));
    expect(await b.call('hold', { apiKey, gateMsat: 1 })).toMatchObject({ ok: false, code: 'insufficient_balance' });
    const first = await a.ok<{ chargedMsat: number; remainingMsat: number }>('settle', { reservationId: holds[0], costMsat: 2_500 });
    const second = await b.ok<{ chargedMsat: number; remainingMsat: number }>('settle', { reservationId: holds[1], costMsat: 2_500 });
    // (available = balance − the other hold: −500 while B's 2 000 are held on a 1 500 balance, as the in-memory ledger counts it)
    expect([first, second]).toEqual([{ chargedMsat: 2_500, remainingMsat: -500 }, { chargedMsat: 1_500, remainingMsat: 0 }]);
    expect(await a.ok('info', { apiKey })).toMatchObject({ availableMsat: 0, reservedMsat: 0, totalSpentMsat: 4_000 });
    expect(await b.ok<number>('topup', { apiKey, token: await pay(26) })).toBe(26_000);
    // Then both spend at once until the account cannot cover a gate.
    const spent = await Promise.all([a, b].map((p) => p.ok<{ charged: number[]; remaining: number[] }>('spend', { apiKey, gateMsat: 2_000, costMsat: 2_500 })));
    const charges = [2_500, 1_500, ...spent.flatMap((s) => s.charged)];
    expect(charges.every((c) => c > 0 && c <= 2_500)).toBe(true);
    const info = await b.ok<{ availableMsat: number; reservedMsat: number; totalRequests: number; totalSpentMsat: number }>('info', { apiKey });
    const sum = charges.reduce((x, y) => x + y, 0);
    expect(info.reservedMsat).toBe(0);
    expect(info.availableMsat).toBeGreaterThanOrEqual(0);
    expect(info.availableMsat).toBeLessThan(2_000);
    expect(30_000 - info.availableMsat).toBe(sum);
    expect(info).toMatchObject({ totalRequests: charges.length, totalSpentMsat: sum });
    await Promise.all([a, b].map((p) => p.close()));
    const store = new PayeeStore(books.dbPath);
    expect(store.revenueMsat()).toBe(sum);
    store.close();
  });

  it('one deposit token and one refund sent to two processes at once: the account is credited once and refunded once', { timeout: 60_000 }, async () => {
    const books = { walletPath: path('node'), dbPath: await backend.fresh('payee') };
    const [a, b] = await Promise.all([startNode(books), startNode(books)]);
    const before = client.balance();
    const token = await pay(17);
    // Each answer is the account's key, or 409 "being deposited by another request; try again".
    const deposits = await Promise.all([a, b].map((p) => p.call('deposit', { token })));
    for (const d of deposits) if (!d.ok) expect(d.code).toBe('deposit_in_progress');
    const apiKey = (deposits.find((d) => d.ok) as { result: string }).result;
    for (const p of [a, b]) expect(await p.ok('deposit', { token })).toBe(apiKey); // a repeat once it is done: the same key
    expect(await a.ok('info', { apiKey })).toMatchObject({ availableMsat: 17_000 });
    // Each answer is the one refund token, or 409 "a refund of this key is being made; try again".
    const refunds = await Promise.all([a, b].map((p) => p.call('refund', { apiKey })));
    for (const r of refunds) if (!r.ok) expect(r.code).toBe('refund_refused');
    const refund = (refunds.find((r) => r.ok) as { result: { token: string; sat: number } }).result;
    expect(refund.sat).toBe(17);
    for (const p of [a, b]) expect(await p.ok('refund', { apiKey })).toEqual(refund); // the row answers repeats
    expect(await client.receive(refund.token)).toBe(17);
    await Promise.all([a, b].map((p) => p.close()));
    const w = await openWallet({ path: books.walletPath, mints: [mint.url], reclaimOnOpen: false });
    expect(client.balance() + w.balance()).toBe(before); // conserved to the sat
    expect(w.balance()).toBe(0);
    w.close();
  });

  it('SIGKILL of one process mid-request: its in-flight records are left alone while it lives, the other keeps serving, and a restart conserves value to the sat', { timeout: 90_000 }, async () => {
    const books = { walletPath: path('node'), dbPath: await backend.fresh('payee') };
    const [a, b] = await Promise.all([startNode(books), startNode(books)]);
    const funded = client.balance();
    const back: string[] = []; // every token handed back to the client (change, refunds, payouts)
    const apiKey = await a.ok<string>('deposit', { token: await pay(40) });
    back.push((await b.ok<{ token: string }>('xcashu', { token: await pay(21), costMsat: 1_000 })).token);
    // A is mid-request twice: a Bearer reservation held, an X-Cashu token redeemed and not billed.
    const held = await a.ok<string>('hold', { apiKey, gateMsat: 30_000 });
    const inFlight = await pay(13);
    const tokenHash = await a.ok<string>('xcashu-begin', { token: inFlight });
    // B's recovery while A lives touches none of A's records.
    await b.ok('recover');
    const peek = new PayeeStore(books.dbPath);
    expect(peek.reservation(held)?.state).toBe('held');
    expect(peek.xcashu(tokenHash)?.state).toBe('redeeming');
    expect(await b.call('spend', { apiKey, gateMsat: 20_000, costMsat: 1 })).toMatchObject({ ok: true, result: { charged: [] } }); // A's hold counts

    a.child.kill('SIGKILL');
    expect(await a.exited).toBe('SIGKILL');
    // B keeps serving: the dead process's hold is released when the account is short because of it.
    const spent = await b.ok<{ charged: number[] }>('spend', { apiKey, gateMsat: 5_000, costMsat: 4_321 });
    expect(spent.charged).toEqual(Array(9).fill(4_321)); // 40 000 msat: the 10th gate finds 1 111
    expect(peek.reservation(held)?.state).toBe('released');
    back.push((await b.ok<{ token: string }>('xcashu', { token: await pay(9), costMsat: 2_000 })).token);
    expect(peek.xcashu(tokenHash)?.state).toBe('redeeming'); // B never served it: only recovery finishes it

    // A restarts: its recovery refunds the request it was serving in full (it may not have answered).
    const a2 = await startNode(books);
    expect(peek.xcashu(tokenHash)?.state).toBe('done');
    const refund = await a2.ok<{ state: string; token: string; changeSat: number }>('refund-for', { token: inFlight });
    expect(refund).toMatchObject({ state: 'done', changeSat: 13 });
    back.push(refund.token);
    back.push((await a2.ok<{ token: string }>('refund', { apiKey })).token);
    const payout = await b.ok<{ token: string; amountSat: number } | null>('withdraw');
    if (payout) back.push(payout.token);
    peek.close();
    await Promise.all([a2, b].map((p) => p.close()));
    let returned = 0;
    for (const t of back) returned += await client.receive(t);
    const w = await openWallet({ path: books.walletPath, mints: [mint.url], reclaimOnOpen: false });
    const p = await openPayee({ wallet: w, dbPath: books.dbPath, shared: true });
    try {
      // node wallet (sub-sat remainders) + everything handed back (change, refunds, payout) = what the client paid in.
      expect(client.balance()).toBe(funded - (40 + 21 + 13 + 9) + returned);
      expect(w.pendingBalance()).toBe(0);
      expect(client.balance() + w.balance()).toBe(funded);
      const { revenueMsat, paidOutMsat, liabilitiesMsat } = p.balances();
      expect(revenueMsat).toBe(9 * 4_321 + 1_000 + 2_000);
      expect(paidOutMsat).toBe(41_000);
      expect(liabilitiesMsat).toBe(111); // the account's sub-sat remainder
      // What the node holds is exactly what it earned and did not pay out, plus what it owes.
      expect(w.balance() * 1000).toBe(revenueMsat - paidOutMsat + liabilitiesMsat);
    } finally {
      p.close();
      w.close();
    }
  });

  it('a process SIGKILLed mid-request, never restarted: the timed recovery of a live one hands the buyer its X-Cashu refund and frees the hold', { timeout: 60_000 }, async () => {
    const books = { walletPath: path('node'), dbPath: await backend.fresh('payee') };
    const a = await startNode(books);
    const b = await startNode({ ...books, recoverEveryMs: 50 });
    const apiKey = await a.ok<string>('deposit', { token: await pay(10) });
    const held = await a.ok<string>('hold', { apiKey, gateMsat: 6_000 });
    const inFlight = await pay(13);
    const tokenHash = await a.ok<string>('xcashu-begin', { token: inFlight });
    a.child.kill('SIGKILL');
    expect(await a.exited).toBe('SIGKILL');
    const peek = new PayeeStore(books.dbPath);
    try {
      await vi.waitFor(() => expect(peek.xcashu(tokenHash)?.state).toBe('done'), { timeout: 20_000, interval: 50 });
      await vi.waitFor(() => expect(peek.reservation(held)?.state).toBe('released'), { timeout: 20_000, interval: 50 });
      const refund = await b.ok<{ state: string; token: string; changeSat: number }>('refund-for', { token: inFlight });
      expect(refund).toMatchObject({ state: 'done', changeSat: 13 });
      expect(await client.receive(refund.token)).toBe(13);
      expect(await b.ok('info', { apiKey })).toMatchObject({ availableMsat: 10_000, reservedMsat: 0 });
    } finally {
      peek.close();
    }
  });
});
