import { OrderBook, msatPerMtok } from '@routstr-kit/core';
import type { Benchmark } from '../harness.ts';

function heapMiB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

export const marketMemory: Benchmark = {
  name: 'market-memory',
  description: 'heap held by an order book of N providers × 20 models (asks from /v1/models), vs an empty book',
  async run(ctx) {
    const providers = ctx.scale === 'full' ? 10_000 : 200;
    const models = 20;
    const rounds = ctx.samples(3, 1);
    const empty: number[] = [];
    const full: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const before = heapMiB();
      let book: OrderBook | null = new OrderBook();
      empty.push(Math.max(0, heapMiB() - before));
      for (let p = 0; p < providers; p++) {
        const quotes = Array.from({ length: models }, (_, m) => ({ model: `model-${m}`, prompt: msatPerMtok(1000 + p), completion: msatPerMtok(2000 + p) }));
        book.setAsks(`38421:${p.toString(16).padStart(64, '0')}:d`, 'models', quotes);
      }
      full.push(heapMiB() - before);
      if (book.size === 0) throw new Error('book is empty');
      book = null;
    }
    const hasGc = typeof (globalThis as { gc?: unknown }).gc === 'function';
    return {
      name: this.name,
      description: this.description,
      series: [
        { name: 'empty-book', unit: 'MiB', samples: empty, better: 'lower' },
        { name: `book-${providers}x${models}`, unit: 'MiB', samples: full, better: 'lower', note: `${providers * models} asks` },
      ],
      notes: [hasGc ? 'heap measured after a forced GC (--expose-gc)' : 'no --expose-gc: figures include garbage not yet collected'],
    };
  },
};
