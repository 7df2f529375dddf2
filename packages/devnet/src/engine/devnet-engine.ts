// The devnet's engine: the embedded llama.cpp engine serving the generated tiny model unless told otherwise.
import { startEngine as startLlamaEngine, type EngineOptions as LlamaEngineOptions, type EngineFlavour, type RunningEngine } from '@routstr-kit/llama-engine';
import { ensureTinyModel } from './tiny-model.ts';

export interface EngineOptions extends Omit<LlamaEngineOptions, 'modelPath'> {
  /** GGUF to serve; default: the generated tiny model (see ensureTinyModel). */
  modelPath?: string;
  /** Cache folder for the generated model (see ensureTinyModel). */
  cacheDir?: string;
}

function tinyModelName(flavour: EngineFlavour): string {
  return flavour === 'ollama' ? 'tiny-llama:latest' : 'tiny-llama';
}

/** Starts an engine on loopback (the tiny model, served as 'tiny-llama', by default); resolves once it is listening. */
export async function startEngine(options: EngineOptions = {}): Promise<RunningEngine> {
  const { cacheDir, modelPath, ...rest } = options;
  const path = modelPath ?? (await ensureTinyModel(cacheDir !== undefined ? { cacheDir } : {}));
  return startLlamaEngine({ ...rest, modelPath: path, modelName: options.modelName ?? tinyModelName(options.flavour ?? 'llama.cpp') });
}
