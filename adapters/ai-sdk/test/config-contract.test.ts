// The one configuration contract, seen from createRoutstr on the devnet: the wallet funded by
// `routstr-kit wallet fund` is the one createRoutstr pays from with the same ROUTSTR_KIT_*
// settings; the "total" budget survives a restart while the per-run cap does not; a bad
// setting is a typed error at construction.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateText } from 'ai';
import { ConfigError, openWallet } from '@routstr-kit/core';
import { useKitDevnet, type Price } from '@routstr-kit/devnet/priced-nodes';
import { walletJson as cli } from '../../../packages/cli/src/wallet-json.ts';
import { createRoutstr, routstr as defaultRoutstr, RoutstrCallError } from '../src/index.ts';

(globalThis as { AI_SDK_LOG_WARNINGS?: boolean }).AI_SDK_LOG_WARNINGS = false;

const PRICE: Price = { prompt: 200_000_000, completion: 800_000_000 };

describe('createRoutstr and the config contract on the devnet', () => {
  // the same settings for the CLI and the adapter: nothing but the environment
  const kit = useKitDevnet({ beforeAll, afterAll }, PRICE);

  it('pays from the wallet `routstr-kit wallet fund` funded; `wallet balance` shows the spend; the total budget survives a restart, the per-run cap does not', async () => {
    const net = kit.net();
    const env = kit.env();
    expect(await cli(['fund', '300'], env)).toMatchObject({ funded_sat: 300, balance_sat: 300 });

    const first = createRoutstr({}, env);
    const r = await generateText({ model: first(net.model), prompt: 'Say hi', maxOutputTokens: 4 });
    const costSat = (r.providerMetadata as { routstr: { costSat: number } }).routstr.costSat;
    expect(costSat).toBeGreaterThan(0);
    await first.close();
    expect(await cli(['balance'], env)).toMatchObject({ balance_sat: 300 - costSat });

    // a new instance is a restart: it opens the wallet file afresh
    const capped = createRoutstr({ budget: { totalSat: costSat } }, env);
    const refused = await generateText({ model: capped(net.model), prompt: 'over the total', maxOutputTokens: 4 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RoutstrCallError);
    expect((refused as RoutstrCallError).code).toBe('budget_exceeded');
    expect((refused as Error).cause).toMatchObject({ cap: { kind: 'total', limit: costSat, spent: costSat } });
    await capped.close();
    expect(await cli(['balance'], env)).toMatchObject({ balance_sat: 300 - costSat });

    // the same figure as a per-run cap: this run has spent nothing yet, so it pays
    const perRun = createRoutstr({ budget: { perRunSat: costSat * 10 } }, env);
    const again = await generateText({ model: perRun(net.model), prompt: 'Say hi', maxOutputTokens: 4 });
    const secondCost = (again.providerMetadata as { routstr: { costSat: number } }).routstr.costSat;
    await perRun.close();
    expect(await cli(['balance'], env)).toMatchObject({ balance_sat: 300 - costSat - secondCost });
  });

  it('ROUTSTR_KIT_MNEMONIC is the seed createRoutstr opens a fresh wallet file with, as `wallet restore` does', async () => {
    const net = kit.net();
    const env = kit.env();
    const held = await openWallet({ path: env['ROUTSTR_KIT_WALLET']!, mints: [net.devnet.mintUrl] });
    const mnemonic = held.mnemonic();
    const balance = (held.balance() + held.incomingBalance());
    held.close();
    expect(balance).toBeGreaterThan(0);
    const restored = createRoutstr({ walletPath: join(net.tmp(), 'restored.db') }, { ...env, ROUTSTR_KIT_MNEMONIC: mnemonic });
    expect(JSON.stringify(restored.market.settings)).not.toContain(mnemonic);
    const { wallet } = await restored.market.open();
    expect((wallet.balance() + wallet.incomingBalance())).toBe(balance);
    expect(wallet.mnemonic()).toBe(mnemonic);
    await restored.close();
  });

  it('acceptance 8: a bad setting is a ConfigError at construction, naming the setting and its source', () => {
    const env = kit.env();
    const error = (() => {
      try {
        createRoutstr({}, { ...env, ROUTSTR_KIT_MODE: 'fast' });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('invalid setting "mode" from environment variable ROUTSTR_KIT_MODE: got "fast"; expected one of xcashu, session');
    expect(() => createRoutstr({ budget: { totalSat: -1 } }, env)).toThrow(/"budget.totalSat" from option "budget.totalSat"/);
  });

  it('the default provider reads process.env on first use: a bad setting there is a ConfigError too', () => {
    const net = kit.net();
    const saved = process.env['ROUTSTR_KIT_MODE'];
    process.env['ROUTSTR_KIT_MODE'] = 'fast';
    try {
      expect(() => defaultRoutstr(net.model)).toThrow(ConfigError);
    } finally {
      if (saved === undefined) delete process.env['ROUTSTR_KIT_MODE'];
      else process.env['ROUTSTR_KIT_MODE'] = saved;
    }
  });
});
