// Devnet inference engine: a tiny generated GGUF served over an OpenAI-compatible API shaped like llama.cpp, vLLM or Ollama.
export { startEngine, DEFAULT_MAX_TOKENS, type EngineOptions, type RunningEngine } from './engine-server.ts';
export type { EngineFlavour } from './openai-shapes.ts';
export type { EngineState } from './inference-core.ts';
export { EngineRequestError, type EngineErrorCode } from './engine-error.ts';
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
export { renderChatPrompt, TINY_CHAT_TEMPLATE, type PromptMessage } from './chat-prompt.ts';
export { boundJsonSchema, DEFAULT_MAX_ITEMS, DEFAULT_MAX_STRING_LENGTH } from './structured-output.ts';
