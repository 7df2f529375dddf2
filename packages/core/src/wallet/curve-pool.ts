/**
 * Curve maths off the event loop. A swap's blinding, unblinding and DLEQ checks are pure-JS
 * secp256k1 (noble) inside cashu-ts, several milliseconds per output: on the wallet's thread they
 * serialise every request of a node behind one core. The pool runs cashu-ts's own swap calls in a
 * few worker threads instead (curve-worker.ts), started when first needed and ended by close().
 *
 * The money rules do not move: the worker's NUT-13 counters are reserved by the wallet's own durable
 * counter source (a message round trip), the preview comes back to the wallet, which journals the
 * operation (write-ahead) before it asks a worker to complete the swap, and the proofs come back to
 * the wallet to be stored. A worker holds nothing a crash could lose.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type {
  CounterSource,
  OutputConfig,
  OutputType,
  ProofLike,
  ReceiveConfig,
  SendConfig,
  SendResponse,
  SwapPreview,
  Wallet as CashuWallet,
} from '@cashu/cashu-ts';
import { WalletError } from './errors.ts';
import type { CurveWorkerData } from './curve-worker.ts';
import {
  errorFromWire,
  errorToWire,
  previewFromWire,
  previewToWire,
  proofsFromWire,
  proofsToWire,
  type FromWorker,
  type SwapCall,
  type ToWorker,
  type WireMint,
  type WirePrepared,
  type WireSwapResult,
} from './swap-wire.ts';

/** A mint's swap calls, cashu-ts's names and shapes: in this thread or through the curve pool. */
export interface SwapMaths {
  prepareSwapToReceive(inputs: ProofLike[], config?: ReceiveConfig, outputType?: OutputType): Promise<SwapPreview>;
  prepareSwapToSend(amount: number, inputs: ProofLike[], config?: SendConfig, outputConfig?: OutputConfig): Promise<SwapPreview>;
  completeSwap(preview: SwapPreview): Promise<SendResponse>;
}

/** Default pool size: one worker per spare core, at most 4 (a swap rarely has more outputs than that in flight). */
export function defaultCurveWorkers(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

/** The worker file beside this module: .ts in the workspace (Node strips the types), .js in the built package. */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './curve-worker.ts' : './curve-worker.js', import.meta.url);

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** One worker thread, its calls in flight and the mints it has been told about. */
interface PoolWorker {
  thread: Worker;
  pending: Map<number, Pending>;
  knownMints: Set<string>;
}

/** A mint as the pool names it to its workers: its URL, and how to describe it to a worker that has not met it. */
interface MintRef {
  url: string;
  describe: () => WireMint;
}

/** Output types whose data cannot cross a thread boundary (factories, prebuilt OutputData) run in this thread. */
const portable = (type: OutputType | undefined): boolean => type === undefined || ['random', 'deterministic', 'p2pk'].includes(type.type);

/** A wallet's curve workers: at most `size`, started one at a time as calls find the others busy. */
export class CurvePool {
  private readonly size: number;
  private readonly seed: Uint8Array;
  private readonly counterSource: CounterSource;
  private readonly workers: PoolWorker[] = [];
  private nextCall = 0;
  private closed = false;

  constructor(options: { size: number; seed: Uint8Array; counterSource: CounterSource }) {
    if (!Number.isSafeInteger(options.size) || options.size < 1) throw new WalletError('invalid_option', `curve pool size must be a positive integer, got ${options.size}`);
    this.size = options.size;
    this.seed = options.seed;
    this.counterSource = options.counterSource;
  }

  /** Worker threads running now (they start on first use). */
  get started(): number {
    return this.workers.length;
  }

  /** The swap calls of the mint `cashu` talks to, run in this pool (onCountersReserved still fires in this thread). */
  swapsFor(cashu: CashuWallet): SwapMaths {
    const local: SwapMaths = cashu; // cashu-ts's own calls, in this thread
    // Keys and mint info are copied to a worker once, on its first call for this mint.
    const mint: MintRef = { url: cashu.mint.mintUrl, describe: () => ({ url: cashu.mint.mintUrl, info: cashu.getMintInfo().cache, keys: cashu.keyChain.cache }) };
    const prepare = async (call: SwapCall, onCounters: ReceiveConfig['onCountersReserved']): Promise<SwapPreview> => {
      const wire = (await this.call(mint, call)) as WirePrepared;
      // The reservations themselves were made (durably) by our counter source; the caller journals them here.
      for (const c of wire.counters) onCounters?.(c);
      return previewFromWire(wire.preview);
    };
    return {
      prepareSwapToReceive: (inputs, config = {}, outputType) => {
        if (config.privkey !== undefined || !portable(outputType)) return local.prepareSwapToReceive(inputs, config, outputType);
        const { onCountersReserved, ...rest } = config;
        return prepare({ op: 'receive', inputs: proofsToWire(inputs), config: rest, ...(outputType ? { outputType } : {}) }, onCountersReserved);
      },
      prepareSwapToSend: (amount, inputs, config = {}, outputConfig) => {
        if (config.privkey !== undefined || !portable(outputConfig?.send) || !portable(outputConfig?.keep)) {
          return local.prepareSwapToSend(amount, inputs, config, outputConfig);
        }
        const { onCountersReserved, ...rest } = config;
        return prepare({ op: 'send', amount, inputs: proofsToWire(inputs), config: rest, ...(outputConfig ? { outputConfig } : {}) }, onCountersReserved);
      },
      completeSwap: async (preview) => {
        const wire = (await this.call(mint, { op: 'complete', preview: previewToWire(preview) })) as WireSwapResult;
        return { keep: proofsFromWire(wire.keep), send: proofsFromWire(wire.send) };
      },
    };
  }

  /** Ends every worker; calls still in flight fail (their operations stay journaled for recovery). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.workers.splice(0)) {
      this.failAll(w, new WalletError('wallet_closed', 'the wallet was closed while a swap was in flight'));
      void w.thread.terminate();
    }
  }

  private call(mint: MintRef, call: SwapCall): Promise<unknown> {
    if (this.closed) return Promise.reject(new WalletError('wallet_closed', 'the wallet is closed'));
    const worker = this.pick();
    const id = this.nextCall++;
    const message: ToWorker = { kind: 'call', id, mint: mint.url, call, ...(worker.knownMints.has(mint.url) ? {} : { mintData: mint.describe() }) };
    return new Promise((resolve, reject) => {
      try {
        worker.thread.postMessage(message);
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error))); // e.g. a value that cannot be cloned
        return;
      }
      worker.knownMints.add(mint.url);
      // A worker keeps the process alive only while it has calls to answer.
      if (worker.pending.size === 0) worker.thread.ref();
      worker.pending.set(id, { resolve, reject });
    });
  }

  /** An idle worker, else a new one while under `size`, else the least busy. */
  private pick(): PoolWorker {
    let best: PoolWorker | undefined;
    for (const w of this.workers) if (!best || w.pending.size < best.pending.size) best = w;
    if (best && (best.pending.size === 0 || this.workers.length >= this.size)) return best;
    return this.start();
  }

  private start(): PoolWorker {
    const data: CurveWorkerData = { seed: this.seed };
    const thread = new Worker(WORKER_URL, { workerData: data });
    thread.unref();
    const worker: PoolWorker = { thread, pending: new Map(), knownMints: new Set() };
    thread.on('message', (message: FromWorker) => this.onMessage(worker, message));
    // A lost worker is the wallet's trouble, not the token's: callers must not read it as an unreadable token.
    thread.on('error', (error) => this.lose(worker, new WalletError('curve_worker_lost', `curve worker failed: ${error.message}`, { cause: error })));
    thread.on('exit', (code) => this.lose(worker, new WalletError('curve_worker_lost', `curve worker exited (code ${code})`)));
    this.workers.push(worker);
    return worker;
  }

  private onMessage(worker: PoolWorker, message: FromWorker): void {
    if (message.kind === 'counter') {
      void this.answerCounter(worker, message.id, message.method, message.args);
      return;
    }
    const pending = worker.pending.get(message.id);
    if (!pending) return;
    worker.pending.delete(message.id);
    if (worker.pending.size === 0) worker.thread.unref();
    if (message.kind === 'result') pending.resolve(message.value);
    else pending.reject(errorFromWire(message.error));
  }

  private async answerCounter(worker: PoolWorker, id: number, method: string, args: unknown[]): Promise<void> {
    const source = this.counterSource as unknown as Record<string, ((...a: unknown[]) => Promise<unknown>) | undefined>;
    try {
      const fn = source[method];
      if (!fn) throw new Error(`counter source has no ${method}`);
      const value = await fn.apply(this.counterSource, args);
      worker.thread.postMessage({ kind: 'counter', id, ok: true, value } satisfies ToWorker);
    } catch (error) {
      worker.thread.postMessage({ kind: 'counter', id, ok: false, error: errorToWire(error) } satisfies ToWorker);
    }
  }

  /** A worker died: its calls fail (the wallet's tryResolve/recovery settles them) and it leaves the pool. */
  private lose(worker: PoolWorker, error: Error): void {
    const at = this.workers.indexOf(worker);
    if (at >= 0) this.workers.splice(at, 1);
    this.failAll(worker, error);
  }

  private failAll(worker: PoolWorker, error: Error): void {
    for (const p of worker.pending.values()) p.reject(error);
    worker.pending.clear();
  }
}
