// Test fixture for crash tests: a provider node in its own process, so a failpoint can SIGKILL it.
// Usage: node provider-child.ts '<json: { upstream, mint, dataDir, model, prompt, completion, contextLength, adminToken,
//   relays?, port?, maxConcurrency?, queueSize?, database?, nsec?, processId?, leaseS?, tick? }>' (with relays the node
//   announces itself through its market maker; with database its books are that PostgreSQL, shared with other processes)
// Prints one JSON line `{ "url": …, "leader": … }` once listening, then `{ "batch": … }` on every batch progress and
// `{ "leader": … }` whenever it takes or loses the announcer lease; SIGTERM stops it cleanly. Reads `{ "idle": n }`
// lines on stdin (see below).
import { msatPerMtok } from '@routstr-kit/core';
import { createFixedPriceBoard } from '../src/market-maker/price-board.ts';
import { startProvider } from '../src/start-provider.ts';

interface ChildArgs {
  upstream: string;
  mint: string;
  dataDir: string;
  model: string;
  prompt: number;
  completion: number;
  contextLength: number;
  adminToken: string;
  relays?: string[];
  port?: number;
  maxConcurrency?: number;
  queueSize?: number;
  database?: string;
  nsec?: string;
  processId?: string;
  leaseS?: number;
  tick?: { intervalMs?: number; heartbeatS?: number };
}

const args = JSON.parse(process.argv[2] ?? '{}') as ChildArgs;
const provider = await startProvider({
  engine: 'llama.cpp',
  upstream: args.upstream,
  mints: [args.mint],
  ...(args.relays
    ? { relays: args.relays, price: { prompt: args.prompt, completion: args.completion } }
    : { board: createFixedPriceBoard([{ model: args.model, prompt: msatPerMtok(args.prompt), completion: msatPerMtok(args.completion) }]) }),
  dataDir: args.dataDir,
  adminToken: args.adminToken,
  contextLength: args.contextLength,
  maxConcurrency: args.maxConcurrency ?? 1,
  queueSize: args.queueSize ?? 2,
  ...(args.port !== undefined ? { port: args.port } : {}),
  ...(args.database !== undefined ? { database: args.database, cluster: { ...(args.processId ? { processId: args.processId } : {}), ...(args.leaseS ? { leaseS: args.leaseS } : {}) } } : {}),
  ...(args.nsec !== undefined ? { nsec: args.nsec } : {}),
  ...(args.tick ? { tick: args.tick } : {}),
  log: () => undefined,
});
provider.marketMaker?.onLeadership((leader) => process.stdout.write(`${JSON.stringify({ leader })}\n`));
process.stdout.write(`${JSON.stringify({ url: provider.url, leader: provider.marketMaker?.state().cluster?.leader ?? false })}\n`);
provider.batches?.onProgress((batch) => process.stdout.write(`${JSON.stringify({ batch })}\n`));
// `{"idle": n}` on stdin: once this process's wallet has no swap running, its books' totals as `{ "idle": n, "balances": … }`
let input = '';
process.stdin.on('data', (d: Buffer) => {
  input += d.toString();
  let nl: number;
  while ((nl = input.indexOf('\n')) !== -1) {
    const { idle } = JSON.parse(input.slice(0, nl)) as { idle: number };
    input = input.slice(nl + 1);
    void provider.payee.wallet.idle().then(() => process.stdout.write(`${JSON.stringify({ idle, balances: provider.payee.balances() })}\n`));
  }
});
process.on('SIGTERM', () => {
  void provider.stop().then(() => process.exit(0));
});
