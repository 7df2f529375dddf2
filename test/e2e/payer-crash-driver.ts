// Test fixture for the payer crash tests: a buyer in its own process that makes one paid request
// and is SIGKILLed at the failpoint named in ROUTSTR_KIT_FAILPOINT.
// Usage: node payer-crash-driver.ts '<json: { walletPath, mint, relay, model, mode, stream }>'
import { createPayingFetch, openMarket, openWallet } from '@routstr-kit/core';

interface Args {
  walletPath: string;
  mint: string;
  relay: string;
  model: string;
  mode: 'xcashu' | 'session';
  stream: boolean;
}

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
const pf = createPayingFetch({ wallet, market, mode: args.mode, profile: 'cheapest' });
const res = await pf('http://routstr.invalid/v1/chat/completions', {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ model: args.model, messages: [{ role: 'user', content: 'crash test' }], max_tokens: 8, stream: args.stream }),
});
await res.text();
await pf.close();
market.close();
wallet.close();
process.stdout.write(`${JSON.stringify({ receipts: pf.receipts().length })}\n`);
process.exit(0);
