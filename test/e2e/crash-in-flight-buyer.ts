// Test fixture for the in-flight crash test: a buyer in its own process that sends `count` paid
// streamed requests at once through createPayingFetch and reports, as JSON lines, when each one
// delivers its first content chunk (`{ "firstChunk": i }`) and when all have ended (`{ "ended": … }`).
// Usage: node crash-in-flight-buyer.ts '<json: { walletPath, mint, relay, model, mode, count, maxTokens }>'
import { createPayingFetch, openMarket, openWallet } from '@routstr-kit/core';

interface Args {
  walletPath: string;
  mint: string;
  relay: string;
  model: string;
  mode: 'xcashu' | 'session';
  count: number;
  maxTokens: number;
}

const say = (message: unknown): void => void process.stdout.write(`${JSON.stringify(message)}\n`);
const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const wallet = await openWallet({ path: args.walletPath, mints: [args.mint] });
const market = openMarket({ relays: [args.relay], tickIntervalMs: 0, allowProviderAddresses: 'loopback' });
await market.ready();
if (market.depth(args.model, 1).length === 0) {
  await new Promise<void>((resolve) => {
    const off = market.onAskChange(() => {
      if (market.depth(args.model, 1).length > 0) {
        off();
        resolve();
      }
    });
  });
}
const pf = createPayingFetch({ wallet, market, mode: args.mode, profile: 'cheapest', limits: { maxConcurrent: args.count }, maxAttempts: 1 });
async function one(i: number): Promise<boolean> {
  const res = await pf('http://routstr.invalid/v1/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: args.model, messages: [{ role: 'user', content: `in flight ${i}` }], max_tokens: args.maxTokens, stream: true }),
  });
  if (!res.ok || !res.body) return false;
  const decoder = new TextDecoder();
  let told = false;
  for await (const bytes of res.body) {
    if (!told && decoder.decode(bytes, { stream: true }).includes('"content"')) {
      told = true;
      say({ firstChunk: i });
    }
  }
  return true;
}
const results = await Promise.allSettled(Array.from({ length: args.count }, (_, i) => one(i)));
await pf.close().catch(() => undefined);
market.close();
wallet.close();
say({ ended: { ok: results.filter((r) => r.status === 'fulfilled' && r.value).length, failed: results.filter((r) => r.status === 'rejected' || !r.value).length } });
process.exit(0);
