/**
 * Exact arithmetic on the decimals that travel as JSON floats. A wire float such as `0.0001515`
 * means the decimal its shortest representation shows, so conversions go through that decimal
 * (as a BigInt and a power of ten) instead of multiplying binary floats.
 */
import { InvalidAmount } from './amounts.ts';

/** A finite decimal `digits × 10^exponent`. */
export interface Decimal {
  readonly digits: bigint;
  readonly exponent: number;
}

/** The decimal a finite JS number prints as (its shortest round-trip representation). */
export function decimalOf(value: number): Decimal {
  if (!Number.isFinite(value)) throw new InvalidAmount(`not a finite number: ${String(value)}`);
  const [mantissa = '0', exp = '0'] = value.toExponential().split('e');
  const fraction = mantissa.split('.')[1] ?? '';
  const digits = BigInt(mantissa.replace('.', ''));
  return { digits, exponent: Number(exp) - fraction.length };
}

/** Rounds a non-negative rational `num/den` to an integer: 'ceil' or 'floor'. */
export function divideRounding(num: bigint, den: bigint, rounding: 'ceil' | 'floor'): bigint {
  const q = num / den;
  if (rounding === 'floor' || q * den === num) return q;
  return q + 1n;
}

/** `value × 10^power` rounded to an integer, computed on the value's decimal (no float error). */
export function scaleToInteger(value: number, power: number, rounding: 'ceil' | 'floor'): bigint {
  if (value < 0) throw new InvalidAmount(`negative amount: ${String(value)}`);
  const { digits, exponent } = decimalOf(value);
  const shift = exponent + power;
  if (shift >= 0) return digits * 10n ** BigInt(shift);
  return divideRounding(digits, 10n ** BigInt(-shift), rounding);
}

/** The exact rational value of a finite double, as `num / den` with den a power of two. */
export function exactRational(value: number): { num: bigint; den: bigint } {
  if (!Number.isFinite(value)) throw new InvalidAmount(`not a finite number: ${String(value)}`);
  if (value === 0) return { num: 0n, den: 1n };
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  const bits = view.getBigUint64(0);
  const sign = bits >> 63n ? -1n : 1n;
  const rawExp = Number((bits >> 52n) & 0x7ffn);
  const fractionBits = bits & 0xfffffffffffffn;
  const mantissa = rawExp === 0 ? fractionBits : fractionBits | (1n << 52n);
  const exp = (rawExp === 0 ? -1074 : rawExp - 1075);
  if (exp >= 0) return { num: sign * mantissa * 2n ** BigInt(exp), den: 1n };
  return { num: sign * mantissa, den: 2n ** BigInt(-exp) };
}

/**
 * Python's `round(x, ndigits)`: the exact binary value rounded half-to-even, returned as the
 * nearest double. JS `toFixed` rounds ties up, which differs on exact ties such as 0.0625.
 */
export function pythonRound(value: number, ndigits: number): number {
  const { num, den } = exactRational(value);
  const scale = 10n ** BigInt(ndigits);
  const scaled = num * scale;
  const negative = scaled < 0n;
  const abs = negative ? -scaled : scaled;
  let q = abs / den;
  const twiceRemainder = (abs - q * den) * 2n;
  if (twiceRemainder > den || (twiceRemainder === den && q % 2n === 1n)) q += 1n;
  const result = Number(q) / Number(scale);
  return negative ? -result : result;
}
