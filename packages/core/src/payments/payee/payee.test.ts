import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getEncodedToken, getTokenMetadata } from '@cashu/cashu-ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMint, type RunningMint } from '@routstr-kit/devnet/mint';
import { sat } from '../../money/index.ts';
import { apiKeyForToken } from '../../protocol/index.ts';
import { openWallet, type EcashWallet } from '../../wallet/index.ts';
import { failpointEnv } from '../../testing/index.ts';
import { storeBackends, type StoreBackend } from '../../storage/store-backends.ts';
import { bolt11AmountSat } from './bolt11-amount.ts';
import { PayeeError } from './payee-errors.ts';
import { openPayee, type Payee } from './payee.ts';

const driver = fileURLToPath(new URL('./crash-driver.ts', import.meta.url));
const face = (token: string): number => Number(getTokenMetadata(token).amount.toString());

function runChild(args: Record<string, unknown>, failpointName: string | null): Promise<{ signal: NodeJS.Signals | null; result: unknown; lines: unknown[] }> {
  return new Promise((resolve, reject) => {
    const env = failpointEnv(failpointName);
    const child = spawn(process.execPath, [driver, JSON.stringify(args)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code, signal) => {
      const lines = out.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown);
      const last = lines.at(-1) as { result?: unknown } | undefined;
      if (signal === null && code !== 0) reject(new Error(`driver failed (${code}): ${err}`));
      else resolve({ signal, result: signal === null ? last?.result : undefined, lines });
    });
  });
}

async function expectPayeeError(p: Promise<unknown> | (() => unknown), status: number, code: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (error) {
    expect(error).toBeInstanceOf(PayeeError);
    expect({ status: (error as PayeeError).status, code: (error as PayeeError).code }).toEqual({ status, code });
    return;
  }
  throw new Error(`expected ${code}`);
}

// Every suite below but the in-memory group commit's runs on single-process books (SQLite) and on
// shared books on SQLite and on PostgreSQL (always shared there); the node's wallet is a SQLite file.
const [sqlite, postgres] = storeBackends('payee-books') as [StoreBackend, StoreBackend];
const modes = [
  { books: 'single-process sqlite', shared: false, backend: sqlite },
  { books: 'shared sqlite', shared: true, backend: sqlite },
  { books: 'shared postgres', shared: true, backend: postgres },
];

describe.each(modes)('payee (redeem before serving, msat books, idempotent refunds), $books books', ({ shared, backend }) => {
  const dir = mkdtempSync(join(tmpdir(), 'payee-'));
  let mint: RunningMint;
  let client: EcashWallet;
  let nodeWallet: EcashWallet;
  let payee: Payee;
  let n = 0;
  const path = (name: string): string => join(dir, `${name}-${n++}.db`);
  const pay = async (amount: number): Promise<string> => (await client.send(sat(amount), { purpose: 'test' })).token;

  beforeAll(async () => {
    mint = await startMint();
    client = await openWallet({ path: path('client'), mints: [mint.url] });
    await (await client.fund(sat(1000))).complete();
    nodeWallet = await openWallet({ path: path('node'), mints: [mint.url], reclaimOnOpen: false });
    payee = await openPayee({ wallet: nodeWallet, dbPath: await backend.fresh('payee'), shared });
  });
  afterAll(async () => {
    payee.close();
    nodeWallet.close();
    client.close();
    await mint.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads token headers: malformed, zero value and untrusted mints are refused before any mint call', async () => {
    await expectPayeeError(() => payee.describeToken('hello'), 400, 'invalid_cashu_token');
    const zero = getEncodedToken({ mint: mint.url, unit: 'sat', proofs: [] });
    await expectPayeeError(() => payee.describeToken(zero), 400, 'cashu_token_zero_value');
    const foreign = getEncodedToken({ mint: 'http://127.0.0.1:9', unit: 'sat', proofs: [{ id: mint.keysetId, amount: 1 as never, secret: 's', C: `02${'11'.repeat(32)}` }] });
    await expectPayeeError(() => payee.describeToken(foreign), 422, 'cashu_foreign_mint_swap_failed');
  });

  it('X-Cashu: gate checked before redeeming, change = face − ceil(cost/1000), same change on repeats', async () => {
    const small = await pay(2);
    await expectPayeeError(payee.beginXCashu(small, { gateMsat: 2001, model: 'm', requestId: 'r0' }), 402, 'minimum_balance_required');
    expect(await client.receive(small)).toBe(2); // not redeemed
    const token = await pay(10);
    const payment = await payee.beginXCashu(token, { gateMsat: 5000, model: 'm', requestId: 'r1' });
    expect(payment.creditedSat).toBe(10);
    expect(payee.refundFor(token)).toEqual({ state: 'pending' });
    const change = await payee.finishXCashu(payment.tokenHash, 3001);
    expect(change.changeSat).toBe(6);
    expect(face(change.token as string)).toBe(6);
    expect(await payee.finishXCashu(payment.tokenHash, 1)).toEqual(change);
    expect(payee.refundFor(token)).toEqual({ state: 'done', token: change.token, changeSat: 6 });
    await expectPayeeError(payee.beginXCashu(token, { gateMsat: 1, model: 'm', requestId: 'r2' }), 400, 'cashu_token_already_spent');
    expect(payee.balances()).toMatchObject({ heldSat: 4, revenueMsat: 4000 });
    expect(payee.refundFor(await pay(1))).toEqual({ state: 'unknown' });
  });

  it('Bearer: a token is redeemed once into sk-sha256(token); reserve, settle, release; refund cached until new money', async () => {
    const token = await pay(20);
    const key = await payee.accountFor({ kind: 'cashu', token });
    expect(key).toBe(apiKeyForToken(token));
    expect(await payee.accountFor({ kind: 'cashu', token })).toBe(key);
    expect(payee.info(key).availableMsat).toBe(20_000);
    const r1 = payee.reserve(key, 15_000);
    expect(() => payee.reserve(key, 5_001)).toThrow(/Insufficient balance: 5001 mSats required. 5000 available. \(reserved: 15000\)/);
    expect(payee.settle(r1, 1_234)).toEqual({ chargedMsat: 1_234, remainingMsat: 18_766 });
    expect(payee.settle(r1, 9_999).chargedMsat).toBe(1_234); // settling twice charges once
    payee.release(payee.reserve(key, 1000));
    expect(payee.info(key)).toMatchObject({ availableMsat: 18_766, reservedMsat: 0, totalRequests: 1, totalSpentMsat: 1_234 });
    const refund = await payee.refund(key);
    expect(refund.sat).toBe(18);
    expect(await payee.refund(key)).toEqual(refund);
    expect(payee.info(key).availableMsat).toBe(766);
    expect(await payee.topup(key, await pay(3))).toBe(3000);
    const second = await payee.refund(key);
    expect(second.token).not.toBe(refund.token);
    expect(second.sat).toBe(3);
    await expectPayeeError(payee.accountFor({ kind: 'api_key', apiKey: `sk-${'1'.repeat(64)}` }), 401, 'key_not_found');
  });

  it('withdraws no more than the revenue, as a token', async () => {
    const { withdrawableSat } = payee.balances();
    await expectPayeeError(payee.withdraw({ amountSat: withdrawableSat + 1 }), 400, 'insufficient_revenue');
    const payout = await payee.withdraw({ amountSat: withdrawableSat });
    expect(face(payout.token as string)).toBe(withdrawableSat);
    expect(payee.balances().withdrawableSat).toBe(0);
    expect(bolt11AmountSat('lnbcrt250n1pxyz')).toBe(25);
  });

  for (const step of ['receive:after-swap', 'payee:deposit-after-redeem']) {
    it(`Bearer deposit killed at ${step}: the account is credited (net of the mint's input fee) on restart`, { timeout: 60_000 }, async () => {
      const feeMint = await startMint({ inputFeePpk: 1000, seed: 'cd'.repeat(32) });
      const payer = await openWallet({ path: path('fee-client'), mints: [feeMint.url] });
      try {
        await (await payer.fund(sat(20))).complete();
        const walletPath = path('crash-node');
        const dbPath = await backend.fresh('crash-payee');
        const token = (await payer.send(sat(12), { purpose: 'deposit' })).token;
        const fee = getTokenMetadata(token).proofAmounts.length; // 1000 ppk: 1 sat per input proof
        const child = await runChild({ walletPath, dbPath, mint: feeMint.url, action: 'deposit', token, shared }, step);
        expect(child.signal).toBe('SIGKILL');
        const w = await openWallet({ path: walletPath, mints: [feeMint.url], reclaimOnOpen: false });
        const p = await openPayee({ wallet: w, dbPath, shared });
        expect(fee).toBeGreaterThan(0);
        expect(w.balance()).toBe(12 - fee);
        expect(p.info(apiKeyForToken(token)).availableMsat).toBe((12 - fee) * 1000);
        p.close();
        w.close();
      } finally {
        payer.close();
        await feeMint.stop();
      }
    });
  }

  for (const step of ['payee:refund-after-debit', 'send:after-store', 'payee:refund-after-send']) {
    it(`Bearer refund killed at ${step}: the same refund is delivered after restart, nothing lost`, { timeout: 60_000 }, async () => {
      const walletPath = path('crash-node');
      const dbPath = await backend.fresh('crash-payee');
      const token = await pay(15);
      const setup = await runChild({ walletPath, dbPath, mint: mint.url, action: 'deposit', token, shared }, null);
      const apiKey = setup.result as string;
      const child = await runChild({ walletPath, dbPath, mint: mint.url, action: 'refund', apiKey, shared }, step);
      expect(child.signal).toBe('SIGKILL');
      const w = await openWallet({ path: walletPath, mints: [mint.url], reclaimOnOpen: false });
      const p = await openPayee({ wallet: w, dbPath, shared });
      const refund = await p.refund(apiKey);
      expect(await p.refund(apiKey)).toEqual(refund);
      const back = await client.receive(refund.token);
      expect(back + w.balance()).toBe(15);
      expect(back).toBe(15);
      p.close();
      w.close();
    });
  }
});

describe.each(modes)('X-Cashu crash safety: the node SIGKILLed at each step, reopened (value conserved to the sat), $books books', ({ shared, backend }) => {
  const dir = mkdtempSync(join(tmpdir(), 'payee-xcashu-crash-'));
  let n = 0;
  const path = (name: string): string => join(dir, `${name}-${n++}.db`);
  let mint: RunningMint;
  let client: EcashWallet;
  beforeAll(async () => {
    mint = await startMint();
    client = await openWallet({ path: path('client'), mints: [mint.url] });
    await (await client.fund(sat(1000))).complete();
  });
  afterAll(async () => {
    client.close();
    await mint.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const steps = ['receive:before-swap', 'receive:after-swap', 'payee:after-redeem', 'payee:after-charge', 'send:after-store', 'payee:after-change', 'payee:after-store'];
  for (const step of [...steps, null]) {
    it(`killed at ${step ?? 'no step (completes)'}: client + node = paid, node holds exactly its revenue`, { timeout: 60_000 }, async () => {
      const walletPath = path('node');
      const dbPath = await backend.fresh('payee');
      const paid = 21;
      const token = (await client.send(sat(paid), { purpose: 'x-cashu' })).token;
      const swaps = mint.stats().swaps;
      const child = await runChild({ walletPath, dbPath, mint: mint.url, action: 'xcashu', token, shared }, step);
      expect(child.signal).toBe(step ? 'SIGKILL' : null);
      // One mint call on the request's path: the redeem swap; the change (20 sat) comes from the inventory.
      if (!step) expect(mint.stats().swaps - swaps).toBe(1);
      const w = await openWallet({ path: walletPath, mints: [mint.url], reclaimOnOpen: false });
      const p = await openPayee({ wallet: w, dbPath, shared });
      try {
        const refund = p.refundFor(token);
        let clientValue = 0;
        if (refund.state === 'done') clientValue += refund.token ? await client.receive(refund.token) : 0;
        else {
          expect(refund.state).toBe('unknown'); // never redeemed: the token is still the client's
          clientValue += await client.receive(token);
        }
        expect(w.pendingBalance()).toBe(0);
        expect(clientValue + w.balance()).toBe(paid);
        expect(p.balances().revenueMsat).toBe(w.balance() * 1000);
        if (!step) expect(w.balance()).toBe(1);
      } finally {
        p.close();
        w.close();
      }
    });
  }
});

describe.each(modes)('payee recovery: double refund of a token the client reclaimed (issue 13, point 4), $books books', ({ shared, backend }) => {
  const dir = mkdtempSync(join(tmpdir(), 'payee-double-'));
  let n = 0;
  const path = (name: string): string => join(dir, `${name}-${n++}.db`);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const nodeFloatSat of [0, 40]) {
    it(`node killed at receive:before-swap, client reclaims, restart with ${nodeFloatSat} sat held: no second refund, the node starts`, { timeout: 60_000 }, async () => {
      const mint = await startMint();
      const client = await openWallet({ path: path('client'), mints: [mint.url] });
      try {
        await (await client.fund(sat(100))).complete();
        const walletPath = path('node');
        const dbPath = await backend.fresh('payee');
        if (nodeFloatSat > 0) {
          const w = await openWallet({ path: walletPath, mints: [mint.url], reclaimOnOpen: false });
          await w.receive((await client.send(sat(nodeFloatSat), { purpose: 'float' })).token);
          w.close();
        }
        const token = (await client.send(sat(21), { purpose: 'x-cashu' })).token;
        const child = await runChild({ walletPath, dbPath, mint: mint.url, action: 'xcashu', token, shared }, 'receive:before-swap');
        expect(child.signal).toBe('SIGKILL');
        // The node never swapped: the client takes its token back.
        expect(await client.receive(token)).toBe(21);
        const w = await openWallet({ path: walletPath, mints: [mint.url], reclaimOnOpen: false });
        const p = await openPayee({ wallet: w, dbPath, shared });
        expect(p.refundFor(token)).toEqual({ state: 'unknown' });
        expect(w.balance()).toBe(nodeFloatSat);
        expect(w.journal().filter((e) => e.purpose === 'x-cashu change')).toEqual([]);
        expect(client.balance() + w.balance()).toBe(100); // conserved to the sat
        p.close();
        w.close();
      } finally {
        client.close();
        await mint.stop();
      }
    });
  }

  it('mint unreachable mid-redeem, client reclaims, node restarts: the token is not taken for ours', { timeout: 60_000 }, async () => {
    const mintDb = path('mint');
    let mint = await startMint({ dbPath: mintDb });
    const port = Number(new URL(mint.url).port);
    const client = await openWallet({ path: path('client'), mints: [mint.url] });
    const walletPath = path('node');
    const dbPath = await backend.fresh('payee');
    let w = await openWallet({ path: walletPath, mints: [mint.url], reclaimOnOpen: false });
    let p = await openPayee({ wallet: w, dbPath, shared });
    try {
      await (await client.fund(sat(100))).complete();
      await w.receive((await client.send(sat(30), { purpose: 'float' })).token);
      const token = (await client.send(sat(13), { purpose: 'x-cashu' })).token;
      await mint.stop();
      await expectPayeeError(p.beginXCashu(token, { gateMsat: 1, model: 'm', requestId: 'down' }), 503, 'cashu_mint_unreachable');
      mint = await startMint({ dbPath: mintDb, port });
      expect(await client.receive(token)).toBe(13);
      p.close();
      w.close();
      w = await openWallet({ path: walletPath, mints: [mint.url], reclaimOnOpen: false });
      p = await openPayee({ wallet: w, dbPath, shared });
      expect(p.refundFor(token)).toEqual({ state: 'unknown' });
      expect(w.balance()).toBe(30);
      expect(client.balance() + w.balance()).toBe(100);
    } finally {
      p.close();
      w.close();
      client.close();
      await mint.stop();
    }
  });
});

describe('Bearer settlements in memory, committed in groups (issue 16)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'payee-groups-'));
  let mint: RunningMint;
  let client: EcashWallet;
  let n = 0;
  const path = (name: string): string => join(dir, `${name}-${n++}.db`);
  beforeAll(async () => {
    mint = await startMint();
    client = await openWallet({ path: path('client'), mints: [mint.url] });
    await (await client.fund(sat(1000))).complete();
  });
  afterAll(async () => {
    client.close();
    await mint.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('settle answers from memory before its group commits; info and balances read the live figures; a refund never returns money already charged', async () => {
    const nodeWallet = await openWallet({ path: path('node'), mints: [mint.url], reclaimOnOpen: false });
    const p = await openPayee({ wallet: nodeWallet, dbPath: path('payee'), groupCommit: { intervalMs: 60_000 } });
    try {
      const key = await p.accountFor({ kind: 'cashu', token: (await client.send(sat(10), { purpose: 'deposit' })).token });
      const held = p.reserve(key, 4000);
      expect(p.info(key)).toMatchObject({ availableMsat: 6000, reservedMsat: 4000 });
      expect(p.store.account(key)?.reservedMsat).toBe(0); // reservations are never written
      expect(p.settle(p.reserve(key, 3000), 2500)).toEqual({ chargedMsat: 2500, remainingMsat: 3500 });
      expect(p.store.revenueMsat()).toBe(0); // not committed yet
      expect(p.info(key)).toMatchObject({ availableMsat: 3500, reservedMsat: 4000, totalRequests: 1, totalSpentMsat: 2500 });
      expect(p.balances()).toMatchObject({ revenueMsat: 2500, liabilitiesMsat: 7500 });
      p.release(held);
      const refund = await p.refund(key);
      expect(refund.sat).toBe(7); // 7 500 msat left: the 2 500 charged in memory are not refunded
      expect(p.store.revenueMsat()).toBe(2500); // the refund committed the pending charge first
      expect(p.info(key)).toMatchObject({ availableMsat: 500, reservedMsat: 0, totalSpentMsat: 2500 });
      expect(await client.receive(refund.token)).toBe(7);
    } finally {
      p.close();
      nodeWallet.close();
    }
  });

  const points = ['payee:group-commit:before-write', 'payee:group-commit:before-commit', 'payee:group-commit:after-commit'];
  for (const commit of ['timer', 'flush'] as const) {
    for (const point of points) {
      it(`killed at ${point} (${commit} commit): the buyer is charged at most for the answers it got, value conserved to the sat, no payout beyond what the node holds`, { timeout: 60_000 }, async () => {
        const walletPath = path('crash-node');
        const dbPath = path('crash-payee');
        const deposit = 20;
        const setup = await runChild({ walletPath, dbPath, mint: mint.url, action: 'deposit', token: (await client.send(sat(deposit), { purpose: 'deposit' })).token }, null);
        const apiKey = setup.result as string;
        const child = await runChild({ walletPath, dbPath, mint: mint.url, action: 'session', apiKey, requests: 3, commit }, point);
        expect(child.signal).toBe('SIGKILL');
        const answered = (child.lines as Array<{ chargedMsat?: number }>).reduce((sum, l) => sum + (l.chargedMsat ?? 0), 0);
        expect(answered).toBeGreaterThan(0); // answers left before the crash

        const w = await openWallet({ path: walletPath, mints: [mint.url], reclaimOnOpen: false });
        const p = await openPayee({ wallet: w, dbPath });
        try {
          const info = p.info(apiKey);
          expect(info.totalSpentMsat).toBeLessThanOrEqual(answered);
          expect(info.totalSpentMsat).toBe(point === 'payee:group-commit:after-commit' ? answered : 0);
          expect(info.reservedMsat).toBe(0);
          expect(info.availableMsat + p.balances().revenueMsat).toBe(deposit * 1000); // to the msat
          // The node pays out at most its committed revenue, and the buyer gets the rest back.
          const { withdrawableSat } = p.balances();
          expect(withdrawableSat).toBe(Math.floor(info.totalSpentMsat / 1000));
          const payout = withdrawableSat > 0 ? await client.receive((await p.withdraw({ amountSat: withdrawableSat })).token as string) : 0;
          const refund = await client.receive((await p.refund(apiKey)).token);
          expect(refund).toBe(Math.floor(info.availableMsat / 1000));
          expect(payout + refund + w.balance()).toBe(deposit); // conserved to the sat
          expect(w.balance() * 1000).toBeGreaterThanOrEqual(p.balances().liabilitiesMsat);
        } finally {
          p.close();
          w.close();
        }
      });
    }
  }
});

describe.each([sqlite, postgres])('Bearer reservations and settlements on shared books ($name): one commit each, the node SIGKILLed at each step', (backend) => {
  const dir = mkdtempSync(join(tmpdir(), 'payee-shared-crash-'));
  let mint: RunningMint;
  let client: EcashWallet;
  let n = 0;
  const path = (name: string): string => join(dir, `${name}-${n++}.db`);
  beforeAll(async () => {
    mint = await startMint();
    client = await openWallet({ path: path('client'), mints: [mint.url] });
    await (await client.fund(sat(1000))).complete();
  });
  afterAll(async () => {
    client.close();
    await mint.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // Killed in the first request: held (never served), written but not committed, or charged before its answer left.
  const charged: Record<string, number> = { 'payee:reserve:after-commit': 0, 'payee:settle:before-commit': 0, 'payee:settle:after-commit': 1234 };
  for (const [point, chargedMsat] of Object.entries(charged)) {
    it(`killed at ${point}: the dead process's hold is released on restart, charged ${chargedMsat} msat, value conserved to the sat`, { timeout: 60_000 }, async () => {
      const walletPath = path('crash-node');
      const dbPath = await backend.fresh('crash-payee');
      const deposit = 20;
      const setup = await runChild({ walletPath, dbPath, mint: mint.url, action: 'deposit', token: (await client.send(sat(deposit), { purpose: 'deposit' })).token, shared: true }, null);
      const apiKey = setup.result as string;
      const child = await runChild({ walletPath, dbPath, mint: mint.url, action: 'session', apiKey, requests: 3, shared: true }, point);
      expect(child.signal).toBe('SIGKILL');
      const w = await openWallet({ path: walletPath, mints: [mint.url], reclaimOnOpen: false });
      const p = await openPayee({ wallet: w, dbPath, shared: true });
      try {
        expect(p.store.heldReservations()).toEqual([]);
        const info = p.info(apiKey);
        expect(info).toMatchObject({ reservedMsat: 0, totalSpentMsat: chargedMsat, availableMsat: deposit * 1000 - chargedMsat });
        expect(info.availableMsat + p.balances().revenueMsat).toBe(deposit * 1000); // to the msat
        const { withdrawableSat } = p.balances();
        const payout = withdrawableSat > 0 ? await client.receive((await p.withdraw({ amountSat: withdrawableSat })).token as string) : 0;
        const refund = await client.receive((await p.refund(apiKey)).token);
        expect(payout + refund + w.balance()).toBe(deposit); // conserved to the sat
        expect(w.balance() * 1000).toBe(p.balances().revenueMsat - p.balances().paidOutMsat + p.balances().liabilitiesMsat);
      } finally {
        p.close();
        w.close();
      }
    });
  }
});
