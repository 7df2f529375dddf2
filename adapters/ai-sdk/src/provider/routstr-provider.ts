import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { NoSuchModelError, type ProviderV4 } from '@ai-sdk/provider';
import { checkOrderSettings, MarketFetch, type Env, type OrderSettings, type RoutstrSettings } from '@routstr-kit/core';
import { RoutstrLanguageModel } from './routstr-language-model.ts';

/** The host is never dialled: the paying fetch routes each request to a provider it picks. */
const BASE_URL = 'https://market.routstr.invalid/v1';

/** A provider: `routstr(modelId, { order, maxPrice, deadline })` is a model usable with generateText, streamText, generateObject and tools. */
export interface RoutstrProvider extends ProviderV4 {
  (modelId: string, order?: OrderSettings): RoutstrLanguageModel;
  languageModel(modelId: string, order?: OrderSettings): RoutstrLanguageModel;
  chatModel(modelId: string, order?: OrderSettings): RoutstrLanguageModel;
  /** The wallet, market and orders behind it (opened on first use). */
  readonly market: MarketFetch;
  /** Closes the wallet and market it opened. */
  close(): Promise<void>;
}

/**
 * Creates a Routstr provider for the AI SDK; nothing opens until the first request. Settings not
 * given come from `env` (ROUTSTR_KIT_*), the config file, then the defaults; a bad one throws ConfigError here.
 */
export function createRoutstr(settings: RoutstrSettings = {}, env: Env = process.env): RoutstrProvider {
  const market = new MarketFetch(settings, env);
  const compatible = createOpenAICompatible({
    name: 'routstr',
    baseURL: BASE_URL,
    fetch: market.fetch,
    includeUsage: true,
    supportsStructuredOutputs: true,
  });
  const createModel = (modelId: string, order: OrderSettings = {}): RoutstrLanguageModel => {
    checkOrderSettings(order);
    return new RoutstrLanguageModel(modelId, compatible.chatModel(modelId), market, order, `${BASE_URL}/chat/completions`);
  };
  const provider = (modelId: string, order?: OrderSettings): RoutstrLanguageModel => createModel(modelId, order);
  const noModel = (modelType: 'embeddingModel' | 'imageModel') => (modelId: string): never => {
    throw new NoSuchModelError({ modelId, modelType });
  };
  return Object.assign(provider, {
    specificationVersion: 'v4' as const,
    languageModel: createModel,
    chatModel: createModel,
    embeddingModel: noModel('embeddingModel'),
    imageModel: noModel('imageModel'),
    market,
    close: () => market.close(),
  }) as RoutstrProvider;
}

/** A provider made by `make` on first use (a call or a property read), then the same one. */
function lazyProvider(make: () => RoutstrProvider): RoutstrProvider {
  let made: RoutstrProvider | undefined;
  const get = (): RoutstrProvider => (made ??= make());
  const provider = (modelId: string, order?: OrderSettings): RoutstrLanguageModel => get()(modelId, order);
  const keys = ['specificationVersion', 'languageModel', 'chatModel', 'embeddingModel', 'imageModel', 'market', 'close'] as const;
  for (const key of keys) Object.defineProperty(provider, key, { get: () => get()[key], enumerable: true });
  return provider as RoutstrProvider;
}

/** The default provider, configured from ROUTSTR_KIT_* environment variables and the config file on first use. */
export const routstr: RoutstrProvider = lazyProvider(() => createRoutstr());
