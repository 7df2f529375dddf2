// Test fixture for crash-safety tests: a child process that holds a wallet and does one thing.
// The parent sets ROUTSTR_KIT_FAILPOINT so that the wallet SIGKILLs itself at a named step.
// Usage: node crash-driver.ts '<json: { path, mint, action, amount?, token?, invoice?, inventory? }>' (action keep: keepIncoming)
import { sat } from '../money/index.ts';
import type { InventoryPolicy } from './denomination-inventory.ts';
import { openWallet } from './open-wallet.ts';

interface DriverArgs {
  path: string;
  mint: string;
  action: 'send' | 'receive' | 'keep' | 'fund' | 'withdraw' | 'refill';
  inventory?: InventoryPolicy | false;
  amount?: number;
  token?: string;
  invoice?: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as DriverArgs;
const wallet = await openWallet({ path: args.path, mints: [args.mint], ...(args.inventory === undefined ? {} : { inventory: args.inventory }) });
async function run(): Promise<unknown> {
  switch (args.action) {
    case 'send':
      return (await wallet.send(sat(args.amount ?? 0), { purpose: 'crash test', requestId: 'crash-1' })).token;
    case 'receive':
      return wallet.receive(args.token ?? '');
    case 'keep':
      // kept durably, then redeemed in the background: the answer is the redeem's outcome
      return (await wallet.keepIncoming(args.token ?? '', { purpose: 'crash test', requestId: 'crash-1' }).redeemed).status;
    case 'fund':
      return (await wallet.fund(sat(args.amount ?? 0))).complete();
    case 'withdraw':
      return (await wallet.withdraw(args.invoice ?? '')).state;
    case 'refill':
      return wallet.refillInventory();
  }
}
const result = await run();
wallet.close();
process.stdout.write(`${JSON.stringify({ result })}\n`);
