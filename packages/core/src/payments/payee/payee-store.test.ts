import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { storeBackends } from '../../storage/store-backends.ts';
import { SQLITE_SCHEMA } from './payee-schema.ts';
import { PayeeStore } from './payee-store.ts';

describe.each(storeBackends('payee-store'))('PayeeStore on $name', (backend) => {
  const dirs: string[] = [];
  const file = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'payee-store-'));
    dirs.push(dir);
    return join(dir, 'payee.db');
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('a settlement group written twice (its commit landed, a later step failed) debits and earns once', async () => {
    const store = new PayeeStore(await backend.fresh('payee'));
    store.tx(() => store.credit('sk-a', 10_000));
    const group = [
      { reservationId: 'r1', apiKey: 'sk-a', reservedMsat: 3_000, chargedMsat: 2_100 },
      { reservationId: 'r2', apiKey: 'sk-a', reservedMsat: 3_000, chargedMsat: 900 },
    ];
    store.tx(() => store.writeSettlements(group));
    store.tx(() => store.writeSettlements(group));
    expect(store.account('sk-a')).toMatchObject({ balanceMsat: 7_000, totalRequests: 2, totalSpentMsat: 3_000 });
    expect(store.revenueMsat()).toBe(3_000);
    store.close();
  });

  it('shared books: a held reservation adds to reserved; settled it debits and earns once, released it only frees the hold', async () => {
    const store = new PayeeStore(await backend.fresh('payee'));
    store.tx(() => store.credit('sk-a', 10_000));
    store.tx(() => store.holdReservation({ id: 'r1', apiKey: 'sk-a', amountMsat: 4_000, owner: '1:x' }));
    store.tx(() => store.holdReservation({ id: 'r2', apiKey: 'sk-a', amountMsat: 3_000, owner: '1:x' }));
    expect(store.account('sk-a')).toMatchObject({ balanceMsat: 10_000, reservedMsat: 7_000 });
    expect(store.heldReservations('sk-a').map((r) => [r.id, r.owner])).toEqual([['r1', '1:x'], ['r2', '1:x']]);
    store.tx(() => store.closeHeld(store.reservation('r1')!, { state: 'settled', chargedMsat: 4_500 }));
    store.tx(() => store.closeHeld(store.reservation('r2')!, { state: 'released' }));
    expect(store.account('sk-a')).toMatchObject({ balanceMsat: 5_500, reservedMsat: 0, totalRequests: 1, totalSpentMsat: 4_500 });
    expect(store.reservation('r1')).toMatchObject({ state: 'settled', costMsat: 4_500 });
    expect(store.reservation('r2')).toMatchObject({ state: 'released', costMsat: null });
    expect(store.revenueMsat()).toBe(4_500);
    store.close();
  });

  it.runIf(backend.name === 'sqlite')('a file written by the version before owners opens: the owner column is added in place, every record kept (owner null: nobody works on it)', () => {
    const path = file();
    const old = new DatabaseSync(path);
    old.exec(SQLITE_SCHEMA);
    old.exec(`INSERT INTO accounts VALUES ('sk-a', 9000, 2000, 3, 1000, NULL, NULL, 1);
      INSERT INTO reservations VALUES ('r-old', 'sk-a', 2000, 'held', NULL, 1);
      INSERT INTO xcashu VALUES ('h', 'cashuB…', 'req', 'http://mint', 'm', 21, 1, NULL, 'redeeming', NULL, NULL, NULL, 1, 1);
      INSERT INTO charges (ref, source, amount_msat, created_at) VALUES ('req-0', 'xcashu', 1000, 1);`);
    old.close();
    for (let open = 0; open < 2; open++) {
      const store = new PayeeStore(path); // the second open finds the columns there
      expect(store.account('sk-a')).toMatchObject({ balanceMsat: 9_000, reservedMsat: 2_000, totalRequests: 3 });
      expect(store.heldReservations()).toEqual([{ id: 'r-old', apiKey: 'sk-a', amountMsat: 2_000, state: 'held', costMsat: null, owner: null }]);
      expect(store.xcashu('h')).toMatchObject({ state: 'redeeming', faceSat: 21, owner: null });
      expect(store.revenueMsat()).toBe(1_000);
      store.close();
    }
    const store = new PayeeStore(path);
    store.tx(() => store.setOwner('xcashu', 'h', '1:y'));
    expect(store.ownerOf('xcashu', 'h')).toEqual({ owner: '1:y', state: 'redeeming' });
    store.close();
  });
});
