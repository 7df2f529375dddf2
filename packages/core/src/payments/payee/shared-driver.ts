// Test fixture for shared-books tests: a node process (its own Payee, shared books) that serves
// commands from the parent, one JSON line each on stdin, and answers one line each on stdout
// ({ id, ok: true, result } or { id, ok: false, code, message }). The parent runs two or more of
// these on one payee database and one wallet file, and SIGKILLs one mid-request.
// Usage: node shared-driver.ts '<json: { walletPath, dbPath, mint, recoverEveryMs? }>' (timed recovery off unless given)
// Commands: deposit {token} | xcashu {token, costMsat} | xcashu-begin {token} | spend {apiKey, gateMsat, costMsat}
//   | hold {apiKey, gateMsat} | settle {reservationId, costMsat} | topup {apiKey, token} | refund {apiKey} | refund-for {token} | withdraw | recover | info {apiKey} | close
import { createInterface } from 'node:readline';
import { openWallet } from '../../wallet/index.ts';
import { PayeeError } from './payee-errors.ts';
import { openPayee } from './payee.ts';

interface Command {
  id: number;
  op: string;
  token?: string;
  apiKey?: string;
  gateMsat?: number;
  costMsat?: number;
  reservationId?: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as { walletPath: string; dbPath: string; mint: string; recoverEveryMs?: number };
const wallet = await openWallet({ path: args.walletPath, mints: [args.mint], reclaimOnOpen: false });
const payee = await openPayee({ wallet, dbPath: args.dbPath, shared: true, recoverEveryMs: args.recoverEveryMs ?? 0 });
const say = (line: unknown): void => void process.stdout.write(`${JSON.stringify(line)}\n`);

// Bearer requests one after another until the account cannot cover the gate: each settlement's charge and what remained.
async function spend(apiKey: string, gateMsat: number, costMsat: number): Promise<{ charged: number[]; remaining: number[] }> {
  const charged: number[] = [];
  const remaining: number[] = [];
  for (;;) {
    let reservation: string;
    try {
      reservation = payee.reserve(apiKey, gateMsat);
    } catch (error) {
      if (error instanceof PayeeError && error.code === 'insufficient_balance') return { charged, remaining };
      throw error;
    }
    await new Promise((resolve) => setImmediate(resolve)); // the request is served: the other process runs meanwhile
    const s = payee.settle(reservation, costMsat);
    charged.push(s.chargedMsat);
    remaining.push(s.remainingMsat);
  }
}

async function run(c: Command): Promise<unknown> {
  const token = c.token ?? '';
  const apiKey = c.apiKey ?? '';
  switch (c.op) {
    case 'deposit': return payee.accountFor({ kind: 'cashu', token });
    case 'xcashu': {
      const payment = await payee.beginXCashu(token, { gateMsat: 1, model: 'm', requestId: `x-${c.id}-${process.pid}` });
      return payee.finishXCashu(payment.tokenHash, c.costMsat ?? 0);
    }
    case 'xcashu-begin': return (await payee.beginXCashu(token, { gateMsat: 1, model: 'm', requestId: `x-${c.id}-${process.pid}` })).tokenHash;
    case 'spend': return spend(apiKey, c.gateMsat ?? 0, c.costMsat ?? 0);
    case 'hold': return payee.reserve(apiKey, c.gateMsat ?? 0);
    case 'settle': return payee.settle(c.reservationId ?? '', c.costMsat ?? 0);
    case 'topup': return payee.topup(apiKey, token);
    case 'refund': return payee.refund(apiKey);
    case 'refund-for': return payee.refundFor(token);
    case 'withdraw': {
      const { withdrawableSat } = payee.balances();
      return withdrawableSat > 0 ? payee.withdraw({ amountSat: withdrawableSat }) : null;
    }
    case 'recover': return payee.recover();
    case 'info': return payee.info(apiKey);
    case 'close': {
      payee.close();
      wallet.close();
      return null;
    }
    default: throw new Error(`unknown op ${c.op}`);
  }
}

say({ ready: true, owner: payee.owner });
for await (const line of createInterface({ input: process.stdin })) {
  const c = JSON.parse(line) as Command;
  run(c).then(
    (result) => {
      say({ id: c.id, ok: true, result: result ?? null });
      if (c.op === 'close') process.exit(0);
    },
    (error: unknown) => say({ id: c.id, ok: false, code: error instanceof PayeeError ? error.code : 'error', message: String(error) }),
  );
}
