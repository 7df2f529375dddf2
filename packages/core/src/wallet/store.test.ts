import { describe, expect, it } from 'vitest';
import { storeBackends } from '../storage/store-backends.ts';
import { StoreCounterSource } from './counter-source.ts';
import { WalletStore } from './store.ts';

describe.each(storeBackends('wallet-store'))('WalletStore on $name', (backend) => {
  it('hands out disjoint NUT-13 counter ranges to two connections on one file, and keeps them across reopen', async () => {
    const path = await backend.fresh('counters');
    const a = new StoreCounterSource(new WalletStore(path));
    const bStore = new WalletStore(path);
    const b = new StoreCounterSource(bStore);
    const ranges = await Promise.all(Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).reserve('00ab', 1 + (i % 5))));
    const used = ranges.flatMap((r) => Array.from({ length: r.count }, (_, k) => r.start + k));
    expect(new Set(used).size).toBe(used.length);
    expect(Math.min(...used)).toBe(0);
    expect(Math.max(...used)).toBe(used.length - 1);
    bStore.close();
    const reopened = new StoreCounterSource(new WalletStore(path));
    expect((await reopened.reserve('00ab', 0)).start).toBe(used.length);
    await expect(reopened.reserveAt('00ab', 0, 1)).rejects.toThrow(/already issued/);
  });

  it('rolls back a failed transaction completely', async () => {
    const store = new WalletStore(await backend.fresh('tx'));
    expect(() =>
      store.tx(() => {
        store.insertProofs('http://m', [{ id: '00ab', amount: 8, secret: 's1', C: '02aa' }], 'unspent');
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(store.sums('unspent').get('http://m')).toBeUndefined();
    store.insertProofs('http://m', [{ id: '00ab', amount: 8, secret: 's1', C: '02aa' }], 'unspent');
    expect(store.sums('unspent').get('http://m')).toBe(8);
    store.close();
  });

  it('reads the non-portable statements alike: refill sums, receives of a secret, budget spend adding up', async () => {
    const store = new WalletStore(await backend.fresh('dialect'));
    store.insertOperation({ id: 'op-r', kind: 'swap' as never, mint: 'http://m', state: 'prepared', owner: 'o', amount: 8, fee: 0, counters: [], data: { refill: true } });
    store.insertProofs('http://m', [{ id: '00ab', amount: 8, secret: 'r1', C: '02aa' }], 'pending', 'op-r');
    store.insertOperation({ id: 'op-x', kind: 'receive', mint: 'http://m', state: 'done', owner: 'o', amount: 4, fee: 0, counters: [], data: { inputs: [{ secret: 'x"1' }] } });
    expect(store.refillingSums()).toEqual(new Map([['http://m', 8]]));
    expect(store.receivesOfSecret('x"1').map((op) => op.id)).toEqual(['op-x']);
    expect(store.receivesOfSecret('x')).toEqual([]);
    store.addBudgetSpent('daily', 3);
    store.addBudgetSpent('daily', 4);
    expect(store.budgetSpent('daily')).toBe(7);
    store.close();
  });

  it('holds amounts past 2^31 exactly (BIGINT on PostgreSQL)', async () => {
    const store = new WalletStore(await backend.fresh('big'));
    const big = 2 ** 40 + 3;
    store.insertProofs('http://m', [{ id: '00ab', amount: big, secret: 'b1', C: '02aa' }], 'unspent');
    store.setCounterNext('00ab', big);
    expect(store.sums('unspent').get('http://m')).toBe(big);
    expect(store.counterNext('00ab')).toBe(big);
    store.close();
  });
});
