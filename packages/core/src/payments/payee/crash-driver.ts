// Test fixture for payee crash tests: a child process that holds the node's wallet and payee books
// and does one thing; the parent arms ROUTSTR_KIT_FAILPOINT so it SIGKILLs itself at a named step.
// Usage: node crash-driver.ts '<json: { walletPath, dbPath, mint, action: "deposit"|"refund"|"xcashu"|"session", token?, apiKey?, requests?, commit?, shared? }>'
// "session": Bearer requests on apiKey (reserve 5000 msat, settle 1234 msat each), each answer printed as it
// "leaves" ({"answer":i,"chargedMsat":…}); their settlements committed by the group timer ("timer") or by flush().
import { openWallet } from '../../wallet/index.ts';
import { openPayee } from './payee.ts';

interface DriverArgs {
  walletPath: string;
  dbPath: string;
  mint: string;
  action: 'deposit' | 'refund' | 'xcashu' | 'session';
  token?: string;
  apiKey?: string;
  requests?: number;
  commit?: 'timer' | 'flush';
  /** Open the books shared (several processes on one database). */
  shared?: boolean;
}

const args = JSON.parse(process.argv[2] ?? '{}') as DriverArgs;
const wallet = await openWallet({ path: args.walletPath, mints: [args.mint], reclaimOnOpen: false });
// A timer group commit right after each answer (intervalMs 0), or one flush() after all of them.
const payee = await openPayee({ wallet, dbPath: args.dbPath, shared: args.shared === true, groupCommit: args.commit === 'timer' ? { intervalMs: 0 } : { intervalMs: 60_000 } });
async function run(): Promise<unknown> {
  if (args.action === 'deposit') return payee.accountFor({ kind: 'cashu', token: args.token ?? '' });
  if (args.action === 'session') {
    for (let i = 0; i < (args.requests ?? 1); i++) {
      const reservation = payee.reserve(args.apiKey ?? '', 5000);
      const { chargedMsat } = payee.settle(reservation, 1234);
      process.stdout.write(`${JSON.stringify({ answer: i, chargedMsat })}\n`); // the answer has left (stdout to a pipe is synchronous)
      await new Promise((resolve) => setTimeout(resolve, 1)); // the group timer (intervalMs 0) fires here
    }
    payee.flush();
    return payee.info(args.apiKey ?? '').totalSpentMsat;
  }
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
