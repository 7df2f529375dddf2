/** zod input and output schemas of the tools (the tools-list snapshot pins them). */
import { z } from 'zod';

const model = z.string().min(1).max(256).describe('Model id as the market lists it (see list_models), e.g. "llama-3.1-8b".');
const tokens = z.number().int().nonnegative();
const msat = z.number().int().nonnegative();

/** The furthest deadline an order may name: a year (also keeps every stored deadline a valid Date). */
export const MAX_DEADLINE_S = 365 * 24 * 3600;
/** Largest token count a tool takes (a request shape). */
const MAX_TOKENS_SHAPE = 100_000_000;
/** Largest price a tool takes, msat (1e12 msat = 1e9 sat): prices times token counts stay exact integers. */
const MAX_PRICE_MSAT = 1_000_000_000_000;
const shapeTokens = tokens.max(MAX_TOKENS_SHAPE);
const priceLimit = z.number().int().positive().max(MAX_PRICE_MSAT);

/** An ISO 8601 time at most MAX_DEADLINE_S away (one in the past is refused by the tool as invalid_deadline). */
const isoDeadline = z
  .string()
  .datetime({ offset: true })
  .refine((v) => Date.parse(v) - Date.now() <= MAX_DEADLINE_S * 1000, 'the deadline must be at most 365 days away');

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
    priceLimit.describe('Most to pay for this request, in msat (1 sat = 1000 msat), as get_market_price reports price_msat.'),
    z.object({
      prompt_msat_per_mtok: priceLimit,
      completion_msat_per_mtok: priceLimit,
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
  input_tokens: shapeTokens.optional().describe('Expected prompt tokens (default 1,000,000: the price is then per million tokens each way).'),
  output_tokens: shapeTokens.optional().describe('Expected completion tokens (default 1,000,000).'),
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

export const listModelsInput = { query: z.string().max(256).optional().describe('Case-insensitive substring filter.') };
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
  deadline: z.union([isoDeadline, z.number().int().positive().max(MAX_DEADLINE_S)]).describe('When to give up: an ISO 8601 time, or seconds from now; at most 365 days away.'),
  wait: z.boolean().optional().describe('Hold this call (with progress notifications) until the order fills, expires or is cancelled. Default false: return the order handle at once.'),
};
export const orderOutput = orderSchema;

export const orderIdInput = { id: z.string().min(1).max(128).describe('Order id, e.g. "lo_…" from run_when_cheaper.') };

/** Longest Cashu token wallet_receive takes, characters (a few hundred proofs). */
export const MAX_TOKEN_CHARS = 100_000;

export const walletBalanceOutput = { balance_sat: z.number().int(), by_mint: z.record(z.string(), z.number().int()), pending_sat: z.number().int(), incoming_sat: z.number().int(), budget: z.object({ per_request_max_sat: z.number().int().optional(), total_sat: z.number().int().optional(), spent_sat: z.number().int() }) };
export const walletReceiveInput = { token: z.string().max(MAX_TOKEN_CHARS).describe('A Cashu token (cashuA… / cashuB…) from one of the configured mints.') };
export const walletReceiveOutput = { received_sat: z.number().int(), balance_sat: z.number().int() };
export const walletFundInput = {
  amount_sat: z.number().int().min(1).max(1_000_000),
  wait_s: z.number().int().min(0).max(600).optional().describe('Seconds to wait for payment in this call (default 50); payment is still collected afterwards while the server runs.'),
};
export const walletFundOutput = { state: z.enum(['paid', 'unpaid']), invoice: z.string(), amount_sat: z.number().int(), quote_id: z.string(), mint: z.string(), balance_sat: z.number().int() };
