// The model, its context (one sequence per concurrent request), the FIFO queue in front of it, and real counters.
import { getLlama, LlamaGrammarEvaluationState, LlamaLogLevel, TokenBias } from 'node-llama-cpp';
import type { Llama, LlamaContext, LlamaContextSequence, LlamaGrammar, LlamaModel, Token } from 'node-llama-cpp';
import { SlotQueue } from './slot-queue.ts';
import { EngineRequestError } from './engine-error.ts';

export type FinishReason = 'stop' | 'length' | 'abort';

export interface EngineState {
  running: number;
  waiting: number;
  promptTokensTotal: number;
  generationTokensTotal: number;
}

export interface GenerationInput {
  promptTokens: Token[];
  maxTokens: number;
  temperature: number;
  topP: number | undefined;
  topK: number | undefined;
  seed: number | undefined;
  stop: readonly string[];
  grammar?: LlamaGrammar | undefined;
  /** Logit bias for the first sampled token only (where a text-or-call grammar makes its choice). */
  firstTokenBias?: { text: string; logit: number } | undefined;
  /** Past maxTokens, generation goes on while this says so (a started tool call must close to be valid). */
  beyondMaxTokens?: ((text: string) => boolean) | undefined;
  signal?: AbortSignal | undefined;
  /** Called with each piece of settled text (never part of a stop string, never half a UTF-8 character). */
  onText?: ((delta: string) => void) | undefined;
}

export interface GenerationResult {
  text: string;
  /** Every sampled token, including a final end-of-generation token: what usage.completion_tokens counts. */
  tokens: Token[];
  finishReason: FinishReason;
  queueSeconds: number;
  firstTokenSeconds: number | undefined;
  totalSeconds: number;
  /** Seconds between consecutive generated tokens. */
  interTokenSeconds: number[];
}

export interface CoreOptions {
  modelPath: string;
  maxConcurrency: number;
  /** Tokens per sequence (prompt + output). */
  contextSize: number;
}

let llamaPromise: Promise<Llama> | undefined;
/** One CPU-only llama.cpp runtime per process; the prebuilt binary is used, never a source build. */
function sharedLlama(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  return llamaPromise;
}

/** Longest suffix of `text` that is a proper prefix of some stop string (held back until it resolves). */
function pendingStopPrefix(text: string, stops: readonly string[]): number {
  let best = 0;
  for (const stop of stops) {
    for (let len = Math.min(stop.length - 1, text.length); len > best; len--) {
      if (text.endsWith(stop.slice(0, len))) {
        best = len;
        break;
      }
    }
  }
  return best;
}

export class InferenceCore {
  readonly llama: Llama;
  readonly model: LlamaModel;
  readonly context: LlamaContext;
  readonly contextSize: number;
  readonly maxConcurrency: number;
  private readonly queue: SlotQueue<LlamaContextSequence>;
  private readonly sequences: LlamaContextSequence[];
  private readonly listeners = new Set<(s: EngineState) => void>();
  private promptTokensTotal = 0;
  private generationTokensTotal = 0;
  private readonly finishedListeners = new Set<(r: GenerationResult, promptTokens: number) => void>();

  private constructor(llama: Llama, model: LlamaModel, context: LlamaContext, maxConcurrency: number) {
    this.llama = llama;
    this.model = model;
    this.context = context;
    this.contextSize = context.contextSize;
    this.maxConcurrency = maxConcurrency;
    this.sequences = Array.from({ length: maxConcurrency }, () => context.getSequence());
    this.queue = new SlotQueue(this.sequences, () => this.emit());
  }

  /** Loads the model and creates one context with `maxConcurrency` sequences (1 thread: see docs/components.md §4). */
  static async load(options: CoreOptions): Promise<InferenceCore> {
    const llama = await sharedLlama();
    const model = await llama.loadModel({ modelPath: options.modelPath });
    const context = await model.createContext({
      threads: 1,
      sequences: options.maxConcurrency,
      contextSize: options.contextSize,
      batchSize: Math.min(512, options.contextSize),
    });
    return new InferenceCore(llama, model, context, options.maxConcurrency);
  }

  state(): EngineState {
    return {
      running: this.queue.inUse,
      waiting: this.queue.waiting,
      promptTokensTotal: this.promptTokensTotal,
      generationTokensTotal: this.generationTokensTotal,
    };
  }

  /** Subscribes to running/waiting changes and finished requests; returns an unsubscribe function. */
  onStateChange(listener: (s: EngineState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Subscribes to finished generations (for metrics). */
  onFinished(listener: (r: GenerationResult, promptTokens: number) => void): () => void {
    this.finishedListeners.add(listener);
    return () => this.finishedListeners.delete(listener);
  }

  /** Fraction of the KV cache (all sequences) holding tokens right now. */
  kvCacheUsage(): number {
    const used = this.sequences.reduce((n, s) => n + s.nextTokenIndex, 0);
    return used / (this.contextSize * this.maxConcurrency);
  }

  private emit(): void {
    const s = this.state();
    for (const l of this.listeners) l(s);
  }

  /** Tokenizes text, parsing special tokens such as `<s>` (as the engine does for rendered prompts). */
  tokenize(text: string): Token[] {
    return this.model.tokenize(text, true);
  }

  /** Runs one generation: waits for a free sequence (FIFO), evaluates the prompt, samples until EOS, stop or limit. */
  async generate(input: GenerationInput): Promise<GenerationResult> {
    if (input.promptTokens.length >= this.contextSize) {
      throw new EngineRequestError(
        'context_length_exceeded',
        400,
        `This model's maximum context length is ${this.contextSize} tokens. However, your prompt has ${input.promptTokens.length} tokens.`,
      );
    }
    const contextLeft = this.contextSize - input.promptTokens.length;
    const maxTokens = Math.min(input.maxTokens, contextLeft);
    const queuedAt = performance.now();
    const sequence = await this.queue.acquire(input.signal);
    const startedAt = performance.now();
    const tokens: Token[] = [];
    const interTokenSeconds: number[] = [];
    let firstTokenSeconds: number | undefined;
    let lastTokenAt = startedAt;
    let finishReason: FinishReason = 'length';
    let emitted = 0;
    let text = '';
    try {
      await sequence.clearHistory();
      this.promptTokensTotal += input.promptTokens.length;
      const grammarEvaluationState = input.grammar ? new LlamaGrammarEvaluationState({ model: this.model, grammar: input.grammar }) : undefined;
      const first = input.firstTokenBias;
      const firstBias = first ? TokenBias.for(this.model).set(this.model.tokenize(first.text, false), { logit: first.logit }) : undefined;
      const noBias = new TokenBias(this.model.tokenizer);
      const iterator = sequence.evaluate(input.promptTokens, {
        ...(firstBias ? { tokenBias: () => (tokens.length === 0 ? firstBias : noBias) } : {}),
        temperature: input.temperature,
        ...(input.topP !== undefined ? { topP: input.topP } : {}),
        ...(input.topK !== undefined ? { topK: input.topK } : {}),
        ...(input.seed !== undefined ? { seed: input.seed } : {}),
        ...(grammarEvaluationState ? { grammarEvaluationState } : {}),
        yieldEogToken: true,
      });
      const textTokens: Token[] = [];
      for await (const token of iterator) {
        const now = performance.now();
        if (firstTokenSeconds === undefined) firstTokenSeconds = (now - startedAt) / 1000;
        else interTokenSeconds.push((now - lastTokenAt) / 1000);
        lastTokenAt = now;
        tokens.push(token);
        this.generationTokensTotal += 1;
        if (this.model.isEogToken(token)) {
          finishReason = 'stop';
          break;
        }
        textTokens.push(token);
        text = this.model.detokenize(textTokens);
        const stopAt = firstStop(text, input.stop, Math.max(0, emitted - maxStopLength(input.stop)));
        if (stopAt !== undefined) {
          text = text.slice(0, stopAt);
          finishReason = 'stop';
          break;
        }
        if (input.signal?.aborted) {
          finishReason = 'abort';
          break;
        }
        if (tokens.length >= maxTokens && !(input.beyondMaxTokens?.(text) === true && tokens.length < contextLeft)) break;
        // Hold back a trailing partial UTF-8 character and anything that may still become a stop string.
        let settled = text.length - pendingStopPrefix(text, input.stop);
        while (settled > emitted && text.charCodeAt(settled - 1) === 0xfffd) settled--;
        if (settled > emitted) {
          input.onText?.(text.slice(emitted, settled));
          emitted = settled;
        }
      }
      if (input.signal?.aborted) finishReason = 'abort';
      if (finishReason !== 'abort' && text.length > emitted) input.onText?.(text.slice(emitted));
    } finally {
      // Free the KV cells before the next request takes this sequence; release even if clearing fails.
      await sequence.clearHistory().catch(() => {});
      this.queue.release(sequence);
    }
    const result: GenerationResult = {
      text,
      tokens,
      finishReason,
      queueSeconds: (startedAt - queuedAt) / 1000,
      firstTokenSeconds,
      totalSeconds: (performance.now() - queuedAt) / 1000,
      interTokenSeconds,
    };
    for (const l of this.finishedListeners) l(result, input.promptTokens.length);
    this.emit();
    return result;
  }

  /** Frees the context and model (the process-wide llama runtime stays for other engines). */
  async dispose(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
  }
}

function maxStopLength(stops: readonly string[]): number {
  return stops.reduce((m, s) => Math.max(m, s.length), 0);
}

function firstStop(text: string, stops: readonly string[], from: number): number | undefined {
  let best: number | undefined;
  for (const stop of stops) {
    const i = text.indexOf(stop, from);
    if (i >= 0 && (best === undefined || i < best)) best = i;
  }
  return best;
}
