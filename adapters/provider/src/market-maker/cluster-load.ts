/**
 * The cluster's load from every node process's own sample (rows of `market_load`).
 *
 * The combination rule:
 * - A row counts while fresh: written less than `staleAfterMs` ago (by the writers' clocks, which the
 *   processes of one provider are assumed to share within a fraction of that window). A process that
 *   died stops counting once its row goes stale; one that stops cleanly deletes its row.
 * - Node counters (capacity, in-flight, queued, recent 429s) are summed: each process admits its own
 *   requests into its own slots, so the cluster's slots are the sum of theirs.
 * - Engine replicas are keyed by URL and each counts once, with the freshest reading of it: processes in
 *   front of the same engines all read the same `/metrics` and `/api/ps`, and summing those would count
 *   one engine once per process. The distinct replicas are then combined as the load monitor combines
 *   one process's replicas (running/waiting summed, KV-cache usage averaged), and their tokens/s summed.
 * - GPUs are keyed by UUID (else by process and index) and each counts once, freshest reading;
 *   power draw and limit are summed over that set.
 * - Utilisation is blended from the combined signals exactly as for one process (`blendUtilisation`).
 */
import type { GpuReading } from '../telemetry/index.ts';
import { readingOf, type LoadReading, type ReplicaReading } from './load-monitor.ts';

/** One process's latest sample as stored. */
export interface ProcessLoad {
  processId: string;
  /** Unix ms when it was written (the writer's clock). */
  at: number;
  reading: LoadReading;
}

function freshest<T>(into: Map<string, { at: number; value: T }>, key: string, at: number, value: T): void {
  const seen = into.get(key);
  if (!seen || seen.at < at) into.set(key, { at, value });
}

/** The cluster's reading from the fresh rows (see the module doc); `rows` must hold at least one. */
export function combineClusterLoad(rows: readonly ProcessLoad[], at: number): LoadReading {
  if (rows.length === 0) throw new RangeError('no process load to combine');
  const node = { capacity: 0, inFlight: 0, queued: 0, rejectedRecently: 0 };
  const replicas = new Map<string, { at: number; value: ReplicaReading }>();
  const gpus = new Map<string, { at: number; value: GpuReading }>();
  const errors: LoadReading['errors'] = [];
  for (const row of rows) {
    const r = row.reading;
    node.capacity += r.node.capacity;
    node.inFlight += r.node.inFlight;
    node.queued += r.node.queued;
    node.rejectedRecently += r.node.rejectedRecently;
    for (const replica of r.replicas ?? []) freshest(replicas, `${replica.vllm || !replica.ollama ? 'vllm' : 'ollama'} ${replica.url}`, r.at, replica);
    (r.gpus ?? []).forEach((gpu, i) => freshest(gpus, gpu.uuid ?? `${row.processId}#${gpu.index ?? i}`, r.at, gpu));
    errors.push(...r.errors);
  }
  const gpuList = [...gpus.values()].map((e) => e.value);
  return readingOf({ at, node, replicas: [...replicas.values()].map((e) => e.value), ...(gpuList.length > 0 ? { gpus: gpuList } : {}), errors });
}
