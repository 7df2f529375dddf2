// Test fixture: one node process's Batch API alone (no HTTP): its own wallet and admission, the
// batch store at `database` (a postgres:// URL or a SQLite file, shared with other such processes),
// a real engine. A failpoint armed in its environment SIGKILLs it there.
// Prints `{ "ready": true }` once its runner has started, then `{ "batch": … }` on every batch
// progress; stdin closing stops it cleanly.
// Usage: node batch-worker-child.ts '<json: { database, payeePath, walletPath, mint, upstream, model, prompt, completion, contextSize, recoverEveryMs }>'
//
// The payee file at `payeePath` is shared by every worker: shared books (`openPayee({ shared: true })`),
// each reservation and settlement one commit on the account row (a single-process Payee refuses books
// another Payee has open).
import { msatPerMtok, openPayee, openWallet } from '@routstr-kit/core';
import { isPostgresUrl, openBatches } from '../src/batches/index.ts';
import { createFixedPriceBoard } from '../src/market-maker/price-board.ts';
import { Admission } from '../src/node/admission.ts';
import { ReplicaPool } from '../src/node/replica-pool.ts';

interface WorkerArgs {
  database: string;
  payeePath: string;
  walletPath: string;
  mint: string;
  upstream: string;
  model: string;
  prompt: number;
  completion: number;
  contextSize: number;
  recoverEveryMs: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as WorkerArgs;
const wallet = await openWallet({ path: args.walletPath, mints: [args.mint], reclaimOnOpen: false });
const payee = await openPayee({ wallet, dbPath: args.payeePath, shared: true });
const admission = new Admission({ maxConcurrency: 1, queueSize: 4 });
const replicas = new ReplicaPool([args.upstream]);
const engineModels = await replicas.open(args.contextSize);
const board = createFixedPriceBoard([{ model: args.model, prompt: msatPerMtok(args.prompt), completion: msatPerMtok(args.completion) }]);
const batches = await openBatches({
  ...(isPostgresUrl(args.database) ? { dbPath: '', database: args.database } : { dbPath: args.database }), payee, admission, board, engineModels, replicas, slots: 1, recoverEveryMs: args.recoverEveryMs,
  catalog: { btcUsd: 100_000, engine: 'llama.cpp', created: Math.floor(Date.now() / 1000) },
});
batches.onProgress((batch) => process.stdout.write(`${JSON.stringify({ batch })}\n`));
await batches.start();
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void (async () => {
    await batches.close();
    await admission.stop();
    replicas.stop();
    payee.close();
    wallet.close();
    process.exit(0);
  })();
});
