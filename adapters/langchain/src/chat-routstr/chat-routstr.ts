/**
 * `ChatRoutstr`: LangChain's ChatOpenAI (which does all message, tool and stream handling) over
 * the market's paying `fetch`. What it adds: how to buy (market or limit, `maxPrice`,
 * `deadline`), the receipt in `response_metadata.routstr`, typed refusals (RoutstrError), and
 * `batch` as a limit-buy batch held for price (the core's `runBatch`) when `order: 'limit'`.
 * Like LangChain's other non-OpenAI providers it traces as its own provider (`ls_provider:
 * "routstr"`), puts `model`/`model_name` in `response_metadata`, and structures output the way
 * open models serve it (see structured-output.ts); a cache hit's receipt says it cost nothing.
 */
import type { BaseLanguageModelInput, StructuredOutputMethodOptions } from '@langchain/core/language_models/base';
import type { CallbackManagerForLLMRun } from '@langchain/core/callbacks/manager';
import type { ChatModelStreamEvent } from '@langchain/core/language_models/event';
import type { LangSmithParams } from '@langchain/core/language_models/chat_models';
import { AIMessage, AIMessageChunk, type BaseMessage } from '@langchain/core/messages';
import { ChatGenerationChunk, type ChatGeneration, type ChatResult } from '@langchain/core/outputs';
import type { Runnable, RunnableBatchOptions, RunnableConfig } from '@langchain/core/runnables';
import type { InteropZodType } from '@langchain/core/utils/types';
import { ChatOpenAI, convertCompletionsMessageToBaseMessage, convertMessagesToCompletionsMessageParams, type ChatOpenAICallOptions, type ChatOpenAIFields } from '@langchain/openai';
import type { BatchResult, Receipt } from '@routstr-kit/core';
import { CALL_HEADER, checkOrderSettings, MarketFetch, receiptJson, type CallRecord, type Env, type OrderSettings, type RoutstrSettings } from '@routstr-kit/core';
import { RoutstrError, toRoutstrError } from './routstr-error.ts';
import { cachedGeneration, withModelName } from './response-metadata.ts';
import { jsonSchemaStructuredOutput } from './structured-output.ts';

/** The `keys` of `record` that are set. */
function pick(record: Record<string, unknown>, ...keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => record[k] !== undefined).map((k) => [k, record[k]]));
}

/** The host is never dialled: the paying fetch routes each request to a provider it picks. */
const BASE_URL = 'https://market.routstr.invalid/v1';

export interface ChatRoutstrFields extends Omit<ChatOpenAIFields, 'configuration' | 'apiKey' | 'openAIApiKey'>, RoutstrSettings, OrderSettings {
  model: string;
  /** Share one wallet/market/orders between models (default: a new one from the settings, the environment and the config file). */
  marketFetch?: MarketFetch;
  /** Where ROUTSTR_KIT_* settings are read (default `process.env`). */
  env?: Env;
}

function named(options: ChatOpenAICallOptions, call: CallRecord): ChatOpenAICallOptions {
  const headers = { [CALL_HEADER]: call.id };
  // non-streaming calls read `options.options`, streaming ones the call options themselves
  return { ...options, options: { ...options.options, headers: { ...(options.options?.headers as Record<string, string> | undefined), ...headers } }, headers } as ChatOpenAICallOptions;
}

/** A LangChain chat model that buys on the Routstr market. */
export class ChatRoutstr extends ChatOpenAI {
  readonly marketFetch: MarketFetch;
  readonly order: OrderSettings;
  readonly #fields: ChatRoutstrFields;

  static override lc_name(): string {
    return 'ChatRoutstr';
  }

  constructor(fields: ChatRoutstrFields) {
    const { wallet, walletPath, relays, mints, market, mode, budget, profile, providerAddresses, configPath, bookWaitMs, order, maxPrice, deadline, marketFetch, env, ...openai } = fields;
    const orderSettings: OrderSettings = { ...(order ? { order } : {}), ...(maxPrice !== undefined ? { maxPrice } : {}), ...(deadline !== undefined ? { deadline } : {}) };
    checkOrderSettings(orderSettings);
    const given: RoutstrSettings = { wallet, walletPath, relays, mints, market, mode, budget, profile, providerAddresses, configPath, bookWaitMs };
    // explicit fields > ROUTSTR_KIT_* > config file > defaults; a bad setting throws ConfigError here
    const mf = marketFetch ?? new MarketFetch(given, env ?? process.env);
    // no SDK retries: the Payer already fails over, and a retry could pay twice
    super({ maxRetries: 0, ...openai, apiKey: 'routstr', configuration: { baseURL: BASE_URL, fetch: mf.fetch } });
    this.marketFetch = mf;
    this.order = orderSettings;
    this.#fields = { ...fields, marketFetch: mf };
  }

  override _llmType(): string {
    return 'routstr';
  }

  /** Traces as Routstr calls (ChatOpenAI would label them "openai"). */
  override getLsParams(options: this['ParsedCallOptions']): LangSmithParams {
    return { ...super.getLsParams(options), ls_provider: 'routstr' };
  }

  /**
   * Structured output, by default as `response_format: json_schema` with the schema sent as plain JSON Schema (zod v3
   * or v4, or a JSON Schema): vLLM, Ollama and llama.cpp all enforce it by constrained decoding for any model, where
   * forcing a named tool needs a tool-trained chat template (and Ollama ignores `tool_choice`). No OpenAI strict-mode
   * rewrite, so `z.record`, optional fields and unions pass. `method: "functionCalling"` / `"jsonMode"` use ChatOpenAI's.
   */
  override withStructuredOutput<RunOutput extends Record<string, any> = Record<string, any>>(outputSchema: InteropZodType<RunOutput> | Record<string, any>, config?: StructuredOutputMethodOptions<false>): Runnable<BaseLanguageModelInput, RunOutput>;
  override withStructuredOutput<RunOutput extends Record<string, any> = Record<string, any>>(outputSchema: InteropZodType<RunOutput> | Record<string, any>, config?: StructuredOutputMethodOptions<true>): Runnable<BaseLanguageModelInput, { raw: BaseMessage; parsed: RunOutput }>;
  override withStructuredOutput<RunOutput extends Record<string, any> = Record<string, any>>(outputSchema: InteropZodType<RunOutput> | Record<string, any>, config?: StructuredOutputMethodOptions<boolean>): Runnable<BaseLanguageModelInput, RunOutput> | Runnable<BaseLanguageModelInput, { raw: BaseMessage; parsed: RunOutput }>;
  override withStructuredOutput<RunOutput extends Record<string, any> = Record<string, any>>(outputSchema: InteropZodType<RunOutput> | Record<string, any>, config?: StructuredOutputMethodOptions<boolean>): Runnable<BaseLanguageModelInput, RunOutput> | Runnable<BaseLanguageModelInput, { raw: BaseMessage; parsed: RunOutput }> {
    const method = config?.method ?? 'jsonSchema';
    if (method !== 'jsonSchema') return super.withStructuredOutput<RunOutput>(outputSchema, { ...config, method });
    return jsonSchemaStructuredOutput<RunOutput>((options) => this.withConfig(options), outputSchema, config);
  }

  /** The same model buying differently (e.g. `{ order: 'limit', maxPrice }`), on the same wallet and market. */
  withOrder(order: OrderSettings): ChatRoutstr {
    return new ChatRoutstr({ ...this.#fields, ...order });
  }

  /** Closes the wallet and market this model's MarketFetch opened. */
  close(): Promise<void> {
    return this.marketFetch.close();
  }

  // ChatOpenAI.withConfig (used by bindTools, withStructuredOutput) would make a plain ChatOpenAI
  override withConfig(config: Partial<ChatOpenAICallOptions>): ChatRoutstr {
    const next = new ChatRoutstr(this.#fields);
    next.defaultOptions = { ...this.defaultOptions, ...config };
    return next;
  }

  override async _generate(messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): Promise<ChatResult> {
    const call = this.marketFetch.begin(this.order);
    let result: ChatResult;
    try {
      result = await super._generate(messages, named(options, call) as this['ParsedCallOptions'], runManager);
    } catch (error) {
      this.marketFetch.forget(call);
      throw toRoutstrError(call.error ?? error);
    }
    const receipt = await this.marketFetch.end(call);
    const routstr = receipt ? { ...receiptJson(receipt, call.fill), cached: false } : undefined;
    for (const g of result.generations) g.message.response_metadata = withModelName({ ...g.message.response_metadata, ...(routstr ? { routstr } : {}) }, this.model);
    return result;
  }

  // A cache hit paid nothing: its receipt says so (cost 0, `cached: true`), so summing receipt costs gives the spend.
  override async _generateCached(args: Parameters<ChatOpenAI['_generateCached']>[0]): ReturnType<ChatOpenAI['_generateCached']> {
    const out = await super._generateCached(args);
    // in place: core attached run ids to `out` as a hidden property
    out.generations.forEach((gens, i) => {
      if (gens && !out.missingPromptIndices.includes(i)) out.generations[i] = gens.map((g) => cachedGeneration(g as ChatGeneration));
    });
    return out;
  }

  override async *_streamResponseChunks(messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): AsyncGenerator<ChatGenerationChunk> {
    const call = this.marketFetch.begin(this.order);
    // chunks concatenate their string metadata, so each model key is added once, on the last chunk, if still missing
    const modelKeys: Record<string, unknown> = {};
    try {
      for await (const chunk of super._streamResponseChunks(messages, named(options, call) as this['ParsedCallOptions'], runManager)) {
        // LangChain folds a chunk's generationInfo into its message's response_metadata
        Object.assign(modelKeys, pick({ ...chunk.generationInfo, ...chunk.message.response_metadata }, 'model', 'model_name'));
        yield chunk;
      }
    } catch (error) {
      throw toRoutstrError(call.error ?? error);
    } finally {
      // a consumer that stops early ends the generator here too: the call is not kept
      this.marketFetch.forget(call);
    }
    // the stream was read to its end: the receipt settles once the change is stored
    const receipt = await this.marketFetch.end(call);
    const names = withModelName(modelKeys, this.model);
    const missing = Object.fromEntries(Object.entries(names).filter(([k]) => modelKeys[k] === undefined));
    const routstr = receipt ? { routstr: { ...receiptJson(receipt, call.fill), cached: false } } : {};
    yield new ChatGenerationChunk({ text: '', message: new AIMessageChunk({ content: '', response_metadata: { ...missing, ...routstr } }) });
  }

  // LangChain's content-block stream protocol takes this path: name the call so it buys as configured
  override async *_streamChatModelEvents(messages: BaseMessage[], options: this['ParsedCallOptions'], runManager?: CallbackManagerForLLMRun): AsyncGenerator<ChatModelStreamEvent> {
    const call = this.marketFetch.begin(this.order);
    try {
      yield* super._streamChatModelEvents(messages, named(options, call) as this['ParsedCallOptions'], runManager);
    } catch (error) {
      throw toRoutstrError(call.error ?? error);
    } finally {
      this.marketFetch.forget(call);
    }
  }

  /** With `order: 'limit'`, a batch held for price (all lines run while the best ask is at or below maxPrice); otherwise LangChain's batch. */
  override async batch(inputs: BaseLanguageModelInput[], options?: Partial<ChatOpenAICallOptions> | Partial<ChatOpenAICallOptions>[], batchOptions?: RunnableBatchOptions & { returnExceptions?: false }): Promise<AIMessageChunk[]>;
  override async batch(inputs: BaseLanguageModelInput[], options?: Partial<ChatOpenAICallOptions> | Partial<ChatOpenAICallOptions>[], batchOptions?: RunnableBatchOptions & { returnExceptions: true }): Promise<(AIMessageChunk | Error)[]>;
  override async batch(inputs: BaseLanguageModelInput[], options?: Partial<ChatOpenAICallOptions> | Partial<ChatOpenAICallOptions>[], batchOptions?: RunnableBatchOptions): Promise<(AIMessageChunk | Error)[]>;
  override async batch(inputs: BaseLanguageModelInput[], options?: Partial<ChatOpenAICallOptions> | Partial<ChatOpenAICallOptions>[], batchOptions?: RunnableBatchOptions): Promise<(AIMessageChunk | Error)[]> {
    if (this.order.order !== 'limit') return super.batch(inputs, options, batchOptions);
    const config = (Array.isArray(options) ? options[0] : options) ?? {};
    const { orders } = await this.marketFetch.open();
    const params = this.invocationParams(config as this['ParsedCallOptions']) as Record<string, unknown>;
    delete params['stream_options'];
    const bodies = inputs.map((input) => {
      const messages = ChatRoutstr._convertInputToPromptValue(input).toChatMessages();
      return { ...params, model: this.model, stream: false, messages: convertMessagesToCompletionsMessageParams({ messages, model: this.model }) } as Record<string, unknown>;
    });
    const d = this.order.deadline ?? 600_000;
    const batch = orders.runBatch(bodies, {
      model: this.model,
      maxPrice: this.order.maxPrice as NonNullable<OrderSettings['maxPrice']>,
      deadline: d instanceof Date ? d : Date.now() + d,
      concurrency: batchOptions?.maxConcurrency ?? 4,
    });
    // each line's own receipt, by custom_id
    const receipts = new Map<string, Receipt>();
    batch.on('line', ({ customId, receipt }) => void (receipt && receipts.set(customId, receipt)));
    const signal = (config as RunnableConfig).signal;
    const onAbort = (): void => batch.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (batch.progress().paused) this.marketFetch.emit('resting', { callId: batch.id, model: this.model, orderId: batch.id });
    let result: BatchResult;
    try {
      result = await batch.result;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    signal?.throwIfAborted();
    return this.#batchMessages(result, inputs.length, receipts, batchOptions?.returnExceptions === true);
  }

  #batchMessages(result: BatchResult, count: number, receipts: ReadonlyMap<string, Receipt>, returnExceptions: boolean): (AIMessageChunk | Error)[] {
    const byId = new Map<string, Record<string, unknown>>();
    for (const text of [result.output, result.errors]) {
      for (const line of text.split('\n')) if (line.trim() !== '') {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        byId.set(String(parsed['custom_id']), parsed);
      }
    }
    const out: (AIMessageChunk | Error)[] = [];
    for (let i = 0; i < count; i++) {
      const line = byId.get(`request-${i + 1}`);
      const response = line?.['response'] as { body?: Record<string, unknown> } | undefined;
      const body = response?.body;
      const choice = (body?.['choices'] as Array<{ message: Record<string, unknown> }> | undefined)?.[0];
      if (!body || !choice) {
        const err = (line?.['error'] as { code?: string; message?: string } | undefined) ?? { code: 'batch_line_missing', message: 'no result for this line' };
        const error = new RoutstrError(err.code ?? 'batch_line_failed', `Routstr: batch line ${i + 1}: ${err.message ?? err.code}`, line);
        if (!returnExceptions) throw error;
        out.push(error);
        continue;
      }
      const message = convertCompletionsMessageToBaseMessage({ message: choice.message as never, rawResponse: body as never }) as AIMessage;
      const usage = body['usage'] as { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number } | undefined;
      const receipt = receipts.get(`request-${i + 1}`);
      out.push(
        new AIMessageChunk({
          content: message.content,
          ...(message.tool_calls ? { tool_calls: message.tool_calls } : {}),
          additional_kwargs: message.additional_kwargs,
          response_metadata: withModelName({ ...message.response_metadata, ...(receipt ? { routstr: { ...receiptJson(receipt), cached: false } } : {}) }, this.model),
          ...(usage ? { usage_metadata: { input_tokens: usage.prompt_tokens ?? 0, output_tokens: usage.completion_tokens ?? 0, total_tokens: usage.total_tokens ?? 0 } } : {}),
          ...(message.id ? { id: message.id } : {}),
        }),
      );
    }
    return out;
  }
}
