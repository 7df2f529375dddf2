/**
 * Change is money only once the mint takes it. The buyer keeps a change token durably the moment it
 * arrives (the wallet's incoming journal) and the mint's verdict comes from the background redeem:
 * a token the mint refuses counts as nothing returned — `change_forged` (not valid ecash of a
 * mint we use) or `change_spent` (someone else, e.g. the node itself, redeemed it first).
 */
import { UnknownMint, UnreadableToken, type IncomingOutcome } from '../../wallet/index.ts';

/** The receipt problem of change the mint refused in the background redeem (undefined: redeemed, or still kept for a retry). */
export function changeProblem(outcome: IncomingOutcome): 'change_forged' | 'change_spent' | undefined {
  if (outcome.status !== 'refused') return undefined;
  return outcome.problem === 'spent' ? 'change_spent' : 'change_forged';
}

/** Whether `error` from keeping a change token says it is not ecash of a mint we use (nothing was kept; keeping only decodes). */
export function unusableChange(error: unknown): boolean {
  return error instanceof UnreadableToken || error instanceof UnknownMint;
}
