import { randomBytes } from 'node:crypto';
import { NutCode, NutError } from './nut-error.ts';

const BECH32_CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

/** A fake bolt11 invoice whose HRP encodes the amount the way cashu-ts checks it (lnbcrt<amount*10>n1<bech32-charset data>), unique per call. */
export function fakeInvoice(amountSat: number): string {
  if (!Number.isSafeInteger(amountSat) || amountSat <= 0) {
    throw new RangeError(`fakeInvoice: amount must be a positive integer, got ${amountSat}`);
  }
  // 'n' is 0.1 sat, so amount*10 n is exactly `amountSat` sats.
  const data = Array.from(randomBytes(96), (b) => BECH32_CHARSET[b & 31]).join('');
  return `lnbcrt${amountSat * 10}n1p${data}`;
}

// BOLT11 multipliers as millisatoshi per unit of the HRP amount (1 BTC = 1e11 msat).
const MSAT_PER_UNIT: Record<string, bigint> = {
  '': 100_000_000_000n,
  m: 100_000_000n,
  u: 100_000n,
  n: 100n,
};

/** The amount in sats a bolt11 invoice asks for, read from its HRP only (there is no real Lightning here). */
export function invoiceAmountSat(invoice: string): number {
  const lower = invoice.toLowerCase();
  const separator = lower.lastIndexOf('1');
  const hrp = separator > 0 ? lower.slice(0, separator) : '';
  const match = /^ln(?:bcrt|bc|tbs|tb|sb)(\d*)([munp]?)$/.exec(hrp);
  if (!match) throw new NutError(NutCode.malformedRequest, 'invalid bolt11 invoice');
  const digits = match[1] ?? '';
  const multiplier = match[2] ?? '';
  if (digits === '') throw new NutError(NutCode.amountlessInvoiceUnsupported, 'amountless invoices are not supported');
  const msat =
    multiplier === 'p' ? (BigInt(digits) % 10n === 0n ? BigInt(digits) / 10n : -1n) : BigInt(digits) * (MSAT_PER_UNIT[multiplier] ?? 0n);
  if (msat <= 0n || msat % 1000n !== 0n || msat / 1000n > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new NutError(NutCode.amountOutsideLimit, 'invoice amount must be a positive whole number of sats');
  }
  return Number(msat / 1000n);
}
