// The provider node of the payment benches in its own process, as it is deployed: the buyers that
// load it (the bench's clients) never share its event loop, so the node's figures are its own cost.
// Usage: node provider-child.ts '<ProviderChildOptions as JSON>'. Prints one JSON line `{ url, controlUrl }`
// once serving; SIGTERM stops it. `controlUrl` answers GET /inventory (the node wallet's
// inventoryStats()), GET /log (the node's last log lines), for the bench's notes and errors, and GET
// /idle (answers once the node wallet's background work has ended).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { msatPerMtok } from '@routstr-kit/core';
import { createFixedPriceBoard, startProvider } from '@routstr-kit/provider';

/** What the bench hands the child (see RigOptions in payment-rig.ts). */
export interface ProviderChildOptions {
  upstream: { url: string; model: string; contextSize: number };
  proxyUrl: string;
  slots: number;
  /** msat/Mtok. */
  price: { prompt: number; completion: number };
  dataDir: string;
  /** PostgreSQL for the node's books (shared with the other processes on it); needs nsec. Default: SQLite in dataDir. */
  database?: string;
  nsec?: string;
}

const options = JSON.parse(process.argv[2] ?? '{}') as ProviderChildOptions;
const nodeLog: string[] = [];
const provider = await startProvider({
  engine: 'vllm', upstream: options.upstream.url, mints: [options.proxyUrl], dataDir: options.dataDir, contextLength: options.upstream.contextSize,
  board: createFixedPriceBoard([{ model: options.upstream.model, prompt: msatPerMtok(options.price.prompt), completion: msatPerMtok(options.price.completion) }]),
  maxConcurrency: options.slots, queueSize: 4 * options.slots,
  ...(options.database !== undefined ? { database: options.database } : {}),
  ...(options.nsec !== undefined ? { nsec: options.nsec } : {}),
  log: (line) => {
    nodeLog.push(line);
    if (nodeLog.length > 20) nodeLog.shift();
  },
});
const control = createServer((req, res) => {
  if (req.url === '/idle') {
    // Resolves once the node wallet's background work (inventory refills, kept-token redeems) has ended.
    void provider.payee.wallet.idle().then(() => res.end('{}'));
    return;
  }
  const body = req.url === '/inventory' ? provider.payee.wallet.inventoryStats() : req.url === '/log' ? nodeLog : undefined;
  res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body ?? { error: 'not found' }));
});
await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
process.stdout.write(`${JSON.stringify({ url: provider.url, controlUrl: `http://127.0.0.1:${(control.address() as AddressInfo).port}` })}\n`);
process.on('SIGTERM', () => {
  control.close();
  void provider.stop().then(() => process.exit(0));
});
