/** Counters of what the market took in and what it refused, by reason. */

/** Why an event or body was refused. */
export type RejectReason =
  /** id matches the content but the signature does not verify */
  | 'forged'
  /** id does not match the content (changed after signing) */
  | 'tampered'
  /** created_at beyond the allowed clock skew */
  | 'future'
  /** NIP-40 expiration passed, or a tick's quote already lapsed */
  | 'expired'
  /** not an event, or a shape our parsers refuse; also unusable HTTP bodies */
  | 'malformed'
  /** a tick whose seq is not above the provider's last one */
  | 'stale-seq'
  /** a tick for a provider with no live announcement */
  | 'orphan'
  /** an announcement whose every URL is an address the market may not dial (`allowProviderAddresses`) */
  | 'address'
  /** more events from one pubkey than its rate allows */
  | 'rate-limited'
  /** a new provider beyond the per-pubkey or total cap */
  | 'capacity';

export const REJECT_REASONS: readonly RejectReason[] = ['forged', 'tampered', 'future', 'expired', 'malformed', 'stale-seq', 'orphan', 'address', 'rate-limited', 'capacity'];

/** A snapshot of the counters. */
export interface MarketStatsSnapshot {
  /** Events that passed every check. */
  readonly accepted: number;
  /** Copies of an event already accepted (same id from another relay). */
  readonly duplicates: number;
  /** Older versions of a replaceable event, kept out. */
  readonly superseded: number;
  readonly rejected: Readonly<Record<RejectReason, number>>;
  /** Events refused, all reasons together. */
  readonly rejectedTotal: number;
  /** Probe outcomes. */
  readonly probesOk: number;
  readonly probesFailed: number;
  /** HTTP bodies that did not parse (also counted in rejected.malformed). */
  readonly malformedBodies: number;
}

/** Mutable counters; one per market, no global state. */
export class MarketStats {
  accepted = 0;
  duplicates = 0;
  superseded = 0;
  probesOk = 0;
  probesFailed = 0;
  malformedBodies = 0;
  readonly #rejected: Record<RejectReason, number> = { forged: 0, tampered: 0, future: 0, expired: 0, malformed: 0, 'stale-seq': 0, orphan: 0, address: 0, 'rate-limited': 0, capacity: 0 };

  /** Counts one refused event or body. */
  reject(reason: RejectReason): void {
    this.#rejected[reason] += 1;
  }

  /** How many were refused for `reason`. */
  rejected(reason: RejectReason): number {
    return this.#rejected[reason];
  }

  /** A copy of every counter. */
  snapshot(): MarketStatsSnapshot {
    const rejected = { ...this.#rejected };
    return {
      accepted: this.accepted,
      duplicates: this.duplicates,
      superseded: this.superseded,
      rejected,
      rejectedTotal: Object.values(rejected).reduce((a, b) => a + b, 0),
      probesOk: this.probesOk,
      probesFailed: this.probesFailed,
      malformedBodies: this.malformedBodies,
    };
  }
}
