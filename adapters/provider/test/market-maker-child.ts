// Test fixture: one market maker of a cluster in its own process, so a test can SIGKILL it (its
// PostgreSQL connections drop as a dead process's do). Usage:
//   node market-maker-child.ts '<json: { relay, secretKeyHex, database, processId, model, prompt, completion, inFlight, capacity, leaseS, heartbeatS, intervalMs }>'
// Prints `{ "ready": true, "leader": <bool> }` once started, then `{ "leader": <bool> }` on every change.
import { msatPerMtok } from '@routstr-kit/core';
import { startMarketMaker } from '../src/market-maker/index.ts';

interface ChildArgs {
  relay: string;
  secretKeyHex: string;
  database: string;
  processId: string;
  model: string;
  prompt: number;
  completion: number;
  inFlight: number;
  capacity: number;
  leaseS: number;
  heartbeatS: number;
  intervalMs: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ChildArgs;
const load = { capacity: args.capacity, inFlight: args.inFlight, queued: 0, rejectedRecently: () => 0 };
const maker = await startMarketMaker({
  board: { mode: 'fixed', prices: [{ model: args.model, prompt: msatPerMtok(args.prompt), completion: msatPerMtok(args.completion) }] },
  models: [args.model],
  load,
  nostr: { relays: [args.relay], secretKey: new Uint8Array(Buffer.from(args.secretKeyHex, 'hex')), urls: ['http://127.0.0.1:8000'], mints: ['http://127.0.0.1:3338'], version: '0.1.0', name: 'cluster node', about: 'one of several processes' },
  cluster: { database: args.database, processId: args.processId, leaseS: args.leaseS },
  tick: { heartbeatS: args.heartbeatS, intervalMs: args.intervalMs },
  log: (m) => process.stderr.write(`${m}\n`),
});
maker.onLeadership((leader) => process.stdout.write(`${JSON.stringify({ leader })}\n`));
process.stdout.write(`${JSON.stringify({ ready: true, leader: maker.state().cluster?.leader ?? false })}\n`);
process.on('SIGTERM', () => {
  void maker.stop().then(() => process.exit(0));
});
