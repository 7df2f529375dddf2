/**
 * Events per second per pubkey, as a token bucket per key. The feed asks `allows` before it
 * verifies (a key out of tokens costs no signature check) and `take`s only after the signature
 * verified, so forged events naming someone else's key cannot spend that key's allowance.
 */

export interface PubkeyRateOptions {
  /** Sustained events per second per pubkey (default 10). */
  readonly perSecond?: number;
  /** Events a pubkey may send at once (default 100: a provider's history on subscribe). */
  readonly burst?: number;
  /** Pubkeys tracked; the least recently seen is forgotten beyond this (default 20 000). */
  readonly maxKeys?: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Token buckets by pubkey, bounded in number. */
export class PubkeyRateLimiter {
  readonly #perMs: number;
  readonly #burst: number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: PubkeyRateOptions = {}) {
    this.#perMs = (options.perSecond ?? 10) / 1000;
    this.#burst = options.burst ?? 100;
    this.#maxKeys = options.maxKeys ?? 20_000;
  }

  /** Whether `pubkey` has a token at `now` (epoch ms); takes nothing. */
  allows(pubkey: string, now: number): boolean {
    return this.#refill(pubkey, now).tokens >= 1;
  }

  /** Spends one of `pubkey`'s tokens (after its event verified). */
  take(pubkey: string, now: number): void {
    const bucket = this.#refill(pubkey, now);
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    // Maps iterate in insertion order: re-insert so the oldest entry is the least recently active
    this.#buckets.delete(pubkey);
    this.#buckets.set(pubkey, bucket);
    if (this.#buckets.size > this.#maxKeys) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
  }

  #refill(pubkey: string, now: number): Bucket {
    const bucket = this.#buckets.get(pubkey);
    if (!bucket) return { tokens: this.#burst, at: now };
    bucket.tokens = Math.min(this.#burst, bucket.tokens + Math.max(0, now - bucket.at) * this.#perMs);
    bucket.at = now;
    return bucket;
  }
}
