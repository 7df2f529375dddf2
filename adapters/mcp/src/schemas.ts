/** zod input and output schemas of the tools (the tools-list snapshot pins them). */
import { z } from 'zod';

const model = z.string().min(1).describe('Model id as the market lists it (see list_models), e.g. "llama-3.1-8b".');
const tokens = z.number().int().nonnegative();
const msat = z.number().int().nonnegative();

export const messagesSchema = z
  .array(
    z.looseObject({
      role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
      content: z.union([z.string(), z.array(z.looseObject({ type: z.string() }))]),
    }),
  )
  .min(1)
  .describe('OpenAI chat messages, e.g. [{"role":"user","content":"Hello"}].');

export const maxPriceSchema = z
  .union([
    z.number().int().positive().describe('Most to pay for this request, in msat (1 sat = 1000 msat), as get_market_price reports price_msat.'),
    z.object({
      prompt_msat_per_mtok: z.number().int().positive(),
      completion_msat_per_mtok: z.number().int().positive(),
    }).describe('Most to pay per million tokens, in msat, each way.'),
  ])
  .describe('Price limit: msat for the whole request, or msat per million prompt/completion tokens.');

const rates = z.object({ prompt_msat_per_mtok: msat, completion_msat_per_mtok: msat });

export const askSchema = z.object({
  provider: z.string(),
  prompt_msat_per_mtok: msat,
  completion_msat_per_mtok: msat,
  price_msat: msat.describe('Price of the requested shape, msat.'),
  source: z.enum(['tick', 'models', 'announcement']),
  quote_id: z.string().optional(),
  age_ms: z.number().int().describe('How long this price has stood.'),
  expires_at: z.string().optional(),
});

const shape = z.object({ input_tokens: tokens, output_tokens: tokens });

export const getMarketPriceInput = {
  model,
  input_tokens: tokens.optional().describe('Expected prompt tokens (default 1,000,000: the price is then per million tokens each way).'),
  output_tokens: tokens.optional().describe('Expected completion tokens (default 1,000,000).'),
};
export const getMarketPriceOutput = {
  model: z.string(),
  providers: z.number().int(),
  shape,
  best: askSchema,
  median: rates.extend({ price_msat: msat }),
  spread_msat: msat.describe('Worst ask minus best ask for this shape.'),
  price_msat: msat.describe('Effective price of this shape at the best ask, msat.'),
  price_sat: z.number().int().describe('The same rounded up to whole sats.'),
  units: z.string(),
};

export const getOrderBookInput = { model, depth: z.number().int().min(1).max(50).optional().describe('Asks to return, cheapest first (default 10).') };
export const getOrderBookOutput = { model: z.string(), asks: z.array(askSchema), units: z.string() };

export const listModelsInput = { query: z.string().optional().describe('Case-insensitive substring filter.') };
export const listModelsOutput = {
  models: z.array(z.object({ model: z.string(), providers: z.number().int(), best_prompt_msat_per_mtok: msat, best_completion_msat_per_mtok: msat })),
  units: z.string(),
};

const receiptSchema = z.object({
  request_id: z.string(),
  provider: z.string(),
  provider_url: z.string(),
  model: z.string(),
  price: rates.extend({ source: z.string(), quote_id: z.string().optional() }),
  input_tokens: tokens.optional(),
  output_tokens: tokens.optional(),
  paid_sat: z.number().int().describe('Token face value sent.'),
  change_sat: z.number().int().describe('Change returned.'),
  charged_msat: msat.describe('What the request cost.'),
  verdict: z.string().describe('Charge check against the quoted prices.'),
});

export const chatCompletionInput = {
  model,
  messages: messagesSchema,
  max_tokens: z.number().int().min(1).max(32_768).optional(),
  max_price: maxPriceSchema.optional(),
};
export const chatCompletionOutput = { answer: z.string(), finish_reason: z.string().optional(), receipt: receiptSchema };

const fillSchema = z.object({ provider: z.string(), price_msat: msat, quote_id: z.string().optional(), rested_ms: z.number().int() });

export const orderSchema = {
  id: z.string(),
  state: z.enum(['resting', 'filling', 'filled', 'expired', 'cancelled', 'failed']),
  model: z.string(),
  limit_msat: msat.describe('The limit for this request shape, msat.'),
  deadline: z.string(),
  best_ask_msat: msat.optional().describe('Best ask for this request shape now, msat.'),
  answer: z.string().optional(),
  fill: fillSchema.optional(),
  receipt: receiptSchema.optional(),
  error: z.object({ code: z.string(), message: z.string(), spent_sat: z.number().int() }).optional(),
  spent_sat: z.number().int().describe('Sats this order has spent (0 unless filled or failed after paying).'),
};

export const runWhenCheaperInput = {
  model,
  messages: messagesSchema,
  max_tokens: z.number().int().min(1).max(32_768).optional(),
  max_price: maxPriceSchema,
  deadline: z.union([z.string().datetime({ offset: true }), z.number().int().positive()]).describe('When to give up: an ISO 8601 time, or seconds from now.'),
  wait: z.boolean().optional().describe('Hold this call (with progress notifications) until the order fills, expires or is cancelled. Default false: return the order handle at once.'),
};
export const orderOutput = orderSchema;

export const orderIdInput = { id: z.string().min(1).describe('Order id, e.g. "lo_…" from run_when_cheaper.') };

export const walletBalanceOutput = { balance_sat: z.number().int(), by_mint: z.record(z.string(), z.number().int()), pending_sat: z.number().int(), budget: z.object({ per_request_max_sat: z.number().int().optional(), total_sat: z.number().int().optional(), spent_sat: z.number().int() }) };
export const walletReceiveInput = { token: z.string().min(10).describe('A Cashu token (cashuA… / cashuB…) from one of the configured mints.') };
export const walletReceiveOutput = { received_sat: z.number().int(), balance_sat: z.number().int() };
export const walletFundInput = {
  amount_sat: z.number().int().min(1).max(1_000_000),
  wait_s: z.number().int().min(0).max(600).optional().describe('Seconds to wait for payment in this call (default 50); payment is still collected afterwards while the server runs.'),
};
export const walletFundOutput = { state: z.enum(['paid', 'unpaid']), invoice: z.string(), amount_sat: z.number().int(), quote_id: z.string(), mint: z.string(), balance_sat: z.number().int() };
