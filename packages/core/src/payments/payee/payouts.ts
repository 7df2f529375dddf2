/**
 * The node's balances (held, earned, owed, withdrawable) and admin payouts of its revenue, as a Cashu token or to a bolt11 invoice: the amount is
 * checked against what is withdrawable and recorded 'pending' in one transaction (a payout another
 * process records meanwhile counts), the token or payment is journaled by the wallet under
 * `payout:<id>`, and a token payout cut off by a crash is finished by recovery.
 */
import { randomUUID } from 'node:crypto';
import type { EcashWallet } from '../../wallet/index.ts';
import { bolt11AmountSat } from './bolt11-amount.ts';
import { nothingInFlight, payoutRef, sendOnce } from './outgoing-tokens.ts';
import { invalidRequestError } from './payee-errors.ts';
import type { PayeeStore } from './payee-store.ts';
import type { PayeeBalances, Payout } from './payee-types.ts';

/**
 * Held, earned, owed and withdrawable amounts. `pendingChargedMsat`: charges made in memory, not yet
 * committed (they count as earned, and no longer as owed, at once: the live truth);
 * `servingFaceMsat`: the face of requests being served that only memory knows (single process).
 */
export function payeeBalances(
  store: PayeeStore, wallet: EcashWallet, live: { shared: boolean; pendingChargedMsat: number; servingFaceMsat: number },
): PayeeBalances {
  const heldSat = wallet.balance();
  const revenueMsat = store.revenueMsat() + live.pendingChargedMsat;
  const paidOutMsat = store.paidOutMsat();
  let owedChange = live.servingFaceMsat;
  // Shared books: every process's requests being served are in the books, 'redeeming'; their face
  // counts as owed (more than is owed while a token is not yet in the wallet: never less).
  if (live.shared) for (const r of store.xcashuByState('redeeming')) owedChange += r.faceSat * 1000;
  for (const state of ['redeemed', 'charged'] as const) {
    for (const r of store.xcashuByState(state)) owedChange += (state === 'redeemed' ? r.faceSat : (r.changeSat ?? 0)) * 1000;
  }
  const liabilitiesMsat = store.accountLiabilitiesMsat() - live.pendingChargedMsat + owedChange;
  const withdrawableSat = Math.max(0, Math.min(Math.floor((revenueMsat - paidOutMsat) / 1000), heldSat - Math.ceil(liabilitiesMsat / 1000)));
  return { heldSat, pendingSat: wallet.pendingBalance(), revenueMsat, paidOutMsat, liabilitiesMsat, withdrawableSat };
}

/** What a payout needs of the payee: its books, wallet, owner id (shared books) and live balances. */
export interface PayoutHost {
  readonly store: PayeeStore;
  readonly wallet: EcashWallet;
  readonly shared: boolean;
  readonly owner: string | null;
  balances(): PayeeBalances;
}

/** Pays revenue out (committed revenue only: the caller commits pending charges first); never more than is withdrawable. */
export async function payOut(host: PayoutHost, request: { amountSat: number } | { invoice: string }): Promise<Payout> {
  const id = randomUUID();
  // Checked and recorded in one transaction: a payout another process records meanwhile counts.
  const record = (kind: 'invoice' | 'token', amount: number): void => host.store.tx(() => {
    const { withdrawableSat } = host.balances();
    if (amount > withdrawableSat) throw invalidRequestError('insufficient_revenue', `Withdrawable: ${withdrawableSat} sat`);
    host.store.insertPayout({ id, kind, amountMsat: amount * 1000 }, host.owner);
  });
  if ('invoice' in request) {
    const amount = bolt11AmountSat(request.invoice);
    if (amount === undefined) throw invalidRequestError('invalid_invoice', 'The invoice has no readable amount');
    record('invoice', amount);
    try {
      const w = await host.wallet.withdraw(request.invoice, { purpose: 'admin withdraw', requestId: payoutRef(id) });
      host.store.tx(() => host.store.updatePayout(id, { state: w.state === 'paid' ? 'done' : 'pending', amountMsat: (w.amount + w.feePaid) * 1000 }));
      return { id, kind: 'invoice', amountSat: w.amount, feeSat: w.feePaid, token: undefined };
    } catch (error) {
      if (nothingInFlight(host.wallet, payoutRef(id))) {
        host.store.tx(() => host.store.updatePayout(id, { state: 'failed', amountMsat: 0 }));
      }
      throw error;
    }
  }
  const amount = request.amountSat;
  if (!Number.isSafeInteger(amount) || amount <= 0) throw invalidRequestError('invalid_amount', 'amount_sat must be a positive integer');
  record('token', amount);
  let sent: { token: string; entryId: string };
  try {
    sent = await sendOnce(host.wallet, payoutRef(id), amount, 'admin withdraw');
  } catch (error) {
    // shared books: left pending for any process's recovery to finish (single process: the next start)
    if (host.shared && nothingInFlight(host.wallet, payoutRef(id))) host.store.tx(() => host.store.setOwner('payouts', id, null));
    throw error;
  }
  host.store.tx(() => host.store.updatePayout(id, { state: 'done', token: sent.token }));
  host.wallet.settle(sent.entryId);
  return { id, kind: 'token', amountSat: amount, feeSat: 0, token: sent.token };
}
