// A consumer's TypeScript: the public types of every adapter and of core's subpaths must check.
import { generateText, type LanguageModel } from 'ai';
import { createRoutstr, type RoutstrProvider, type RoutstrSettings } from '@routstr-kit/ai-sdk';
import { ChatRoutstr, type ChatRoutstrFields } from '@routstr-kit/langchain';
import { createMcpServer } from '@routstr-kit/mcp';
import { startProvider, type StartProviderOptions } from '@routstr-kit/provider';
import { openWallet, type EcashWallet, InsufficientFunds } from '@routstr-kit/core/wallet';
import { openMarket, type Market } from '@routstr-kit/core/market';
import { sat, type Sat } from '@routstr-kit/core/money';
import type { Receipt } from '@routstr-kit/core/payments';
import { TokenAlreadySpent } from '@routstr-kit/core/protocol';
import { openOrders } from '@routstr-kit/core/orders';
import { MarketFetch } from '@routstr-kit/core';

const settings: RoutstrSettings = { walletPath: '/tmp/w.db', relays: ['ws://127.0.0.1:1'], mints: ['http://127.0.0.1:2'] };
const routstr: RoutstrProvider = createRoutstr(settings);
const model: LanguageModel = routstr('tiny-llama', { order: 'market' });
export async function ask(): Promise<string> {
  const r = await generateText({ model, prompt: 'hi' });
  const receipt = (r.providerMetadata?.['routstr'] ?? null) as unknown as Receipt | null;
  return `${r.text} ${receipt?.paidSat ?? 0}`;
}
const fields: ChatRoutstrFields = { model: 'tiny-llama', ...settings };
export const chat = new ChatRoutstr(fields);
export const wallet: Promise<EcashWallet> = openWallet({ path: '/tmp/w.db', mints: ['http://127.0.0.1:2'] });
export const market: Market = openMarket({ relays: ['ws://127.0.0.1:1'] });
export const amount: Sat = sat(21);
export const errors = [InsufficientFunds, TokenAlreadySpent] as const;
export const kinds = [typeof createMcpServer, typeof startProvider, typeof openOrders, typeof MarketFetch];
export type ProviderOptions = StartProviderOptions;
