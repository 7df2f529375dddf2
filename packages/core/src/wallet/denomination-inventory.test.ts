import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMint, type RunningMint } from '@routstr-kit/devnet/mint';
import { sat } from '../money/index.ts';
import {
  DEFAULT_INVENTORY_POLICY,
  exactPlan,
  inventoryDenominations,
  refillInputs,
  resolveInventoryPolicy,
  toppingUp,
  MAX_REFILL_OUTPUTS,
} from './denomination-inventory.ts';
import { openWallet } from './open-wallet.ts';
import type { EcashWallet } from './wallet.ts';

const counts = (o: Record<number, number>): Map<number, number> => new Map(Object.entries(o).map(([k, v]) => [Number(k), v]));

describe('denomination inventory: the plans', () => {
  it('keeps powers of two that together cover upTo', () => {
    expect(inventoryDenominations({ upTo: 1000, perDenomination: 1 })).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 512]);
    expect(inventoryDenominations({ upTo: 7, perDenomination: 1 })).toEqual([1, 2, 4]);
    expect(inventoryDenominations({ upTo: 8, perDenomination: 1 })).toEqual([1, 2, 4, 8]);
  });

  it('pays exactly, largest first, or says it cannot', () => {
    expect(exactPlan(7, counts({ 1: 1, 2: 1, 4: 1, 64: 1 }))).toEqual(counts({ 4: 1, 2: 1, 1: 1 }));
    expect(exactPlan(6, counts({ 4: 1, 1: 2, 2: 0 }))).toEqual(counts({ 4: 1, 1: 2 }));
    expect(exactPlan(8, counts({ 2: 4 }))).toEqual(counts({ 2: 4 }));
    expect(exactPlan(3, counts({ 2: 3, 4: 1 }))).toBeNull();
    expect(exactPlan(100, counts({}))).toBeNull();
  });

  it('tops up the smallest missing denominations first, within the amount', () => {
    const missing = counts({ 1: 2, 2: 1, 8: 1 });
    expect(toppingUp(100, missing)).toEqual([1, 1, 2, 8]);
    expect(toppingUp(3, missing)).toEqual([1, 1]);
    expect(toppingUp(0, missing)).toEqual([]);
  });

  it('a refill asks the mint for at most MAX_REFILL_OUTPUTS outputs, however deep the deficit (a deep inventory fills over several swaps)', () => {
    const deep = counts({ 1: 64, 2: 64, 4: 64, 8: 64 });
    expect(toppingUp(100_000, deep)).toHaveLength(256);
    const out = toppingUp(100_000, deep, MAX_REFILL_OUTPUTS);
    expect(out).toHaveLength(MAX_REFILL_OUTPUTS);
    expect(out.every((d) => d === 1)).toBe(true); // smallest first
  });

  it('refills from surplus only, and not when nothing would improve', () => {
    const policy = { upTo: 7, perDenomination: 2 };
    expect(refillInputs(policy, counts({ 1: 2, 2: 2, 4: 2, 64: 1 }))).toBeNull(); // full
    expect(refillInputs(policy, counts({ 1: 0, 2: 2, 4: 2, 64: 3 }))).toEqual(counts({ 64: 1 }));
    expect(refillInputs(policy, counts({ 1: 0, 2: 2, 4: 2 }))).toBeNull(); // no surplus
    expect(refillInputs(policy, counts({ 1: 0, 2: 2, 4: 3 }))).toEqual(counts({ 4: 1 }));
    expect(refillInputs(policy, counts({ 1: 1, 2: 2, 4: 2, 64: 3 }))).toBeNull(); // above the low-water mark
  });

  it('refuses a nonsensical policy with a RangeError and turns off with false', () => {
    expect(resolveInventoryPolicy(undefined)).toEqual(DEFAULT_INVENTORY_POLICY);
    expect(resolveInventoryPolicy(false)).toBeNull();
    expect(() => resolveInventoryPolicy({ upTo: 0, perDenomination: 1 })).toThrow(RangeError);
    expect(() => resolveInventoryPolicy({ upTo: 10, perDenomination: 1.5 })).toThrow(RangeError);
  });
});

describe('denomination inventory on the devnet mint', () => {
  const dir = mkdtempSync(join(tmpdir(), 'inventory-'));
  let mint: RunningMint;
  let n = 0;
  const path = (): string => join(dir, `w${n++}.db`);
  const open: EcashWallet[] = [];

  async function wallet(options: Parameters<typeof openWallet>[0]['inventory'], fund: number): Promise<EcashWallet> {
    const w = await openWallet({ path: path(), mints: [mint.url], ...(options === undefined ? {} : { inventory: options }) });
    open.push(w);
    if (fund > 0) await (await w.fund(sat(fund))).complete();
    return w;
  }

  beforeAll(async () => {
    mint = await startMint();
  });
  afterAll(async () => {
    for (const w of open) w.close();
    await mint.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a funded wallet pays any amount up to the bound from exact proofs, with no swap at the mint', async () => {
    const w = await wallet(undefined, 6000);
    const swapsBefore = mint.stats().swaps;
    let sent = 0;
    for (const amount of [1000, 512, 3, 20, 257, 1]) { // no denomination used more than twice of its four
      const t = await w.send(sat(amount), { purpose: 'exact' });
      expect(t.amount).toBe(amount);
      sent += amount;
    }
    expect(w.inventoryStats()).toMatchObject({ exactSends: 6, swapSends: 0 });
    // Every swap the mint saw was a background refill, none a send's.
    await w.idle();
    expect(mint.stats().swaps - swapsBefore).toBe(w.inventoryStats().refills);
    expect(w.pendingBalance()).toBe(0);
    expect(w.balance()).toBe(6000 - sent);
  });

  it('background receives (kept tokens) choose outputs that fill the inventory (a refill swap is then not needed)', async () => {
    const payer = await wallet(false, 500);
    const w = await wallet({ upTo: 7, perDenomination: 3 }, 0);
    const { token } = await payer.send(sat(200), { purpose: 'to w' });
    // a receive someone waits on (w.receive) keeps the fewest outputs; a kept token is redeemed in the background
    await w.keepIncoming(token, { purpose: 'to w' }).redeemed;
    expect(w.balance()).toBe(200);
    // three of each of 1, 2, 4 first: any 7 sats thrice without a swap
    const swapsBefore = mint.stats().swaps;
    for (let i = 0; i < 3; i++) await w.send(sat(7), { purpose: 'exact' });
    expect(mint.stats().swaps).toBe(swapsBefore);
    expect(w.inventoryStats()).toEqual({ exactSends: 3, swapSends: 0, refills: 0 });
  });

  it('a send the inventory cannot pay falls back to a swap, and a background refill restores the inventory', async () => {
    const file = path();
    const before = await openWallet({ path: file, mints: [mint.url], inventory: false });
    await (await before.fund(sat(300))).complete(); // 256 + 32 + 8 + 4: no 1s or 2s
    before.close();
    const w = await openWallet({ path: file, mints: [mint.url], inventory: { upTo: 3, perDenomination: 2 } });
    open.push(w);
    const sent = await w.send(sat(3), { purpose: 'short' });
    expect(sent.amount).toBe(3);
    expect(w.inventoryStats()).toMatchObject({ exactSends: 0, swapSends: 1 });
    await w.idle();
    expect(w.inventoryStats().refills).toBeGreaterThanOrEqual(1);
    expect(w.pendingBalance()).toBe(0);
    const swapsBefore = mint.stats().swaps;
    await w.send(sat(3), { purpose: 'exact now' });
    expect(mint.stats().swaps).toBe(swapsBefore);
    expect(w.inventoryStats()).toMatchObject({ exactSends: 1, swapSends: 1 });
    expect(w.balance()).toBe(300 - 6);
  });

  it('inventory false keeps the old selection (no top-up outputs, no refills)', async () => {
    const w = await wallet(false, 300);
    await w.send(sat(3), { purpose: 'swap' }); // 300 = 256 + 32 + 8 + 4: no 1 or 2 → a swap
    expect(w.inventoryStats()).toEqual({ exactSends: 0, swapSends: 1, refills: 0 });
    expect(await w.refillInventory()).toBe(0);
  });

  it('exact sends read per-denomination counts, not every proof (a few hundred proofs)', async () => {
    const w = await wallet({ upTo: 100, perDenomination: 40 }, 0);
    const payer = await wallet(false, 9000);
    await w.keepIncoming((await payer.send(sat(8000), { purpose: 'many proofs' })).token, { purpose: 'many proofs' }).redeemed;
    const swapsBefore = mint.stats().swaps;
    for (let i = 0; i < 20; i++) await w.send(sat(1 + i * 4), { purpose: 'exact' });
    expect(mint.stats().swaps).toBe(swapsBefore);
    expect(w.inventoryStats().exactSends).toBe(20);
  });
});
