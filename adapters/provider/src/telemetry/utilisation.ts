import type { GpuReading } from './nvidia-smi.ts';

/** Everything the node knows about its load at one moment. */
export interface LoadSignals {
  /** Requests the node serves at once (its concurrency limit); > 0. */
  capacity: number;
  /** The node's own requests being served now. */
  inFlight: number;
  /** The node's own requests waiting for a slot. */
  queued: number;
  /** Requests refused with 429 in the recent window: demand that found no room. */
  rejectedRecently: number;
  /** vLLM's view (`/metrics`), when the engine is vLLM. */
  engine?: { running: number; waiting: number; kvCacheUsage?: number };
  /** nvidia-smi readings, when the node can see its GPUs. */
  gpus?: readonly GpuReading[];
}

export interface Utilisation {
  /**
   * 0 = idle, 1 = every resource the node sells is fully used, above 1 = demand is queueing or being
   * refused (1 + queued-and-refused per slot), capped at `MAX_UTILISATION`.
   */
  value: number;
  /** The parts it was made of, for the admin view and logs. */
  parts: { slots: number; gpu?: number; kvCache?: number; queue: number };
}

export const MAX_UTILISATION = 3;

/**
 * Blends the load signals into one utilisation figure:
 * busy = the most loaded of (slots in use ÷ capacity, mean GPU utilization, KV-cache usage), each 0..1;
 * queue = (waiting requests + recent 429s) ÷ capacity, where waiting is the larger of the node's and
 * the engine's queue; utilisation = min(busy + queue, MAX_UTILISATION).
 * The max (not a mean) makes any saturated resource count as saturation; the queue term is what lets
 * the price surge above full load.
 */
export function blendUtilisation(signals: LoadSignals): Utilisation {
  const capacity = Math.max(1, signals.capacity);
  const running = Math.max(signals.inFlight, signals.engine?.running ?? 0);
  const slots = clamp01(running / capacity);
  const gpuValues = (signals.gpus ?? []).map((g) => g.utilization).filter((u): u is number => u !== undefined);
  const gpu = gpuValues.length > 0 ? clamp01(gpuValues.reduce((a, b) => a + b, 0) / gpuValues.length) : undefined;
  const kvCache = signals.engine?.kvCacheUsage !== undefined ? clamp01(signals.engine.kvCacheUsage) : undefined;
  const waiting = Math.max(signals.queued, signals.engine?.waiting ?? 0);
  const queue = (waiting + signals.rejectedRecently) / capacity;
  const busy = Math.max(slots, gpu ?? 0, kvCache ?? 0);
  return {
    value: Math.min(MAX_UTILISATION, busy + queue),
    parts: { slots, ...(gpu !== undefined ? { gpu } : {}), ...(kvCache !== undefined ? { kvCache } : {}), queue },
  };
}

function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}
