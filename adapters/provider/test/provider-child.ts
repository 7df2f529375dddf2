// Test fixture for crash tests: a provider node in its own process, so a failpoint can SIGKILL it.
// Usage: node provider-child.ts '<json: { upstream, mint, dataDir, model, prompt, completion, contextLength, adminToken,
//   relays?, port?, maxConcurrency?, queueSize? }>' (with relays the node announces itself through its market maker)
// Prints one JSON line `{ "url": … }` once listening, then `{ "batch": … }` on every batch progress;
// SIGTERM stops it cleanly.
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
  log: () => undefined,
});
process.stdout.write(`${JSON.stringify({ url: provider.url })}\n`);
provider.batches?.onProgress((batch) => process.stdout.write(`${JSON.stringify({ batch })}\n`));
process.on('SIGTERM', () => {
  void provider.stop().then(() => process.exit(0));
});
