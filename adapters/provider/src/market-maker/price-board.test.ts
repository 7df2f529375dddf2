import { describe, expect, it } from 'vitest';
import { msatPerMtok } from '@routstr-kit/core';
import { createFixedPriceBoard, createPriceBoard, type ModelPrice } from './index.ts';

const price = (model: string, prompt: number, completion: number): ModelPrice => ({ model, prompt: msatPerMtok(prompt), completion: msatPerMtok(completion) });

describe('price board', () => {
  it('a fixed board serves its prices and never changes them', () => {
    const board = createFixedPriceBoard([price('a', 100, 400), price('b', 50, 200)]);
    expect([...board.current().values()]).toEqual([price('a', 100, 400), price('b', 50, 200)]);
    expect(board.current().get('b')?.completion).toBe(200);
    expect(board.quote('f'.repeat(64), 'a', 0)).toEqual({ ok: false, reason: 'unknown' });
  });

  it('rejects a model priced twice and non-integer prices', () => {
    expect(() => createFixedPriceBoard([price('a', 1, 2), price('a', 3, 4)])).toThrow(/twice/);
    expect(() => createFixedPriceBoard([{ model: 'a', prompt: 1.5 as never, completion: msatPerMtok(2) }])).toThrow(/integer/);
  });

  it('tells listeners only about real changes, after the board is updated', () => {
    const board = createPriceBoard([price('a', 100, 400)]);
    const seen: number[] = [];
    const off = board.onChange((prices) => {
      expect(board.current()).toBe(prices);
      seen.push(prices.get('a')!.completion);
    });
    expect(board.set([price('a', 100, 400)])).toBe(false);
    expect(board.set([price('a', 110, 440)])).toBe(true);
    off();
    expect(board.set([price('a', 120, 480)])).toBe(true);
    expect(seen).toEqual([440]);
  });

  it('looks quotes up: live, unknown, expired (at expiration exactly), model not quoted', async () => {
    const board = createPriceBoard([price('a', 100, 400)]);
    board.rememberQuote('q1', [price('a', 100, 400), price('b', 10, 40)], 1_000);
    const live = await board.quote('q1', 'b', 999);
    expect(live.ok).toBe(true);
    if (live.ok) {
      expect(live.quoteId).toBe('q1');
      expect(live.expiresAt).toBe(1_000);
      expect(live.prices.get('b')).toEqual(price('b', 10, 40));
    }
    expect(board.quote('q2', 'a', 999)).toEqual({ ok: false, reason: 'unknown' });
    expect(board.quote('q1', 'a', 1_000)).toEqual({ ok: false, reason: 'expired' });
    expect(board.quote('q1', 'c', 999)).toEqual({ ok: false, reason: 'model_not_quoted' });
    // quoted prices are a copy: a later board change does not rewrite a quote
    board.set([price('a', 1, 4)]);
    const again = await board.quote('q1', 'a', 500);
    expect(again.ok && again.prices.get('a')?.completion).toBe(400);
  });

  it('keeps only the most recent N quotes', async () => {
    const board = createPriceBoard([price('a', 1, 4)], { quoteCapacity: 2 });
    board.rememberQuote('q1', [price('a', 1, 4)], 100);
    board.rememberQuote('q2', [price('a', 2, 8)], 100);
    board.rememberQuote('q3', [price('a', 3, 12)], 100);
    expect(board.quote('q1', 'a', 0)).toEqual({ ok: false, reason: 'unknown' });
    expect((await board.quote('q2', 'a', 0)).ok).toBe(true);
    expect((await board.quote('q3', 'a', 0)).ok).toBe(true);
  });
});
