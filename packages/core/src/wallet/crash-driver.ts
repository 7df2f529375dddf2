// Test fixture for crash-safety tests: a child process that holds a wallet and does one thing.
// The parent sets ROUTSTR_KIT_FAILPOINT so that the wallet SIGKILLs itself at a named step.
// Usage: node crash-driver.ts '<json: { path, mint, action, amount?, count?, token?, invoice?, inventory? }>' (action keep: keepIncoming;
// action sends: prints `ready`, waits for a line on stdin, then makes `count` concurrent sends of `amount`)
import { sat } from '../money/index.ts';
import type { InventoryPolicy } from './denomination-inventory.ts';
import { openWallet } from './open-wallet.ts';

interface DriverArgs {
  path: string;
  mint: string;
  action: 'send' | 'receive' | 'keep' | 'fund' | 'withdraw' | 'refill' | 'sends';
  inventory?: InventoryPolicy | false;
  amount?: number;
  count?: number;
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
    case 'sends': {
      // the parent says go once every process holds the wallet open, so they spend at the same time
      process.stdout.write('ready\n');
      await new Promise((resolve) => process.stdin.once('data', resolve));
      process.stdin.destroy();
      const sent = await Promise.all(Array.from({ length: args.count ?? 0 }, (_, i) => wallet.send(sat(args.amount ?? 0), { purpose: 'shared wallet', requestId: `${process.pid}-${i}` })));
      return sent.map((s) => s.token);
    }
  }
}
const result = await run();
wallet.close();
process.stdout.write(`${JSON.stringify({ result })}\n`);
