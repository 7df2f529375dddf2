// Test support: runs provider-child.ts (a provider node) in its own process, optionally armed with a
// failpoint, and resolves once it prints its URL.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { failpointEnv } from '@routstr-kit/core/testing';

const child = fileURLToPath(new URL('./provider-child.ts', import.meta.url));

export interface NodeChild {
  url: string;
  proc: ChildProcess;
  exited: Promise<NodeJS.Signals | null>;
  /** Resolves with the first batch object the child reported (so far or later) that satisfies `predicate`. */
  batchProgress<T extends { id: string }>(id: string, predicate: (batch: T) => boolean): Promise<T>;
}

/** The options provider-child.ts reads from its JSON argument. */
export interface ProviderChildArgs {
  upstream: string;
  mint: string;
  dataDir: string;
  model: string;
  prompt: number;
  completion: number;
  contextLength: number;
  adminToken: string;
  /** Announce on these relays (fixed price asks from prompt/completion) instead of a silent fixed board. */
  relays?: string[];
  /** Listen here (a restarted node keeps the URL its buyers know). */
  port?: number;
  maxConcurrency?: number;
  queueSize?: number;
}

export function spawnProviderChild(args: ProviderChildArgs, failpointName: string | null): Promise<NodeChild> {
  const env = failpointEnv(failpointName);
  const proc = spawn(process.execPath, [child, JSON.stringify(args)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on('exit', (_code, signal) => resolve(signal)));
  const batches: { id: string }[] = [];
  const waiters = new Set<(batch: { id: string }) => void>();
  const batchProgress = <T extends { id: string }>(id: string, predicate: (batch: T) => boolean): Promise<T> =>
    new Promise((resolve) => {
      const test = (b: { id: string }): boolean => b.id === id && predicate(b as T);
      const seen = batches.find(test);
      if (seen) return resolve(seen as T);
      const waiter = (b: { id: string }): void => {
        if (!test(b)) return;
        waiters.delete(waiter);
        resolve(b as T);
      };
      waiters.add(waiter);
    });
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
        const message = JSON.parse(line) as { url?: string; batch?: { id: string } };
        if (message.url) resolve({ url: message.url, proc, exited, batchProgress });
        if (message.batch) {
          batches.push(message.batch);
          for (const waiter of [...waiters]) waiter(message.batch);
        }
      }
    });
    proc.on('exit', (code) => reject(new Error(`node exited (${code}) before listening: ${err}`)));
  });
}
