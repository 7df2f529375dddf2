/** Time for the market, in milliseconds since the epoch; injectable so tests move it instead of sleeping. */
export interface MarketClock {
  now(): number;
}

/** The wall clock. */
export const systemClock: MarketClock = { now: () => Date.now() };

/** A clock that moves only when told to (tests). */
export class ManualClock implements MarketClock {
  #now: number;
  constructor(startMs = 1_800_000_000_000) {
    this.#now = startMs;
  }
  now(): number {
    return this.#now;
  }
  /** Moves the clock forward by `ms`. */
  advance(ms: number): void {
    this.#now += ms;
  }
  /** Sets the clock to `ms`. */
  set(ms: number): void {
    this.#now = ms;
  }
}

/** Unix seconds at `clock`'s time (Nostr timestamps). */
export function unixSeconds(clock: MarketClock): number {
  return Math.floor(clock.now() / 1000);
}
