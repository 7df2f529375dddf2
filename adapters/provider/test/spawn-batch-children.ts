// Test support: runs batch-claimer-child.ts (a process holding claimed lines) and batch-worker-child.ts
// (a process running batch lines) in their own processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { failpointEnv } from '@routstr-kit/core/testing';

const child = fileURLToPath(new URL('./batch-claimer-child.ts', import.meta.url));
const worker = fileURLToPath(new URL('./batch-worker-child.ts', import.meta.url));

/** A process holding batch lines under its own claimer. */
export interface ClaimerChild {
  proc: ChildProcess;
  exited: Promise<NodeJS.Signals | null>;
  claimer: string;
  /** Indexes of the lines it claimed. */
  claimed: number[];
}

/** Starts a process that claims `count` pending lines of `batchId` in the store at `location` and holds them. */
export function spawnClaimer(args: { location: string; batchId: string; model: string; count: number }): Promise<ClaimerChild> {
  const proc = spawn(process.execPath, [child, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on('exit', (_code, signal) => resolve(signal)));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl === -1) return;
      const message = JSON.parse(out.slice(0, nl)) as { claimer: string; claimed: number[] };
      resolve({ proc, exited, ...message });
    });
    proc.on('exit', (code) => reject(new Error(`claimer exited (${code}) before claiming: ${err}`)));
  });
}

/** A process running batch lines (batch-worker-child.ts). */
export interface WorkerChild {
  proc: ChildProcess;
  exited: Promise<NodeJS.Signals | null>;
  /** Resolves with the first batch object the worker reported (so far or later) that satisfies `predicate`. */
  batchProgress<T extends { id: string }>(id: string, predicate: (batch: T) => boolean): Promise<T>;
  /** Stops it cleanly (closes its stdin) and resolves once it has exited. */
  stop(): Promise<void>;
}

/** The options batch-worker-child.ts reads from its JSON argument. */
export interface WorkerArgs {
  database: string;
  payeePath: string;
  walletPath: string;
  mint: string;
  upstream: string;
  model: string;
  prompt: number;
  completion: number;
  contextSize: number;
  recoverEveryMs: number;
}

/** Starts a batch worker process (armed with a failpoint, or none); resolves once its runner has started. */
export function spawnBatchWorker(args: WorkerArgs, failpointName: string | null = null): Promise<WorkerChild> {
  const proc = spawn(process.execPath, [worker, JSON.stringify(args)], { env: failpointEnv(failpointName), stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on('exit', (_code, signal) => resolve(signal)));
  const seen: { id: string }[] = [];
  const waiters = new Set<(batch: { id: string }) => void>();
  const batchProgress = <T extends { id: string }>(id: string, predicate: (batch: T) => boolean): Promise<T> =>
    new Promise((resolve) => {
      const test = (b: { id: string }): boolean => b.id === id && predicate(b as T);
      const found = seen.find(test);
      if (found) return resolve(found as T);
      const waiter = (b: { id: string }): void => {
        if (!test(b)) return;
        waiters.delete(waiter);
        resolve(b as T);
      };
      waiters.add(waiter);
    });
  const stop = async (): Promise<void> => {
    proc.stdin?.end();
    await exited;
  };
  return new Promise((resolve, reject) => {
    let buffer = '';
    let err = '';
    proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    proc.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!line.startsWith('{')) continue;
        const message = JSON.parse(line) as { ready?: boolean; batch?: { id: string } };
        if (message.ready) resolve({ proc, exited, batchProgress, stop });
        if (message.batch) {
          seen.push(message.batch);
          for (const w of [...waiters]) w(message.batch);
        }
      }
    });
    proc.on('exit', (code) => reject(new Error(`batch worker exited (${code}) before it was ready: ${err}`)));
  });
}

/**
 * Resolves once `holds()` is true, asking again every 20 ms. Only for a state nothing announces:
 * PostgreSQL ends a killed client's backend when it reads the closed socket, a moment after the
 * process's exit.
 */
export async function until(holds: () => Promise<boolean>): Promise<void> {
  while (!(await holds())) await new Promise((resolve) => setTimeout(resolve, 20));
}
