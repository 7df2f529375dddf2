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
import { blendUtilisation, type GpuReading, type LoadSignals } from '../telemetry/index.ts';
import { combineOllama, combineVllm, type LoadReading, type ReplicaReading } from './load-monitor.ts';

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

function sumOf(values: readonly (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length > 0 ? known.reduce((a, b) => a + b, 0) : undefined;
}

/** The cluster's reading from the fresh rows (see the module doc); `rows` must hold at least one. */
export function combineClusterLoad(rows: readonly ProcessLoad[], at: number): LoadReading {
  if (rows.length === 0) throw new RangeError('no process load to combine');
  const node = { capacity: 0, inFlight: 0, queued: 0, rejectedRecently: 0 };
  const replicas = new Map<string, { at: number; value: ReplicaReading }>();
  const gpus = new Map<string, { at: number; value: GpuReading }>();
  const errors: LoadReading['errors'] = [];
  let busy = false;
  for (const row of rows) {
    const r = row.reading;
    node.capacity += r.node.capacity;
    node.inFlight += r.node.inFlight;
    node.queued += r.node.queued;
    node.rejectedRecently += r.node.rejectedRecently;
    busy ||= r.node.inFlight > 0;
    for (const replica of r.replicas ?? []) freshest(replicas, `${replica.vllm || !replica.ollama ? 'vllm' : 'ollama'} ${replica.url}`, r.at, replica);
    (r.gpus ?? []).forEach((gpu, i) => freshest(gpus, gpu.uuid ?? `${row.processId}#${gpu.index ?? i}`, r.at, gpu));
    errors.push(...r.errors);
  }
  const distinct = [...replicas.values()].map((e) => e.value);
  const vllm = combineVllm(distinct.map((x) => x.vllm));
  const ollama = combineOllama(distinct.map((x) => x.ollama));
  const gpuList = [...gpus.values()].map((e) => e.value);
  busy ||= (vllm?.running ?? 0) > 0;
  const signals: LoadSignals = {
    ...node,
    ...(vllm ? { engine: { running: vllm.running, waiting: vllm.waiting, ...(vllm.kvCacheUsage !== undefined ? { kvCacheUsage: vllm.kvCacheUsage } : {}) } } : {}),
    ...(gpuList.length > 0 ? { gpus: gpuList } : {}),
  };
  const tokensPerSecond = sumOf(distinct.map((x) => x.tokensPerSecond));
  const powerWatts = sumOf(gpuList.map((g) => g.powerDrawW));
  const powerLimitWatts = sumOf(gpuList.map((g) => g.powerLimitW));
  return {
    at,
    node,
    ...(vllm ? { vllm } : {}),
    ...(ollama ? { ollama } : {}),
    ...(distinct.length > 0 ? { replicas: distinct } : {}),
    ...(gpuList.length > 0 ? { gpus: gpuList } : {}),
    utilisation: blendUtilisation(signals),
    busy,
    ...(tokensPerSecond !== undefined ? { tokensPerSecond } : {}),
    ...(powerWatts !== undefined ? { powerWatts } : {}),
    ...(powerLimitWatts !== undefined ? { powerLimitWatts } : {}),
    errors,
  };
}
