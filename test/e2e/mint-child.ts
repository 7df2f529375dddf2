// Test fixture for crash tests: a durable devnet mint in its own process, so a test can SIGKILL it
// and start it again on the same port and database.
// Usage: node mint-child.ts '<json: { dbPath, port? }>' — prints one JSON line `{ "url": … }` once listening.
import { startMint } from '@routstr-kit/devnet';

const args = JSON.parse(process.argv[2] ?? '{}') as { dbPath: string; port?: number };
const mint = await startMint({ dbPath: args.dbPath, ...(args.port !== undefined ? { port: args.port } : {}) });
process.stdout.write(`${JSON.stringify({ url: mint.url })}\n`);
process.on('SIGTERM', () => {
  void mint.stop().then(() => process.exit(0));
});
