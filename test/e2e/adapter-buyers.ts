// The three framework entry points as one shape for the acceptance tests: a call (prompt, max_tokens)
// through the AI SDK provider, ChatRoutstr or the MCP `chat_completion` tool, and what came back —
// the usage the response itself reported, and the receipt the adapter attached to it.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { generateText } from 'ai';
import type { EcashWallet, KitBudget, Market, PaymentMode } from '@routstr-kit/core';
import { startPricedDevnet, type PricedDevnet } from '@routstr-kit/devnet/priced-nodes';
import { createRoutstr, RoutstrCallError } from '@routstr-kit/ai-sdk';
import { ChatRoutstr, RoutstrError } from '@routstr-kit/langchain';
import { createContext, createMcpServer, type McpConfig } from '@routstr-kit/mcp';

export interface BuyerCall {
  prompt: string;
  maxTokens: number;
}

/** A receipt as the adapter exposes it, in one shape. */
export interface SeenReceipt {
  /** The payer's id of the request the receipt is for. */
  requestId: string;
  provider: string;
  price: { prompt: number; completion: number };
  inputTokens: number | undefined;
  outputTokens: number | undefined;
  paidSat: number;
  changeSat: number;
  chargedMsat: number;
}

export type BuyerOutcome =
  | {
      ok: true;
      /** Usage as the response reported it (undefined where the adapter does not pass it on: the MCP tool). */
      usage: { inputTokens: number; outputTokens: number } | undefined;
      finishReason: string | undefined;
      receipt: SeenReceipt;
    }
  | { ok: false; code: string; message: string };

export interface AdapterBuyer {
  name: 'ai-sdk' | 'chat-routstr' | 'mcp';
  call(c: BuyerCall): Promise<BuyerOutcome>;
  /** Closes the buyer (a session buyer refunds its keys here). */
  close(): Promise<void>;
}

export interface BuyerSetup {
  wallet: EcashWallet;
  walletPath: string;
  market: Market;
  mode: PaymentMode;
  relayUrl: string;
  mintUrl: string;
  budget?: KitBudget;
}

type Json = Record<string, unknown>;
const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);

/** The receiptJson() shape the AI SDK and ChatRoutstr attach. */
function fromReceiptJson(r: Json): SeenReceipt {
  const price = r['price'] as Json;
  const usage = r['usage'] as Json | null;
  return {
    requestId: r['requestId'] as string,
    provider: (r['provider'] as Json)['id'] as string,
    price: { prompt: price['prompt'] as number, completion: price['completion'] as number },
    inputTokens: num(usage?.['inputTokens']),
    outputTokens: num(usage?.['outputTokens']),
    paidSat: r['paidSat'] as number,
    changeSat: r['changeSat'] as number,
    chargedMsat: r['chargedMsat'] as number,
  };
}

/** Buys through the AI SDK provider (`generateText`); the receipt is `providerMetadata.routstr`. */
export function aiSdkBuyer(s: BuyerSetup): AdapterBuyer {
  const routstr = createRoutstr({ wallet: s.wallet, market: s.market, mode: s.mode, profile: 'balanced', providerAddresses: 'loopback', ...(s.budget ? { budget: s.budget } : {}) }, {});
  return {
    name: 'ai-sdk',
    async call(c) {
      try {
        const r = await generateText({ model: routstr(modelOf(s.market)), prompt: c.prompt, maxOutputTokens: c.maxTokens, maxRetries: 0 });
        return {
          ok: true,
          usage: { inputTokens: r.usage.inputTokens ?? -1, outputTokens: r.usage.outputTokens ?? -1 },
          finishReason: r.finishReason,
          receipt: fromReceiptJson((r.providerMetadata as { routstr: Json }).routstr),
        };
      } catch (error) {
        if (error instanceof RoutstrCallError) return { ok: false, code: error.code, message: error.message };
        throw error;
      }
    },
    close: () => routstr.close(),
  };
}

/** Buys through ChatRoutstr (`invoke`); the receipt is `response_metadata.routstr`. */
export function chatRoutstrBuyer(s: BuyerSetup): AdapterBuyer {
  const base = new ChatRoutstr({ model: modelOf(s.market), wallet: s.wallet, market: s.market, mode: s.mode, profile: 'balanced', providerAddresses: 'loopback', env: {}, ...(s.budget ? { budget: s.budget } : {}) });
  return {
    name: 'chat-routstr',
    async call(c) {
      // one model per max_tokens, all buying through the same MarketFetch (one wallet, one budget)
      const chat = new ChatRoutstr({ model: modelOf(s.market), maxTokens: c.maxTokens, marketFetch: base.marketFetch, maxRetries: 0 });
      try {
        const m = await chat.invoke(c.prompt);
        const usage = m.usage_metadata;
        return {
          ok: true,
          usage: usage ? { inputTokens: usage.input_tokens, outputTokens: usage.output_tokens } : undefined,
          finishReason: (m.response_metadata['finish_reason'] as string | undefined) ?? undefined,
          receipt: fromReceiptJson(m.response_metadata['routstr'] as Json),
        };
      } catch (error) {
        if (error instanceof RoutstrError) return { ok: false, code: error.code, message: error.message };
        throw error;
      }
    },
    close: () => base.close(),
  };
}

/** Buys through the MCP server's `chat_completion` tool over an in-memory transport; the receipt is in the structured result. */
export async function mcpBuyer(s: BuyerSetup): Promise<AdapterBuyer> {
  const config: McpConfig = {
    relays: [s.relayUrl],
    mints: [s.mintUrl],
    walletPath: s.walletPath,
    budget: s.budget ?? {},
    profile: 'balanced',
    mode: s.mode,
    providerAddresses: 'loopback',
    mnemonic: undefined,
    configFile: undefined,
    http: undefined,
  };
  const ctx = await createContext(config, s.wallet, s.market);
  const server = createMcpServer(ctx);
  const client = new Client({ name: 'acceptance', version: '0' });
  const [ct, st] = InMemoryTransport.createLinkedPair();
  await Promise.all([server.connect(st), client.connect(ct)]);
  return {
    name: 'mcp',
    async call(c) {
      const r = (await client.callTool(
        { name: 'chat_completion', arguments: { model: modelOf(s.market), messages: [{ role: 'user', content: c.prompt }], max_tokens: c.maxTokens } },
        undefined,
        { timeout: 170_000 },
      )) as CallToolResult;
      if (r.isError) {
        const text = (r.content[0] as { text: string }).text;
        return { ok: false, code: text.split(':')[0] ?? '', message: text };
      }
      const out = r.structuredContent as Json;
      const rec = out['receipt'] as Json;
      const price = rec['price'] as Json;
      return {
        ok: true,
        usage: undefined,
        finishReason: out['finish_reason'] as string | undefined,
        receipt: {
          requestId: rec['request_id'] as string,
          provider: rec['provider'] as string,
          price: { prompt: price['prompt_msat_per_mtok'] as number, completion: price['completion_msat_per_mtok'] as number },
          inputTokens: num(rec['input_tokens']),
          outputTokens: num(rec['output_tokens']),
          paidSat: rec['paid_sat'] as number,
          changeSat: rec['change_sat'] as number,
          chargedMsat: rec['charged_msat'] as number,
        },
      };
    },
    async close() {
      await client.close();
      await server.close();
      await ctx.close();
    },
  };
}

/** The one model the devnet sells. */
function modelOf(market: Market): string {
  const models = market.models();
  if (models.length !== 1) throw new Error(`expected one model on the devnet, got ${models.length}`);
  return models[0] as string;
}

export type MakeBuyer = (s: BuyerSetup) => AdapterBuyer | Promise<AdapterBuyer>;

/** The three framework entry points, by the name a test reports. */
export const ADAPTER_BUYERS: Array<[string, MakeBuyer]> = [
  ['AI SDK provider', aiSdkBuyer],
  ['ChatRoutstr', chatRoutstrBuyer],
  ['MCP chat_completion', mcpBuyer],
];
export const PAYMENT_MODES: PaymentMode[] = ['xcashu', 'session'];

/** The two nodes of the acceptance market, msat/Mtok: a request of ~20 prompt and 8 completion tokens costs over 10 sat at either. */
export const CHEAP = { name: 'cheap', price: { prompt: 200_000_000, completion: 1_000_000_000 } };
export const DEAR = { name: 'dear', price: { prompt: 300_000_000, completion: 1_300_000_000 } };

/** A devnet with the CHEAP and DEAR nodes and a market that holds both asks. */
export async function startTwoPriceMarket(): Promise<{ net: PricedDevnet; market: Market }> {
  const net = await startPricedDevnet({ queueSize: 64 });
  try {
    await net.startNode(CHEAP);
    await net.startNode(DEAR);
    return { net, market: await net.openMarket() };
  } catch (error) {
    await net.stop();
    throw error;
  }
}

/** What a run of concurrent calls did: each call's outcome, and the money as the wallet and the nodes saw it. */
export interface ConcurrentRun {
  outcomes: BuyerOutcome[];
  /** Sats that left the wallet (mint fees excluded). */
  spentSat: number;
  /** What the nodes earned meanwhile, msat. */
  earnedMsat: number;
  /** Sats the nodes' wallets gained meanwhile. */
  nodesGainedSat: number;
  /** The wallet's sats still in flight after the buyer closed. */
  pendingSat: number;
}

/** Funds a wallet with `fundSat`, makes every call in `calls` at once through `make`'s buyer, closes it, and counts the money. */
export async function buyConcurrently(
  net: PricedDevnet,
  market: Market,
  make: MakeBuyer,
  run: { name: string; mode: PaymentMode; fundSat: number; budget?: KitBudget },
  calls: BuyerCall[],
): Promise<ConcurrentRun> {
  const { wallet, path } = await net.newWallet(run.fundSat, { name: `${run.name.replace(/\W/g, '-')}-${run.mode}` });
  const revenueBefore = net.revenueMsat();
  const heldBefore = net.providerHeldSat();
  const buyer = await make({ wallet, walletPath: path, market, mode: run.mode, relayUrl: net.devnet.relayUrl, mintUrl: net.devnet.mintUrl, ...(run.budget ? { budget: run.budget } : {}) });
  let outcomes: BuyerOutcome[];
  try {
    outcomes = await Promise.all(calls.map((c) => buyer.call(c)));
  } finally {
    // a session buyer refunds its keys here; only then is the wallet's spend final
    await buyer.close();
  }
  // kept change is redeemed in the background: the spend is final once the wallet is idle, and a
  // change the mint refused must not pass as returned
  await wallet.idle();
  if (wallet.incomingBalance() !== 0) throw new Error(`${wallet.incomingBalance()} sat of change still kept (not redeemed) after idle()`);
  return {
    outcomes,
    spentSat: run.fundSat - wallet.balance() - wallet.feesPaid(),
    earnedMsat: net.revenueMsat() - revenueBefore,
    nodesGainedSat: net.providerHeldSat() - heldBefore,
    pendingSat: wallet.pendingBalance(),
  };
}
