import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  blendUtilisation,
  GPU_QUERY_FIELDS,
  parseNvidiaSmiCsv,
  parseOllamaPs,
  parsePrometheusText,
  parseVllmMetrics,
  TelemetryParseError,
} from './index.ts';

const fixtures = new URL('../../../../fixtures/engines/', import.meta.url);
const fixture = (path: string): string => readFileSync(new URL(path, fixtures), 'utf8');

const WIDE = ['index', 'name', 'uuid', 'utilization.gpu', 'utilization.memory', 'memory.used', 'memory.total', 'memory.free', 'power.draw', 'power.limit', 'temperature.gpu', 'clocks.sm', 'pstate'];
const FIVE = ['utilization.gpu', 'memory.used', 'memory.total', 'power.draw', 'temperature.gpu'];
const TIMESTAMPED = ['timestamp', 'index', 'uuid', 'name', 'utilization.gpu', 'utilization.memory', 'memory.used', 'memory.total', 'power.draw', 'power.limit', 'temperature.gpu', 'clocks.sm', 'clocks.max.sm'];

describe('nvidia-smi reader (real H100 captures)', () => {
  it('reads the header-and-units form, idle and loaded, with the same values as the bare form', () => {
    const idle = parseNvidiaSmiCsv(fixture('nvidia-smi/idle-nvsmi-header-units.csv'));
    expect(idle).toEqual([
      {
        index: 0,
        name: 'NVIDIA H100 80GB HBM3',
        uuid: 'GPU-31531c82-312b-0909-9fba-152d58c2984b',
        utilization: 0,
        memoryUtilization: 0,
        memoryUsedMiB: 0,
        memoryTotalMiB: 81559,
        powerDrawW: 124.68,
        powerLimitW: 700,
        temperatureC: 37,
      },
    ]);
    const loadedHeader = parseNvidiaSmiCsv(fixture('nvidia-smi/nvsmi-loaded-header-units.csv'));
    expect(loadedHeader[0]).toMatchObject({ utilization: 1, memoryUtilization: 0.31, memoryUsedMiB: 20085, powerDrawW: 698.89 });
    const loadedBare = parseNvidiaSmiCsv(fixture('nvidia-smi/nvsmi-loaded-noheader-nounits.csv'), WIDE);
    expect(loadedBare[0]).toMatchObject({ utilization: 1, memoryUtilization: 0.31, memoryUsedMiB: 20085, powerDrawW: 698.61, temperatureC: 56 });
  });

  it('reads the 5-field form and the -lms 500 stream, one reading per line', () => {
    expect(parseNvidiaSmiCsv(fixture('nvidia-smi/idle-nvsmi-5fields.csv'), FIVE)).toEqual([
      { utilization: 0, memoryUsedMiB: 0, memoryTotalMiB: 81559, powerDrawW: 124.66, temperatureC: 37 },
    ]);
    const stream = parseNvidiaSmiCsv(fixture('nvidia-smi/nvsmi-loaded-5fields-lms500.csv'), FIVE);
    expect(stream.length).toBe(fixture('nvidia-smi/nvsmi-loaded-5fields-lms500.csv').trim().split('\n').length);
    expect(stream.every((r) => r.utilization === 1 && r.powerDrawW! > 690)).toBe(true);
  });

  it('leaves [N/A] fields undefined', () => {
    const [reading] = parseNvidiaSmiCsv(fixture('nvidia-smi/idle-nvsmi-extra.csv'), ['utilization.gpu', 'power.draw.average', 'power.draw', 'temperature.gpu', 'power.limit']);
    expect(reading).toEqual({ powerDrawW: 124.68, temperatureC: 37, powerLimitW: 700 });
    expect(reading).not.toHaveProperty('utilization');
  });

  it('follows a real load ramp and its decay (timestamped 0.5 s samples)', () => {
    const under = parseNvidiaSmiCsv(fixture('nvidia-smi-h100-capture/query-under-load.csv'), TIMESTAMPED);
    expect(under.length).toBe(30);
    expect(under[0]).toMatchObject({ utilization: 0, timestamp: '2026/11/23 08:34:47.097', uuid: 'GPU-66855d6a-f07d-72bd-a250-6c13da90fcc0' });
    expect(Math.max(...under.map((r) => r.utilization ?? 0))).toBeGreaterThan(0.3);
    expect(Math.max(...under.map((r) => r.powerDrawW ?? 0))).toBeGreaterThan(300);
    const after = parseNvidiaSmiCsv(fixture('nvidia-smi-h100-capture/query-after-load.csv'), TIMESTAMPED);
    expect(after.every((r) => r.utilization === 0)).toBe(true);
    expect(after[0]!.powerDrawW!).toBeGreaterThan(after.at(-1)!.powerDrawW!);
    const idle = parseNvidiaSmiCsv(fixture('nvidia-smi-h100-capture/query-idle-header.csv'));
    expect(idle[0]).toMatchObject({ index: 0, utilization: 0, powerDrawW: 93.08, powerLimitW: 700 });
    expect(parseNvidiaSmiCsv(fixture('nvidia-smi-h100-capture/query-idle.csv'), ['index', 'uuid', 'name', 'utilization.gpu', 'utilization.memory', 'memory.used', 'memory.total', 'power.draw', 'power.limit', 'temperature.gpu', 'clocks.sm', 'clocks.max.sm'])[0]).toMatchObject({ powerDrawW: 90.28 });
  });

  it('reads several GPUs, one line each, in the node’s own query order', () => {
    const two = ['0, GPU-a, H100, 10, 1, 100, 81559, 200.5, 700.00, 40', '1, GPU-b, H100, [N/A], 3, 300, 81559, 650.25, 700.00, 60'].join('\n');
    const gpus = parseNvidiaSmiCsv(two, GPU_QUERY_FIELDS);
    expect(gpus.map((g) => [g.index, g.utilization, g.powerDrawW])).toEqual([[0, 0.1, 200.5], [1, undefined, 650.25]]);
  });

  it('refuses a line with the wrong number of fields or a non-number, with a typed error', () => {
    expect(() => parseNvidiaSmiCsv('1, 2, 3', FIVE)).toThrow(TelemetryParseError);
    expect(() => parseNvidiaSmiCsv('x, 1, 2, 3, 4', FIVE)).toThrow(/utilization.gpu is not a number/);
    expect(parseNvidiaSmiCsv('\n\n', FIVE)).toEqual([]);
  });
});

describe('vLLM /metrics reader', () => {
  it('reads the load gauges and token counters of the fixture', () => {
    expect(parseVllmMetrics(fixture('vllm/metrics.prom'))).toEqual({
      running: 2,
      waiting: 5,
      kvCacheUsage: 0.4218,
      promptTokensTotal: 47305,
      generationTokensTotal: 10631,
      asleep: false,
    });
  });

  it('parses every sample line of the fixture, labels included', () => {
    const samples = parsePrometheusText(fixture('vllm/metrics.prom'));
    const lines = fixture('vllm/metrics.prom').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
    expect(samples.length).toBe(lines.length);
    const bucket = samples.find((s) => s.name.endsWith('_bucket') && s.labels['le'] === '+Inf');
    expect(bucket?.labels['model_name']).toBe('Qwen/Qwen2.5-7B-Instruct');
  });

  it('sums over several engines and notices sleep', () => {
    const text = [
      'vllm:num_requests_running{engine="0",model_name="m"} 1.0',
      'vllm:num_requests_running{engine="1",model_name="m"} 3.0',
      'vllm:num_requests_waiting{engine="0",model_name="m"} 0.0',
      'vllm:num_requests_waiting{engine="1",model_name="m"} 2.0',
      'vllm:engine_sleep_state{engine="0",model_name="m",sleep_state="weights_offloaded"} 1.0',
    ].join('\n');
    expect(parseVllmMetrics(text)).toMatchObject({ running: 4, waiting: 2, asleep: true });
  });

  it('refuses text that is not vLLM metrics', () => {
    expect(() => parseVllmMetrics('other_metric 1\n')).toThrow(/not a vLLM engine|num_requests_running/);
    expect(() => parsePrometheusText('garbage line here {')).toThrow(TelemetryParseError);
  });
});

describe('Ollama /api/ps reader', () => {
  it('reads loaded models and the GPU share', () => {
    const load = parseOllamaPs(JSON.parse(fixture('ollama/api-ps.json')));
    expect(load.loaded).toEqual([
      { name: 'qwen2.5:7b', sizeBytes: 6004268032, vramBytes: 6004268032, contextLength: 4096, expiresAt: '2026-11-23T09:17:31.83753Z' },
    ]);
    expect(load.gpuFraction).toBe(1);
    expect(parseOllamaPs(JSON.parse(fixture('ollama/api-ps-idle.json')))).toEqual({ loaded: [], gpuFraction: 1 });
  });

  it('sees a model partly offloaded to the CPU', () => {
    const load = parseOllamaPs({ models: [{ name: 'big', size: 1000, size_vram: 250 }] });
    expect(load.gpuFraction).toBe(0.25);
  });

  it('refuses a malformed body naming the field', () => {
    expect(() => parseOllamaPs({ models: [{ name: 'x', size: 'big' }] })).toThrow(/models\.0\.size/);
  });
});

describe('utilisation blend', () => {
  const idle = { capacity: 4, inFlight: 0, queued: 0, rejectedRecently: 0 };

  it('is 0 when idle and 1 when every slot is busy', () => {
    expect(blendUtilisation(idle).value).toBe(0);
    expect(blendUtilisation({ ...idle, inFlight: 4 }).value).toBe(1);
    expect(blendUtilisation({ ...idle, inFlight: 2 }).value).toBe(0.5);
  });

  it('takes the most loaded resource: GPU utilisation, KV cache or the engine’s own running count', () => {
    const gpus = parseNvidiaSmiCsv(fixture('nvidia-smi/nvsmi-loaded-header-units.csv'));
    expect(blendUtilisation({ ...idle, gpus }).value).toBe(1);
    expect(blendUtilisation({ ...idle, engine: { running: 0, waiting: 0, kvCacheUsage: 0.42 } }).value).toBeCloseTo(0.42);
    expect(blendUtilisation({ ...idle, engine: { running: 3, waiting: 0 } }).value).toBe(0.75);
  });

  it('goes above 1 when requests queue or are refused, and is capped', () => {
    const fromMetrics = parseVllmMetrics(fixture('vllm/metrics.prom'));
    const u = blendUtilisation({ capacity: 2, inFlight: 2, queued: 0, rejectedRecently: 1, engine: fromMetrics });
    // busy 1 + (5 engine-waiting + 1 refused) / 2 slots = 4, capped at 3.
    expect(u.value).toBe(3);
    expect(u.parts).toMatchObject({ slots: 1, queue: 3 });
    expect(blendUtilisation({ ...idle, inFlight: 4, queued: 100 }).value).toBe(3);
  });
});
