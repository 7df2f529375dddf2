// Devnet inference engine: the embedded llama.cpp engine (@routstr-kit/llama-engine) over a tiny generated GGUF.
export { startEngine, type EngineOptions } from './devnet-engine.ts';
export {
  DEFAULT_MAX_TOKENS,
  EngineRequestError,
  renderChatPrompt,
  TINY_CHAT_TEMPLATE,
  boundJsonSchema,
  DEFAULT_MAX_ITEMS,
  DEFAULT_MAX_STRING_LENGTH,
  type RunningEngine,
  type EngineFlavour,
  type EngineState,
  type EngineErrorCode,
  type PromptMessage,
} from '@routstr-kit/llama-engine';
export {
  ensureTinyModel,
  buildTinyModelGguf,
  buildTinyVocab,
  defaultCacheDir,
  tinyModelFileName,
  fileSha256,
  sha256Hex,
  TINY_MODEL_SPEC,
  type TinyModelOptions,
} from './tiny-model.ts';
export { encodeGguf, type GgufTensor, type GgufValue } from './gguf-writer.ts';
