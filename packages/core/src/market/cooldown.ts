/**
 * Cooldown after repeated failures, as the routstr SDK does it: a second failure of the same
 * scope within 210 s puts that scope on cooldown for 210 s. A scope is a provider, or a
 * provider and model.
 */
import type { MarketClock } from './clock.ts';

export interface CooldownOptions {
  readonly clock: MarketClock;
  /** Failures that trigger a cooldown (default 2). */
  readonly threshold?: number;
  /** Window in which they must fall (default 210 000 ms). */
  readonly windowMs?: number;
  /** Length of the cooldown (default 210 000 ms). */
  readonly cooldownMs?: number;
}

/** The scope key for a provider, or a provider and one model. */
export function cooldownScope(provider: string, model?: string): string {
  return model === undefined ? provider : `${provider}\u0000${model}`;
}

/** Failure timestamps and cooldowns per scope. */
export class CooldownTracker {
  readonly #clock: MarketClock;
  readonly #threshold: number;
  readonly #windowMs: number;
  readonly #cooldownMs: number;
  readonly #failures = new Map<string, number[]>();
  readonly #until = new Map<string, number>();

  constructor(options: CooldownOptions) {
    this.#clock = options.clock;
    this.#threshold = options.threshold ?? 2;
    this.#windowMs = options.windowMs ?? 210_000;
    this.#cooldownMs = options.cooldownMs ?? 210_000;
  }

  /** Records a failure; returns true when it starts a cooldown. */
  recordFailure(scope: string): boolean {
    const now = this.#clock.now();
    const recent = (this.#failures.get(scope) ?? []).filter((t) => now - t < this.#windowMs);
    recent.push(now);
    if (recent.length >= this.#threshold) {
      this.#until.set(scope, now + this.#cooldownMs);
      this.#failures.delete(scope);
      return true;
    }
    this.#failures.set(scope, recent);
    return false;
  }

  /** Epoch ms the scope cools down until, if it is cooling down now. */
  coolingUntil(scope: string): number | undefined {
    const until = this.#until.get(scope);
    if (until === undefined) return undefined;
    if (this.#clock.now() >= until) {
      this.#until.delete(scope);
      return undefined;
    }
    return until;
  }

  /** Whether the provider, or the provider for this model, is cooling down. */
  isCoolingDown(provider: string, model?: string): boolean {
    if (this.coolingUntil(cooldownScope(provider)) !== undefined) return true;
    return model !== undefined && this.coolingUntil(cooldownScope(provider, model)) !== undefined;
  }

  /** Forgets a provider's failures and cooldowns (e.g. after it left the market). */
  forget(provider: string): void {
    for (const map of [this.#failures, this.#until]) {
      for (const key of [...map.keys()]) if (key === provider || key.startsWith(`${provider}\u0000`)) map.delete(key);
    }
  }
}
