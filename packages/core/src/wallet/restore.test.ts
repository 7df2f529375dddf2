import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMint, type RunningMint } from '@routstr-kit/devnet/mint';
import { sat } from '../money/index.ts';
import { storeBackends } from '../storage/store-backends.ts';
import { MnemonicMismatch } from './errors.ts';
import { openWallet } from './open-wallet.ts';

let mint: RunningMint;
beforeAll(async () => {
  mint = await startMint({ inputFeePpk: 100 });
});
afterAll(async () => {
  await mint.stop();
});

describe.each(storeBackends('wallet-restore'))('restore from the mnemonic (NUT-13 secrets, NUT-09 restore) on $name', (backend) => {

  it('brings back exactly the unspent balance into an empty store, and keeps counting after it', async () => {
    const path = await backend.fresh('lost');
    const wallet = await openWallet({ path, mints: [mint.url] });
    const mnemonic = wallet.mnemonic();
    expect(mnemonic.split(' ')).toHaveLength(12);
    await (await wallet.fund(sat(500))).complete();
    const friend = await openWallet({ path: await backend.fresh('friend'), mints: [mint.url] });
    await friend.receive((await wallet.send(sat(100), { purpose: 'spent by a friend' })).token);
    const unspent = wallet.balance();
    expect(unspent).toBe(400 - wallet.feesPaid());
    wallet.close();

    // The same mnemonic is kept across reopen; another one is refused.
    await expect(openWallet({ path, mints: [mint.url], mnemonic: friend.mnemonic() })).rejects.toBeInstanceOf(MnemonicMismatch);
    const again = await openWallet({ path, mints: [mint.url] });
    expect(again.mnemonic()).toBe(mnemonic);
    again.close();

    // the store is lost: its files deleted, or (PostgreSQL) an empty database in its place
    for (const suffix of ['', '-wal', '-shm']) if (backend.name === 'sqlite') rmSync(`${path}${suffix}`, { force: true });
    const restored = await openWallet({ path: backend.name === 'sqlite' ? path : await backend.fresh('restored'), mints: [mint.url], mnemonic });
    expect(restored.balance()).toBe(unspent);
    expect(restored.lastRecovery?.restoredFromSeed).toBe(unspent);

    // Counters resumed past the restored range: new outputs are not ones the mint already signed.
    const { token } = await restored.send(sat(50), { purpose: 'after restore' });
    expect(await friend.receive(token)).toBeGreaterThan(0);
    expect(restored.balance() + restored.feesPaid() + 50).toBe(unspent);
    restored.close();
    friend.close();
  });
});
