// Test support: runs provider-child.ts (a provider node) in its own process, optionally armed with a
// failpoint, and resolves once it prints its URL.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PayeeBalances } from '@routstr-kit/core';
import { failpointEnv } from '@routstr-kit/core/testing';

const child = fileURLToPath(new URL('./provider-child.ts', import.meta.url));

export interface NodeChild {
  url: string;
  proc: ChildProcess;
  exited: Promise<NodeJS.Signals | null>;
  /** The child's book totals once its wallet has no swap running (a refill moves sats between held and pending). */
  idleBalances(): Promise<PayeeBalances>;
  /** Whether the child holds the announcer lease now (its last report). */
  leader(): boolean;
  /** Resolves once the child reports (or last reported) holding the announcer lease or not, as `leader`. */
  leadership(leader: boolean): Promise<void>;
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
  /** PostgreSQL holding the node's books (shared with other children on it); needs nsec. */
  database?: string;
  nsec?: string;
  processId?: string;
  leaseS?: number;
  tick?: { intervalMs?: number; heartbeatS?: number };
}

export function spawnProviderChild(args: ProviderChildArgs, failpointName: string | null): Promise<NodeChild> {
  const env = failpointEnv(failpointName);
  const proc = spawn(process.execPath, [child, JSON.stringify(args)], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  proc.stdin?.on('error', () => undefined); // a killed child's stdin closes under a pending write
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
  let asked = 0;
  const idleAnswers = new Map<number, (balances: PayeeBalances) => void>();
  const idleBalances = (): Promise<PayeeBalances> =>
    new Promise((resolve) => {
      const n = ++asked;
      idleAnswers.set(n, resolve);
      proc.stdin?.write(`${JSON.stringify({ idle: n })}\n`);
    });
  let leaderNow = false;
  const leaderWaiters = new Set<() => void>();
  const leadership = (leader: boolean): Promise<void> =>
    new Promise((resolve) => {
      if (leaderNow === leader) return resolve();
      const waiter = (): void => {
        if (leaderNow !== leader) return;
        leaderWaiters.delete(waiter);
        resolve();
      };
      leaderWaiters.add(waiter);
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
        const message = JSON.parse(line) as { url?: string; batch?: { id: string }; leader?: boolean; idle?: number; balances?: PayeeBalances };
        if (message.idle !== undefined && message.balances) {
          idleAnswers.get(message.idle)?.(message.balances);
          idleAnswers.delete(message.idle);
        }
        if (message.leader !== undefined) {
          leaderNow = message.leader;
          for (const waiter of [...leaderWaiters]) waiter();
        }
        if (message.url) resolve({ url: message.url, proc, exited, batchProgress, idleBalances, leader: () => leaderNow, leadership });
        if (message.batch) {
          batches.push(message.batch);
          for (const waiter of [...waiters]) waiter(message.batch);
        }
      }
    });
    proc.on('exit', (code) => reject(new Error(`node exited (${code}) before listening: ${err}`)));
  });
}
