import { Wallet } from '@cashu/cashu-ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningMint, fakeInvoice, startMint } from './index.ts';

describe('mint quotes with quotePaidAfterMs', () => {
  let mint: RunningMint;
  let clock = Date.now();
  beforeAll(async () => {
    mint = await startMint({ quotePaidAfterMs: 200, now: () => clock });
  });
  afterAll(() => mint.stop());

  it('goes UNPAID → PAID → ISSUED, refusing early and repeated mints', async () => {
    const wallet = new Wallet(mint.url);
    await wallet.loadMint();
    const quote = await wallet.createMintQuoteBolt11(8);
    expect(quote.state).toBe('UNPAID');
    expect(quote.amount.toNumber()).toBe(8);
    await expect(wallet.mintProofsBolt11(8, quote.quote)).rejects.toMatchObject({ code: 20001 });

    clock += 199;
    expect((await wallet.checkMintQuoteBolt11(quote.quote)).state).toBe('UNPAID');
    clock += 1;
    expect((await wallet.checkMintQuoteBolt11(quote.quote)).state).toBe('PAID');
    const proofs = await wallet.mintProofsBolt11(8, quote.quote);
    expect(proofs.map((p) => p.amount.toNumber())).toEqual([8]);
    expect((await wallet.checkMintQuoteBolt11(quote.quote)).state).toBe('ISSUED');
    await expect(wallet.mintProofsBolt11(8, quote.quote)).rejects.toMatchObject({ code: 20002 });
  });

  it('refuses unknown units, zero amounts and amountless or already-paid invoices', async () => {
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${mint.url}${path}`, { method: 'POST', body: JSON.stringify(body) });
      return { status: res.status, code: ((await res.json()) as { code?: number }).code };
    };
    expect(await post('/v1/mint/quote/bolt11', { amount: 8, unit: 'usd' })).toEqual({ status: 400, code: 11005 });
    expect(await post('/v1/mint/quote/bolt11', { amount: 0, unit: 'sat' })).toEqual({ status: 400, code: 10000 });
    expect(await post('/v1/melt/quote/bolt11', { request: 'lnbcrt1pqqqq', unit: 'sat' })).toEqual({ status: 400, code: 11011 });
    // This mint's own invoice, already paid by the fake backend, cannot be paid again.
    const wallet = new Wallet(mint.url);
    await wallet.loadMint();
    const paid = await wallet.createMintQuoteBolt11(4);
    clock += 200;
    expect((await wallet.checkMintQuoteBolt11(paid.quote)).state).toBe('PAID');
    expect(await post('/v1/melt/quote/bolt11', { request: paid.request, unit: 'sat' })).toEqual({ status: 400, code: 20006 });
    const res = await fetch(`${mint.url}/v1/mint/quote/bolt11/no-such-quote`);
    expect(res.status).toBe(400);
    expect(fakeInvoice(21)).toMatch(/^lnbcrt210n1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]+$/);
  });
});
