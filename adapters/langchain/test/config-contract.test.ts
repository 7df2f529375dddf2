// ChatRoutstr under the one configuration contract, on the devnet: it pays from the wallet that
// `routstr-kit wallet fund` funded, with the same ROUTSTR_KIT_* settings, and a bad setting is a
// typed error at construction.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@routstr-kit/core';
import { useKitDevnet, type Price } from '@routstr-kit/devnet/priced-nodes';
import { walletJson as cli } from '../../../packages/cli/src/wallet-json.ts';
import { ChatRoutstr } from '../src/index.ts';

const PRICE: Price = { prompt: 200_000_000, completion: 800_000_000 };

describe('ChatRoutstr and the config contract on the devnet', () => {
  const kit = useKitDevnet({ beforeAll, afterAll }, PRICE);

  it('invoke pays from the wallet `routstr-kit wallet fund` funded; `wallet balance` and `wallet history` show the payment', async () => {
    const net = kit.net();
    const env = kit.env();
    expect(await cli(['fund', '200'], env)).toMatchObject({ funded_sat: 200 });
    const chat = new ChatRoutstr({ model: net.model, maxTokens: 4, env });
    const answer = await chat.invoke('Say hi');
    const receipt = answer.response_metadata['routstr'] as { costSat: number; paidSat: number; requestId: string };
    expect(receipt.costSat).toBeGreaterThan(0);
    await chat.close();
    expect(await cli(['balance'], env)).toMatchObject({ balance_sat: 200 - receipt.costSat });
    const { entries } = (await cli(['history'], env)) as { entries: { amount_sat: number; request_id: string | null }[] };
    expect(entries.some((e) => e.request_id === receipt.requestId && e.amount_sat === receipt.paidSat)).toBe(true);
  });

  it('acceptance 8: a bad setting is a ConfigError at construction, naming the setting and its source', () => {
    const net = kit.net();
    const env = kit.env();
    expect(() => new ChatRoutstr({ model: net.model, env: { ...env, ROUTSTR_KIT_MODE: 'fast' } })).toThrow(ConfigError);
    expect(() => new ChatRoutstr({ model: net.model, env: { ...env, ROUTSTR_KIT_MODE: 'fast' } })).toThrow('invalid setting "mode" from environment variable ROUTSTR_KIT_MODE: got "fast"; expected one of xcashu, session');
    expect(() => new ChatRoutstr({ model: net.model, env, profile: 'richest' as 'cheapest' })).toThrow(/"profile" from option "profile"/);
  });
});
