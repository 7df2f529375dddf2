import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** One GPU's reading from `nvidia-smi --query-gpu`. Fields nvidia-smi reports as `[N/A]` are undefined. */
export interface GpuReading {
  index?: number;
  uuid?: string;
  name?: string;
  /** utilization.gpu: share of the sample period a kernel ran, 0..1. */
  utilization?: number;
  /** utilization.memory, 0..1. */
  memoryUtilization?: number;
  memoryUsedMiB?: number;
  memoryTotalMiB?: number;
  powerDrawW?: number;
  powerLimitW?: number;
  temperatureC?: number;
  timestamp?: string;
}

/** The query the node runs; also the field order assumed for header-less captures of it. */
export const GPU_QUERY_FIELDS = [
  'index',
  'uuid',
  'name',
  'utilization.gpu',
  'utilization.memory',
  'memory.used',
  'memory.total',
  'power.draw',
  'power.limit',
  'temperature.gpu',
] as const;

export class TelemetryParseError extends Error {
  readonly code = 'telemetry_parse_error';
  constructor(message: string) {
    super(message);
    this.name = 'TelemetryParseError';
  }
}

const NUMERIC: Record<string, keyof GpuReading> = {
  index: 'index',
  'utilization.gpu': 'utilization',
  'utilization.memory': 'memoryUtilization',
  'memory.used': 'memoryUsedMiB',
  'memory.total': 'memoryTotalMiB',
  'power.draw': 'powerDrawW',
  'power.draw.average': 'powerDrawW',
  'power.limit': 'powerLimitW',
  'temperature.gpu': 'temperatureC',
};
const TEXT: Record<string, keyof GpuReading> = { uuid: 'uuid', name: 'name', timestamp: 'timestamp' };
const PERCENT = new Set(['utilization.gpu', 'utilization.memory']);

/**
 * Parses `nvidia-smi --query-gpu=… --format=csv[,noheader][,nounits]` output: one line per GPU
 * (or per sample with `-lms`), fields joined by ", ". With a header line the fields are read from
 * it (units in brackets are dropped); without one, `fields` gives their order.
 */
export function parseNvidiaSmiCsv(text: string, fields: readonly string[] = GPU_QUERY_FIELDS): GpuReading[] {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  if (lines.length === 0) return [];
  let names = [...fields];
  const first = lines[0]!.split(', ');
  // A header line is all query names (lower-case dotted identifiers, optionally with "[unit]").
  if (first.every((cell) => /^[a-z][a-z_.]*( \[[^\]]+\])?$/.test(cell))) {
    names = first.map((cell) => headerName(cell));
    lines.shift();
  }
  return lines.map((line, row) => {
    const cells = line.split(', ');
    if (cells.length !== names.length) {
      throw new TelemetryParseError(`nvidia-smi line ${row + 1} has ${cells.length} fields, expected ${names.length}: "${line}"`);
    }
    const reading: GpuReading = {};
    cells.forEach((cell, i) => {
      const name = names[i]!;
      const value = cell.trim();
      if (value === '[N/A]' || value === '[Not Supported]' || value === '') return;
      const numericKey = NUMERIC[name];
      if (numericKey) {
        const number = Number(value.replace(/\s*(%|MiB|W|MHz|C)$/, ''));
        if (!Number.isFinite(number)) throw new TelemetryParseError(`nvidia-smi field ${name} is not a number: "${value}"`);
        (reading as Record<string, unknown>)[numericKey] = PERCENT.has(name) ? number / 100 : number;
        return;
      }
      const textKey = TEXT[name];
      if (textKey) (reading as Record<string, unknown>)[textKey] = value;
    });
    return reading;
  });
}

/** `clocks.current.sm [MHz]` → `clocks.current.sm`; nvidia-smi prints some query names in long form. */
function headerName(cell: string): string {
  const name = cell.replace(/ \[[^\]]+\]$/, '').trim();
  return name === 'clocks.current.sm' ? 'clocks.sm' : name;
}

const run = promisify(execFile);

/** Runs `nvidia-smi` once and parses its GPUs; rejects when the tool is missing or fails. */
export async function readNvidiaSmi(options: { binary?: string; signal?: AbortSignal } = {}): Promise<GpuReading[]> {
  const { stdout } = await run(
    options.binary ?? 'nvidia-smi',
    [`--query-gpu=${GPU_QUERY_FIELDS.join(',')}`, '--format=csv,noheader,nounits'],
    { timeout: 5_000, signal: options.signal },
  );
  return parseNvidiaSmiCsv(stdout);
}
