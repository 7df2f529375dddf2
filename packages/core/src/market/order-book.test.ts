import { describe, expect, it } from 'vitest';
import { msatPerMtok } from '../money/index.ts';
import { ManualClock } from './clock.ts';
import { ModelIdResolver } from './model-id.ts';
import { OrderBook, priceForShape, type AskChange, type BestAskChange } from './order-book.ts';

const q = (model: string, prompt: number, completion: number) => ({ model, prompt: msatPerMtok(prompt), completion: msatPerMtok(completion) });

function bookWithThree(clock = new ManualClock()) {
  const book = new OrderBook({ clock });
  book.setAsks('A', 'models', [q('gpt-4o-mini', 100_000, 400_000)]);
  book.setAsks('B', 'models', [q('openai/gpt-4o-mini', 200_000, 600_000)]);
  book.setAsks('C', 'announcement', [q('gpt-4o-mini', 300_000, 900_000), q('llama-3-8b', 10, 20)]);
  return { book, clock };
}

describe('OrderBook', () => {
  it('keeps one ask per provider per model and answers best, depth, median and spread', () => {
    const { book } = bookWithThree();
    expect(book.models()).toEqual(['gpt-4o-mini', 'llama-3-8b']);
    const best = book.bestAsk('gpt-4o-mini');
    expect(best?.provider).toBe('A');
    expect(best?.priceMsat).toBe(500_000);
    expect(book.depth('gpt-4o-mini', 2).map((a) => a.provider)).toEqual(['A', 'B']);
    expect(book.depth('openai/gpt-4o-mini', 10).map((a) => [a.provider, a.providerModelId])).toEqual([
      ['A', 'gpt-4o-mini'],
      ['B', 'openai/gpt-4o-mini'],
      ['C', 'gpt-4o-mini'],
    ]);
    const price = book.marketPrice('gpt-4o-mini');
    expect(price).toMatchObject({ asks: 3, bestMsat: 500_000, medianMsat: 800_000, worstMsat: 1_200_000, spreadMsat: 700_000, medianPrompt: 200_000, medianCompletion: 600_000 });
  });

  it('prices a request shape, rounding up, and ranks by it', () => {
    const book = new OrderBook({ clock: new ManualClock() });
    book.setAsks('cheap-in', 'models', [q('m', 1_000, 9_000)]);
    book.setAsks('cheap-out', 'models', [q('m', 9_000, 1_000)]);
    // default shape ties at 10 000 msat: provider id breaks the tie
    expect(book.bestAsk('m')?.provider).toBe('cheap-in');
    const shape = { inputTokens: 100, outputTokens: 1_000 };
    const best = book.bestAsk('m', shape);
    expect(best?.provider).toBe('cheap-out');
    expect(best?.priceMsat).toBe(Math.ceil((100 * 9_000 + 1_000 * 1_000) / 1e6));
    expect(priceForShape({ prompt: 1, completion: 0 }, { inputTokens: 1, outputTokens: 0 })).toBe(1);
    expect(priceForShape({ prompt: 3, completion: 0 }, { inputTokens: 1_000_000, outputTokens: 0 })).toBe(3);
    expect(priceForShape({ prompt: 2 ** 40, completion: 2 ** 40 }, { inputTokens: 2 ** 20, outputTokens: 3 })).toBe(Number((2n ** 60n + 3n * 2n ** 40n + 999_999n) / 1_000_000n));
  });

  it('lets a live tick override, ignores an older seq, and falls back when the tick expires', () => {
    const { book, clock } = bookWithThree();
    const best: BestAskChange[] = [];
    book.bestAskChanges.on((c) => best.push(c));
    expect(book.setAsks('C', 'tick', [q('gpt-4o-mini', 50_000, 100_000)], { seq: 5, expiresAt: clock.now() + 60_000, quoteId: 'tick-5' })).toBe(true);
    // emitted synchronously, inside setAsks
    expect(best.map((c) => [c.previous?.provider, c.current?.provider])).toEqual([['A', 'C']]);
    expect(book.bestAsk('gpt-4o-mini')).toMatchObject({ provider: 'C', source: 'tick', quoteId: 'tick-5', priceMsat: 150_000 });

    expect(book.setAsks('C', 'tick', [q('gpt-4o-mini', 1, 1)], { seq: 4, expiresAt: clock.now() + 60_000 })).toBe(false);
    expect(book.setAsks('C', 'tick', [q('gpt-4o-mini', 1, 1)], { seq: 5, expiresAt: clock.now() + 60_000 })).toBe(false);
    expect(book.bestAsk('gpt-4o-mini')?.priceMsat).toBe(150_000);

    clock.advance(60_000);
    // a query applies the expiry on its own
    expect(book.bestAsk('gpt-4o-mini')?.provider).toBe('A');
    expect(book.askOf('C', 'gpt-4o-mini')?.source).toBe('announcement');
    expect(best.map((c) => c.current?.provider)).toEqual(['C', 'A']);
    expect(book.nextExpiry).toBe(Number.POSITIVE_INFINITY);
  });

  it('emits every ask change and nothing for a refresh at the same price', () => {
    const { book, clock } = bookWithThree();
    const changes: AskChange[] = [];
    book.askChanges.on((c) => changes.push(c));
    book.setAsks('A', 'models', [q('gpt-4o-mini', 100_000, 400_000)], { expiresAt: clock.now() + 1_000 });
    expect(changes).toEqual([]);
    book.setAsks('A', 'models', [q('gpt-4o-mini', 100_001, 400_000)]);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ model: 'gpt-4o-mini', provider: 'A', previous: { prompt: 100_000 }, current: { prompt: 100_001 } });
    book.removeProvider('C');
    expect(changes.slice(1).map((c) => [c.model, c.current])).toEqual([
      ['gpt-4o-mini', undefined],
      ['llama-3-8b', undefined],
    ]);
    expect(book.models()).toEqual(['gpt-4o-mini']);
  });

  it('recomputes the best when the best provider raises its price or leaves', () => {
    const { book } = bookWithThree();
    book.setAsks('A', 'models', [q('gpt-4o-mini', 900_000, 900_000)]);
    expect(book.bestAsk('gpt-4o-mini')?.provider).toBe('B');
    book.removeSource('B', 'models');
    expect(book.bestAsk('gpt-4o-mini')?.provider).toBe('C');
  });

  it('matches ids through aliases and the date suffix rule', () => {
    const resolver = new ModelIdResolver([['gpt4o-mini-latest', 'openai/gpt-4o-mini']]);
    const book = new OrderBook({ clock: new ManualClock(), resolver });
    book.setAsks('A', 'models', [q('gpt-4o-mini', 1, 1)]);
    expect(book.bestAsk('gpt4o-mini-latest')?.provider).toBe('A');
    expect(book.bestAsk('gpt-4o-mini-20240718')?.provider).toBe('A');
    expect(book.bestAsk('gpt-4o')).toBeUndefined();
  });

  it('streams best-ask changes to an async iterator until aborted', async () => {
    const { book, clock } = bookWithThree();
    const abort = new AbortController();
    const iterator = book.iterateBestAskChanges({ signal: abort.signal });
    book.setAsks('B', 'tick', [q('gpt-4o-mini', 1, 1)], { seq: 1, expiresAt: clock.now() + 10 });
    clock.advance(10);
    book.sweep();
    const first = await iterator.next();
    const second = await iterator.next();
    expect([first.value?.current?.provider, second.value?.current?.provider]).toEqual(['B', 'A']);
    abort.abort();
    expect((await iterator.next()).done).toBe(true);
  });
});
