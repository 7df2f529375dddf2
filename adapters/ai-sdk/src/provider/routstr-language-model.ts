/**
 * A Routstr language model: the `@ai-sdk/openai-compatible` chat model (which does all message,
 * tool and stream handling) with each call named for the paying fetch, so the call's receipt
 * lands in `providerMetadata.routstr` and the market's refusals surface as RoutstrCallError.
 * A call may buy differently through `providerOptions.routstr` ({ order, maxPrice, deadline }).
 * A stream aborted mid-way still settles: its own receipt goes out on the market's `receipt` event.
 */
import type { LanguageModelV4, LanguageModelV4CallOptions, LanguageModelV4GenerateResult, LanguageModelV4StreamPart, LanguageModelV4StreamResult, SharedV4ProviderMetadata } from '@ai-sdk/provider';
import { parseProviderOptions } from '@ai-sdk/provider-utils';
import { z } from 'zod';
import { CALL_HEADER, checkOrderSettings, receiptJson, type CallRecord, type MarketFetch, type OrderSettings } from '@routstr-kit/core';
import { toRoutstrCallError } from './routstr-error.ts';

/** `providerOptions.routstr`: how this one call buys (JSON, so a deadline is ms after the call starts). */
const callOrderSchema = z.strictObject({
  order: z.enum(['market', 'limit']).optional(),
  maxPrice: z.union([z.number().int().positive(), z.strictObject({ prompt: z.number().int().nonnegative(), completion: z.number().int().nonnegative() })]).optional(),
  deadline: z.number().int().positive().optional(),
});

type JsonObject = SharedV4ProviderMetadata[string];

export class RoutstrLanguageModel implements LanguageModelV4 {
  readonly specificationVersion = 'v4' as const;
  readonly provider = 'routstr';
  readonly modelId: string;
  readonly order: OrderSettings;
  readonly #inner: LanguageModelV4;
  readonly #market: MarketFetch;
  readonly #url: string;

  constructor(modelId: string, inner: LanguageModelV4, market: MarketFetch, order: OrderSettings, url: string) {
    this.modelId = modelId;
    this.#inner = inner;
    this.#market = market;
    this.order = order;
    this.#url = url;
  }

  get supportedUrls(): LanguageModelV4['supportedUrls'] {
    return this.#inner.supportedUrls;
  }

  /** The model's order settings with this call's `providerOptions.routstr` over them; bad options throw before anything is paid. */
  async #orderFor(options: LanguageModelV4CallOptions): Promise<OrderSettings> {
    const given = await parseProviderOptions({ provider: 'routstr', providerOptions: options.providerOptions, schema: callOrderSchema });
    if (!given) return this.order;
    const order: OrderSettings = { ...this.order };
    if (given.order !== undefined) order.order = given.order;
    if (given.maxPrice !== undefined) order.maxPrice = given.maxPrice;
    if (given.deadline !== undefined) order.deadline = given.deadline;
    try {
      checkOrderSettings(order);
    } catch (error) {
      throw toRoutstrCallError(error, this.#url, { model: this.modelId, order });
    }
    return order;
  }

  async doGenerate(options: LanguageModelV4CallOptions): Promise<LanguageModelV4GenerateResult> {
    const call = this.#market.begin(await this.#orderFor(options));
    try {
      const result = await this.#inner.doGenerate(named(options, call));
      return { ...result, providerMetadata: await this.#withReceipt(result.providerMetadata, call) };
    } catch (error) {
      this.#market.forget(call);
      throw toRoutstrCallError(call.error ?? error, this.#url, { model: this.modelId, order: this.order });
    }
  }

  async doStream(options: LanguageModelV4CallOptions): Promise<LanguageModelV4StreamResult> {
    const call = this.#market.begin(await this.#orderFor(options));
    let result: LanguageModelV4StreamResult;
    try {
      result = await this.#inner.doStream(named(options, call));
    } catch (error) {
      this.#market.forget(call);
      throw toRoutstrCallError(call.error ?? error, this.#url, { model: this.modelId, order: this.order });
    }
    // aborted after the answer began, no `finish` part carries the receipt: the payer settles it
    // (the node bills what it generated; the change comes back) and the market's `receipt` event delivers it
    const withReceipt = (meta: SharedV4ProviderMetadata | undefined): Promise<SharedV4ProviderMetadata> => this.#withReceipt(meta, call);
    // the `finish` part comes after the body ended: the receipt settles once the change is stored
    const stream = result.stream.pipeThrough(
      new TransformStream<LanguageModelV4StreamPart, LanguageModelV4StreamPart>({
        async transform(part, controller) {
          if (part.type === 'finish') {
            controller.enqueue({ ...part, providerMetadata: await withReceipt(part.providerMetadata) });
          } else controller.enqueue(part);
        },
      }),
    );
    return { ...result, stream };
  }

  async #withReceipt(meta: SharedV4ProviderMetadata | undefined, call: CallRecord): Promise<SharedV4ProviderMetadata> {
    const receipt = await this.#market.end(call);
    if (!receipt) return meta ?? {};
    return { ...meta, routstr: { ...(meta?.['routstr'] ?? {}), ...(receiptJson(receipt, call.fill) as JsonObject) } };
  }
}

function named(options: LanguageModelV4CallOptions, call: CallRecord): LanguageModelV4CallOptions {
  return { ...options, headers: { ...options.headers, [CALL_HEADER]: call.id } };
}
