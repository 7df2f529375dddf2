/**
 * Change tokens a hostile provider hands back instead of real change: forged ones (proofs the
 * mint never signed, under its real keyset or one it does not know) and spent ones (real change
 * the provider redeemed itself before sending it).
 */
import { randomBytes } from 'node:crypto';
import { Amount, getEncodedToken } from '@cashu/cashu-ts';
import { generateSecretKey, getPublicKey } from 'nostr-tools';
import { sat, type EcashWallet } from '@routstr-kit/core';

/** How a forged change token is wrong. */
export type Forgery = 'bad-signature' | 'unknown-keyset';

/** The keyset id a mint signs sats with now (`GET /v1/keysets`). */
export async function activeKeysetId(mintUrl: string): Promise<string> {
  const res = await fetch(`${mintUrl.replace(/\/$/, '')}/v1/keysets`);
  const body = (await res.json()) as { keysets: Array<{ id: string; unit: string; active: boolean }> };
  const k = body.keysets.find((x) => x.active && x.unit === 'sat');
  if (!k) throw new Error(`${mintUrl} has no active sat keyset`);
  return k.id;
}

// a point on secp256k1 (a random public key): the mint parses it and then rejects the signature
const randomPoint = (): string => `02${getPublicKey(generateSecretKey())}`;

/** Splits `amount` sats into powers of two, as real proofs are. */
function denominations(amount: number): number[] {
  const out: number[] = [];
  for (let bit = 1; bit <= amount; bit *= 2) if (amount & bit) out.push(bit);
  return out;
}

/** A token of `amount` sats whose proofs the mint never signed. */
export function forgeChange(mintUrl: string, keysetId: string, amount: number, forgery: Forgery): string {
  const id = forgery === 'unknown-keyset' ? `00${randomBytes(7).toString('hex')}` : keysetId;
  const proofs = denominations(amount).map((a) => ({ id, amount: Amount.from(a), secret: randomBytes(32).toString('hex'), C: randomPoint() }));
  return getEncodedToken({ mint: mintUrl, proofs, unit: 'sat' });
}

/** Real change of `amount` sats that `wallet` has already redeemed itself: worthless to anyone else. */
export async function spentChange(wallet: EcashWallet, amount: number): Promise<string> {
  const sent = await wallet.send(sat(amount), { purpose: 'hostile-spent-change' });
  await wallet.receive(sent.token);
  return sent.token;
}
