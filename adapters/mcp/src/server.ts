/** Wires the tools and resources onto an McpServer; the logic lives in the *-tools modules. */
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { McpError, SubscribeRequestSchema, UnsubscribeRequestSchema, type CallToolResult, type ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import { BoundedErrorsTransport, clip } from './bounded-echo.ts';
import type { McpContext } from './context.ts';
import { getMarketPrice, getOrderBook, listModels } from './market-tools.ts';
import { cancelOrder, chatCompletion, listOrders, orderView, placeOrder, waitForOrder, type OrderView } from './order-tools.ts';
import * as s from './schemas.ts';
import { ToolError } from './tool-error.ts';
import { walletBalance, walletFund, walletReceive } from './wallet-tools.ts';

export const SERVER_NAME = 'routstr-kit';
export const SERVER_VERSION = '0.1.0';

const INSTRUCTIONS = `Buy AI inference on the Routstr market, paid in Cashu ecash from this server's wallet.
Prices: price_msat is msat for a request shape (1 sat = 1000 msat); *_msat_per_mtok is msat per million tokens.
Check get_market_price, then chat_completion to buy now, or run_when_cheaper to leave an order that fills when the price drops.
Spending is capped by the server's configured budgets; no tool can change them.`;

type Extra = { signal: AbortSignal; _meta?: { progressToken?: string | number } | undefined; sendNotification: (n: ServerNotification) => Promise<void> };

function ok<T extends object>(structured: T, text: string): CallToolResult {
  return { content: [{ type: 'text', text }], structuredContent: structured as Record<string, unknown> };
}

async function run<T extends object>(fn: () => Promise<T> | T, text: (r: T) => string): Promise<CallToolResult> {
  try {
    const r = await fn();
    return ok(r, text(r));
  } catch (error) {
    const message = error instanceof ToolError ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error);
    return { isError: true, content: [{ type: 'text', text: message }] };
  }
}

/** Sends progress for a call whose client asked for it (a progressToken); a no-op otherwise. */
function progressOf(extra: Extra): (message: string) => void {
  const token = extra._meta?.progressToken;
  let n = 0;
  return (message) => {
    if (token === undefined) return;
    n += 1;
    void extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: n, message } }).catch(() => undefined);
  };
}

function describeOrder(o: OrderView): string {
  const best = o.best_ask_msat !== undefined ? `, best ask ${o.best_ask_msat} msat` : '';
  const tail = o.state === 'filled' ? ` at ${o.fill?.price_msat} msat, spent ${o.spent_sat} sat: ${o.answer ?? ''}` : o.state === 'failed' ? `: ${o.error?.message ?? ''}` : ` (limit ${o.limit_msat} msat${best}, until ${o.deadline}); spent ${o.spent_sat} sat`;
  return `order ${o.id} ${o.state}${tail}`;
}

/** JSON-RPC "resource not found" (MCP spec, resources). */
export const RESOURCE_NOT_FOUND = -32002;

/** An McpServer whose every connection bounds the errors it sends (see bounded-echo.ts). */
class RoutstrMcpServer extends McpServer {
  override connect(transport: Transport): Promise<void> {
    return super.connect(new BoundedErrorsTransport(transport));
  }
}

const json = (uri: URL, value: unknown) => ({ contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(value, null, 2) }] });

/** A new McpServer over `ctx` (one per connection/session; the context is shared). */
export function createMcpServer(ctx: McpContext): McpServer {
  const { market, orders, wallet, config } = ctx;
  const server = new RoutstrMcpServer({ name: SERVER_NAME, version: SERVER_VERSION }, { instructions: INSTRUCTIONS, capabilities: { resources: { subscribe: true, listChanged: true } } });

  server.registerTool('get_market_price', {
    title: 'Market price of a model',
    description: 'Best ask, median, spread, number of providers and the effective price for a request shape (msat; rates in msat per million tokens).',
    inputSchema: s.getMarketPriceInput,
    outputSchema: s.getMarketPriceOutput,
    annotations: { readOnlyHint: true, openWorldHint: true },
  }, async (input) => run(() => getMarketPrice(market, input), (r) => `${r.model}: best ${r.price_msat} msat (${r.price_sat} sat) for ${r.shape.input_tokens}+${r.shape.output_tokens} tokens from ${r.providers} provider(s); median ${r.median.price_msat} msat, spread ${r.spread_msat} msat; price ${r.best.age_ms} ms old`));

  server.registerTool('get_order_book', {
    title: 'Order book of a model',
    description: 'The cheapest asks for a model, per million tokens each way (msat).',
    inputSchema: s.getOrderBookInput,
    outputSchema: s.getOrderBookOutput,
    annotations: { readOnlyHint: true, openWorldHint: true },
  }, async (input) => run(() => getOrderBook(market, input), (r) => `${r.model}: ${r.asks.map((a) => `${a.prompt_msat_per_mtok}/${a.completion_msat_per_mtok} msat/Mtok`).join(', ')}`));

  server.registerTool('list_models', {
    title: 'Models on offer',
    description: 'Models with live asks and their best prices (msat per million tokens).',
    inputSchema: s.listModelsInput,
    outputSchema: s.listModelsOutput,
    annotations: { readOnlyHint: true, openWorldHint: true },
  }, async (input) => run(() => listModels(market, input), (r) => (r.models.length === 0 ? 'no models on offer' : r.models.map((m) => `${m.model} (${m.providers})`).join(', '))));

  server.registerTool('chat_completion', {
    title: 'Buy a chat completion now',
    description: 'Buys one chat completion at the market now, paid from the wallet; refuses above max_price or the configured budget (nothing spent). Returns the answer and its receipt.',
    inputSchema: s.chatCompletionInput,
    outputSchema: s.chatCompletionOutput,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  }, async (input, extra) => run(() => chatCompletion(ctx.marketFetch, input, extra.signal), (r) => `${r.answer}\n(paid ${r.receipt.charged_msat} msat to ${r.receipt.provider})`));

  server.registerTool('run_when_cheaper', {
    title: 'Limit order: run when the price drops',
    description: 'Leaves an order that runs the request when an ask is at or below max_price, or expires at deadline with nothing spent. Returns the order at once; with wait=true the call holds, sending progress, until the order ends. Follow it with get_order or the market://orders/{id} resource.',
    inputSchema: s.runWhenCheaperInput,
    outputSchema: s.orderOutput,
    annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
  }, async (input, extra) =>
    run(async () => {
      const order = placeOrder(orders, config.budget, input);
      ctx.track(order);
      ctx.orderChanges.emit('changed', order.id);
      if (!input.wait) return orderView(orders, order.id);
      const progress = progressOf(extra);
      return waitForOrder(orders, order.id, (v) => progress(describeOrder(v)), extra.signal);
    }, describeOrder));

  server.registerTool('get_order', {
    title: 'State of a limit order',
    description: 'The state of a limit order: resting (with the best ask now), filled (answer, fill and receipt), expired, cancelled or failed, and what it spent.',
    inputSchema: s.orderIdInput,
    outputSchema: s.orderOutput,
    annotations: { readOnlyHint: true },
  }, async ({ id }) => run(() => orderView(orders, id), describeOrder));

  server.registerTool('cancel_order', {
    title: 'Cancel a limit order',
    description: 'Cancels a resting limit order; nothing is spent.',
    inputSchema: s.orderIdInput,
    outputSchema: s.orderOutput,
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true },
  }, async ({ id }) => run(() => cancelOrder(orders, id), describeOrder));

  server.registerTool('wallet_balance', {
    title: 'Wallet balance',
    description: "Sats in the wallet by mint, sats pending, change received and still being redeemed (incoming), and the server's configured budget with what it spent.",
    outputSchema: s.walletBalanceOutput,
    annotations: { readOnlyHint: true },
  }, async () => run(() => walletBalance(wallet, config.budget, orders.payer), (r) => `${r.balance_sat} sat (${r.pending_sat} pending, ${r.incoming_sat} incoming)`));

  server.registerTool('wallet_receive', {
    title: 'Receive a Cashu token',
    description: 'Redeems a Cashu token from one of the configured mints into the wallet.',
    inputSchema: s.walletReceiveInput,
    outputSchema: s.walletReceiveOutput,
    annotations: { readOnlyHint: false, destructiveHint: false },
  }, async ({ token }) => run(() => walletReceive(wallet, token), (r) => `received ${r.received_sat} sat; balance ${r.balance_sat} sat`));

  server.registerTool('wallet_fund', {
    title: 'Fund the wallet over Lightning',
    description: 'Gets a Lightning invoice from the mint (sent as a progress message at once) and waits up to wait_s for it to be paid. A payment arriving later is still collected while the server runs.',
    inputSchema: s.walletFundInput,
    outputSchema: s.walletFundOutput,
    annotations: { readOnlyHint: false, destructiveHint: false },
  }, async (input, extra) => {
    const progress = progressOf(extra);
    return run(
      () => walletFund(wallet, input, { background: ctx.lifetime, signal: extra.signal, onInvoice: (invoice) => progress(`pay this Lightning invoice for ${input.amount_sat} sat: ${invoice}`) }),
      (r) => (r.state === 'paid' ? `funded ${r.amount_sat} sat; balance ${r.balance_sat} sat` : `not paid yet; pay ${r.invoice}`),
    );
  });

  server.registerResource('models', 'market://models', { title: 'Models on offer', mimeType: 'application/json' }, async (uri) => json(uri, listModels(market, {})));
  server.registerResource(
    'book',
    new ResourceTemplate('market://book/{model}', { list: async () => ({ resources: market.models().map((m) => ({ uri: `market://book/${encodeURIComponent(m)}`, name: `book ${m}`, mimeType: 'application/json' })) }) }),
    { title: 'Order book of a model (subscribable)', mimeType: 'application/json' },
    async (uri, vars) => {
      const model = decodeURIComponent(String(vars['model']));
      return json(uri, market.bestAsk(model) ? getOrderBook(market, { model }) : { model, asks: [] });
    },
  );
  server.registerResource('orders', 'market://orders', { title: 'Limit orders of this wallet (subscribable)', mimeType: 'application/json' }, async (uri) => json(uri, listOrders(orders)));
  server.registerResource(
    'order',
    new ResourceTemplate('market://orders/{id}', { list: undefined }),
    { title: 'One limit order (subscribable)', mimeType: 'application/json' },
    async (uri, vars) => {
      try {
        return json(uri, orderView(orders, String(vars['id'])));
      } catch (error) {
        if (error instanceof ToolError && error.code === 'unknown_order') throw new McpError(RESOURCE_NOT_FOUND, `Resource not found: ${clip(uri.href)}`, { uri: clip(uri.href) });
        throw error;
      }
    },
  );

  // subscriptions: the book by model, the order list and single orders
  const subscribed = new Set<string>();
  server.server.setRequestHandler(SubscribeRequestSchema, async (req) => {
    subscribed.add(req.params.uri);
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
    subscribed.delete(req.params.uri);
    return {};
  });
  const updated = (uri: string): void => {
    if (subscribed.has(uri)) void server.server.sendResourceUpdated({ uri }).catch(() => undefined);
  };
  const offBook = market.onAskChange((c) => {
    for (const uri of subscribed) {
      if (!uri.startsWith('market://book/')) continue;
      const model = decodeURIComponent(uri.slice('market://book/'.length));
      if (market.book.resolver.key(model) === c.model) updated(uri);
    }
  });
  const onOrder = (id: string): void => {
    updated('market://orders');
    updated(`market://orders/${id}`);
  };
  ctx.orderChanges.on('changed', onOrder);
  server.server.onclose = () => {
    offBook();
    ctx.orderChanges.off('changed', onOrder);
  };
  return server;
}
