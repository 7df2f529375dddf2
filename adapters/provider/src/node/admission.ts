/**
 * Admission to the engine: at most `maxConcurrency` requests run, at most `queueSize` wait
 * (p-queue, by priority); beyond that the caller answers 429. The counters are the node's
 * NodeLoad, which the market maker reads as demand. A free slot is granted without a timer
 * (Bottleneck, used before, went through several setTimeout hops: ~4.6 ms on every request).
 */
import PQueue from 'p-queue';
import type { NodeLoad } from '../market-maker/price-board.ts';

/** No slot and no room in the queue. */
export class QueueFull extends Error {
  readonly code = 'queue_full';
  constructor() {
    super('The node is at capacity; retry later');
    this.name = 'QueueFull';
  }
}

/** Slots on the engine plus the load counters. */
export class Admission implements NodeLoad {
  readonly capacity: number;
  private readonly limiter: PQueue;
  private readonly queueSize: number;
  private readonly stopping = new AbortController();
  private readonly rejections: number[] = [];
  private running = 0;
  private waiting = 0;
  private readonly listeners = new Set<() => void>();

  constructor(options: { maxConcurrency: number; queueSize: number }) {
    if (!Number.isSafeInteger(options.maxConcurrency) || options.maxConcurrency < 1) throw new RangeError('maxConcurrency must be a positive integer');
    if (!Number.isSafeInteger(options.queueSize) || options.queueSize < 0) throw new RangeError('queueSize must be a non-negative integer');
    this.capacity = options.maxConcurrency;
    this.queueSize = options.queueSize;
    this.limiter = new PQueue({ concurrency: options.maxConcurrency });
  }

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting;
  }

  /** 429s answered in the last `windowMs`. */
  rejectedRecently(windowMs: number): number {
    const since = Date.now() - windowMs;
    return this.rejections.filter((t) => t >= since).length;
  }

  /** Called whenever inFlight/queued change (tests synchronise on it). */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Waits for a slot; resolves with its release function, or rejects with QueueFull (counted).
   * `priority` 0 (first) … 9 (last), default 5: batch lines wait at 9, behind interactive requests.
   */
  acquire(priority = 5): Promise<() => void> {
    // No room: every slot taken and the queue full (or stopped), refused at once.
    if (this.stopping.signal.aborted || this.running + this.waiting >= this.capacity + this.queueSize) return Promise.reject(this.reject());
    this.waiting++;
    this.emit();
    return new Promise((resolve, reject) => {
      let granted = false;
      this.limiter
        .add(
          () =>
            new Promise<void>((done) => {
              granted = true;
              this.waiting--;
              this.running++;
              this.emit();
              let released = false;
              resolve(() => {
                if (released) return;
                released = true;
                this.running--;
                this.emit();
                done();
              });
            }),
          // p-queue runs the highest number first; ours is 0 (first) … 9 (last)
          { priority: 9 - priority, signal: this.stopping.signal },
        )
        .catch(() => {
          if (granted) return;
          this.waiting--;
          this.emit();
          reject(this.reject());
        });
    });
  }

  /** Stops admitting; waiting requests are refused. */
  async stop(): Promise<void> {
    this.stopping.abort();
    this.limiter.clear();
  }

  private reject(): QueueFull {
    this.rejections.push(Date.now());
    if (this.rejections.length > 10_000) this.rejections.splice(0, this.rejections.length - 10_000);
    return new QueueFull();
  }

  private emit(): void {
    for (const l of [...this.listeners]) l();
  }
}
