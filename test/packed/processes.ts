// Child processes of the packed-install test: long-running servers that announce themselves with one
// JSON line on stdout, and scripts that run to the end.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';

/** The environment of a child run on `node`: its folder first on PATH, so `#!/usr/bin/env node` bins use it too. */
export function envFor(node: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dirname(node)}:${process.env['PATH'] ?? ''}`, ...extra };
  // Settings of the developer's shell must not leak into what the test configures itself.
  for (const key of Object.keys(env)) if (/^ROUTSTR_/.test(key) && !(key in extra)) delete env[key];
  delete env['NODE_OPTIONS'];
  return env;
}

export interface Server<T> {
  readonly ready: T;
  readonly child: ChildProcess;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Spawns a server and resolves with the JSON of its first stdout line (rejects if it exits first). */
export async function startServer<T>(file: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<Server<T>> {
  const child = spawn(file, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + String(d)).slice(-8000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    void exited.then((code) => reject(new Error(`${file} ${args.join(' ')} exited with ${code}:\n${stderr}`)));
  });
  return {
    ready: JSON.parse(line) as T,
    child,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; never rejects on a non-zero exit (the test looks at `code`). */
export function runToEnd(file: string, args: readonly string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<ScriptResult> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: options.cwd, env: options.env, timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** The last stdout line of a script, as JSON (scripts print their findings there). */
export function lastJson<T>(result: ScriptResult): T {
  const lines = result.stdout.trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1] ?? '') as T;
  } catch {
    throw new Error(`no JSON result (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}
