/**
 * Samples what the node knows about its load: its own counters, vLLM `/metrics` and Ollama
 * `/api/ps` of every engine replica, and nvidia-smi, and blends them into one utilisation figure.
 * Replicas are combined as one engine with the sum of their slots: running and waiting requests
 * are summed (the node's capacity is the total over replicas, so busy ÷ capacity is total-busy ÷
 * total-capacity), KV-cache usage is the mean over the replicas that report it. A max instead
 * would price the whole node as saturated when one replica is while the router sends the next
 * request to an idle one. A source that fails is reported (once per distinct failure) and left out
 * of that sample; a missing nvidia-smi is reported once and never tried again.
 */
import {
  blendUtilisation,
  parseOllamaPs,
  parseVllmMetrics,
  readNvidiaSmi,
  type GpuReading,
  type LoadSignals,
  type OllamaLoad,
  type Utilisation,
  type VllmLoad,
} from '../telemetry/index.ts';
import type { NodeLoad } from './price-board.ts';

export type TelemetrySource = 'vllm' | 'ollama' | 'nvidia-smi';

/** Where to read telemetry from. */
export interface TelemetryOptions {
  /** vLLM's Prometheus endpoints, one per engine replica, e.g. `http://127.0.0.1:8000/metrics`. */
  vllmMetricsUrls?: readonly string[];
  /** Ollama base URLs, one per replica (`/api/ps` is appended). */
  ollamaUrls?: readonly string[];
  /** true runs `nvidia-smi` from PATH (the GPUs of the node's own host); a string names the binary. */
  nvidiaSmi?: boolean | string;
}

/** One replica's engine reading in a sample (absent fields: that read failed). */
export interface ReplicaReading {
  url: string;
  vllm?: VllmLoad;
  ollama?: OllamaLoad;
  /** This replica's generation tokens/s since the previous reading (vLLM), when it was busy at both ends. */
  tokensPerSecond?: number;
}

/** One sample of everything the monitor read. */
export interface LoadReading {
  /** Unix ms. */
  at: number;
  node: { capacity: number; inFlight: number; queued: number; rejectedRecently: number };
  /** The replicas' vLLM readings combined (see the module doc). */
  vllm?: VllmLoad;
  /** The replicas' Ollama readings combined. */
  ollama?: OllamaLoad;
  /** Each replica's own reading, in configuration order. */
  replicas?: ReplicaReading[];
  gpus?: GpuReading[];
  utilisation: Utilisation;
  /** Whether anything was being generated (node or engine). */
  busy: boolean;
  /** Generation tokens/s since the previous reading, from vLLM's counters (summed over replicas), when busy. */
  tokensPerSecond?: number;
  /** Sum of the GPUs' power draw, watts. */
  powerWatts?: number;
  /** Sum of the GPUs' power limits, watts. */
  powerLimitWatts?: number;
  /** Sources that failed in this sample. */
  errors: { source: TelemetrySource; url?: string; message: string }[];
}

export interface LoadMonitorOptions {
  load: NodeLoad;
  telemetry?: TelemetryOptions;
  /** Window for counting 429s as unmet demand (default 10 s). */
  rejectedWindowMs?: number;
  /** Unix ms. */
  clock?: () => number;
  /** Where failures are reported (default console.warn). */
  log?: (message: string) => void;
  /** Per-source read timeout (default 2 s). */
  timeoutMs?: number;
}

function sum(values: (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length > 0 ? known.reduce((a, b) => a + b, 0) : undefined;
}

/**
 * A reading from its parts: the replicas' engine loads combined (combineVllm / combineOllama), their
 * tokens/s and the GPUs' power summed, utilisation blended from the combined signals. One process's
 * sample and the cluster's combination (cluster-load.ts) both end here, so they cannot drift apart.
 */
export function readingOf(parts: { at: number; node: LoadReading['node']; replicas: readonly ReplicaReading[]; gpus?: GpuReading[]; errors: LoadReading['errors'] }): LoadReading {
  const { at, node, gpus, errors } = parts;
  const replicas = [...parts.replicas];
  const vllm = combineVllm(replicas.map((r) => r.vllm));
  const ollama = combineOllama(replicas.map((r) => r.ollama));
  const signals: LoadSignals = {
    ...node,
    ...(vllm ? { engine: { running: vllm.running, waiting: vllm.waiting, ...(vllm.kvCacheUsage !== undefined ? { kvCacheUsage: vllm.kvCacheUsage } : {}) } } : {}),
    ...(gpus ? { gpus } : {}),
  };
  const tokensPerSecond = sum(replicas.map((r) => r.tokensPerSecond));
  const powerWatts = gpus ? sum(gpus.map((g) => g.powerDrawW)) : undefined;
  const powerLimitWatts = gpus ? sum(gpus.map((g) => g.powerLimitW)) : undefined;
  return {
    at,
    node,
    ...(vllm ? { vllm } : {}),
    ...(ollama ? { ollama } : {}),
    ...(replicas.length > 0 ? { replicas } : {}),
    ...(gpus ? { gpus } : {}),
    utilisation: blendUtilisation(signals),
    busy: node.inFlight > 0 || (vllm?.running ?? 0) > 0,
    ...(tokensPerSecond !== undefined ? { tokensPerSecond } : {}),
    ...(powerWatts !== undefined ? { powerWatts } : {}),
    ...(powerLimitWatts !== undefined ? { powerLimitWatts } : {}),
    errors,
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Reads the load signals on demand; keeps the previous vLLM counter to measure throughput. */
export class LoadMonitor {
  private readonly options: LoadMonitorOptions;
  private readonly clock: () => number;
  private readonly log: (message: string) => void;
  private nvidiaSmiDisabled = false;
  /** Last failure reported per source and URL (`vllm http://…`), so a lasting one is logged once. */
  private readonly lastReported = new Map<string, string>();
  /** vLLM's generation counter at the previous reading, per metrics URL. */
  private readonly previousCounters = new Map<string, { at: number; generated: number; busy: boolean }>();

  constructor(options: LoadMonitorOptions) {
    this.options = options;
    this.clock = options.clock ?? Date.now;
    this.log = options.log ?? ((m) => console.warn(m));
  }

  /** Takes one sample of every configured source. */
  async sample(): Promise<LoadReading> {
    const { load, telemetry = {} } = this.options;
    const timeoutMs = this.options.timeoutMs ?? 2_000;
    const errors: LoadReading['errors'] = [];
    const attempt = async <T>(source: TelemetrySource, url: string, read: () => Promise<T>): Promise<T | undefined> => {
      const key = `${source} ${url}`;
      try {
        const value = await read();
        this.lastReported.delete(key);
        return value;
      } catch (error) {
        const message = messageOf(error);
        errors.push({ source, url, message });
        if (this.lastReported.get(key) !== message) {
          this.lastReported.set(key, message);
          this.log(`market maker: ${source} telemetry of ${url} failed: ${message}`);
        }
        return undefined;
      }
    };
    const smi = telemetry.nvidiaSmi;
    const vllmUrls = telemetry.vllmMetricsUrls ?? [];
    const ollamaUrls = telemetry.ollamaUrls ?? [];
    const [vllms, ollamas, gpus] = await Promise.all([
      Promise.all(vllmUrls.map((url) => attempt('vllm', url, async () => parseVllmMetrics(await fetchText(url, timeoutMs))))),
      Promise.all(ollamaUrls.map((url) => attempt('ollama', url, async () => parseOllamaPs(JSON.parse(await fetchText(new URL('/api/ps', url).href, timeoutMs)))))),
      smi && !this.nvidiaSmiDisabled ? this.readGpus(typeof smi === 'string' ? smi : undefined, timeoutMs, errors) : undefined,
    ]);
    const at = this.clock();
    const node = {
      capacity: load.capacity,
      inFlight: load.inFlight,
      queued: load.queued,
      rejectedRecently: load.rejectedRecently(this.options.rejectedWindowMs ?? 10_000),
    };
    const perReplica = this.throughput(at, vllmUrls, vllms, node.inFlight > 0);
    const replicas: ReplicaReading[] = [
      ...vllmUrls.map((url, i) => ({ url, ...(vllms[i] ? { vllm: vllms[i] } : {}), ...(perReplica.has(url) ? { tokensPerSecond: perReplica.get(url) as number } : {}) })),
      ...ollamaUrls.map((url, i) => ({ url, ...(ollamas[i] ? { ollama: ollamas[i] } : {}) })),
    ];
    return readingOf({ at, node, replicas, ...(gpus ? { gpus } : {}), errors });
  }

  private async readGpus(binary: string | undefined, timeoutMs: number, errors: LoadReading['errors']): Promise<GpuReading[] | undefined> {
    try {
      const gpus = await readNvidiaSmi({ ...(binary ? { binary } : {}), signal: AbortSignal.timeout(timeoutMs) });
      this.lastReported.delete('nvidia-smi');
      return gpus;
    } catch (error) {
      const message = messageOf(error);
      errors.push({ source: 'nvidia-smi', message });
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        // No GPU tooling on this machine: say so once, then price without it.
        this.nvidiaSmiDisabled = true;
        this.log(`market maker: nvidia-smi not found (${binary ?? 'nvidia-smi'}); GPU telemetry off`);
      } else if (this.lastReported.get('nvidia-smi') !== message) {
        this.lastReported.set('nvidia-smi', message);
        this.log(`market maker: nvidia-smi telemetry failed: ${message}`);
      }
      return undefined;
    }
  }

  /**
   * Tokens/s since the previous reading, per replica that generated in between; a replica counts
   * only when busy at both ends, so idle time does not read as slowness.
   */
  private throughput(at: number, urls: readonly string[], readings: readonly (VllmLoad | undefined)[], nodeBusy: boolean): Map<string, number> {
    const perUrl = new Map<string, number>();
    urls.forEach((url, i) => {
      const reading = readings[i];
      if (!reading) return;
      const busy = nodeBusy || reading.running > 0;
      const previous = this.previousCounters.get(url);
      this.previousCounters.set(url, { at, generated: reading.generationTokensTotal, busy });
      if (!previous || !busy || !previous.busy) return;
      const seconds = (at - previous.at) / 1000;
      const tokens = reading.generationTokensTotal - previous.generated;
      // a counter that went back means the engine restarted
      if (!(seconds > 0) || !(tokens > 0)) return;
      perUrl.set(url, tokens / seconds);
    });
    return perUrl;
  }

  /** Whether nvidia-smi was found missing and is no longer run. */
  get nvidiaSmiOff(): boolean {
    return this.nvidiaSmiDisabled;
  }
}

/** The replicas' vLLM loads as one engine: counts summed, KV-cache usage averaged, asleep when all are. */
export function combineVllm(readings: readonly (VllmLoad | undefined)[]): VllmLoad | undefined {
  const known = readings.filter((r): r is VllmLoad => r !== undefined);
  if (known.length === 0) return undefined;
  if (known.length === 1) return known[0];
  const kv = known.map((r) => r.kvCacheUsage).filter((v): v is number => v !== undefined);
  return {
    running: known.reduce((a, r) => a + r.running, 0),
    waiting: known.reduce((a, r) => a + r.waiting, 0),
    ...(kv.length > 0 ? { kvCacheUsage: kv.reduce((a, b) => a + b, 0) / kv.length } : {}),
    promptTokensTotal: known.reduce((a, r) => a + r.promptTokensTotal, 0),
    generationTokensTotal: known.reduce((a, r) => a + r.generationTokensTotal, 0),
    asleep: known.every((r) => r.asleep),
  };
}

/** The replicas' Ollama loads as one: every loaded model, the GPU share over all their bytes. */
export function combineOllama(readings: readonly (OllamaLoad | undefined)[]): OllamaLoad | undefined {
  const known = readings.filter((r): r is OllamaLoad => r !== undefined);
  if (known.length === 0) return undefined;
  if (known.length === 1) return known[0];
  const loaded = known.flatMap((r) => r.loaded);
  const size = loaded.reduce((a, m) => a + m.sizeBytes, 0);
  const vram = loaded.reduce((a, m) => a + m.vramBytes, 0);
  return { loaded, gpuFraction: size === 0 ? 1 : Math.min(1, vram / size) };
}

async function fetchText(url: string, timeoutMs: number): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return response.text();
}
