import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { summarise, type Summary } from './stats.ts';

/** How big a run is: `full` for real figures, `tiny` for the harness self-test. */
export type Scale = 'full' | 'tiny';

/** One measured series: its raw samples and what they are compared with. */
export interface Series {
  name: string;
  unit: 'ms' | 'ops/s' | 'bytes' | 'MiB' | 'calls' | '%';
  samples: number[];
  /** Name of the series in the same benchmark that this one is divided by (the baseline). */
  baseline?: string;
  /** Whether a smaller value is better (latencies) or a larger one (throughput). */
  better: 'lower' | 'higher';
  /** A target stated by the issue, checked against the median (or the ratio when `ratio: true`). */
  target?: { op: '<=' | '>=' | '=='; value: number; of: 'median' | 'ratio' | 'delta-median'; note?: string };
  note?: string;
}

export interface BenchmarkResult {
  name: string;
  description: string;
  series: Series[];
  notes?: string[];
}

export interface Benchmark {
  name: string;
  description: string;
  run(context: BenchContext): Promise<BenchmarkResult>;
}

export interface BenchContext {
  scale: Scale;
  /** Samples to take per series at this scale (after warm-up). */
  samples(full: number, tiny?: number): number;
  log(line: string): void;
}

export interface SeriesReport extends Summary {
  name: string;
  unit: Series['unit'];
  baseline?: string;
  /** median ÷ baseline median */
  ratio?: number;
  /** median − baseline median */
  deltaMedian?: number;
  target?: Series['target'] & { met: boolean };
  note?: string;
}

export interface BenchmarkReport {
  name: string;
  description: string;
  machine: { cores: number; cpu: string; memoryGiB: number; node: string; platform: string };
  commit: string;
  startedAt: string;
  scale: Scale;
  series: (SeriesReport & { samples: number[] })[];
  notes: string[];
}

/** Runs one benchmark, derives ratios against its baselines, and checks stated targets. */
export async function runBenchmark(bench: Benchmark, scale: Scale, log: (line: string) => void = () => {}): Promise<BenchmarkReport> {
  const startedAt = new Date().toISOString();
  const context: BenchContext = {
    scale,
    samples: (full, tiny = 3) => (scale === 'full' ? full : tiny),
    log,
  };
  const result = await bench.run(context);
  const summaries = new Map(result.series.map((s) => [s.name, summarise(s.samples)]));
  const series = result.series.map((s) => {
    const summary = summaries.get(s.name)!;
    const base = s.baseline ? summaries.get(s.baseline) : undefined;
    if (s.baseline && !base) throw new Error(`benchmark ${bench.name}: series ${s.name} names unknown baseline ${s.baseline}`);
    const ratio = base ? summary.median / base.median : undefined;
    const deltaMedian = base ? summary.median - base.median : undefined;
    const measured = s.target ? (s.target.of === 'ratio' ? ratio : s.target.of === 'delta-median' ? deltaMedian : summary.median) : undefined;
    const met = s.target && measured !== undefined ? compare(measured, s.target.op, s.target.value) : undefined;
    return {
      name: s.name,
      unit: s.unit,
      ...summary,
      ...(s.baseline ? { baseline: s.baseline } : {}),
      ...(ratio !== undefined ? { ratio } : {}),
      ...(deltaMedian !== undefined ? { deltaMedian } : {}),
      ...(s.target && met !== undefined ? { target: { ...s.target, met } } : {}),
      ...(s.note ? { note: s.note } : {}),
      samples: s.samples,
    };
  });
  return {
    name: bench.name,
    description: bench.description,
    machine: machine(),
    commit: commit(),
    startedAt,
    scale,
    series,
    notes: result.notes ?? [],
  };
}

/** Writes `<dir>/<name>.json` with the raw samples and returns its path. */
export function writeReport(report: BenchmarkReport, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${report.name}.json`);
  writeFileSync(path, JSON.stringify(report, null, 2) + '\n');
  return path;
}

/** A fixed-width table: median, p99, ratio to baseline, target. */
export function formatTable(report: BenchmarkReport): string {
  const fmt = (x: number | undefined, unit?: string): string =>
    x === undefined || Number.isNaN(x) ? '—' : `${x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3)}${unit ? ' ' + unit : ''}`;
  const rows = report.series.map((s) => [
    s.name,
    String(s.n),
    fmt(s.median, s.unit),
    fmt(s.p99, s.unit),
    s.ratio !== undefined ? `${Number(s.ratio.toPrecision(3))}× ${s.baseline}` : '',
    s.target ? `${s.target.met ? 'met' : 'NOT met'} (${s.target.of} ${s.target.op} ${s.target.value})` : '',
  ]);
  const header = ['series', 'n', 'median', 'p99', 'ratio', 'target'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [`## ${report.name} — ${report.description}`, line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), ...report.notes.map((n) => `  note: ${n}`)].join('\n');
}

function compare(measured: number, op: NonNullable<Series['target']>['op'], value: number): boolean {
  return op === '<=' ? measured <= value : op === '>=' ? measured >= value : measured === value;
}

function machine(): BenchmarkReport['machine'] {
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

function commit(): string {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}
