/**
 * Time for orders: the epoch clock and a timer. Injectable so tests move time instead of sleeping.
 * Node's setTimeout takes at most 2^31-1 ms (~24.8 days) and fires after 1 ms for anything more,
 * so deadlines further away are reached by re-arming in steps (`atDeadline`).
 */

/** The longest delay setTimeout honours, ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Clock and timers of the orders module. */
export interface OrderClock {
  /** Epoch ms. */
  now(): number;
  /** Calls `fn` once after `ms` (with setTimeout's limits); returns a cancel function. */
  setTimer(fn: () => void, ms: number): () => void;
}

/** The wall clock and Node's timers. */
export const systemOrderClock: OrderClock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
};

/**
 * Calls `fn` once `clock` reaches `deadline` (epoch ms), however far away: each timer is at most
 * MAX_TIMER_MS and re-checks the clock when it fires; `fn` never runs synchronously. Returns a cancel function.
 */
export function atDeadline(clock: OrderClock, deadline: number, fn: () => void): () => void {
  let cancel: () => void = () => undefined;
  const arm = (): void => {
    const left = Math.max(0, deadline - clock.now());
    cancel = clock.setTimer(() => (clock.now() >= deadline ? fn() : arm()), Math.min(left, MAX_TIMER_MS));
  };
  arm();
  return () => cancel();
}

/**
 * A clock that moves only when told to, running the timers that fall due (tests). Like Node, a
 * delay above MAX_TIMER_MS fires after 1 ms, so code that hands it a longer delay fails as it would.
 */
export class ManualOrderClock implements OrderClock {
  #now: number;
  #timers: Array<{ at: number; fn: () => void; seq: number }> = [];
  #seq = 0;
  /** Every delay handed to setTimer, ms (what setTimeout would have been asked). */
  readonly delays: number[] = [];

  constructor(startMs = 1_800_000_000_000) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, ms: number): () => void {
    this.delays.push(ms);
    const delay = ms > MAX_TIMER_MS || !(ms >= 1) ? 1 : ms;
    const timer = { at: this.#now + delay, fn, seq: this.#seq++ };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  }

  /** Moves the clock forward by `ms`, running each timer at its time, in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const next = this.#timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    this.#now = end;
  }

  /** Timers not yet fired. */
  pending(): number {
    return this.#timers.length;
  }
}
