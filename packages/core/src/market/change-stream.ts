/**
 * Synchronous fan-out of market changes: listeners run in the same tick as the ingest that
 * caused the change; async iterators buffer (bounded, oldest dropped) for slow consumers.
 */

/** Options for an async iteration over changes. */
export interface ChangeIterationOptions {
  readonly signal?: AbortSignal;
  /** Changes kept for a slow consumer before the oldest are dropped (default 10 000). */
  readonly maxBuffered?: number;
}

/** One kind of change, with listeners and async iterators. */
export class ChangeStream<T> {
  readonly #listeners = new Set<(change: T) => void>();

  /** Whether anyone listens (lets the hot path skip building change objects). */
  get active(): boolean {
    return this.#listeners.size > 0;
  }

  /** Calls `listener` on every change until the returned function is called. */
  on(listener: (change: T) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Delivers `change` to every listener now. A throwing listener does not stop the others or the ingest. */
  emit(change: T): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        // surface it without unwinding the ingest that is half way through the book
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  /** Changes as an async iterator; it ends when `signal` aborts or the consumer returns. */
  iterate(options: ChangeIterationOptions = {}): AsyncIterableIterator<T> {
    const max = options.maxBuffered ?? 10_000;
    const buffer: T[] = [];
    let wake: ((r: IteratorResult<T>) => void) | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      off();
      options.signal?.removeEventListener('abort', finish);
      wake?.({ value: undefined, done: true });
      wake = undefined;
    };
    const off = this.on((change) => {
      if (wake) {
        const w = wake;
        wake = undefined;
        w({ value: change, done: false });
        return;
      }
      buffer.push(change);
      if (buffer.length > max) buffer.shift();
    });
    if (options.signal?.aborted) finish();
    else options.signal?.addEventListener('abort', finish, { once: true });
    const iterator: AsyncIterableIterator<T> = {
      next: () => {
        const head = buffer.shift();
        if (head !== undefined) return Promise.resolve({ value: head, done: false });
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          wake = resolve;
        });
      },
      return: () => {
        finish();
        buffer.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }
}
