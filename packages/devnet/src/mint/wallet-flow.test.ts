import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MintOperationError, type Proof, Wallet, getEncodedToken, sumProofs } from '@cashu/cashu-ts';
import { afterAll, describe, expect, it } from 'vitest';
import { type RunningMint, fakeInvoice, startMint } from './index.ts';

const total = (proofs: Proof[]): number => sumProofs(proofs).toNumber();

describe('an unmodified cashu-ts Wallet against the devnet mint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'devnet-mint-'));
  const dbPath = join(dir, 'mint.db');
  let mint: RunningMint | undefined;
  afterAll(async () => {
    await mint?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('mints, sends, receives, melts with change, and restores from seed after a restart on the same db', async () => {
    mint = await startMint({ dbPath });
    expect(mint.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const seed = new Uint8Array(randomBytes(64));
    const alice = new Wallet(mint.url, { bip39seed: seed });
    await alice.loadMint();
    expect(alice.keysetId).toBe(mint.keysetId);

    // NUT-04: quote is PAID at once, proofs carry a NUT-12 DLEQ the wallet has verified.
    const quote = await alice.createMintQuoteBolt11(1000);
    expect(quote.state).toBe('PAID');
    const minted = await alice.mintProofsBolt11(1000, quote);
    expect(total(minted)).toBe(1000);
    expect(minted.every((p) => p.dleq !== undefined)).toBe(true);
    expect((await alice.checkMintQuoteBolt11(quote.quote)).state).toBe('ISSUED');

    // NUT-03 send + receive by a second wallet; NUT-07 states flip UNSPENT → SPENT.
    const { keep, send } = await alice.send(300, minted);
    expect(total(send)).toBe(300);
    expect(total(keep)).toBe(700);
    const token = getEncodedToken({ mint: mint.url, proofs: send, unit: 'sat' });
    expect((await alice.checkProofsStates(send)).map((s) => s.state)).toEqual(send.map(() => 'UNSPENT'));
    const bob = new Wallet(mint.url);
    await bob.loadMint();
    const bobProofs = await bob.receive(token);
    expect(total(bobProofs)).toBe(300);
    expect((await alice.checkProofsStates(send)).map((s) => s.state)).toEqual(send.map(() => 'SPENT'));

    // NUT-05 melt of 100 with all 700 sat: the 600 overpaid come back as NUT-08 change.
    const meltQuote = await alice.createMeltQuoteBolt11(fakeInvoice(100));
    expect(meltQuote.amount.toNumber()).toBe(100);
    expect(meltQuote.state).toBe('UNPAID');
    const melted = await alice.meltProofsBolt11(meltQuote, keep);
    expect(melted.quote.state).toBe('PAID');
    expect(melted.quote.payment_preimage).toMatch(/^[0-9a-f]{64}$/);
    expect(total(melted.change)).toBe(600);
    expect((await alice.checkMeltQuoteBolt11(meltQuote.quote)).state).toBe('PAID');

    // stats count what happened: every proof this test saw that is now SPENT was spent exactly once.
    const seen = [...new Map([...minted, ...keep, ...send, ...bobProofs, ...melted.change].map((p) => [p.secret, p])).values()];
    const spentSeen = (await alice.checkProofsStates(seen)).filter((s) => s.state === 'SPENT').length;
    expect(mint.stats()).toMatchObject({ mints: 1, swaps: 2, melts: 1, proofsSpent: spentSeen });

    // Restart on the same db file (a new port: the wallets' keep-alive sockets died with the old server):
    // same keyset, spent set and signatures survive.
    await mint.stop();
    mint = await startMint({ dbPath });
    expect(mint.keysetId).toBe(alice.keysetId);

    const carol = new Wallet(mint.url);
    await carol.loadMint();
    const sameToken = getEncodedToken({ mint: mint.url, proofs: send, unit: 'sat' });
    await expect(carol.receive(sameToken)).rejects.toMatchObject({ code: 11001 });

    // NUT-09/13: a fresh wallet from alice's seed finds her proofs; exactly the 600 change is unspent.
    const restorer = new Wallet(mint.url, { bip39seed: seed });
    await restorer.loadMint();
    const { proofs: restored } = await restorer.batchRestore(30, 30);
    const states = await restorer.checkProofsStates(restored);
    const unspent = restored.filter((_, i) => states[i]?.state === 'UNSPENT');
    expect(total(unspent)).toBe(600);
    expect(new Set(unspent.map((p) => p.secret))).toEqual(new Set(melted.change.map((p) => p.secret)));
    expect(restored.length).toBeGreaterThan(unspent.length); // spent ones came back too, and are marked SPENT
    expect(mint.stats().restores).toBeGreaterThan(0);

    // The restored proofs are real money: spending them works once.
    const dave = new Wallet(mint.url);
    await dave.loadMint();
    const received = await dave.receive(getEncodedToken({ mint: mint.url, proofs: unspent }));
    expect(total(received)).toBe(600);
    await expect(dave.receive(getEncodedToken({ mint: mint.url, proofs: unspent }))).rejects.toBeInstanceOf(MintOperationError);
  });
});
