import { spawn } from 'node:child_process';

/** A child process that printed one JSON line of facts once it was ready. */
export type ReadyChild<T> = T & { stop(): Promise<void> };

/**
 * Spawns `node <file> '<json arg>'` and resolves with the first JSON line it prints on stdout (the
 * child's "ready" line); `stop()` sends SIGTERM and waits for the exit. Rejects if the child exits first.
 */
export function spawnReady<T>(file: string, arg: unknown): Promise<ReadyChild<T>> {
  const proc = spawn(process.execPath, [file, JSON.stringify(arg)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    proc.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-16_000); // the tail is what explains a failed start
    });
    proc.once('exit', (code) => reject(new Error(`${file} exited (${code}) before it was ready: ${err.slice(-2000)}`)));
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{') && l.endsWith('}'));
      if (!line) return;
      const info = JSON.parse(line) as T;
      resolve({
        ...info,
        stop: async () => {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
          await exited;
        },
      });
    });
  });
}
