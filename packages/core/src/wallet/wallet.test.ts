import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getEncodedToken, getTokenMetadata } from '@cashu/cashu-ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeInvoice, startMint, type RunningMint } from '@routstr-kit/devnet/mint';
import { sat } from '../money/index.ts';
import { storeBackends } from '../storage/store-backends.ts';
import { BudgetExceeded, InsufficientFunds, UnreadableToken, ProofsAlreadySpent, UnknownMint } from './errors.ts';
import { openWallet } from './open-wallet.ts';
import type { EcashWallet } from './wallet.ts';

/** Everything a set of wallets started with must be in their balances, their fees, or outside value. */
function valueHeld(wallets: EcashWallet[]): number {
  return wallets.reduce((s, w) => s + w.balance() + w.feesPaid(), 0);
}

describe.each(storeBackends('wallet-flows'))('on $name', (backend) => {
  for (const inputFeePpk of [0, 100]) {
    describe(`wallet flows on the devnet mint (inputFeePpk ${inputFeePpk})`, () => {
      const dir = mkdtempSync(join(tmpdir(), 'wallet-flows-'));
      let mint: RunningMint;
      let alice: EcashWallet;
      let bob: EcashWallet;

      beforeAll(async () => {
        mint = await startMint({ inputFeePpk });
        // No exact-change inventory: these flows pin the swap path and its fees (denomination-inventory.test.ts covers it).
        alice = await openWallet({ path: await backend.fresh('alice'), mints: [mint.url], inventory: false });
        bob = await openWallet({ path: await backend.fresh('bob'), mints: [`${mint.url}/`], inventory: false });
      });
      afterAll(async () => {
        alice.close();
        bob.close();
        await mint.stop();
        rmSync(dir, { recursive: true, force: true });
      });

      it('funds, sends, receives, settles and withdraws with balances exact to the sat', async () => {
        const funding = await alice.fund(sat(600));
        expect(funding.invoice).toMatch(/^lnbc/);
        expect(await funding.complete()).toBe(600);
        expect(alice.balance()).toBe(600);
        expect(alice.balances()).toEqual({ [mint.url]: 600 });

        const sent = await alice.send(sat(100), { purpose: 'test payment', requestId: 'req-1' });
        expect(sent.amount).toBe(100);
        expect(getTokenMetadata(sent.token).amount.toNumber()).toBe(100);
        expect(sent.entry).toMatchObject({ status: 'outstanding', purpose: 'test payment', requestId: 'req-1', amount: 100, token: sent.token });
        expect(alice.journal({ requestId: 'req-1' })).toHaveLength(1);
        expect(alice.balance()).toBe(500 - alice.feesPaid());
        if (inputFeePpk === 0) expect(alice.feesPaid()).toBe(0);

        const credited = await bob.receive(sent.token);
        expect(bob.balance()).toBe(credited);
        expect(credited).toBe(100 - bob.feesPaid());
        if (inputFeePpk > 0) expect(bob.feesPaid()).toBeGreaterThan(0);
        expect(valueHeld([alice, bob])).toBe(600);

        // A second redemption is refused by the mint and changes nothing.
        await expect(bob.receive(sent.token)).rejects.toBeInstanceOf(ProofsAlreadySpent);
        expect(bob.balance()).toBe(credited);

        // NUT-07 reconciliation: the redeemed token becomes spent-unsettled until the payments layer settles it.
        await alice.recover();
        expect(alice.unsettled().map((e) => e.id)).toEqual([sent.entry.id]);
        alice.settle(sent.entry.id);
        expect(alice.unsettled()).toEqual([]);
        expect(alice.journal({ requestId: 'req-1' })[0]?.status).toBe('settled');

        const before = alice.balance();
        const withdrawal = await alice.withdraw(fakeInvoice(200));
        expect(withdrawal.state).toBe('paid');
        expect(withdrawal.amount).toBe(200);
        // No Lightning fee on the devnet: the melt costs its input fee only.
        expect(withdrawal.feePaid).toBe(inputFeePpk === 0 ? 0 : 1);
        expect(alice.balance()).toBe(before - 200 - withdrawal.feePaid);
        expect(withdrawal.entry).toMatchObject({ kind: 'melt', status: 'settled', amount: 200 });
        expect(valueHeld([alice, bob]) + 200).toBe(600);
        expect(alice.pendingBalance()).toBe(0);
      });

      it('reclaims an unredeemed token, after which the recipient cannot redeem it', async () => {
        const start = alice.balance();
        const feesBefore = alice.feesPaid();
        const sent = await alice.send(sat(64), { purpose: 'to reclaim' });
        const feesAfterSend = alice.feesPaid();
        const back = await alice.reclaim(sent.entry);
        expect(back).toBe(64 - (alice.feesPaid() - feesAfterSend));
        expect(alice.balance() + alice.feesPaid()).toBe(start + feesBefore);
        expect(alice.journal().find((e) => e.id === sent.entry.id)?.status).toBe('reclaimed');
        await expect(bob.receive(sent.token)).rejects.toBeInstanceOf(ProofsAlreadySpent);
        expect(await alice.reclaim(sent.entry)).toBe(0);
      });

      it('refuses malformed tokens, foreign mints and overdrafts without changing anything', async () => {
        const snapshot = { balance: bob.balance(), journal: bob.journal().length, fees: bob.feesPaid() };
        const good = (await alice.send(sat(8), { purpose: 'source of a real token' })).token;
        for (const bad of ['', 'hello', 'cashuBgarbage', good.slice(0, 40), `cashuA${Buffer.from('{"token":[]}').toString('base64')}`]) {
          await expect(bob.receive(bad)).rejects.toBeInstanceOf(UnreadableToken);
        }
        const foreign = getEncodedToken({
          mint: 'http://127.0.0.1:1',
          unit: 'sat',
          proofs: [{ id: mint.keysetId, amount: 1 as never, secret: 'x', C: '02' + '11'.repeat(32) }],
        });
        const unknown = await bob.receive(foreign).catch((e: unknown) => e);
        expect(unknown).toBeInstanceOf(UnknownMint);
        expect((unknown as UnknownMint).code).toBe('unknown_mint');
        expect({ balance: bob.balance(), journal: bob.journal().length, fees: bob.feesPaid() }).toEqual(snapshot);

        const over = await bob.send(sat(bob.balance() + 1), { purpose: 'too much' }).catch((e: unknown) => e);
        expect(over).toBeInstanceOf(InsufficientFunds);
        expect((over as InsufficientFunds).code).toBe('insufficient_funds');
        expect({ balance: bob.balance(), journal: bob.journal().length, fees: bob.feesPaid() }).toEqual(snapshot);
        expect(bob.pendingBalance()).toBe(0);
      });
    });
  }

  describe('budgets', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wallet-budget-'));
    let mint: RunningMint;
    let wallet: EcashWallet;
    beforeAll(async () => {
      mint = await startMint({});
      wallet = await openWallet({
        path: await backend.fresh('w'),
        mints: [mint.url],
        budgets: { perRequestMax: sat(100), windows: [{ windowMs: 60_000, max: sat(150) }] },
      });
      await (await wallet.fund(sat(400))).complete();
    });
    afterAll(async () => {
      wallet.close();
      await mint.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('refuses a payment over the per-request cap, saying by how much', async () => {
      const e = await wallet.send(sat(101), { purpose: 'big' }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(BudgetExceeded);
      expect((e as BudgetExceeded).code).toBe('budget_exceeded');
      expect((e as BudgetExceeded).cap).toEqual({ kind: 'per_request', limit: 100 });
      expect((e as BudgetExceeded).over).toBe(1);
      expect(wallet.balance()).toBe(400);
      expect(wallet.journal()).toEqual([]);
    });

    it('refuses what would exceed the rolling window, and counts reclaimed tokens as not spent', async () => {
      const first = await wallet.send(sat(100), { purpose: 'a' });
      const e = await wallet.send(sat(60), { purpose: 'b' }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(BudgetExceeded);
      expect((e as BudgetExceeded).cap).toEqual({ kind: 'window', windowMs: 60_000, limit: 150 });
      expect((e as BudgetExceeded).over).toBe(10);
      await expect(wallet.withdraw(fakeInvoice(60))).rejects.toBeInstanceOf(BudgetExceeded);
      expect(wallet.balance()).toBe(300);
      await wallet.reclaim(first.entry);
      expect((await wallet.send(sat(60), { purpose: 'b' })).amount).toBe(60);
      expect(wallet.balance()).toBe(340);
    });
  });

  describe('two mints', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wallet-two-mints-'));
    let m1: RunningMint;
    let m2: RunningMint;
    beforeAll(async () => {
      m1 = await startMint({});
      m2 = await startMint({ inputFeePpk: 100 });
    });
    afterAll(async () => {
      await m1.stop();
      await m2.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('keeps balances per mint, pays from the mint asked for, and receives from either', async () => {
      const wallet = await openWallet({ path: await backend.fresh('w'), mints: [m1.url, m2.url] });
      await (await wallet.fund(sat(100), { mint: m1.url })).complete();
      await (await wallet.fund(sat(200), { mint: m2.url })).complete();
      expect(wallet.balances()).toEqual({ [m1.url]: 100, [m2.url]: 200 });
      expect(wallet.balance()).toBe(300);

      const fromSecond = await wallet.send(sat(64), { mint: m2.url, purpose: 'second mint' });
      expect(getTokenMetadata(fromSecond.token).mint).toBe(m2.url);
      expect(wallet.balance(m1.url)).toBe(100);
      // Without a preference, the first mint that can cover it pays.
      const auto = await wallet.send(sat(90), { purpose: 'auto' });
      expect(getTokenMetadata(auto.token).mint).toBe(m1.url);
      expect(wallet.balance(m1.url)).toBe(10);
      await expect(wallet.send(sat(20), { mint: m1.url, purpose: 'too much here' })).rejects.toBeInstanceOf(InsufficientFunds);

      const other = await openWallet({ path: await backend.fresh('o'), mints: [m2.url] });
      await expect(other.send(sat(1), { mint: m1.url, purpose: 'x' })).rejects.toBeInstanceOf(UnknownMint);
      await other.receive(fromSecond.token);
      expect(other.balance(m2.url)).toBe(64 - other.feesPaid());
      await expect(other.receive(auto.token)).rejects.toBeInstanceOf(UnknownMint);
      expect(other.balance()).toBe(64 - other.feesPaid());
      wallet.close();
      other.close();
    });
  });

  describe('mint outage in the middle of a send', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wallet-outage-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('keeps the inputs pending while the mint is down, and recover() returns them once it is back', async () => {
      const dbPath = join(dir, 'mint.db');
      let mint = await startMint({ dbPath });
      const port = Number(new URL(mint.url).port);
      const wallet = await openWallet({ path: await backend.fresh('w'), mints: [mint.url], inventory: false }); // a send that swaps
      await (await wallet.fund(sat(100))).complete();
      await mint.stop();

      const error = await wallet.send(sat(30), { purpose: 'during outage' }).catch((e: unknown) => e);
      expect((error as { code?: string }).code).toBe('mint_error');
      expect(wallet.balance() + wallet.pendingBalance()).toBe(100);
      expect(wallet.pendingBalance()).toBeGreaterThan(0);

      mint = await startMint({ dbPath, port });
      const report = await wallet.recover();
      expect(report.operationsResolved).toBe(1);
      expect(wallet.balance()).toBe(100);
      expect(wallet.pendingBalance()).toBe(0);
      expect(wallet.journal()[0]?.status).toBe('aborted');
      expect((await wallet.send(sat(30), { purpose: 'after outage' })).amount).toBe(30);
      wallet.close();
      await mint.stop();
    });

    // Issue 15: liveness is kept in the wallet file, not in module memory.
    it('a second wallet on the same file in this process leaves the first one\'s in-flight send alone until the first closes', async () => {
      const dbPath = join(dir, 'mint2.db');
      let mint = await startMint({ dbPath });
      const port = Number(new URL(mint.url).port);
      const path = await backend.fresh('shared');
      const first = await openWallet({ path, mints: [mint.url], inventory: false }); // a send that swaps
      await (await first.fund(sat(100))).complete();
      await mint.stop();
      await first.send(sat(30), { purpose: 'during outage' }).catch(() => undefined);
      const held = first.pendingBalance();
      expect(held).toBeGreaterThan(0);

      mint = await startMint({ dbPath, port });
      const second = await openWallet({ path, mints: [mint.url], inventory: false });
      expect(second.lastRecovery?.operationsResolved).toBe(0);
      expect(second.pendingBalance()).toBe(held);
      first.close();
      const report = await second.recover();
      expect(report.operationsResolved).toBe(1);
      expect(second.balance()).toBe(100);
      expect(second.pendingBalance()).toBe(0);
      second.close();
      await mint.stop();
    });
  });
});
