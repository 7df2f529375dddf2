import { Wallet, getDecodedToken } from '@cashu/cashu-ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMint, type RunningMint } from '@routstr-kit/devnet/mint';
import { sat } from '../money/index.ts';
import { storeBackends } from '../storage/store-backends.ts';
import { openWallet } from './open-wallet.ts';
import type { SentToken } from './wallet-types.ts';

function secretsOf(tokens: SentToken[], keysetId: string): string[] {
  return tokens.flatMap((t) => getDecodedToken(t.token, [keysetId]).proofs.map((p) => p.secret));
}

let mint: RunningMint;
beforeAll(async () => {
  mint = await startMint({ inputFeePpk: 100 });
});
afterAll(async () => {
  await mint.stop();
});

describe.each(storeBackends('wallet-concurrency'))('concurrent sends on $name', (backend) => {

  it('50 concurrent sends from one wallet never share a proof, and the balance is exact', async () => {
    const wallet = await openWallet({ path: await backend.fresh('payer'), mints: [mint.url] });
    await (await wallet.fund(sat(1000))).complete();
    const sends = await Promise.all(
      Array.from({ length: 50 }, (_, i) => wallet.send(sat(8), { purpose: 'concurrent', requestId: `r${i}` })),
    );
    const secrets = secretsOf(sends, mint.keysetId);
    expect(new Set(secrets).size).toBe(secrets.length);
    expect(sends.every((s) => s.amount === 8)).toBe(true);
    expect(wallet.journal({ status: 'outstanding' })).toHaveLength(50);
    expect(wallet.pendingBalance()).toBe(0);
    expect(wallet.balance() + wallet.feesPaid() + 400).toBe(1000);

    // The tokens and the wallet's own proofs are all distinct and all unspent at the mint.
    const kept = wallet.store.proofs(mint.url, 'unspent');
    const all = [...sends.flatMap((t) => getDecodedToken(t.token, [mint.keysetId]).proofs), ...kept.map((p) => ({ ...p, amount: p.amount as never }))];
    expect(new Set(all.map((p) => p.secret)).size).toBe(all.length);
    const checker = new Wallet(mint.url);
    await checker.loadMint();
    expect((await checker.checkProofsStates(all)).every((s) => s.state === 'UNSPENT')).toBe(true);
    // And a few of them redeem fine.
    const payee = await openWallet({ path: await backend.fresh('payee'), mints: [mint.url] });
    for (const s of sends.slice(0, 5)) await payee.receive(s.token);
    expect(payee.balance() + payee.feesPaid()).toBe(40);
    wallet.close();
    payee.close();
  });

  it('two wallet instances on one store file (as two processes would) never pick the same proofs', async () => {
    const path = await backend.fresh('shared');
    const first = await openWallet({ path, mints: [mint.url] });
    await (await first.fund(sat(500))).complete();
    const second = await openWallet({ path, mints: [mint.url] });
    const sends = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? first : second).send(sat(4), { purpose: 'shared store' })),
    );
    const secrets = secretsOf(sends, mint.keysetId);
    expect(new Set(secrets).size).toBe(secrets.length);
    expect(first.balance()).toBe(second.balance());
    expect(first.balance() + first.feesPaid() + 40).toBe(500);
    const payee = await openWallet({ path: await backend.fresh('payee2'), mints: [mint.url] });
    for (const s of sends) await payee.receive(s.token);
    first.close();
    second.close();
    payee.close();
  });
});
