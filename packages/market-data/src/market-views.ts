/** The book and providers answers, built from the market and the index on request. */
import type { AskSource, Market, ProviderRecord } from '@routstr-kit/core/market';
import { nip19 } from 'nostr-tools';
import type { BookAskSource, BookResponse, ProviderView, ProvidersResponse } from './api-types.ts';
import type { MarketIndex } from './market-index.ts';
import { TYPICAL_SHAPE, priceView } from './price-view.ts';

const SOURCE: Readonly<Record<AskSource, BookAskSource>> = { announcement: 'announcement', tick: 'tick', models: 'probe' };

function pubkeyOf(provider: string, record: ProviderRecord | undefined): string {
  return record?.pubkey ?? provider.split(':')[1] ?? '';
}

/** npub encodings, cached (bech32 of 10 000 keys per request adds up); bounded, cleared when full. */
export class NpubCache {
  readonly #cache = new Map<string, string>();
  readonly #max: number;

  constructor(max = 50_000) {
    this.#max = max;
  }

  /** The npub of a hex pubkey ('' if it is not one). */
  of(pubkey: string): string {
    let npub = this.#cache.get(pubkey);
    if (npub !== undefined) return npub;
    try {
      npub = nip19.npubEncode(pubkey);
    } catch {
      npub = '';
    }
    if (this.#cache.size >= this.#max) this.#cache.clear();
    this.#cache.set(pubkey, npub);
    return npub;
  }
}

function roundedLatency(record: ProviderRecord | undefined): number | null {
  return record?.latencyMs === undefined ? null : Math.round(record.latencyMs);
}

/** Share of probes that passed (null before the first probe). */
export function uptimeOf(record: ProviderRecord): number | null {
  const total = record.successes + record.failures;
  return total === 0 ? null : Math.round((record.successes / total) * 1e4) / 1e4;
}

/** `GET /api/models/{id}/book` for a summarised model key. */
export function bookView(market: Market, index: MarketIndex, npubs: NpubCache, model: string, at: number): BookResponse {
  const asks = market.book.asks(model, TYPICAL_SHAPE).map((a) => {
    const record = market.registry.get(a.provider);
    const pubkey = pubkeyOf(a.provider, record);
    return {
      provider: a.provider,
      pubkey,
      npub: npubs.of(pubkey),
      name: record?.announcement.name ?? '',
      url: record?.urls[0] ?? '',
      ...priceView(a.prompt, a.completion),
      source: SOURCE[a.source],
      load: index.providerTick(a.provider)?.load ?? null,
      latencyMs: roundedLatency(record),
      updatedAt: a.since,
    };
  });
  return { model, at, asks, ticks: index.ticksOf(model) };
}

/** `GET /api/providers`: every provider the market knows, with its live asks in summarised models. */
export function providersView(market: Market, index: MarketIndex, npubs: NpubCache, at: number): ProvidersResponse {
  // one pass over each summarised model's book, not one lookup per provider and model
  const asksOf = new Map<string, { model: string; promptMsatPerMtok: number; completionMsatPerMtok: number }[]>();
  for (const summary of index.summaries()) {
    for (const ask of market.book.asks(summary.id)) {
      let list = asksOf.get(ask.provider);
      if (!list) {
        list = [];
        asksOf.set(ask.provider, list);
      }
      list.push({ model: summary.id, promptMsatPerMtok: ask.prompt, completionMsatPerMtok: ask.completion });
    }
  }
  const providers: ProviderView[] = market.registry.all().map((record) => {
    const asks = (asksOf.get(record.id) ?? []).sort((a, b) => (a.model < b.model ? -1 : a.model > b.model ? 1 : 0));
    const tick = index.providerTick(record.id);
    return {
      id: record.id,
      pubkey: record.pubkey,
      npub: npubs.of(record.pubkey),
      name: record.announcement.name ?? '',
      url: record.urls[0] ?? '',
      models: asks.map((a) => a.model),
      asks,
      load: tick?.load ?? null,
      latencyMs: roundedLatency(record),
      uptime: uptimeOf(record),
      lastTickAt: tick?.at ?? null,
    };
  });
  providers.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { at, providers };
}
