import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { storeBackends } from '../storage/store-backends.ts';
import { WalletStore } from '../wallet/store.ts';
import { InvalidBatch, UnreadableOrder } from './errors.ts';
import { limitMsat, withinLimit } from './limit-order.ts';
import { OrderStore } from './order-store.ts';
import { parseBatchInput } from './orders.ts';

const dir = mkdtempSync(join(tmpdir(), 'orders-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(storeBackends('orders-store'))('OrderStore on $name', (backend) => {
  it('moves a limit order only from the states it names, and keeps it across a reopen', async () => {
    const path = await backend.fresh('a');
    let ws = new WalletStore(path);
    let store = new OrderStore(ws);
    store.insertLimit({ id: 'o1', request: { model: 'm', max_tokens: 2 }, maxPrice: 5000, shape: { inputTokens: 10, outputTokens: 2 }, deadline: 123 });
    expect(store.limit('o1')?.state).toBe('resting');
    expect(store.moveLimit('o1', ['resting'], 'filling', { fill: { provider: 'p', quote: 'q' } })).toBe(true);
    store.setFillRequestId('o1', 'req-1');
    // a cancel racing the fill loses: the order is no longer resting
    expect(store.moveLimit('o1', ['resting'], 'cancelled')).toBe(false);
    ws.close();
    ws = new WalletStore(path);
    store = new OrderStore(ws);
    const o = store.limit('o1');
    expect(o).toMatchObject({ state: 'filling', fillRequestId: 'req-1', fill: { provider: 'p', quote: 'q' }, maxPrice: 5000, deadline: 123 });
    expect(store.limitsIn('filling').map((r) => r.id)).toEqual(['o1']);
    expect(store.moveLimit('o1', ['filling'], 'resting', { fill: null, fillRequestId: null })).toBe(true);
    expect(store.limit('o1')).toMatchObject({ state: 'resting', fill: null, fillRequestId: null });
    ws.close();
  });

  it('claims a batch line at most once, and a requeued line can be claimed again', async () => {
    const ws = new WalletStore(await backend.fresh('b'));
    const store = new OrderStore(ws);
    store.insertBatch({ id: 'b1', state: 'running', model: 'm', maxPrice: 100, deadline: 1, concurrency: 2 }, [
      { customId: 'x', body: { model: 'm' } },
      { customId: 'y', body: { model: 'm' } },
    ]);
    expect(store.claimLine('b1', 'x', 90)).toBe(true);
    expect(store.claimLine('b1', 'x', 90)).toBe(false);
    store.requeueLine('b1', 'x');
    expect(store.claimLine('b1', 'x', 80)).toBe(true);
    store.finishLine('b1', 'x', 'done', { custom_id: 'x' }, 1234);
    expect(store.claimLine('b1', 'x', 80)).toBe(false);
    expect(store.lines('b1').map((l) => [l.customId, l.state, l.priceMsat, l.chargedMsat])).toEqual([
      ['x', 'done', 80, 1234],
      ['y', 'waiting', null, null],
    ]);
    ws.close();
  });
});

describe('OrderStore on SQLite rows an older version wrote', () => {
  it('an unreadable order row is reported alone; the rest of the store reads (the 10000000000000 deadline bug)', () => {
    const ws = new WalletStore(join(dir, 'c.db'));
    const store = new OrderStore(ws);
    store.insertLimit({ id: 'ok', request: { model: 'm' }, maxPrice: 5, shape: { inputTokens: 1, outputTokens: 2 }, deadline: 1000 });
    const insert = ws.db.prepare(`INSERT INTO orders_limit (id, state, request, max_price, shape, deadline, created_at, updated_at) VALUES (?, 'resting', ?, ?, ?, ?, 1, 1)`);
    const request = '{"model":"m"}';
    const shape = '{"inputTokens":1,"outputTokens":2}';
    insert.run('huge', request, '5', shape, 1e16);
    insert.run('json', 'not json', '5', shape, 1000);
    insert.run('price', request, '"lots"', shape, 1000);
    // a fractional deadline an older version stored (a REAL) still reads
    insert.run('fraction', request, '5', shape, 1234.7);
    expect(store.limitsIn('resting').map((o) => [o.id, o.deadline])).toEqual([['fraction', 1234], ['ok', 1000]]);
    expect(store.unreadableLimits()).toEqual([
      { id: 'huge', problem: 'deadline is out of range' },
      { id: 'json', problem: 'request is not JSON' },
      { id: 'price', problem: 'max_price is not a price' },
    ]);
    expect(() => store.limit('huge')).toThrow(UnreadableOrder);
    expect(store.limit('ok')?.state).toBe('resting');
    ws.close();
  });
});

describe('batch input and limits', () => {
  it('reads OpenAI batch JSONL and bare bodies, fills in the model, refuses duplicate custom_ids', () => {
    const file = join(dir, 'in.jsonl');
    writeFileSync(file, '{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"messages":[]}}\n\n{"custom_id":"b","body":{"model":"other"}}\n');
    expect(parseBatchInput(file, 'm')).toEqual([
      { customId: 'a', body: { messages: [], model: 'm' } },
      { customId: 'b', body: { model: 'other' } },
    ]);
    expect(parseBatchInput([{ messages: [] }, { messages: [] }], 'm').map((l) => l.customId)).toEqual(['request-1', 'request-2']);
    expect(() => parseBatchInput([{ custom_id: 'a', body: {} }, { custom_id: 'a', body: {} }], 'm')).toThrow(InvalidBatch);
    writeFileSync(file, 'not json\n');
    expect(() => parseBatchInput(file, 'm')).toThrow(InvalidBatch);
  });

  it('prices a limit for the shape (msats, rounded up) or per-token ceilings', () => {
    const shape = { inputTokens: 10, outputTokens: 2 };
    const ask = { prompt: 100_000_000, completion: 400_000_000 }; // 1000 + 800 msat
    expect(withinLimit(ask, 1800, shape)).toBe(true);
    expect(withinLimit(ask, 1799, shape)).toBe(false);
    expect(withinLimit(ask, { prompt: 100_000_000, completion: 400_000_000 }, shape)).toBe(true);
    expect(withinLimit(ask, { prompt: 100_000_000, completion: 399_999_999 }, shape)).toBe(false);
    expect(limitMsat({ prompt: 1, completion: 1 }, shape)).toBe(1);
  });
});
