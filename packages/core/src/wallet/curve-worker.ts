/**
 * A curve worker (see curve-pool.ts): runs cashu-ts's own swap calls — prepareSwapToReceive,
 * prepareSwapToSend (DLEQ checks of inputs, NUT-13 secrets, blinding) and completeSwap (the mint
 * call, DLEQ checks of the signatures, unblinding) — off the wallet's event loop. It holds no money
 * state: NUT-13 counters are reserved by the wallet's own durable counter source over messages, and
 * every preview travels back to the wallet, which journals it before asking for the swap.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { Wallet, type CounterRange, type CounterSource, type OperationCounters, type SwapPreview } from '@cashu/cashu-ts';
import {
  errorFromWire,
  errorToWire,
  previewFromWire,
  previewToWire,
  proofsFromWire,
  swapResultToWire,
  type CounterMethod,
  type FromWorker,
  type SwapCall,
  type ToWorker,
  type WireMint,
  type WirePrepared,
  type WireSwapResult,
} from './swap-wire.ts';

/** What the pool hands a worker when it starts it. */
export interface CurveWorkerData {
  /** BIP-39 seed of the wallet (deterministic NUT-13 secrets). */
  seed: Uint8Array;
}

/** Answers swap calls on `port` until the pool terminates this thread. */
function serve(port: MessagePort, data: CurveWorkerData): void {
  const post = (message: FromWorker): void => port.postMessage(message);
  const counterCalls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextCounterCall = 0;
  const askCounter = (method: CounterMethod, args: unknown[]): Promise<unknown> =>
    new Promise((resolve, reject) => {
      const id = nextCounterCall++;
      counterCalls.set(id, { resolve, reject });
      post({ kind: 'counter', id, method, args });
    });
  // The wallet's counter source, reached over messages: reservations stay durable in its store.
  const counterSource: CounterSource = {
    reserve: (keysetId, n) => askCounter('reserve', [keysetId, n]) as Promise<CounterRange>,
    reserveAt: (keysetId, start, count) => askCounter('reserveAt', [keysetId, start, count]) as Promise<CounterRange>,
    advanceToAtLeast: async (keysetId, minNext) => void (await askCounter('advanceToAtLeast', [keysetId, minNext])),
    snapshot: () => askCounter('snapshot', []) as Promise<Record<string, number>>,
    setNext: async (keysetId, next) => void (await askCounter('setNext', [keysetId, next])),
  };
  const wallets = new Map<string, Wallet>();
  const walletFor = (url: string, mintData: WireMint | undefined): Wallet => {
    if (mintData) {
      const wallet = new Wallet(mintData.url, { unit: 'sat', bip39seed: data.seed, counterSource, secretsPolicy: 'deterministic' });
      wallet.loadMintFromCache(mintData.info, mintData.keys);
      wallets.set(url, wallet);
    }
    const wallet = wallets.get(url);
    if (!wallet) throw new Error(`curve worker: mint ${url} was never described to this worker`);
    return wallet;
  };
  const prepared = async (prepare: (onCountersReserved: (c: OperationCounters) => void) => Promise<SwapPreview>): Promise<WirePrepared> => {
    const counters: OperationCounters[] = [];
    const preview = await prepare((c) => counters.push(c));
    return { preview: previewToWire(preview), counters };
  };
  const run = async (wallet: Wallet, call: SwapCall): Promise<WirePrepared | WireSwapResult> => {
    switch (call.op) {
      case 'receive':
        return prepared((onCountersReserved) => wallet.prepareSwapToReceive(proofsFromWire(call.inputs), { ...call.config, onCountersReserved }, call.outputType));
      case 'send':
        return prepared((onCountersReserved) => wallet.prepareSwapToSend(call.amount, proofsFromWire(call.inputs), { ...call.config, onCountersReserved }, call.outputConfig));
      case 'complete':
        return swapResultToWire(await wallet.completeSwap(previewFromWire(call.preview)));
    }
  };
  port.on('message', (message: ToWorker) => {
    if (message.kind === 'counter') {
      const pending = counterCalls.get(message.id);
      counterCalls.delete(message.id);
      if (message.ok) pending?.resolve(message.value);
      else pending?.reject(errorFromWire(message.error));
      return;
    }
    const { id } = message;
    void (async () => run(walletFor(message.mint, message.mintData), message.call))().then(
      (value) => post({ kind: 'result', id, value }),
      (error: unknown) => post({ kind: 'error', id, error: errorToWire(error) }),
    );
  });
}

if (parentPort) serve(parentPort, workerData as CurveWorkerData);
