// Prints the buyers' wallet balance (and fees paid) after the paid calls.
import { readFileSync } from 'node:fs';
import { openWallet } from '@routstr-kit/core/wallet';

const { settings } = JSON.parse(readFileSync(new URL('./settings.json', import.meta.url), 'utf8'));
const wallet = await openWallet({ path: settings.walletPath, mints: settings.mints });
try {
  console.log(JSON.stringify({ balance: wallet.balance(), fees: wallet.feesPaid() }));
} finally {
  wallet.close();
}
