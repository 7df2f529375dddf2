// Test support: runs batch-claimer-child.ts in its own process and resolves once it holds its lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const child = fileURLToPath(new URL('./batch-claimer-child.ts', import.meta.url));

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

/**
 * Resolves once `holds()` is true, asking again every 20 ms. Only for a state nothing announces:
 * PostgreSQL ends a killed client's backend when it reads the closed socket, a moment after the
 * process's exit.
 */
export async function until(holds: () => Promise<boolean>): Promise<void> {
  while (!(await holds())) await new Promise((resolve) => setTimeout(resolve, 20));
}
