/**
 * Charge verification (RIP-05 §5): what the provider took (paid − change) against what its own
 * cached prices say the usage costs. A router acts on the verdict (e.g. distrusts a provider
 * that overcharges beyond the tolerance).
 */
import { InvalidAmount, type Msat } from '../money/index.ts';

/**
 * `change_forged` / `change_spent`: the change the provider handed back was refused by the mint
 * (proofs it never signed, or already spent), so it counts as nothing and the provider kept it.
 */
export type ChargeVerdict = 'ok' | 'overcharged' | 'undercharged' | 'change_forged' | 'change_spent';

export interface ChargeCheck {
  readonly ok: boolean;
  readonly verdict: ChargeVerdict;
  readonly expectedMsat: number;
  readonly chargedMsat: number;
  /** chargedMsat − expectedMsat when positive, else 0. */
  readonly overchargeMsat: number;
  /** expectedMsat − chargedMsat when positive, else 0. */
  readonly underchargeMsat: number;
  /** The allowance that applied, in msats. */
  readonly toleranceMsat: number;
}

export interface ChargeInput {
  /** Expected cost from cached prices and usage. */
  readonly expectedMsat: Msat | number;
  /** What left the wallet for this request (token face value, or balance debit). */
  readonly paidMsat: Msat | number;
  /** Change received back, in msats. */
  readonly changeMsat: Msat | number;
  /** Fixed allowance in msats (default 1000: sat tokens round the charge up to the sat). */
  readonly toleranceMsat?: number;
  /** Relative allowance in percent of expected (default 1, routstr-core's tolerance). */
  readonly tolerancePercent?: number;
}

function check(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new InvalidAmount(`${name} must be a non-negative integer msat amount, got ${String(v)}`);
}

/** Compares the charge with the expected cost; the allowance is max(fixed, percent of expected). */
export function verifyCharge(input: ChargeInput): ChargeCheck {
  const expected = Number(input.expectedMsat);
  const paid = Number(input.paidMsat);
  const change = Number(input.changeMsat);
  check('expectedMsat', expected);
  check('paidMsat', paid);
  check('changeMsat', change);
  if (change > paid) throw new InvalidAmount(`change ${change} exceeds payment ${paid}`);
  const charged = paid - change;
  const tolerance = Math.max(input.toleranceMsat ?? 1000, Math.ceil((expected * (input.tolerancePercent ?? 1)) / 100));
  const over = Math.max(0, charged - expected);
  const under = Math.max(0, expected - charged);
  const verdict: ChargeVerdict = over > tolerance ? 'overcharged' : under > tolerance ? 'undercharged' : 'ok';
  return { ok: verdict !== 'overcharged', verdict, expectedMsat: expected, chargedMsat: charged, overchargeMsat: over, underchargeMsat: under, toleranceMsat: tolerance };
}
