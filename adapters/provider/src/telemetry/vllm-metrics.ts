import { TelemetryParseError } from './nvidia-smi.ts';

/** The load signals a vLLM engine exposes at `GET /metrics`, summed over its engines and models. */
export interface VllmLoad {
  running: number;
  waiting: number;
  /** KV cache usage 0..1 (max over engines); undefined when absent. */
  kvCacheUsage?: number;
  promptTokensTotal: number;
  generationTokensTotal: number;
  /** true when vLLM reports its engine asleep (weights offloaded or discarded). */
  asleep: boolean;
}

/** One sample line of the Prometheus text exposition format. */
export interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses Prometheus text exposition (what prometheus_client serves) into samples; comments skipped. */
export function parsePrometheusText(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new TelemetryParseError(`not a Prometheus sample line: "${line}"`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = value!.replace(/\\(.)/g, '$1');
    const value = match[3] === '+Inf' ? Infinity : match[3] === '-Inf' ? -Infinity : Number(match[3]);
    if (Number.isNaN(value) && match[3] !== 'NaN') throw new TelemetryParseError(`bad Prometheus value in "${line}"`);
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

/** Reads vLLM's load gauges and token counters from its `/metrics` text; unknown metrics are ignored. */
export function parseVllmMetrics(text: string): VllmLoad {
  const load: VllmLoad = { running: 0, waiting: 0, promptTokensTotal: 0, generationTokensTotal: 0, asleep: false };
  let seenRunning = false;
  for (const sample of parsePrometheusText(text)) {
    switch (sample.name) {
      case 'vllm:num_requests_running':
        load.running += sample.value;
        seenRunning = true;
        break;
      case 'vllm:num_requests_waiting':
        load.waiting += sample.value;
        break;
      case 'vllm:kv_cache_usage_perc':
      case 'vllm:gpu_cache_usage_perc':
        load.kvCacheUsage = Math.max(load.kvCacheUsage ?? 0, sample.value);
        break;
      case 'vllm:prompt_tokens_total':
        load.promptTokensTotal += sample.value;
        break;
      case 'vllm:generation_tokens_total':
        load.generationTokensTotal += sample.value;
        break;
      case 'vllm:engine_sleep_state':
        if (sample.labels['sleep_state'] !== 'awake' && sample.value > 0) load.asleep = true;
        break;
    }
  }
  if (!seenRunning) throw new TelemetryParseError('no vllm:num_requests_running in /metrics: is this a vLLM engine?');
  return load;
}
