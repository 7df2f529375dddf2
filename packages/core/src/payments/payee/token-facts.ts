/**
 * Reading a token the node is paid with, before anything is redeemed: its face value, mint and
 * hash (the key of its request), refused with routstr-core's error codes when it is malformed,
 * worthless or from a mint the node does not trust; and how a failed redeem maps to those codes.
 */
import { createHash } from 'node:crypto';
import { getTokenMetadata, normalizeMintUrl } from '@cashu/cashu-ts';
import { sat, type Msat } from '../../money/index.ts';
import { MintRefused, ProofsAlreadySpent, UnknownMint, UnreadableToken } from '../../wallet/index.ts';
import { redemptionError, type PayeeError } from './payee-errors.ts';
import type { TokenFacts } from './payee-types.ts';

/** sha256(utf8(text)) hex: the key of a token's X-Cashu request or deposit. */
export const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** Reads a token header: malformed → 400 invalid_token, zero value → 400 cashu_token_zero_value, untrusted mint → 422. */
export function describeToken(raw: string, trustedMints: readonly string[]): TokenFacts {
  const token = raw.trim();
  if (!/^cashu[AB]/.test(token)) throw redemptionError('invalid_cashu_token', 'Invalid token format');
  let meta: ReturnType<typeof getTokenMetadata>;
  try {
    meta = getTokenMetadata(token);
  } catch (error) {
    throw redemptionError('invalid_cashu_token', 'Invalid token format', error);
  }
  let amount: number;
  try {
    amount = Number(meta.amount.toString());
  } catch (error) {
    throw redemptionError('invalid_cashu_token', 'Invalid token amount', error);
  }
  if (!Number.isSafeInteger(amount) || amount < 0) throw redemptionError('invalid_cashu_token', 'Invalid token amount');
  if (amount === 0) throw redemptionError('cashu_token_zero_value', 'Token has zero value');
  // The wallet holds sats only; msat tokens are refused rather than mis-credited.
  if ((meta.unit ?? 'sat') !== 'sat') throw redemptionError('invalid_cashu_token', `Unsupported token unit ${String(meta.unit)}`);
  const mint = normalizeMintUrl(meta.mint);
  if (!trustedMints.includes(mint)) {
    // No cross-mint swap: a token from a mint we do not trust is refused with nothing kept.
    throw redemptionError('cashu_foreign_mint_swap_failed', `Mint ${mint} is not trusted by this node; pay with a token from one of: ${trustedMints.join(', ')}`);
  }
  return { token, hash: sha256(token), mint, faceSat: sat(amount), faceMsat: (amount * 1000) as Msat };
}

/** Maps a wallet receive failure; `definite` = the token is certainly not in our wallet. */
export function receiveFailure(error: unknown): { error: PayeeError; definite: boolean } {
  if (error instanceof ProofsAlreadySpent) return { error: redemptionError('cashu_token_already_spent', 'Token already spent', error), definite: true };
  if (error instanceof UnreadableToken) return { error: redemptionError('invalid_cashu_token', `Invalid token: ${error.message}`, error), definite: true };
  if (error instanceof UnknownMint) return { error: redemptionError('cashu_foreign_mint_swap_failed', 'Token from an untrusted mint', error), definite: true };
  if (error instanceof MintRefused && error.mintCode !== undefined) {
    return { error: redemptionError('cashu_token_redemption_failed', `The mint refused the token: ${error.message}`, error), definite: true };
  }
  return { error: redemptionError('cashu_mint_unreachable', 'The mint could not be reached to redeem the token', error), definite: false };
}
