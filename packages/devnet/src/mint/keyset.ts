import {
  createBlindSignature,
  createDLEQProof,
  createNewMintKeys,
  hashToCurve,
  pointFromHex,
  verifyUnblindedSignature,
} from '@cashu/cashu-ts';
import { NutCode, NutError } from './nut-error.ts';

/** Amounts 1, 2, 4 … 2^31: 32 keys, enough for any devnet payment. */
export const KEYSET_SIZE = 32;

/** One keyset with its private keys, derived deterministically from a seed. */
export interface Keyset {
  id: string;
  unit: string;
  inputFeePpk: number;
  active: boolean;
  /** amount → compressed public key hex, as served on /v1/keys. */
  publicKeys: Record<string, string>;
  privateKeys: Record<string, Uint8Array>;
}

/** A blind signature as the mint stores and serves it (NUT-00 with NUT-12 DLEQ). */
export interface BlindSignatureRecord {
  B_: string;
  id: string;
  amount: number;
  C_: string;
  dleq: { e: string; s: string };
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** Derive a keyset from a hex seed; the same seed, unit and fee always give the same keyset id and keys. */
export function deriveKeyset(seedHex: string, unit: string, inputFeePpk: number, active: boolean): Keyset {
  const pair = createNewMintKeys(KEYSET_SIZE, Buffer.from(seedHex, 'hex'), { unit, input_fee_ppk: inputFeePpk });
  const publicKeys: Record<string, string> = {};
  for (const [amount, key] of Object.entries(pair.pubKeys)) publicKeys[amount] = hex(key);
  return { id: pair.keysetId, unit, inputFeePpk, active, publicKeys, privateKeys: pair.privKeys };
}

/** The private key for one amount, or undefined when the keyset has none (not a power of two, or too large). */
export function keyFor(keyset: Keyset, amount: number): Uint8Array | undefined {
  return Object.hasOwn(keyset.privateKeys, String(amount)) ? keyset.privateKeys[String(amount)] : undefined;
}

/** Sign one blinded message and attach its DLEQ proof. */
export function signBlindedMessage(keyset: Keyset, amount: number, B_: string): BlindSignatureRecord {
  const key = keyFor(keyset, amount);
  if (!key) throw new NutError(NutCode.amountOutsideLimit, `no key for amount ${amount}`);
  const point = pointFromHex(B_);
  const signature = createBlindSignature(point, key, keyset.id);
  const dleq = createDLEQProof(point, key);
  return { B_, id: keyset.id, amount, C_: signature.C_.toHex(true), dleq: { e: hex(dleq.e), s: hex(dleq.s) } };
}

/** Whether C is this keyset's signature on `secret` for `amount` (k·hashToCurve(secret) == C). */
export function proofSignatureValid(keyset: Keyset, amount: number, secret: string, C: string): boolean {
  const key = keyFor(keyset, amount);
  if (!key) return false;
  try {
    return verifyUnblindedSignature({ C: pointFromHex(C), secret: new TextEncoder().encode(secret), id: keyset.id }, key);
  } catch {
    return false; // C is not a point on the curve
  }
}

/** NUT-07 Y: hashToCurve(secret) as compressed hex. */
export function proofY(secret: string): string {
  return hashToCurve(new TextEncoder().encode(secret)).toHex(true);
}

/** Whether a hex string is a valid compressed or uncompressed secp256k1 point. */
export function isPoint(hexPoint: string): boolean {
  try {
    pointFromHex(hexPoint);
    return true;
  } catch {
    return false;
  }
}
