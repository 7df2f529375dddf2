// Test support: runs provider-child.ts (a provider node) in its own process, optionally armed with a
// failpoint, and resolves once it prints its URL.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { failpointEnv } from '@routstr-kit/core';

const child = fileURLToPath(new URL('./provider-child.ts', import.meta.url));

export interface NodeChild {
  url: string;
  proc: ChildProcess;
  exited: Promise<NodeJS.Signals | null>;
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
}

export function spawnProviderChild(args: ProviderChildArgs, failpointName: string | null): Promise<NodeChild> {
  const env = failpointEnv(failpointName);
  const proc = spawn(process.execPath, [child, JSON.stringify(args)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => proc.on('exit', (_code, signal) => resolve(signal)));
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve({ url: (JSON.parse(line) as { url: string }).url, proc, exited });
    });
    proc.on('exit', (code) => reject(new Error(`node exited (${code}) before listening: ${err}`)));
  });
}
