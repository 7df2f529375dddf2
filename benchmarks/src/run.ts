#!/usr/bin/env node
// `pnpm bench [name…] [--tiny] [--out <dir>]`: runs benchmarks, prints tables, writes JSON results.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { formatTable, runBenchmark, writeReport } from './harness.ts';
import { BENCHMARKS } from './benches/index.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { tiny: { type: 'boolean', default: false }, out: { type: 'string' }, list: { type: 'boolean', default: false } },
});

if (values.list) {
  for (const b of BENCHMARKS) process.stdout.write(`${b.name.padEnd(22)} ${b.description}\n`);
  process.exit(0);
}
const unknown = positionals.filter((name) => !BENCHMARKS.some((b) => b.name === name));
if (unknown.length) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}\n`);
  process.exit(2);
}
const chosen = positionals.length ? BENCHMARKS.filter((b) => positionals.includes(b.name)) : BENCHMARKS;
const out = values.out ?? fileURLToPath(new URL('../results/', import.meta.url));
const scale = values.tiny ? 'tiny' : 'full';
let failed = 0;
for (const bench of chosen) {
  process.stdout.write(`\n▶ ${bench.name} (${scale})…\n`);
  try {
    const report = await runBenchmark(bench, scale, (line) => process.stdout.write(`  ${line}\n`));
    const path = writeReport(report, out);
    process.stdout.write(`${formatTable(report)}\n  → ${path}\n`);
  } catch (error) {
    failed += 1;
    process.stderr.write(`✗ ${bench.name}: ${(error as Error).stack ?? String(error)}\n`);
  }
}
process.exit(failed ? 1 : 0);
