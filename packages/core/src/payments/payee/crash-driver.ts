// Test fixture for payee crash tests: a child process that holds the node's wallet and payee books
// and does one thing; the parent arms ROUTSTR_KIT_FAILPOINT so it SIGKILLs itself at a named step.
// Usage: node crash-driver.ts '<json: { walletPath, dbPath, mint, action: "deposit"|"refund"|"xcashu", token?, apiKey? }>'
import { openWallet } from '../../wallet/index.ts';
import { openPayee } from './payee.ts';

interface DriverArgs {
  walletPath: string;
  dbPath: string;
  mint: string;
  action: 'deposit' | 'refund' | 'xcashu';
  token?: string;
  apiKey?: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as DriverArgs;
const wallet = await openWallet({ path: args.walletPath, mints: [args.mint], reclaimOnOpen: false });
const payee = await openPayee({ wallet, dbPath: args.dbPath });
async function run(): Promise<unknown> {
  if (args.action === 'deposit') return payee.accountFor({ kind: 'cashu', token: args.token ?? '' });
  if (args.action === 'xcashu') {
    const payment = await payee.beginXCashu(args.token ?? '', { gateMsat: 1, model: 'm', requestId: 'crash' });
    return (await payee.finishXCashu(payment.tokenHash, 1000)).token;
  }
  return (await payee.refund(args.apiKey ?? '')).token;
}
const result = await run();
payee.close();
wallet.close();
process.stdout.write(`${JSON.stringify({ result })}\n`);
