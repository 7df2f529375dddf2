/**
 * Recovery of what a payer (this run's failed tries, or a run that crashed) left with providers:
 * X-Cashu tokens a provider holds (change stored but not redeemed, or still at its refund route),
 * tokens that never left (taken back), and session keys (refunded).
 */
import type { EcashWallet, SentToken } from '../../wallet/index.ts';
import type { PayerStore } from './payer-store.ts';
import type { PayerRecoveryReport } from './payer-types.ts';
import { refundRecord } from './session-book.ts';
import type { XCashuExchange } from './xcashu-exchange.ts';

/** What recovery works with. */
export interface RecoveryParts {
  readonly wallet: EcashWallet;
  readonly store: PayerStore;
  readonly xcashu: XCashuExchange;
  /** Session ids in use now (left alone). */
  readonly liveSessions: ReadonlySet<string>;
  /** Journal ids of tokens in flight (left alone). */
  readonly inflight: ReadonlySet<string>;
  readonly fetch: typeof fetch;
  /** Whether records of `owner` may be settled (ours, or a payer that is gone). */
  mayRecover(owner: string): boolean;
}

/** A report with nothing done. */
export function emptyReport(): PayerRecoveryReport {
  return { xcashuResolved: 0, recoveredSat: 0, sessionsRefunded: 0, pending: 0 };
}

/** Settles every open record `parts` may settle; what a provider does not answer for stays pending. */
export async function recoverPayments(parts: RecoveryParts): Promise<PayerRecoveryReport> {
  const { wallet, store } = parts;
  const report = emptyReport();
  for (const row of store.openXCashu()) {
    if (parts.inflight.has(row.journalId) || !parts.mayRecover(row.owner)) continue;
    const entry = wallet.journal({ requestId: row.requestId }).find((e) => e.id === row.journalId);
    if (!entry || ['reclaimed', 'aborted', 'settled', 'pending'].includes(entry.status)) {
      store.markDone(row.journalId);
      report.xcashuResolved++;
      continue;
    }
    const token: SentToken = { token: entry.token ?? '', amount: entry.amount, entry };
    try {
      const got = row.changeToken ? parts.xcashu.receiveChange(token, row.changeToken) : await parts.xcashu.takeBack(token, row.providerUrl);
      // change kept now is redeemed before recovery reports (what the mint refused came back as nothing)
      const outcome = got.verdict ? await got.verdict : undefined;
      const back = 'changeSat' in got ? got.changeSat : got.returnedSat;
      report.recoveredSat += outcome?.status === 'refused' ? 0 : back;
      if (got.pending) report.pending++;
      else report.xcashuResolved++;
    } catch {
      report.pending++;
    }
  }
  for (const rec of store.openSessions()) {
    if (parts.liveSessions.has(rec.id) || !parts.mayRecover(rec.owner)) continue;
    try {
      report.recoveredSat += await refundRecord(wallet, store, rec, parts.fetch);
      report.sessionsRefunded++;
    } catch {
      report.pending++;
    }
  }
  return report;
}
