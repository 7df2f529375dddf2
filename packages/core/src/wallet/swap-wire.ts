/**
 * What crosses between the wallet's thread and its curve workers (see curve-pool.ts): cashu-ts swap
 * previews, proofs and errors as plain, structured-clone-safe data, and back. No curve maths here:
 * OutputData is (de)serialized with cashu-ts's own functions, which only copy numbers and bytes.
 */
import {
  Amount,
  MintOperationError,
  normalizeProofAmounts,
  OutputData,
  type GetInfoResponse,
  type KeyChainCache,
  type OperationCounters,
  type OutputConfig,
  type OutputType,
  type Proof,
  type ProofLike,
  type ReceiveConfig,
  type SendConfig,
  type SendResponse,
  type SerializedOutputData,
  type SwapPreview,
} from '@cashu/cashu-ts';

/** A proof with a plain number amount (sats). */
export type WireProof = Omit<Proof, 'amount'> & { amount: number };

/** A cashu-ts SwapPreview as plain data: amounts as decimal strings, outputs serialized. */
export interface WirePreview {
  amount: string;
  fees: string;
  keysetId: string;
  inputs: WireProof[];
  sendOutputs?: SerializedOutputData[];
  keepOutputs?: SerializedOutputData[];
  unselectedProofs?: WireProof[];
}

/** A prepared swap and the NUT-13 counter ranges its outputs took (cashu-ts's onCountersReserved reports). */
export interface WirePrepared {
  preview: WirePreview;
  counters: OperationCounters[];
}

/** A completed swap's proofs. */
export interface WireSwapResult {
  keep: WireProof[];
  send: WireProof[];
}

/** What a worker needs to build a cashu-ts wallet for one mint without asking the mint. */
export interface WireMint {
  url: string;
  info: GetInfoResponse;
  keys: KeyChainCache;
}

/** An error thrown in a worker, as data (MintOperationError keeps its NUT code). */
export interface WireError {
  name: string;
  message: string;
  code?: number;
}

/** The swap calls a worker runs; callbacks (onCountersReserved) stay in the wallet's thread. */
export type SwapCall =
  | { op: 'receive'; inputs: WireProof[]; config: Omit<ReceiveConfig, 'onCountersReserved' | 'privkey'>; outputType?: OutputType }
  | { op: 'send'; amount: number; inputs: WireProof[]; config: Omit<SendConfig, 'onCountersReserved' | 'privkey'>; outputConfig?: OutputConfig }
  | { op: 'complete'; preview: WirePreview };

/** Messages from the wallet's thread to a worker. */
export type ToWorker =
  | { kind: 'call'; id: number; mint: string; mintData?: WireMint; call: SwapCall }
  | { kind: 'counter'; id: number; ok: true; value: unknown }
  | { kind: 'counter'; id: number; ok: false; error: WireError };

/** Messages from a worker to the wallet's thread. */
export type FromWorker =
  | { kind: 'result'; id: number; value: WirePrepared | WireSwapResult }
  | { kind: 'error'; id: number; error: WireError }
  /** A NUT-13 counter-source call, answered by the wallet's own (durable) counter source. */
  | { kind: 'counter'; id: number; method: CounterMethod; args: unknown[] };

/** The CounterSource methods a worker's cashu-ts wallet may call. */
export type CounterMethod = 'reserve' | 'reserveAt' | 'advanceToAtLeast' | 'snapshot' | 'setNext';

const amountOf = (value: { toString(): string } | number): number => Number(value.toString());

/** Proofs with plain number amounts. */
export function proofsToWire(proofs: readonly ProofLike[]): WireProof[] {
  return proofs.map((p) => ({ ...p, amount: amountOf(p.amount) }));
}

/** Wire proofs as cashu-ts Proofs. */
export function proofsFromWire(proofs: readonly WireProof[]): Proof[] {
  return normalizeProofAmounts([...proofs]);
}

/** A SwapPreview as plain data. */
export function previewToWire(preview: SwapPreview): WirePreview {
  return {
    amount: preview.amount.toString(),
    fees: preview.fees.toString(),
    keysetId: preview.keysetId,
    inputs: proofsToWire(preview.inputs),
    ...(preview.sendOutputs ? { sendOutputs: preview.sendOutputs.map((o) => OutputData.serialize(o)) } : {}),
    ...(preview.keepOutputs ? { keepOutputs: preview.keepOutputs.map((o) => OutputData.serialize(o)) } : {}),
    ...(preview.unselectedProofs ? { unselectedProofs: proofsToWire(preview.unselectedProofs) } : {}),
  };
}

/** Plain data back into a SwapPreview cashu-ts can complete. */
export function previewFromWire(wire: WirePreview): SwapPreview {
  return {
    amount: Amount.from(wire.amount),
    fees: Amount.from(wire.fees),
    keysetId: wire.keysetId,
    inputs: proofsFromWire(wire.inputs),
    ...(wire.sendOutputs ? { sendOutputs: wire.sendOutputs.map((o) => OutputData.deserialize(o)) } : {}),
    ...(wire.keepOutputs ? { keepOutputs: wire.keepOutputs.map((o) => OutputData.deserialize(o)) } : {}),
    ...(wire.unselectedProofs ? { unselectedProofs: proofsFromWire(wire.unselectedProofs) } : {}),
  };
}

/** A completed swap's proofs as plain data. */
export function swapResultToWire(result: SendResponse): WireSwapResult {
  return { keep: proofsToWire(result.keep), send: proofsToWire(result.send) };
}

/** Any thrown value as data. */
export function errorToWire(error: unknown): WireError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const code = (error as { code?: unknown }).code;
  return { name: error.name, message: error.message, ...(typeof code === 'number' ? { code } : {}) };
}

/** Data back into an Error; a mint's NUT error becomes a MintOperationError again (mapMintError reads its code). */
export function errorFromWire(wire: WireError): Error {
  if (wire.name === 'MintOperationError' && wire.code !== undefined) return new MintOperationError(wire.code, wire.message);
  const error = new Error(wire.message);
  error.name = wire.name;
  return error;
}
