import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { EngineFlavour } from '@routstr-kit/devnet';

/** An engine and a mint (behind a timing proxy) running in a child process. */
export interface DevnetProcess {
  engineUrl: string;
  model: string;
  contextSize: number;
  /** The mint itself. */
  mintUrl: string;
  /** The timing proxy in front of the mint: the URL wallets and the node use. */
  proxyUrl: string;
  stop(): Promise<void>;
}

const child = fileURLToPath(new URL('./devnet-child.ts', import.meta.url));

/** Spawns devnet-child.ts and resolves once it prints its URLs. */
export function spawnDevnet(options: { flavour: EngineFlavour; maxConcurrency: number }): Promise<DevnetProcess> {
  const proc = spawn(process.execPath, [child, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    proc.once('exit', (code) => reject(new Error(`devnet child exited (${code}) before it was ready: ${err.slice(-2000)}`)));
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{') && l.endsWith('}'));
      if (!line) return;
      const info = JSON.parse(line) as Omit<DevnetProcess, 'stop'>;
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
