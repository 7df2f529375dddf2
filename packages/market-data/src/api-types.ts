/** The JSON shapes of the market-data API (market-api.md); prices are integer msat, times epoch ms. */

/** A price at one ask, with the cost of a typical request (1 000 prompt + 500 completion tokens). */
export interface PriceView {
  readonly promptMsatPerMtok: number;
  readonly completionMsatPerMtok: number;
  readonly typicalRequestMsat: number;
  readonly typicalRequestSat: number;
}

/** One row of `GET /api/models`, also the data of a `model` stream event. */
export interface ModelSummary {
  readonly id: string;
  readonly bestAsk: (PriceView & { readonly provider: string }) | null;
  readonly median: PriceView | null;
  readonly spreadMsat: number | null;
  readonly providers: number;
  readonly lastTickAt: number | null;
  readonly change1h: number | null;
  readonly change24h: number | null;
}

export interface ModelsResponse {
  readonly at: number;
  readonly models: readonly ModelSummary[];
}

export type BookAskSource = 'announcement' | 'tick' | 'probe';

/** One ask of a model's book. */
export interface BookAsk extends PriceView {
  readonly provider: string;
  readonly pubkey: string;
  readonly npub: string;
  readonly name: string;
  readonly url: string;
  readonly source: BookAskSource;
  readonly load: number | null;
  readonly latencyMs: number | null;
  readonly updatedAt: number;
}

/** One price tick as the book shows it. */
export interface TickView {
  readonly provider: string;
  readonly at: number;
  readonly promptMsatPerMtok: number;
  readonly completionMsatPerMtok: number;
  readonly load: number | null;
}

export interface BookResponse {
  readonly model: string;
  readonly at: number;
  readonly asks: readonly BookAsk[];
  readonly ticks: readonly TickView[];
}

export const HISTORY_INTERVALS = ['1s', '5s', '15s', '1m', '5m', '15m', '1h', '4h', '1d'] as const;
export type HistoryInterval = (typeof HISTORY_INTERVALS)[number];

export interface Candle {
  readonly t: number;
  readonly o: number;
  readonly h: number;
  readonly l: number;
  readonly c: number;
}

export interface HistoryResponse {
  readonly model: string;
  readonly interval: HistoryInterval;
  readonly from: number;
  readonly to: number;
  readonly bestAsk: readonly Candle[];
  readonly median: readonly Candle[];
}

export interface ProviderView {
  readonly id: string;
  readonly pubkey: string;
  readonly npub: string;
  readonly name: string;
  readonly url: string;
  readonly models: readonly string[];
  readonly asks: readonly { readonly model: string; readonly promptMsatPerMtok: number; readonly completionMsatPerMtok: number }[];
  readonly load: number | null;
  readonly latencyMs: number | null;
  readonly uptime: number | null;
  readonly lastTickAt: number | null;
}

export interface ProvidersResponse {
  readonly at: number;
  readonly providers: readonly ProviderView[];
}

/** A `book` stream event: the model's book changed. */
export interface BookEvent {
  readonly model: string;
  readonly at: number;
}

/** The error body of every 4xx/5xx answer. */
export interface ErrorResponse {
  readonly error: { readonly message: string };
}
