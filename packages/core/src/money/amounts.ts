/** Integer amounts of money. Brands keep sats and msats from being mixed up at compile time. */
export type Msat = number & { readonly __unit: 'msat' };
export type Sat = number & { readonly __unit: 'sat' };
/** A price in millisats per million tokens (msat/Mtok). */
export type MsatPerMtok = number & { readonly __unit: 'msat/Mtok' };

export class InvalidAmount extends Error {
  readonly code = 'invalid_amount';
  constructor(message: string) {
    super(message);
    this.name = 'InvalidAmount';
  }
}

function checkInteger(value: number, unit: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidAmount(`${unit} amount must be a non-negative safe integer, got ${String(value)}`);
  }
}

/** Brands a non-negative integer as msats; throws InvalidAmount otherwise. */
export function msat(value: number): Msat {
  checkInteger(value, 'msat');
  return value as Msat;
}

/** Brands a non-negative integer as sats; throws InvalidAmount otherwise. */
export function sat(value: number): Sat {
  checkInteger(value, 'sat');
  return value as Sat;
}

/** Brands a non-negative integer as a price in msat per million tokens. */
export function msatPerMtok(value: number): MsatPerMtok {
  checkInteger(value, 'msat/Mtok');
  return value as MsatPerMtok;
}

/** Sats to msats (exact). */
export function satToMsat(value: Sat): Msat {
  return msat(value * 1000);
}

/** Msats to sats, rounding UP (what a payer must hand over to cover a charge). */
export function msatToSatCeil(value: Msat): Sat {
  return sat(Math.ceil(value / 1000));
}

/** Msats to sats, rounding DOWN (what can be given back as change without over-refunding). */
export function msatToSatFloor(value: Msat): Sat {
  return sat(Math.floor(value / 1000));
}
