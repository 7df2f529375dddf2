// nginx from Debian's package in front of test node processes, in a temp dir on a free loopback
// port, running the repo's own deploy/nginx/routstr-kit.conf with its upstream list and listen
// port substituted. A missing nginx throws: a test that needs it fails, it never skips.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../free-port.ts';

/** The deployment file the fixture runs (deploy/nginx/routstr-kit.conf in the repository). */
export const NGINX_CONFIG_PATH = fileURLToPath(new URL('../../../../deploy/nginx/routstr-kit.conf', import.meta.url));

export interface NginxOptions {
  /** The node processes, `host:port` each (the `server` lines of `upstream routstr_nodes`). */
  upstreams: readonly string[];
  /** Config file to run (default NGINX_CONFIG_PATH). */
  configPath?: string;
}

export interface RunningNginx {
  /** Base URL of the proxy, e.g. http://127.0.0.1:1234. */
  readonly url: string;
  /** The rendered config nginx runs. */
  readonly config: string;
  /** The access log so far (one line per request: status and the upstream addresses tried). */
  accessLog(): string;
  stop(): Promise<void>;
}

/**
 * The deployment file with the `server` lines of its `upstream routstr_*` blocks replaced by
 * `upstreams` (keeping each block's first line's parameters, e.g. max_fails) and its uncommented
 * `listen` lines by one `listen <listen>;`.
 */
export function renderNginxConfig(text: string, options: { upstreams: readonly string[]; listen: string }): string {
  if (options.upstreams.length === 0) throw new Error('nginx needs at least one upstream');
  const out: string[] = [];
  let inUpstream = false;
  let serverParams: string | undefined;
  let listened = false;
  const blocks: string[] = [];
  for (const line of text.split('\n')) {
    const code = line.replace(/#.*$/, '').trim();
    const opened = /^upstream\s+(routstr_\w+)\s*\{$/.exec(code);
    if (opened) {
      inUpstream = true;
      serverParams = undefined;
      blocks.push(opened[1] as string);
    } else if (inUpstream && code === '}') {
      if (serverParams === undefined) throw new Error('the upstream block has no server line');
      for (const u of options.upstreams) out.push(`    server ${u}${serverParams};`);
      inUpstream = false;
    }
    const server = inUpstream ? /^server\s+\S+([^;]*);$/.exec(code) : null;
    if (server) {
      serverParams ??= server[1] ?? '';
      continue;
    }
    if (!inUpstream && /^listen\s/.test(code)) {
      if (!listened) out.push(`    listen ${options.listen};`);
      listened = true;
      continue;
    }
    out.push(line);
  }
  if (!blocks.includes('routstr_nodes') || inUpstream || new Set(blocks).size !== blocks.length) {
    throw new Error('the config needs one closed `upstream routstr_nodes { … }` block (and any other `upstream routstr_*` block once)');
  }
  if (!listened) throw new Error('the config has no listen line');
  return out.join('\n');
}

function nginxBinary(): string {
  for (const dir of [...(process.env['PATH'] ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']) if (dir && existsSync(join(dir, 'nginx'))) return join(dir, 'nginx');
  throw new Error("nginx is not installed (no nginx on PATH or in /usr/sbin); .ci/run installs Debian's nginx package (apt-get install -y nginx)");
}

/** Resolves once nginx says its workers started (listening sockets are open before that); rejects if it exits first. */
function started(proc: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const onData = (d: Buffer): void => {
      log += d.toString();
      if (log.includes('start worker process ')) {
        proc.stderr?.off('data', onData);
        proc.off('exit', onExit);
        resolve();
      }
    };
    const onExit = (code: number | null): void => reject(new Error(`nginx exited (${code}) before starting: ${log.trim()}`));
    proc.stderr?.on('data', onData);
    proc.once('exit', onExit);
    proc.once('error', reject);
  });
}

/** Starts nginx on a free loopback port in front of `upstreams`; `stop()` ends it and removes its folder. */
export async function startNginx(options: NginxOptions): Promise<RunningNginx> {
  const bin = nginxBinary();
  const port = await freePort();
  const config = renderNginxConfig(readFileSync(options.configPath ?? NGINX_CONFIG_PATH, 'utf8'), { upstreams: options.upstreams, listen: `127.0.0.1:${port}` });
  const dir = mkdtempSync(join(tmpdir(), 'routstr-nginx-'));
  // As root, nginx's workers run as nobody: they must reach the temp folders it creates (and chowns) in here.
  chmodSync(dir, 0o711);
  writeFileSync(join(dir, 'routstr-kit.conf'), config);
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      'error_log stderr notice;',
      'events { worker_connections 256; }',
      'http {',
      `  log_format routstr '$status $request_method $uri upstream=$upstream_addr upstream_status=$upstream_status';`,
      `  access_log ${join(dir, 'access.log')} routstr;`,
      `  include ${join(dir, 'routstr-kit.conf')};`,
      '}',
      '',
    ].join('\n'),
  );
  // -p: temp paths (client bodies, proxy) live in the folder; -e: not even the start-up log goes to /var/log.
  const proc = spawn(bin, ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', 'stderr'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  try {
    await started(proc);
  } catch (error) {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  proc.stderr?.resume(); // later notices are not read: keep the pipe from filling
  return {
    url: `http://127.0.0.1:${port}`,
    config,
    accessLog: () => (existsSync(join(dir, 'access.log')) ? readFileSync(join(dir, 'access.log'), 'utf8') : ''),
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM'); // fast shutdown: open streams are cut
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
