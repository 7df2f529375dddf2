// Funds the buyers' wallet from the devnet mint through the core's subpath exports; prints the balance.
import { readFileSync } from 'node:fs';
import { openWallet } from '@routstr-kit/core/wallet';
import { sat } from '@routstr-kit/core/money';

const { settings } = JSON.parse(readFileSync(new URL('./settings.json', import.meta.url), 'utf8'));
const wallet = await openWallet({ path: settings.walletPath, mints: settings.mints });
try {
  await (await wallet.fund(sat(Number(process.argv[2])))).complete();
  console.log(JSON.stringify({ balance: wallet.balance() }));
} finally {
  await wallet.close();
}
