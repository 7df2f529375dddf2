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

/** A token journaled under `ref`: the one already made (a crash before it was stored) or a new one. */
export async function sendOnce(wallet: EcashWallet, ref: string, amountSat: number, purpose: string): Promise<{ token: string; entryId: string }> {
  const made = wallet.journal({ requestId: ref }).find(
    (e: JournalEntry) => e.kind === 'token' && e.token !== null && ['outstanding', 'spent', 'settled'].includes(e.status),
  );
  if (made?.token) return { token: made.token, entryId: made.id };
  const sent = await wallet.send(sat(amountSat), { purpose, requestId: ref });
  return { token: sent.token, entryId: sent.entry.id };
}
