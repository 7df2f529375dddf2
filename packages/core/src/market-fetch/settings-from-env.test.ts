import { describe, expect, it } from 'vitest';
import { settingsFromEnv } from './settings-from-env.ts';

describe('settingsFromEnv', () => {
  it('reads wallet, relays, mints, mode, profile and budgets', () => {
    const s = settingsFromEnv({
      ROUTSTR_KIT_WALLET: '/tmp/w.db',
      ROUTSTR_KIT_RELAYS: 'wss://a, wss://b',
      ROUTSTR_KIT_MINTS: 'https://mint',
      ROUTSTR_KIT_MODE: 'session',
      ROUTSTR_KIT_PROFILE: 'cheapest',
      ROUTSTR_KIT_BUDGET_SAT: '500',
      ROUTSTR_KIT_MAX_REQUEST_SAT: '20',
      ROUTSTR_KIT_PROVIDER_ADDRESSES: 'loopback',
    });
    expect(s).toEqual({ walletPath: '/tmp/w.db', relays: ['wss://a', 'wss://b'], mints: ['https://mint'], allowProviderAddresses: 'loopback', mode: 'session', profile: 'cheapest', budget: { totalSat: 500, perRequestMaxSat: 20 } });
  });

  it('ignores what is unset or not understood', () => {
    expect(settingsFromEnv({ ROUTSTR_KIT_MODE: 'cash', ROUTSTR_KIT_BUDGET_SAT: 'lots', ROUTSTR_KIT_RELAYS: ' , ', ROUTSTR_KIT_PROVIDER_ADDRESSES: 'private' })).toEqual({});
  });
});
