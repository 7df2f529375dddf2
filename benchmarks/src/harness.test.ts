import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatTable, runBenchmark, writeReport, type Benchmark } from './harness.ts';
import { percentile, summarise } from './stats.ts';
import { BENCHMARKS } from './benches/index.ts';

describe('benchmark harness', () => {
  it('summarises samples with nearest-rank percentiles', () => {
    const s = summarise([5, 1, 4, 2, 3]);
    expect(s).toMatchObject({ n: 5, median: 3, p99: 5, min: 1, max: 5, mean: 3 });
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90)).toBe(9);
  });

  it('derives ratios against the baseline and checks targets', async () => {
    const bench: Benchmark = {
      name: 'synthetic',
      description: 'fixed samples',
      async run(ctx) {
        expect(ctx.samples(100)).toBe(3);
        return {
          name: 'synthetic',
          description: 'fixed samples',
          series: [
            { name: 'base', unit: 'ms', samples: [10, 10, 10], better: 'lower' },
            { name: 'ours', unit: 'ms', samples: [11, 11, 12], baseline: 'base', better: 'lower', target: { op: '<=', value: 0.5, of: 'delta-median' } },
            { name: 'ratioed', unit: 'ms', samples: [9, 9, 9], baseline: 'base', better: 'lower', target: { op: '<=', value: 1, of: 'ratio' } },
          ],
        };
      },
    };
    const report = await runBenchmark(bench, 'tiny');
    const ours = report.series.find((s) => s.name === 'ours')!;
    expect(ours.ratio).toBeCloseTo(1.1);
    expect(ours.deltaMedian).toBe(1);
    expect(ours.target?.met).toBe(false);
    expect(report.series.find((s) => s.name === 'ratioed')!.target?.met).toBe(true);
    expect(formatTable(report)).toContain('NOT met');
  });

  it('checks an exact-count target (==) against the median', async () => {
    const bench: Benchmark = {
      name: 'counted',
      description: 'mint calls per request',
      async run() {
        return {
          name: 'counted',
          description: 'mint calls per request',
          series: [
            { name: 'one', unit: 'calls', samples: [1, 1, 2], better: 'lower', target: { op: '==', value: 1, of: 'median' } },
            { name: 'two', unit: 'calls', samples: [2, 2, 1], better: 'lower', target: { op: '==', value: 1, of: 'median' } },
          ],
        };
      },
    };
    const report = await runBenchmark(bench, 'tiny');
    expect(report.series.map((s) => s.target?.met)).toEqual([true, false]);
  });

  // One test per benchmark, each with its own timeout: the payment benches take tens of seconds even at tiny scale.
  it.each(BENCHMARKS.map((b) => [b.name, b] as const))('runs %s at tiny scale and writes JSON with samples, machine and commit', async (_name, bench) => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-'));
    {
      const report = await runBenchmark(bench, 'tiny');
      const written = JSON.parse(readFileSync(writeReport(report, dir), 'utf8'));
      expect(written.name).toBe(bench.name);
      expect(written.machine.cores).toBeGreaterThan(0);
      expect(written.machine.node).toMatch(/^v\d+/);
      expect(written.commit).toMatch(/^([0-9a-f]{40}|unknown)$/);
      expect(written.series.length).toBeGreaterThan(0);
      for (const series of written.series) {
        expect(series.samples.length).toBe(series.n);
        expect(series.samples.every((x: number) => Number.isFinite(x))).toBe(true);
        if (series.baseline) expect(Number.isFinite(series.ratio)).toBe(true);
      }
    }
  });
});
