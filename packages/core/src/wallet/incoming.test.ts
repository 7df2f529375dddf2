import { getEncodedToken, Wallet as CashuWallet, type Token } from '@cashu/cashu-ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMint, type RunningMint } from '@routstr-kit/devnet/mint';
import { sat } from '../money/index.ts';
import { storeBackends } from '../storage/store-backends.ts';
import { UnknownMint, UnreadableToken } from './errors.ts';
import { openWallet } from './open-wallet.ts';
import type { EcashWallet } from './wallet.ts';

/** Sats a wallet holds, paid to the mint, or keeps as incoming tokens. */
const accounted = (w: EcashWallet): number => w.balance() + w.feesPaid() + w.incomingBalance();

describe.each(storeBackends('wallet-incoming'))('incoming-token journal on $name: kept durably at once, redeemed in the background (input fees on)', (backend) => {
  let mint: RunningMint;
  let sender: EcashWallet;
  let cashu: CashuWallet;
  let n = 0;
  const decoded = (token: string): Token => cashu.decodeToken(token);
  const fresh = async (): Promise<EcashWallet> => openWallet({ path: await backend.fresh(`w${n++}`), mints: [mint.url] });

  beforeAll(async () => {
    mint = await startMint({ inputFeePpk: 100 });
    cashu = new CashuWallet(mint.url);
    await cashu.loadMint();
    sender = await fresh();
    await (await sender.fund(sat(1_000))).complete();
  });
  afterAll(async () => {
    sender.close();
    await mint.stop();
  });

  it('keepIncoming returns with the token kept (incoming balance), then the background swap credits it once', async () => {
    const w = await fresh();
    const { token } = await sender.send(sat(100), { purpose: 'change' });
    const entry = w.keepIncoming(token, { purpose: 'x-cashu change', requestId: 'req-1' });
    expect(entry).toMatchObject({ amount: 100, purpose: 'x-cashu change', requestId: 'req-1' });
    expect(w.incomingBalance()).toBe(100);
    expect(w.balance()).toBe(0);
    const outcome = await entry.redeemed;
    expect(outcome).toEqual({ status: 'redeemed', creditedSat: 100 - w.feesPaid() });
    expect(w.incomingBalance()).toBe(0);
    expect(w.balance()).toBe(100 - w.feesPaid());
    // the same token kept again is the same entry: nothing credited twice
    const again = w.keepIncoming(token, { purpose: 'x-cashu change' });
    expect(again.id).toBe(entry.id);
    expect(await again.redeemed).toEqual(outcome);
    expect(accounted(w)).toBe(100);
    w.close();
  });

  it('a kept token someone else redeemed first is refused as spent: it leaves the incoming balance, never counted as ours', async () => {
    const w = await fresh();
    const thief = await fresh();
    const { token } = await sender.send(sat(50), { purpose: 'change' });
    await thief.receive(token);
    const entry = w.keepIncoming(token, { purpose: 'x-cashu change' });
    expect(w.incomingBalance()).toBe(50);
    expect(await entry.redeemed).toEqual({ status: 'refused', problem: 'spent' });
    expect(w.incomingBalance()).toBe(0);
    expect(w.balance()).toBe(0);
    expect(w.incomingEntries('refused')).toHaveLength(1);
    expect(w.pendingBalance()).toBe(0);
    w.close();
    thief.close();
  });

  it('a forged token (valid points, wrong signatures) is refused as forged by the mint', async () => {
    const w = await fresh();
    const a = decoded((await sender.send(sat(64), { purpose: 'a' })).token);
    const b = decoded((await sender.send(sat(64), { purpose: 'b' })).token);
    const forged = getEncodedToken({ mint: mint.url, unit: 'sat', proofs: a.proofs.map((p, i) => ({ ...p, C: (b.proofs[i] ?? p).C })) });
    const entry = w.keepIncoming(forged, { purpose: 'x-cashu change' });
    expect(await entry.redeemed).toEqual({ status: 'refused', problem: 'forged' });
    expect(w.incomingBalance()).toBe(0);
    expect(w.balance()).toBe(0);
    w.close();
  });

  it('the mint judges a received token, not its DLEQ: valid signatures with a garbled DLEQ redeem in full; a forged signature with a valid DLEQ is refused as unreadable', async () => {
    const w = await fresh();
    // The receive swap skips cashu-ts's DLEQ check of the inputs (the costliest curve maths of a receive).
    const real = decoded((await sender.send(sat(64), { purpose: 'dleq' })).token);
    expect(real.proofs.every((p) => p.dleq !== undefined)).toBe(true);
    const garbled = getEncodedToken({ mint: mint.url, unit: 'sat', proofs: real.proofs.map((p) => ({ ...p, dleq: { e: '11'.repeat(32), s: '22'.repeat(32), r: '33'.repeat(32) } })) });
    const credited = await w.receive(garbled);
    expect(credited + w.feesPaid()).toBe(64);
    // A real signature on another secret, its DLEQ kept: the mint says "could not be verified" (10003).
    const other = decoded((await sender.send(sat(64), { purpose: 'forged' })).token);
    const forged = getEncodedToken({ mint: mint.url, unit: 'sat', proofs: other.proofs.map((p) => ({ ...p, secret: `${p.secret}00` })) });
    const balance = w.balance();
    await expect(w.receive(forged)).rejects.toThrow(UnreadableToken);
    expect(w.balance()).toBe(balance);
    w.close();
  });

  it('bad input: not a token, or a token of another mint, is a typed error and keeps nothing', async () => {
    const w = await fresh();
    expect(() => w.keepIncoming('cashuBnot-a-token', { purpose: 'x' })).toThrow(UnreadableToken);
    const { token } = await sender.send(sat(10), { purpose: 'elsewhere' });
    const meta = decoded(token);
    const foreign = getEncodedToken({ ...meta, mint: 'http://127.0.0.1:1/other-mint' });
    expect(() => w.keepIncoming(foreign, { purpose: 'x' })).toThrow(UnknownMint);
    expect(w.incomingEntries()).toEqual([]);
    expect(w.incomingBalance()).toBe(0);
    await sender.receive(token);
    w.close();
  });
});
