// BOLT11 multipliers as msats per unit of the HRP amount (1 BTC = 1e11 msat).
const MSAT_PER_UNIT: Record<string, bigint> = { '': 100_000_000_000n, m: 100_000_000n, u: 100_000n, n: 100n };

/** The amount a bolt11 invoice asks for, in sats, read from its human-readable part; undefined when amountless or unreadable. */
export function bolt11AmountSat(invoice: string): number | undefined {
  const lower = invoice.trim().toLowerCase();
  const separator = lower.lastIndexOf('1');
  const hrp = separator > 0 ? lower.slice(0, separator) : '';
  const match = /^ln(?:bcrt|bc|tbs|tb|sb)(\d+)([munp]?)$/.exec(hrp);
  if (!match) return undefined;
  const digits = BigInt(match[1] ?? '0');
  const unit = match[2] ?? '';
  const msat = unit === 'p' ? (digits % 10n === 0n ? digits / 10n : -1n) : digits * (MSAT_PER_UNIT[unit] ?? 0n);
  if (msat <= 0n || msat % 1000n !== 0n || msat / 1000n > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
  return Number(msat / 1000n);
}
