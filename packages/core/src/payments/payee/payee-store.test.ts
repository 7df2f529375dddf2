import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PayeeStore } from './payee-store.ts';

describe('PayeeStore.writeSettlements', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('a settlement group written twice (its commit landed, a later step failed) debits and earns once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'payee-store-'));
    dirs.push(dir);
    const store = new PayeeStore(join(dir, 'payee.db'));
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
});
