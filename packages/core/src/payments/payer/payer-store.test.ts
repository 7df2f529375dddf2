import { describe, expect, it } from 'vitest';
import { storeBackends } from '../../storage/store-backends.ts';
import { WalletStore } from '../../wallet/store.ts';
import { PayerStore } from './payer-store.ts';

describe.each(storeBackends('payer-store'))('PayerStore on $name', (backend) => {
  it('keeps X-Cashu records and sessions with their deposits in the wallet file, across reopen', async () => {
    const path = await backend.fresh('w');
    const first = new WalletStore(path);
    const a = new PayerStore(first);
    a.markSent('j1', 'r1', 'http://a/', '1:x');
    a.markSent('j1', 'r1', 'http://b/', '1:x'); // carried to another provider
    a.saveChange('j1', 'cashuBchange');
    a.insertSession({ id: 's1', providerUrl: 'http://a/', mint: 'http://mint', apiKey: 'sk-1', owner: '1:x', depositedSat: 0 });
    a.addDeposit('s1', 'd1', 50);
    a.addDeposit('s1', 'd2', 30);
    a.removeDeposit('d2');
    first.close();

    const b = new PayerStore(new WalletStore(path));
    expect(b.openXCashu()).toEqual([{ journalId: 'j1', requestId: 'r1', providerUrl: 'http://b/', owner: '1:x', state: 'sent', changeToken: 'cashuBchange' }]);
    b.markDone('j1');
    expect(b.openXCashu()).toEqual([]);
    expect(b.openSessions()).toMatchObject([{ id: 's1', apiKey: 'sk-1', depositedSat: 50, state: 'open' }]);
    expect(b.depositsOf('s1')).toEqual([{ journalId: 'd1', amountSat: 50 }]);
    b.closeSession('s1', 42);
    expect(b.openSessions()).toEqual([]);
    expect(b.session('s1')).toMatchObject({ state: 'closed', refundedSat: 42 });
  });
});
