/**
 * Samples what the node knows about its load: its own counters, vLLM `/metrics`, Ollama `/api/ps`
 * and nvidia-smi, and blends them into one utilisation figure. A source that fails is reported
 * (once per distinct failure) and left out of that sample; a missing nvidia-smi is reported once
 * and never tried again.
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
  /** vLLM's Prometheus endpoint, e.g. `http://127.0.0.1:8000/metrics`. */
  vllmMetricsUrl?: string;
  /** Ollama's base URL (`/api/ps` is appended). */
  ollamaUrl?: string;
  /** true runs `nvidia-smi` from PATH; a string names the binary. */
  nvidiaSmi?: boolean | string;
}

/** One sample of everything the monitor read. */
export interface LoadReading {
  /** Unix ms. */
  at: number;
  node: { capacity: number; inFlight: number; queued: number; rejectedRecently: number };
  vllm?: VllmLoad;
  ollama?: OllamaLoad;
  gpus?: GpuReading[];
  utilisation: Utilisation;
  /** Whether anything was being generated (node or engine). */
  busy: boolean;
  /** Generation tokens/s since the previous reading, from vLLM's counter, when the engine was busy. */
  tokensPerSecond?: number;
  /** Sum of the GPUs' power draw, watts. */
  powerWatts?: number;
  /** Sum of the GPUs' power limits, watts. */
  powerLimitWatts?: number;
  /** Sources that failed in this sample. */
  errors: { source: TelemetrySource; message: string }[];
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

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Reads the load signals on demand; keeps the previous vLLM counter to measure throughput. */
export class LoadMonitor {
  private readonly options: LoadMonitorOptions;
  private readonly clock: () => number;
  private readonly log: (message: string) => void;
  private nvidiaSmiDisabled = false;
  private readonly lastReported = new Map<TelemetrySource, string>();
  private previousCounter: { at: number; generated: number; busy: boolean } | undefined;

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
    const attempt = async <T>(source: TelemetrySource, read: () => Promise<T>): Promise<T | undefined> => {
      try {
        const value = await read();
        this.lastReported.delete(source);
        return value;
      } catch (error) {
        const message = messageOf(error);
        errors.push({ source, message });
        if (this.lastReported.get(source) !== message) {
          this.lastReported.set(source, message);
          this.log(`market maker: ${source} telemetry failed: ${message}`);
        }
        return undefined;
      }
    };

    const smi = telemetry.nvidiaSmi;
    const [vllm, ollama, gpus] = await Promise.all([
      telemetry.vllmMetricsUrl
        ? attempt('vllm', async () => parseVllmMetrics(await fetchText(telemetry.vllmMetricsUrl as string, timeoutMs)))
        : undefined,
      telemetry.ollamaUrl
        ? attempt('ollama', async () => parseOllamaPs(JSON.parse(await fetchText(new URL('/api/ps', telemetry.ollamaUrl).href, timeoutMs))))
        : undefined,
      smi && !this.nvidiaSmiDisabled ? this.readGpus(typeof smi === 'string' ? smi : undefined, timeoutMs, errors) : undefined,
    ]);

    const at = this.clock();
    const node = {
      capacity: load.capacity,
      inFlight: load.inFlight,
      queued: load.queued,
      rejectedRecently: load.rejectedRecently(this.options.rejectedWindowMs ?? 10_000),
    };
    const signals: LoadSignals = {
      ...node,
      ...(vllm ? { engine: { running: vllm.running, waiting: vllm.waiting, ...(vllm.kvCacheUsage !== undefined ? { kvCacheUsage: vllm.kvCacheUsage } : {}) } } : {}),
      ...(gpus ? { gpus } : {}),
    };
    const busy = node.inFlight > 0 || (vllm?.running ?? 0) > 0;
    const tokensPerSecond = vllm ? this.throughput(at, vllm.generationTokensTotal, busy) : undefined;
    const powerWatts = gpus ? sum(gpus.map((g) => g.powerDrawW)) : undefined;
    const powerLimitWatts = gpus ? sum(gpus.map((g) => g.powerLimitW)) : undefined;
    return {
      at,
      node,
      ...(vllm ? { vllm } : {}),
      ...(ollama ? { ollama } : {}),
      ...(gpus ? { gpus } : {}),
      utilisation: blendUtilisation(signals),
      busy,
      ...(tokensPerSecond !== undefined ? { tokensPerSecond } : {}),
      ...(powerWatts !== undefined ? { powerWatts } : {}),
      ...(powerLimitWatts !== undefined ? { powerLimitWatts } : {}),
      errors,
    };
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

  /** Tokens/s since the previous counter reading; only counted when busy at both ends, so idle time does not read as slowness. */
  private throughput(at: number, generated: number, busy: boolean): number | undefined {
    const previous = this.previousCounter;
    this.previousCounter = { at, generated, busy };
    if (!previous || !busy || !previous.busy) return undefined;
    const seconds = (at - previous.at) / 1000;
    const tokens = generated - previous.generated;
    // a counter that went back means the engine restarted
    if (!(seconds > 0) || !(tokens > 0)) return undefined;
    return tokens / seconds;
  }

  /** Whether nvidia-smi was found missing and is no longer run. */
  get nvidiaSmiOff(): boolean {
    return this.nvidiaSmiDisabled;
  }
}

async function fetchText(url: string, timeoutMs: number): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`GET ${url} answered ${response.status}`);
  return response.text();
}
