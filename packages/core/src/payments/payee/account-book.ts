/**
 * Bearer accounts' durable money moves (reservations and settlements are in session-ledger.ts):
 * a refund's debit is durable before its token is made, and the token is delivered (or, when the
 * wallet cannot make it, the debit is put back on the key); held reservations an older version
 * wrote are released on open.
 */
import { sat } from '../../money/index.ts';
import { InsufficientFunds, type EcashWallet } from '../../wallet/index.ts';
import { failpoint } from '../../wallet/failpoint.ts';
import { refundRefused } from './payee-errors.ts';
import type { PayeeStore } from './payee-store.ts';
import type { AccountRefund } from './payee-types.ts';
import { refundRef, sendOnce } from './outgoing-tokens.ts';

/**
 * Releases a reservation left held in the books (recovery): an older version's, or (shared books)
 * one whose process is gone — `mayTake` re-checked in the transaction.
 */
export function releaseReservation(store: PayeeStore, reservationId: string, mayTake: (owner: string | null) => boolean = () => true): void {
  store.tx(() => {
    const r = store.reservation(reservationId);
    if (!r || r.state !== 'held' || !mayTake(r.owner)) return;
    store.closeHeld(r, { state: 'released' });
  });
}

/** Makes (or adopts) the token of a debited refund and stores it on the account. */
export async function deliverRefund(
  store: PayeeStore, wallet: EcashWallet, id: string, apiKey: string, amountSat: number, onCredit: (deltaMsat: number) => void = () => {},
): Promise<AccountRefund> {
  let sent: { token: string; entryId: string };
  try {
    sent = await sendOnce(wallet, refundRef(id), amountSat, 'account refund');
  } catch (error) {
    if (error instanceof InsufficientFunds) {
      // Nothing left the wallet: put the money back on the key.
      store.tx(() => {
        store.credit(apiKey, amountSat * 1000);
        store.finishRefund(id, '');
      });
      onCredit(amountSat * 1000);
      throw refundRefused('The node cannot make the refund token now; try again later', 503);
    }
    throw error;
  }
  failpoint('payee:refund-after-send');
  store.tx(() => {
    store.finishRefund(id, sent.token);
    store.updateAccount(apiKey, { refundToken: sent.token, refundSat: amountSat });
  });
  wallet.settle(sent.entryId);
  return { token: sent.token, sat: sat(amountSat) };
}
