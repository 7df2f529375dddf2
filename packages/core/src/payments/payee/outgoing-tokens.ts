/**
 * Tokens the node hands out — X-Cashu change, account refunds, payouts — each journaled by the
 * wallet under a reference (`change:<token hash>`, `refund:<id>`, `payout:<id>`), so a crash
 * between making a token and storing it adopts the one already made instead of making another.
 */
import { sat } from '../../money/index.ts';
import type { EcashWallet, JournalEntry } from '../../wallet/index.ts';

/** The journal reference of an X-Cashu request's change. */
export const changeRef = (tokenHash: string): string => `change:${tokenHash}`;
/** The journal reference of an account refund. */
export const refundRef = (id: string): string => `refund:${id}`;
/** The journal reference of an admin payout. */
export const payoutRef = (id: string): string => `payout:${id}`;

/** The token already journaled under `ref` (made before a crash cut its storing off), if any. */
export function madeToken(wallet: EcashWallet, ref: string): JournalEntry | undefined {
  return wallet.journal({ requestId: ref }).find(
    (e: JournalEntry) => e.kind === 'token' && e.token !== null && ['outstanding', 'spent', 'settled'].includes(e.status),
  );
}

/**
 * A token journaled under `ref`: the one already made (a crash before it was stored) or a new one.
 * `settled`: the new token is journaled as handed over in the commit that makes it (one fsync fewer
 * than a settle() afterwards; the payee never takes its own change back).
 */
export async function sendOnce(wallet: EcashWallet, ref: string, amountSat: number, purpose: string, settled = false): Promise<{ token: string; entryId: string }> {
  const made = madeToken(wallet, ref);
  if (made?.token) {
    if (settled && made.status !== 'settled') wallet.settle(made.id);
    return { token: made.token, entryId: made.id };
  }
  const sent = await wallet.send(sat(amountSat), { purpose, requestId: ref, settled });
  return { token: sent.token, entryId: sent.entry.id };
}

/**
 * True when nothing is in flight under `ref`: every send journaled there was aborted (or none was).
 * Only then may a failed send's record be let go to another process: a send cut off mid-swap (the
 * mint unreachable) stays this process's until its wallet settles it, or another process would make
 * a second token while the first can still come to exist.
 */
export function nothingInFlight(wallet: EcashWallet, ref: string): boolean {
  return wallet.journal({ requestId: ref }).every((e: JournalEntry) => e.status === 'aborted');
}
