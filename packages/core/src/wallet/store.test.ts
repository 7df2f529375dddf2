import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreCounterSource } from './counter-source.ts';
import { WalletStore } from './store.ts';

describe('WalletStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wallet-store-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('hands out disjoint NUT-13 counter ranges to two connections on one file, and keeps them across reopen', async () => {
    const path = join(dir, 'counters.db');
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

  it('rolls back a failed transaction completely', () => {
    const store = new WalletStore(join(dir, 'tx.db'));
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
});
