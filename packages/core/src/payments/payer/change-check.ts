/**
 * Change is money only once the mint takes it: why a change token the wallet could not redeem
 * counts as nothing (forged, spent by someone else) or as stored (this wallet redeemed it before).
 */
import { parseCashuToken } from '../../protocol/index.ts';
import { UnknownMint, UnreadableToken, MintRefused, ProofsAlreadySpent, type EcashWallet } from '../../wallet/index.ts';

/** Face value of a change token (0 when unreadable). */
export function changeFace(change: string): number {
  try {
    return parseCashuToken(change).amount;
  } catch {
    return 0;
  }
}

/**
 * Why the wallet could not redeem a change token: `stored` (this wallet redeemed it already),
 * `change_spent` (spent by someone else), `change_forged` (the mint refused its proofs, or it is
 * not a token of a mint we use), or undefined (the mint did not answer: worth another try).
 */
export function refusedChange(error: unknown, wallet: EcashWallet, change: string): 'stored' | 'change_spent' | 'change_forged' | undefined {
  if (error instanceof ProofsAlreadySpent) return wallet.redeemedByUs(change) ? 'stored' : 'change_spent';
  if (error instanceof UnreadableToken || error instanceof UnknownMint) return 'change_forged';
  if (error instanceof MintRefused && error.mintCode !== undefined) return 'change_forged';
  return undefined;
}
