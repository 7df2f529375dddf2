/**
 * The models the node sells, as routstr-core Model objects built from our msat/Mtok prices: the
 * same object is served on `/v1/models`, gates requests and prices their cost, so a client that
 * reproduces routstr-core's gate from what we advertise gets exactly our number.
 */
import { buildModel, pricingFromAsk, type Model } from '@routstr-kit/core';
import type { ModelPrice } from '../market-maker/price-board.ts';

/** What the engine tells us about a served model. */
export interface EngineModel {
  readonly id: string;
  readonly contextLength: number;
}

export interface CatalogOptions {
  /** BTC/USD used for the USD `pricing` fields (the sats figures do not depend on it). */
  readonly btcUsd: number;
  /** Most output tokens a request may ask for (default: half the context). */
  readonly maxCompletionTokens?: number;
  /** `upstream_provider_id` (the engine kind). */
  readonly engine: string;
  /** Unix seconds for `created`. */
  readonly created: number;
}

/** The routstr-core Model for one engine model at one price. */
export function modelFor(engineModel: EngineModel, price: ModelPrice, options: CatalogOptions): Model {
  const contextLength = engineModel.contextLength;
  const maxCompletion = Math.max(1, Math.min(options.maxCompletionTokens ?? Math.floor(contextLength / 2), contextLength));
  const limits = { context_length: contextLength, top_provider: { context_length: contextLength, max_completion_tokens: maxCompletion } };
  const { pricing, sats_pricing } = pricingFromAsk({ prompt: price.prompt, completion: price.completion }, options.btcUsd, limits);
  return buildModel({
    id: engineModel.id,
    name: engineModel.id,
    created: options.created,
    description: `${engineModel.id} served by a routstr-kit provider node (${options.engine})`,
    context_length: contextLength,
    architecture: { modality: 'text->text', input_modalities: ['text'], output_modalities: ['text'], tokenizer: 'Other', instruct_type: null },
    pricing,
    sats_pricing,
    top_provider: { context_length: contextLength, max_completion_tokens: maxCompletion, is_moderated: false },
    upstream_provider_id: options.engine,
  });
}

/** Models of the engine that have a price, in engine order. */
export function catalog(engineModels: readonly EngineModel[], prices: ReadonlyMap<string, ModelPrice>, options: CatalogOptions): Model[] {
  const out: Model[] = [];
  for (const m of engineModels) {
    const price = prices.get(m.id);
    if (price) out.push(modelFor(m, price, options));
  }
  return out;
}
