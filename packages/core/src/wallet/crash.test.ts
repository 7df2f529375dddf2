import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeInvoice, startMint, type RunningMint } from '@routstr-kit/devnet/mint';
import { sat } from '../money/index.ts';
import { storeBackends } from '../storage/store-backends.ts';
import { failpointEnv } from './failpoint.ts';
import { openWallet } from './open-wallet.ts';
import type { EcashWallet } from './wallet.ts';

const driver = fileURLToPath(new URL('./crash-driver.ts', import.meta.url));

interface ChildOutcome {
  signal: NodeJS.Signals | null;
  code: number | null;
  result: unknown;
}

/** Runs the driver in a child process with one failpoint armed (or none). */
function runChild(args: Record<string, unknown>, failpointName: string | null): Promise<ChildOutcome> {
  return new Promise((resolve, reject) => {
    const env = failpointEnv(failpointName);
    const child = spawn(process.execPath, [driver, JSON.stringify(args)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const line = out.trim().split('\n').pop();
      if (signal === null && code !== 0) reject(new Error(`driver failed (${code}): ${err}`));
      else resolve({ code, signal, result: line ? (JSON.parse(line) as { result: unknown }).result : undefined });
    });
  });
}

/** Sats a wallet holds or paid to the mint: with what others received, this must equal what was funded. */
const accounted = (w: EcashWallet): number => w.balance() + w.feesPaid();

let mint: RunningMint;
beforeAll(async () => {
  mint = await startMint({ inputFeePpk: 100 });
});
afterAll(async () => {
  await mint.stop();
});

describe.each(storeBackends('wallet-crash'))('crash safety on $name: SIGKILL at each step, reopen, nothing lost (input fees on)', (backend) => {
  let n = 0;
  const fresh = (): Promise<string> => backend.fresh(`w${n++}`);

  async function funded(path: string, amount: number, inventory: false | undefined = undefined): Promise<EcashWallet> {
    const w = await openWallet({ path, mints: [mint.url], ...(inventory === false ? { inventory } : {}) });
    await (await w.fund(sat(amount))).complete();
    return w;
  }


  for (const step of ['send:after-reserve', 'send:before-swap', 'send:after-swap', 'send:after-store', null]) {
    it(`send, killed at ${step ?? 'no step (completes)'}`, async () => {
      const path = await fresh();
      // No inventory: the send swaps, so every send:* step is on its path.
      (await funded(path, 300, false)).close();
      const child = await runChild({ path, mint: mint.url, action: 'send', amount: 100, inventory: false }, step);
      expect(child.signal).toBe(step ? 'SIGKILL' : null);

      const recipient = await openWallet({ path: await fresh(), mints: [mint.url] });
      if (typeof child.result === 'string') await recipient.receive(child.result);
      const wallet = await openWallet({ path, mints: [mint.url] });
      expect(accounted(wallet) + accounted(recipient)).toBe(300);
      expect(wallet.pendingBalance()).toBe(0);
      expect(wallet.journal().filter((e) => e.status === 'pending' || e.status === 'outstanding')).toEqual([]);
      if (!step) expect(recipient.balance()).toBe(100 - recipient.feesPaid());
      wallet.close();
      recipient.close();
    });
  }

  for (const step of ['send:after-store', null]) {
    it(`exact send from the inventory, killed at ${step ?? 'no step (completes)'}`, async () => {
      const path = await fresh();
      (await funded(path, 300)).close(); // funding outputs fill the inventory: 100 is paid from exact proofs
      const swaps = mint.stats().swaps;
      const child = await runChild({ path, mint: mint.url, action: 'send', amount: 100 }, step);
      expect(child.signal).toBe(step ? 'SIGKILL' : null);
      const wallet = await openWallet({ path, mints: [mint.url], reclaimOnOpen: false });
      expect(mint.stats().swaps).toBe(swaps);
      const [entry] = wallet.journal();
      expect(entry).toMatchObject({ amount: 100, status: 'outstanding' });
      const recipient = await openWallet({ path: await fresh(), mints: [mint.url] });
      await recipient.receive(entry?.token ?? '');
      expect(accounted(wallet) + accounted(recipient)).toBe(300);
      wallet.close();
      recipient.close();
    });
  }

  for (const step of ['inventory:after-reserve', 'inventory:before-swap', 'inventory:after-swap', 'inventory:after-store', null]) {
    it(`inventory refill, killed at ${step ?? 'no step (completes)'}`, async () => {
      const path = await fresh();
      (await funded(path, 300, false)).close(); // 256 + 32 + 8 + 4: no 1s or 2s
      const inventory = { upTo: 3, perDenomination: 2, refillWithFees: true };
      const child = await runChild({ path, mint: mint.url, action: 'refill', inventory }, step);
      expect(child.signal).toBe(step ? 'SIGKILL' : null);
      // Reopening finishes the refill (the mint signed its outputs) or undoes it (the inputs are still ours).
      const wallet = await openWallet({ path, mints: [mint.url], inventory });
      expect(accounted(wallet)).toBe(300);
      expect(wallet.pendingBalance()).toBe(0);
      expect(wallet.journal()).toEqual([]);
      // Whatever the crash left, the inventory can be filled and pays 3 exactly.
      await wallet.refillInventory();
      const swaps = mint.stats().swaps;
      await wallet.send(sat(3), { purpose: 'exact' });
      expect(mint.stats().swaps).toBe(swaps);
      expect(accounted(wallet) + 3).toBe(300);
      wallet.close();
    });
  }

  for (const step of ['receive:before-swap', 'receive:after-swap', 'receive:after-store', null]) {
    it(`receive, killed at ${step ?? 'no step (completes)'}`, async () => {
      const sender = await funded(await fresh(), 300);
      const { token } = await sender.send(sat(100), { purpose: 'to the crashing receiver' });
      const path = await fresh();
      const child = await runChild({ path, mint: mint.url, action: 'receive', token }, step);
      expect(child.signal).toBe(step ? 'SIGKILL' : null);

      // Reopening finishes the receive (restore of the journaled outputs, or a retried swap).
      const receiver = await openWallet({ path, mints: [mint.url] });
      expect(receiver.balance()).toBe(100 - receiver.feesPaid());
      expect(receiver.balance()).toBeGreaterThan(0);
      expect(accounted(sender) + accounted(receiver)).toBe(300);
      expect(receiver.pendingBalance()).toBe(0);
      sender.close();
      receiver.close();
    });
  }

  for (const step of ['incoming:after-keep', 'incoming:before-swap', 'incoming:after-swap', 'incoming:after-store', null]) {
    it(`incoming token kept then redeemed in the background, killed at ${step ?? 'no step (completes)'}`, async () => {
      const sender = await funded(await fresh(), 300);
      const { token } = await sender.send(sat(100), { purpose: 'change for the crashing receiver' });
      const path = await fresh();
      const child = await runChild({ path, mint: mint.url, action: 'keep', token }, step);
      expect(child.signal).toBe(step ? 'SIGKILL' : null);
      if (!step) expect(child.result).toBe('redeemed');

      // Reopening redeems what was kept (or finishes the swap the kill cut off): credited once, fee paid once.
      const receiver = await openWallet({ path, mints: [mint.url] });
      expect(receiver.incomingBalance()).toBe(0);
      expect(receiver.incomingEntries().map((e) => e.status)).toEqual(['redeemed']);
      expect(receiver.balance()).toBe(100 - receiver.feesPaid());
      expect(receiver.balance()).toBeGreaterThan(0);
      expect(accounted(sender) + accounted(receiver)).toBe(300);
      expect(receiver.pendingBalance()).toBe(0);
      sender.close();
      receiver.close();
    });
  }

  for (const step of ['fund:before-mint', 'fund:after-mint']) {
    it(`fund, killed at ${step}`, async () => {
      const path = await fresh();
      const child = await runChild({ path, mint: mint.url, action: 'fund', amount: 200 }, step);
      expect(child.signal).toBe('SIGKILL');
      const wallet = await openWallet({ path, mints: [mint.url] });
      expect(wallet.balance()).toBe(200);
      wallet.close();
    });
  }

  for (const step of ['withdraw:before-melt', 'withdraw:after-melt']) {
    it(`withdraw, killed at ${step}`, async () => {
      const path = await fresh();
      (await funded(path, 300)).close();
      const child = await runChild({ path, mint: mint.url, action: 'withdraw', invoice: fakeInvoice(100) }, step);
      expect(child.signal).toBe('SIGKILL');
      const wallet = await openWallet({ path, mints: [mint.url] });
      const [entry] = wallet.journal();
      const paid = step === 'withdraw:after-melt';
      expect(entry).toMatchObject({ kind: 'melt', amount: 100, status: paid ? 'settled' : 'aborted' });
      expect(accounted(wallet) + (paid ? 100 : 0)).toBe(300);
      // The devnet charges no Lightning fee, so a melt costs only its input fee (1 sat for up to 10 inputs):
      // change lost in recovery would show up here as a bigger "fee".
      expect(wallet.feesPaid()).toBeLessThanOrEqual(paid ? 2 : 1);
      expect(wallet.pendingBalance()).toBe(0);
      wallet.close();
    });
  }
});
