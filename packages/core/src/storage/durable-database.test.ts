// Issue 13 point 15: files holding mnemonics, proofs and tokens are the user's alone.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PayeeStore } from '../payments/payee/payee-store.ts';
import { WalletStore } from '../wallet/store.ts';
import { OrderStore } from '../orders/order-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'durable-modes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);
const files = (path: string): string[] => [path, `${path}-wal`, `${path}-shm`];

describe('database files are created 0600', () => {
  let umask: number;
  // the usual umask, which gives node:sqlite's own files 0644
  beforeEach(() => void (umask = process.umask(0o022)));
  afterEach(() => void process.umask(umask));

  it('wallet.db (mnemonic, proofs) with its -wal and -shm files, and the order tables in it', () => {
    const path = join(dir, 'wallet.db');
    const store = new WalletStore(path);
    const orders = new OrderStore(store);
    orders.insertLimit({ id: 'o', request: { model: 'm' }, maxPrice: 1, shape: { inputTokens: 1, outputTokens: 1 }, deadline: Date.now() + 1000 });
    store.setMeta('mnemonic', 'secret words');
    for (const file of files(path)) {
      expect(existsSync(file), file).toBe(true);
      expect(mode(file), file).toBe('600');
    }
    store.close();
  });

  it('payee.db (tokens taken in) with its -wal and -shm files', () => {
    const path = join(dir, 'payee.db');
    const store = new PayeeStore(path);
    for (const file of files(path)) expect(mode(file), file).toBe('600');
    store.close();
  });

  it('a wallet file an older version left 0644 is made 0600 when opened', () => {
    const path = join(dir, 'old-wallet.db');
    const raw = new DatabaseSync(path);
    raw.exec('PRAGMA journal_mode = WAL; CREATE TABLE leftover (x); INSERT INTO leftover VALUES (1)');
    expect(mode(path)).toBe('644');
    expect(mode(`${path}-wal`)).toBe('644');
    const store = new WalletStore(path);
    for (const file of files(path)) expect(mode(file), file).toBe('600');
    store.close();
    raw.close();
  });
});
