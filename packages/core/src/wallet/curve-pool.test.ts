import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CheckStateEnum,
  createEphemeralCounterSource,
  OutputData,
  Wallet as CashuWallet,
  type OperationCounters,
  type Proof,
} from '@cashu/cashu-ts';
import { startMint, type RunningMint } from '@routstr-kit/devnet/mint';
import { sat } from '../money/index.ts';
import { CurvePool } from './curve-pool.ts';
import { ProofsAlreadySpent, WalletError } from './errors.ts';
import { mapMintError, sumOf } from './mint-context.ts';
import { openWallet } from './open-wallet.ts';

describe('curve pool: cashu-ts swap calls in worker threads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'curve-pool-'));
  let mint: RunningMint;
  beforeAll(async () => {
    mint = await startMint({ inputFeePpk: 100 });
  });
  afterAll(async () => {
    await mint.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A cashu-ts wallet on the devnet mint with deterministic secrets from `seed` and its own counters from 0. */
  const cashuWallet = async (seed: Uint8Array): Promise<CashuWallet> => {
    const w = new CashuWallet(mint.url, { unit: 'sat', bip39seed: seed, counterSource: createEphemeralCounterSource({}), secretsPolicy: 'deterministic' });
    await w.loadMint();
    return w;
  };
  /** Fresh proofs of `amount` sats (random secrets), from a paid devnet quote. */
  const proofsOf = async (amount: number): Promise<Proof[]> => {
    const w = new CashuWallet(mint.url, { unit: 'sat' });
    await w.loadMint();
    return w.mintProofsBolt11(amount, await w.createMintQuoteBolt11(amount));
  };

  it('makes the same NUT-13 outputs as cashu-ts in this thread, reports their counters here, and the mint signs them', async () => {
    const seed = new Uint8Array(randomBytes(64));
    const inThread = await cashuWallet(seed);
    const pool = new CurvePool({ size: 2, seed, counterSource: createEphemeralCounterSource({}) });
    try {
      const swaps = pool.swapsFor(await cashuWallet(seed));
      const inputs = await proofsOf(21);
      expect(pool.started).toBe(0); // lazy: nothing runs until a swap needs it

      const seen: OperationCounters[] = [];
      const preview = await swaps.prepareSwapToReceive(inputs, { onCountersReserved: (c) => seen.push(c) });
      const local = await inThread.prepareSwapToReceive(inputs);
      expect(preview.keepOutputs?.map((o) => OutputData.serialize(o))).toEqual(local.keepOutputs?.map((o) => OutputData.serialize(o)));
      expect(preview.fees.toString()).toBe(local.fees.toString());
      expect(seen.map(({ keysetId, start, count }) => ({ keysetId, start, count }))).toEqual([{ keysetId: preview.keysetId, start: 0, count: local.keepOutputs?.length }]);

      const { keep, send } = await swaps.completeSwap(preview);
      const received = [...keep, ...send];
      expect(sumOf(received)).toBe(21 - Number(preview.fees.toString()));
      const states = await inThread.checkProofsStates([...inputs, ...received]);
      expect(states.map((s) => s.state)).toEqual([...inputs.map(() => CheckStateEnum.SPENT), ...received.map(() => CheckStateEnum.UNSPENT)]);
      expect(pool.started).toBe(1); // one call at a time needs one worker

      // Spending the inputs again: the mint's NUT error crosses the thread with its code.
      const again = await swaps.prepareSwapToReceive(inputs);
      const error = await swaps.completeSwap(again).then(() => undefined, (e: unknown) => e);
      expect(mapMintError(error, 'receive')).toBeInstanceOf(ProofsAlreadySpent);

      // Calls that overlap start a second worker, never more than the pool's size.
      const more = await proofsOf(12);
      await Promise.all([swaps.prepareSwapToSend(5, more, { includeFees: true }), swaps.prepareSwapToReceive(more), swaps.prepareSwapToReceive(more)]);
      expect(pool.started).toBe(2);
    } finally {
      pool.close();
    }
  });

  it('close() ends the workers: a call in flight and any later call fail with wallet_closed', async () => {
    const seed = new Uint8Array(randomBytes(64));
    const pool = new CurvePool({ size: 1, seed, counterSource: createEphemeralCounterSource({}) });
    const swaps = pool.swapsFor(await cashuWallet(seed));
    const inputs = await proofsOf(8);
    const inFlight = swaps.prepareSwapToReceive(inputs);
    expect(pool.started).toBe(1);
    pool.close();
    await expect(inFlight).rejects.toMatchObject({ code: 'wallet_closed' });
    expect(pool.started).toBe(0);
    await expect(swaps.prepareSwapToReceive(inputs)).rejects.toMatchObject({ code: 'wallet_closed' });
  });

  it('openWallet refuses a curveWorkers that is not a whole number ≥ 0, and creates nothing', async () => {
    for (const curveWorkers of [-1, 1.5, Number.NaN]) {
      const path = join(dir, `bad-${curveWorkers}.db`);
      const error = await openWallet({ path, mints: [mint.url], curveWorkers }).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(WalletError);
      expect((error as WalletError).code).toBe('invalid_option');
      expect(existsSync(path)).toBe(false);
    }
  });

  it('curveWorkers 0 runs the swaps on the calling thread, with the same books', async () => {
    const payer = await openWallet({ path: join(dir, 'payer.db'), mints: [mint.url], curveWorkers: 0 });
    const payee = await openWallet({ path: join(dir, 'payee.db'), mints: [mint.url], curveWorkers: 0 });
    try {
      await (await payer.fund(sat(100))).complete();
      const sent = await payer.send(sat(37), { purpose: 'in thread' }); // no exact proofs: a swap
      const credited = await payee.receive(sent.token);
      expect(payee.balance()).toBe(credited);
      expect(payer.balance() + payer.feesPaid() + sent.amount).toBe(100);
      expect(credited + payee.feesPaid()).toBe(sent.amount);
    } finally {
      payer.close();
      payee.close();
    }
  });
});
