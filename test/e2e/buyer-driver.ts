// Test fixture for the buyer crash tests: a buyer in its own process that sends `count` paid
// requests at once through createPayingFetch (one by default) and can be SIGKILLed from outside or
// at the failpoint named in ROUTSTR_KIT_FAILPOINT. It reports, as JSON lines, when each streamed
// request delivers its first content chunk (`{ "firstChunk": i }`) and when all have ended
// (`{ "ended": { ok, failed }, "receipts": n }`); it exits 1 when a request failed.
// Usage: node buyer-driver.ts '<json: { walletPath, mint, relay, model, mode, stream, count?, maxTokens?, maxAttempts? }>'
import { createPayingFetch, openMarket, openWallet } from '@routstr-kit/core';

interface Args {
  walletPath: string;
  mint: string;
  relay: string;
  model: string;
  mode: 'xcashu' | 'session';
  stream: boolean;
  count?: number;
  maxTokens?: number;
  maxAttempts?: number;
}

const say = (message: unknown): void => void process.stdout.write(`${JSON.stringify(message)}\n`);
const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const count = args.count ?? 1;
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
const pf = createPayingFetch({
  wallet,
  market,
  mode: args.mode,
  profile: 'cheapest',
  limits: { maxConcurrent: count },
  ...(args.maxAttempts !== undefined ? { maxAttempts: args.maxAttempts } : {}),
});
async function one(i: number): Promise<boolean> {
  const res = await pf('http://routstr.invalid/v1/chat/completions', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: args.model, messages: [{ role: 'user', content: `buyer request ${i}` }], max_tokens: args.maxTokens ?? 8, stream: args.stream }),
  });
  if (!res.ok || !res.body) return false;
  const decoder = new TextDecoder();
  let told = false;
  for await (const bytes of res.body) {
    if (args.stream && !told && decoder.decode(bytes, { stream: true }).includes('"content"')) {
      told = true;
      say({ firstChunk: i });
    }
  }
  return true;
}
const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => one(i)));
await pf.close().catch(() => undefined);
market.close();
wallet.close();
const ok = results.filter((r) => r.status === 'fulfilled' && r.value).length;
say({ ended: { ok, failed: count - ok }, receipts: pf.receipts().length });
process.exit(ok === count ? 0 : 1);
