// FIFO hand-out of a fixed set of slots (context sequences): requests beyond the slot count wait in order,
// which is what makes `waiting` a real queue depth.

interface Waiter<T> {
  resolve: (slot: T) => void;
  reject: (err: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class SlotQueue<T> {
  private readonly free: T[];
  private readonly waiters: Waiter<T>[] = [];
  private readonly total: number;
  private readonly onChange: () => void;

  constructor(slots: readonly T[], onChange: () => void = () => {}) {
    this.free = [...slots];
    this.total = slots.length;
    this.onChange = onChange;
  }

  /** Slots currently handed out (requests running). */
  get inUse(): number {
    return this.total - this.free.length;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Takes a free slot, or waits in line for one; rejects with the signal's reason when aborted while waiting. */
  acquire(signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const slot = this.free.shift();
    if (slot !== undefined && this.waiters.length === 0) {
      this.onChange();
      return Promise.resolve(slot);
    }
    if (slot !== undefined) this.free.unshift(slot);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter<T> = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          this.onChange();
          reject(signal?.reason);
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
      this.onChange();
    });
  }

  /** Returns a slot; the longest-waiting request gets it. */
  release(slot: T): void {
    const next = this.waiters.shift();
    if (!next) {
      this.free.push(slot);
      this.onChange();
      return;
    }
    next.signal?.removeEventListener('abort', next.onAbort);
    this.onChange();
    next.resolve(slot);
  }
}
