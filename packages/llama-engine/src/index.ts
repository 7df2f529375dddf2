// The embedded llama.cpp engine: a GGUF served over an OpenAI-compatible API shaped like llama.cpp, vLLM or Ollama.
export { startEngine, DEFAULT_MAX_TOKENS, type EngineOptions, type RunningEngine } from './engine-server.ts';
export type { EngineFlavour } from './openai-shapes.ts';
export type { EngineState } from './inference-core.ts';
export { EngineRequestError, type EngineErrorCode } from './engine-error.ts';
export { renderChatPrompt, TINY_CHAT_TEMPLATE, BOS_TEXT, EOS_TEXT, type PromptMessage } from './chat-prompt.ts';
export { boundJsonSchema, DEFAULT_MAX_ITEMS, DEFAULT_MAX_STRING_LENGTH } from './structured-output.ts';
