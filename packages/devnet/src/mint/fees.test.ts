import { type Proof, Wallet, getEncodedToken, sumProofs } from '@cashu/cashu-ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningMint, fakeInvoice, startMint } from './index.ts';

const total = (proofs: Proof[]): number => sumProofs(proofs).toNumber();

describe('NUT-02 input fees (input_fee_ppk 100)', () => {
  let mint: RunningMint;
  beforeAll(async () => {
    mint = await startMint({ inputFeePpk: 100 });
  });
  afterAll(() => mint.stop());

  it('advertises NUT-04/05 methods and NUT-07/08/09/12 support in /v1/info', async () => {
    const info = (await (await fetch(`${mint.url}/v1/info`)).json()) as { nuts: Record<string, unknown> };
    expect(info.nuts).toMatchObject({
      '4': { methods: [{ method: 'bolt11', unit: 'sat' }], disabled: false },
      '5': { methods: [{ method: 'bolt11', unit: 'sat' }], disabled: false },
      '7': { supported: true },
      '8': { supported: true },
      '9': { supported: true },
      '12': { supported: true },
    });
  });

  it('advertises the fee on its keyset', async () => {
    const res = await fetch(`${mint.url}/v1/keysets`);
    const body = (await res.json()) as { keysets: { id: string; input_fee_ppk: number; active: boolean }[] };
    expect(body.keysets).toEqual([{ id: mint.keysetId, unit: 'sat', active: true, input_fee_ppk: 100 }]);
  });

  it('keeps send, receive and melt accounting exact to the sat', async () => {
    const alice = new Wallet(mint.url);
    await alice.loadMint();
    const minted = await alice.mintProofsBolt11(1000, await alice.createMintQuoteBolt11(1000)); // minting has no input fee

    // Sender pays the receiver's fee too, so bob nets exactly 100.
    const { keep, send } = await alice.send(100, minted, { includeFees: true });
    const receiveFee = alice.getFeesForProofs(send).toNumber();
    expect(receiveFee).toBeGreaterThan(0);
    expect(total(send)).toBe(100 + receiveFee);
    const spentInputs = minted.filter((_, i, all) => !keep.some((k) => k.secret === all[i]!.secret));
    const swapFee = alice.getFeesForProofs(spentInputs).toNumber();
    expect(swapFee).toBe(Math.ceil((spentInputs.length * 100) / 1000));
    expect(total(keep) + total(send) + swapFee).toBe(1000);

    const bob = new Wallet(mint.url);
    await bob.loadMint();
    const received = await bob.receive(getEncodedToken({ mint: mint.url, proofs: send }));
    expect(total(received)).toBe(100);

    // Melt 50 with bob's 100: change = 100 - 50 - input fee.
    const quote = await bob.createMeltQuoteBolt11(fakeInvoice(50));
    const meltFee = bob.getFeesForProofs(received).toNumber();
    const { change } = await bob.meltProofsBolt11(quote, received);
    expect(total(change)).toBe(100 - 50 - meltFee);
  });

  it('refuses a swap that ignores the fee with 11002', async () => {
    const wallet = new Wallet(mint.url);
    await wallet.loadMint();
    const [proof] = await wallet.mintProofsBolt11(8, await wallet.createMintQuoteBolt11(8));
    const { createRandomRawBlindedMessage } = await import('@cashu/cashu-ts');
    const res = await fetch(`${mint.url}/v1/swap`, {
      method: 'POST',
      body: JSON.stringify({
        inputs: [{ id: proof!.id, amount: 8, secret: proof!.secret, C: proof!.C }],
        outputs: [{ id: proof!.id, amount: 8, B_: createRandomRawBlindedMessage().B_.toHex(true) }],
      }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: number }).code).toBe(11002);
    expect((await wallet.checkProofsStates([proof!]))[0]?.state).toBe('UNSPENT');
  });
});
