import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Proof, Wallet, createRandomRawBlindedMessage, getEncodedToken } from '@cashu/cashu-ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningMint, startMint } from './index.ts';

interface Reply {
  status: number;
  body: { code?: number; detail?: string; signatures?: unknown[]; states?: { state: string }[] };
}

async function post(url: string, path: string, body: unknown): Promise<Reply> {
  const res = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Reply['body'] };
}

/** A proof as the wire carries it (numbers, no DLEQ), so the mint alone judges it. */
const wire = (p: Proof) => ({ id: p.id, amount: p.amount.toNumber(), secret: p.secret, C: p.C });
/** A fresh blinded message nobody has used yet. */
const freshOutput = (id: string, amount: number) => ({ id, amount, B_: createRandomRawBlindedMessage().B_.toHex(true) });

async function stateOf(wallet: Wallet, proof: Proof): Promise<string> {
  const [state] = await wallet.checkProofsStates([proof]);
  return state?.state ?? 'missing';
}

/** A second mint in its own OS process on the same db file. */
async function startMintProcess(dbPath: string): Promise<{ url: string; child: ChildProcess }> {
  const index = new URL('./index.ts', import.meta.url).pathname;
  const script = `import { startMint } from ${JSON.stringify(index)};
    const mint = await startMint({ dbPath: ${JSON.stringify(dbPath)} });
    console.log(mint.url);
    process.stdin.on('end', () => mint.stop().then(() => process.exit(0)));
    process.stdin.resume();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  return { url: line.toString().trim(), child };
}

describe('double spends and forgeries are refused with NUT codes, leaving the mint unchanged', () => {
  const dir = mkdtempSync(join(tmpdir(), 'devnet-mint-ds-'));
  let mint: RunningMint;
  let wallet: Wallet;
  let proofs: Proof[];

  beforeAll(async () => {
    mint = await startMint({ dbPath: join(dir, 'mint.db') });
    wallet = new Wallet(mint.url);
    await wallet.loadMint();
    proofs = await wallet.mintProofsBolt11(31, await wallet.createMintQuoteBolt11(31)); // 1 + 2 + 4 + 8 + 16
    expect(proofs.map((p) => p.amount.toNumber()).sort((a, b) => a - b)).toEqual([1, 2, 4, 8, 16]);
  });
  afterAll(async () => {
    await mint.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const proofOf = (amount: number): Proof => proofs.find((p) => p.amount.toNumber() === amount)!;

  it('refuses a token received twice with 11001', async () => {
    const token = getEncodedToken({ mint: mint.url, proofs: [proofOf(1)], unit: 'sat' });
    const bob = new Wallet(mint.url);
    await bob.loadMint();
    await bob.receive(token);
    const carol = new Wallet(mint.url);
    await carol.loadMint();
    await expect(carol.receive(token)).rejects.toMatchObject({ name: 'MintOperationError', code: 11001 });
  });

  it('lets exactly one of 20 concurrent swaps of one proof through, across two mint processes on one db', async () => {
    // Both racers run in their own OS processes, so neither blocks the other nor this test's client.
    const racers = await Promise.all([startMintProcess(join(dir, 'mint.db')), startMintProcess(join(dir, 'mint.db'))]);
    try {
      // Warm both up (curve tables, JIT) with a real swap, so they race from the same start.
      const warm = proofOf(2);
      const warmOutputs = [freshOutput(warm.id, 1), freshOutput(warm.id, 1)];
      expect((await post(racers[0].url, '/v1/swap', { inputs: [wire(warm)], outputs: warmOutputs })).status).toBe(200);
      expect((await post(racers[1].url, '/v1/restore', { outputs: warmOutputs })).body).toMatchObject({ signatures: [{}, {}] });
      expect((await post(racers[1].url, '/v1/swap', { inputs: [wire(warm)], outputs: [freshOutput(warm.id, 2)] })).body.code).toBe(11001);

      // 16 one-sat outputs make each request sign for a while, widening the window a non-atomic check would lose.
      const proof = proofOf(16);
      const replies = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          post(racers[i % 2]!.url, '/v1/swap', {
            inputs: [wire(proof)],
            outputs: Array.from({ length: 16 }, () => freshOutput(proof.id, 1)),
          }),
        ),
      );
      expect(replies.filter((r) => r.status === 200)).toHaveLength(1);
      expect(replies.filter((r) => r.status === 400 && r.body.code === 11001)).toHaveLength(19);
      expect(await stateOf(wallet, proof)).toBe('SPENT'); // the in-test mint on the same file sees it too
    } finally {
      for (const racer of racers) racer.child.stdin!.end();
      await Promise.all(racers.map((racer) => once(racer.child, 'exit')));
    }
  });

  it('refuses forged C, inflated amounts, unknown keysets, reused outputs, unbalanced and malformed requests', async () => {
    const proof = proofOf(4);
    const id = proof.id;
    const errorsBefore = mint.stats().errorsByCode;
    const swapsBefore = mint.stats().swaps;
    const refusals: [string, unknown, number][] = [
      ['forged C', { inputs: [{ ...wire(proof), C: proofOf(8).C }], outputs: [freshOutput(id, 4)] }, 10003],
      ['inflated amount', { inputs: [{ ...wire(proof), amount: 8 }], outputs: [freshOutput(id, 8)] }, 10003],
      ['amount without a key', { inputs: [{ ...wire(proof), amount: 3 }], outputs: [freshOutput(id, 1), freshOutput(id, 2)] }, 10003],
      ['unknown keyset', { inputs: [{ ...wire(proof), id: '01' + 'ab'.repeat(32) }], outputs: [freshOutput(id, 4)] }, 12001],
      ['unbalanced', { inputs: [wire(proof)], outputs: [freshOutput(id, 8)] }, 11002],
      ['duplicate inputs', { inputs: [wire(proof), wire(proof)], outputs: [freshOutput(id, 8)] }, 11007],
      ['not JSON', '{"inputs": [', 10000],
      ['wrong types', { inputs: 'all of them', outputs: [] }, 10000],
      ['string amount', { inputs: [{ ...wire(proof), amount: '4' }], outputs: [freshOutput(id, 4)] }, 10000],
      ['B_ not a point', { inputs: [wire(proof)], outputs: [{ id, amount: 4, B_: '02' + '00'.repeat(32) }] }, 10000],
    ];
    for (const [what, body, code] of refusals) {
      const reply = await post(mint.url, '/v1/swap', body);
      expect({ what, status: reply.status, code: reply.body.code }).toEqual({ what, status: 400, code });
      expect(reply.body.detail).toEqual(expect.any(String));
    }
    // A blinded message that was already signed (here: one the restore endpoint knows) is refused with 10002.
    const first = freshOutput(id, 1);
    const spendOne = await post(mint.url, '/v1/swap', { inputs: [wire(proofOf(8))], outputs: [first, freshOutput(id, 1), freshOutput(id, 2), freshOutput(id, 4)] });
    expect(spendOne.status).toBe(200);
    const reused = await post(mint.url, '/v1/swap', { inputs: [wire(proof)], outputs: [first, freshOutput(id, 1), freshOutput(id, 2)] });
    expect({ status: reused.status, code: reused.body.code }).toEqual({ status: 400, code: 10002 });

    // Nothing was marked spent by any refusal: the proof is UNSPENT and still spends exactly once.
    expect(await stateOf(wallet, proof)).toBe('UNSPENT');
    const errorsAfter = mint.stats().errorsByCode;
    expect((errorsAfter[10003] ?? 0) - (errorsBefore[10003] ?? 0)).toBe(3);
    expect((errorsAfter[10000] ?? 0) - (errorsBefore[10000] ?? 0)).toBe(4);
    expect(mint.stats().swaps).toBe(swapsBefore + 1);
    const honest = await post(mint.url, '/v1/swap', { inputs: [wire(proof)], outputs: [freshOutput(id, 4)] });
    expect(honest.status).toBe(200);
    expect(await stateOf(wallet, proof)).toBe('SPENT');
  });

  it('refuses a forged proof handed to an unmodified wallet (DLEQ stripped so the mint decides)', async () => {
    // Signatures are checked before the spent set, so a forgery is a 10003 whatever the proof's state.
    const forged = { ...proofOf(8), dleq: undefined, C: proofOf(1).C };
    const dave = new Wallet(mint.url);
    await dave.loadMint();
    await expect(dave.receive(getEncodedToken({ mint: mint.url, proofs: [forged] }, { removeDleq: true }))).rejects.toMatchObject({
      code: 10003,
    });
  });
});
