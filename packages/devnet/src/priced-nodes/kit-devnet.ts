// A test suite's devnet for the kit's configuration contract: one ticked node, and a ROUTSTR_KIT_*
// environment whose home, wallet file, mint and relays are this devnet's — what a user's shell
// would hold, so the CLI and the adapters can be pointed at it with nothing but `env`.
import { startPricedDevnet, type PricedDevnet } from './priced-devnet.ts';
import type { Price } from './ticker-node.ts';

/** The hooks of a test runner (vitest's or node:test's beforeAll/afterAll). */
export interface SuiteHooks {
  beforeAll(fn: () => Promise<void>): void;
  afterAll(fn: () => Promise<void>): void;
}

export interface KitDevnet {
  /** The running devnet (inside the suite's tests). */
  net(): PricedDevnet;
  /** The suite's ROUTSTR_KIT_* environment (one home for the whole suite). */
  env(): Record<string, string>;
}

/** Starts, before the suite, a devnet with one ticker node at `price` and a kit environment for it; stops it after. */
export function useKitDevnet(hooks: SuiteHooks, price: Price): KitDevnet {
  let net: PricedDevnet | undefined;
  let env: Record<string, string> | undefined;
  hooks.beforeAll(async () => {
    net = await startPricedDevnet({ tickers: [{ name: 'ticker', price }] });
    env = net.kitEnv();
  });
  hooks.afterAll(async () => {
    await net?.stop();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the kit devnet is not started: use it inside the suite\'s tests');
    return value;
  };
  return { net: () => started(net), env: () => started(env) };
}
