// vLLM's Prometheus exposition (names, HELP, buckets from shared/fixtures/engines/vllm/metrics.prom), fed with real numbers.
import type { GenerationResult } from './inference-core.ts';

const BUCKETS = {
  tokens: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000],
  ttft: [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640, 2560],
  itl: [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80],
  latency: [0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680],
} as const;

/** prometheus_client's floatToGoString: Python repr, but Go-style exponent once the integer part passes 6 digits. */
function pyFloat(n: number): string {
  if (n === Number.POSITIVE_INFINITY) return '+Inf';
  let s = Number.isInteger(n) && Math.abs(n) < 1e16 ? `${n}.0` : String(n);
  const dot = s.indexOf('.');
  if (n > 0 && dot > 6 && !s.includes('e')) {
    const mantissa = `${s[0]}.${s.slice(1, dot)}${s.slice(dot + 1)}`.replace(/[0.]+$/, '');
    s = `${mantissa}e+0${dot - 1}`;
  }
  return s;
}

class Histogram {
  readonly buckets: readonly number[];
  readonly counts: number[];
  count = 0;
  sum = 0;
  constructor(buckets: readonly number[]) {
    this.buckets = buckets;
    this.counts = buckets.map(() => 0);
  }
  observe(v: number): void {
    this.count++;
    this.sum += v;
    this.buckets.forEach((b, i) => {
      if (v <= b) this.counts[i] = (this.counts[i] ?? 0) + 1;
    });
  }
}

export interface VllmGauges {
  running: number;
  waiting: number;
  kvCacheUsage: number;
  promptTokensTotal: number;
  generationTokensTotal: number;
  numGpuBlocks: number;
}

/** Accumulates per-request observations and renders vLLM's /metrics text. */
export class VllmMetrics {
  private readonly model: string;
  private readonly createdAt = Date.now() / 1000;
  private readonly success: Record<'stop' | 'length' | 'abort' | 'error', number> = { stop: 0, length: 0, abort: 0, error: 0 };
  private readonly h = {
    promptTokens: new Histogram(BUCKETS.tokens),
    generationTokens: new Histogram(BUCKETS.tokens),
    ttft: new Histogram(BUCKETS.ttft),
    itl: new Histogram(BUCKETS.itl),
    e2e: new Histogram(BUCKETS.latency),
    queue: new Histogram(BUCKETS.latency),
  };

  constructor(model: string) {
    this.model = model;
  }

  /** Records one finished request. */
  observe(r: GenerationResult, promptTokens: number, finishReason: 'stop' | 'length' | 'abort' | 'error'): void {
    this.success[finishReason]++;
    this.h.promptTokens.observe(promptTokens);
    this.h.generationTokens.observe(r.tokens.length);
    if (r.firstTokenSeconds !== undefined) this.h.ttft.observe(r.firstTokenSeconds);
    for (const s of r.interTokenSeconds) this.h.itl.observe(s);
    this.h.e2e.observe(r.totalSeconds);
    this.h.queue.observe(r.queueSeconds);
  }

  /** Renders the Prometheus text exposition. */
  render(g: VllmGauges): string {
    const lines: string[] = [];
    const labels = (extra: Record<string, string> = {}): string => {
      const all: Record<string, string> = { engine: '0', model_name: this.model, ...extra };
      const body = Object.keys(all)
        .sort()
        .map((k) => `${k}="${String(all[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`)
        .join(',');
      return `{${body}}`;
    };
    const meta = (name: string, type: string, help: string): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    const gauge = (name: string, help: string, value: number): void => {
      meta(name, 'gauge', help);
      lines.push(`${name}${labels()} ${pyFloat(value)}`);
    };
    const counter = (base: string, help: string, values: Array<[Record<string, string>, number]>): void => {
      meta(`${base}_total`, 'counter', help);
      for (const [l, v] of values) lines.push(`${base}_total${labels(l)} ${pyFloat(v)}`);
      meta(`${base}_created`, 'gauge', help);
      for (const [l] of values) lines.push(`${base}_created${labels(l)} ${pyFloat(this.createdAt)}`);
    };
    const histogram = (name: string, help: string, h: Histogram): void => {
      meta(name, 'histogram', help);
      h.buckets.forEach((b, i) => lines.push(`${name}_bucket${labels({ le: pyFloat(b) })} ${pyFloat(h.counts[i] ?? 0)}`));
      lines.push(`${name}_bucket${labels({ le: '+Inf' })} ${pyFloat(h.count)}`);
      lines.push(`${name}_count${labels()} ${pyFloat(h.count)}`);
      lines.push(`${name}_sum${labels()} ${pyFloat(h.sum)}`);
      meta(`${name}_created`, 'gauge', help);
      lines.push(`${name}_created${labels()} ${pyFloat(this.createdAt)}`);
    };

    gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', g.running);
    gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', g.waiting);
    meta(
      'vllm:engine_sleep_state',
      'gauge',
      'Engine sleep state; awake = 0 means engine is sleeping; awake = 1 means engine is awake; weights_offloaded = 1 means sleep level 1; discard_all = 1 means sleep level 2.',
    );
    lines.push(`vllm:engine_sleep_state${labels({ sleep_state: 'awake' })} 1.0`);
    lines.push(`vllm:engine_sleep_state${labels({ sleep_state: 'weights_offloaded' })} 0.0`);
    lines.push(`vllm:engine_sleep_state${labels({ sleep_state: 'discard_all' })} 0.0`);
    gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', g.kvCacheUsage);
    // No prefix cache: every request's prompt is evaluated in full, so queries count and hits stay 0.
    counter('vllm:prefix_cache_queries', 'Prefix cache queries, in terms of number of queried tokens.', [[{}, g.promptTokensTotal]]);
    counter('vllm:prefix_cache_hits', 'Prefix cache hits, in terms of number of cached tokens.', [[{}, 0]]);
    counter('vllm:num_preemptions', 'Cumulative number of preemption from the engine.', [[{}, 0]]);
    counter('vllm:prompt_tokens', 'Number of prefill tokens processed.', [[{}, g.promptTokensTotal]]);
    counter('vllm:generation_tokens', 'Number of generation tokens processed.', [[{}, g.generationTokensTotal]]);
    counter(
      'vllm:request_success',
      'Count of successfully processed requests.',
      (['stop', 'length', 'abort', 'error'] as const).map((r) => [{ finished_reason: r }, this.success[r]]),
    );
    histogram('vllm:request_prompt_tokens', 'Number of prefill tokens processed.', this.h.promptTokens);
    histogram('vllm:request_generation_tokens', 'Number of generation tokens processed.', this.h.generationTokens);
    histogram('vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', this.h.ttft);
    histogram('vllm:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', this.h.itl);
    histogram('vllm:e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds.', this.h.e2e);
    histogram('vllm:request_queue_time_seconds', 'Histogram of time spent in WAITING phase for request.', this.h.queue);
    meta('vllm:cache_config_info', 'gauge', 'Information of the LLMEngine CacheConfig');
    lines.push(
      `vllm:cache_config_info${labels({
        block_size: '16',
        cache_dtype: 'auto',
        enable_prefix_caching: 'False',
        gpu_memory_utilization: '0.9',
        num_cpu_blocks: 'None',
        num_gpu_blocks: String(g.numGpuBlocks),
      })} 1.0`,
    );
    return lines.join('\n') + '\n';
  }
}
