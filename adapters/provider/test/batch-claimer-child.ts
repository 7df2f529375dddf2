// Test fixture: a node process holding batch lines. It opens the batch store at a location
// (SQLite file or postgres:// URL), registers a claimer, claims `count` pending lines of a batch
// and prints `{ "claimer": …, "claimed": [indexes] }`; then it holds them (no reservation, as a
// runner killed between its claim and its reserve) until its stdin closes or it is killed.
// Usage: node batch-claimer-child.ts '<json: { location, batchId, model, count }>'
import { openBatchStore } from '../src/batches/open-batch-store.ts';

const args = JSON.parse(process.argv[2] ?? '{}') as { location: string; batchId: string; model: string; count: number };
const store = await openBatchStore(args.location);
const claimer = await store.registerClaimer();
const claimed: number[] = [];
for (let i = 0; i < args.count; i++) {
  const line = await store.claimPending(args.batchId, args.model, claimer);
  if (line) claimed.push(line.index);
}
process.stdout.write(`${JSON.stringify({ claimer, claimed })}\n`);
process.stdin.resume();
process.stdin.on('end', () => void store.close().then(() => process.exit(0)));
