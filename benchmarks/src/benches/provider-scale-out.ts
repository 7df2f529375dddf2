/**
 * Issue 19, acceptance 5: one provider as 1, 2 and 4 node processes on one PostgreSQL behind nginx
 * (deploy/nginx/routstr-kit.conf through @routstr-kit/devnet/nginx), session-mode requests/s on the
 * fast canned upstream as ratios to one process; and the latency of one session request on one
 * process with its books in SQLite vs in PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNginx, type RunningNginx } from '@routstr-kit/devnet/nginx';
import { startPostgresCluster, type PostgresCluster } from '@routstr-kit/devnet/postgres';
import type { Benchmark, Series } from '../harness.ts';
import { spawnReady, type ReadyChild } from './child-ready.ts';
import { spawnMint, type MintProcess } from './devnet-process.ts';
import { spawnFastUpstream, type FastUpstream } from './fast-upstream.ts';
import { complete, TokenPool } from './paid-requests.ts';
import { chatBody } from './payment-rig.ts';
import type { ProviderChildOptions } from './provider-child.ts';

const PROVIDER_CHILD = fileURLToPath(new URL('./provider-child.ts', import.meta.url));
const PROCESSES: readonly number[] = [1, 2, 4];
/** Slots per process: more than its share of the clients, so nothing queues in a node. */
const SLOTS = 32;
const PRICE = { prompt: 1_000_000, completion: 2_000_000 };
const MAX_TOKENS = 8;
/** The figure to watch on a 2-core machine (issue 19, 5). */
const TWO_PROCESS_TARGET = 1.6;

/** Node processes on one database behind one front door (nginx, or the client's round robin without it). */
interface Cluster {
  processes: number;
  /** The URL for the next request. */
  next(): string;
  front: 'nginx' | 'client round robin';
  children: ReadyChild<{ url: string }>[];
  nginx: RunningNginx | undefined;
  /** One session key per client, opened through the front door. */
  keys: string[];
}

async function startCluster(processes: number, database: string | undefined, ctx: { upstream: FastUpstream; mint: MintProcess; nsec: string; dirs: string[]; log: (l: string) => void }): Promise<Cluster> {
  const children: ReadyChild<{ url: string }>[] = [];
  let nginx: RunningNginx | undefined;
  try {
    // one after the other: the first migrates the schemas
    for (let i = 0; i < processes; i++) {
      const dataDir = mkdtempSync(join(tmpdir(), 'bench-scale-out-'));
      ctx.dirs.push(dataDir);
      const options: ProviderChildOptions = {
        upstream: { url: ctx.upstream.url, model: ctx.upstream.model, contextSize: ctx.upstream.contextSize }, proxyUrl: ctx.mint.proxyUrl, slots: SLOTS, price: PRICE, dataDir,
        ...(database !== undefined ? { database, nsec: ctx.nsec } : {}),
      };
      children.push(await spawnReady<{ url: string }>(PROVIDER_CHILD, options));
    }
    let front: Cluster['front'] = 'nginx';
    try {
      nginx = processes > 1 || database !== undefined ? await startNginx({ upstreams: children.map((c) => new URL(c.url).host) }) : undefined;
    } catch (error) {
      if (!/nginx is not installed/.test((error as Error).message)) throw error;
      ctx.log('nginx is not installed: the clients spread requests round robin themselves');
      front = 'client round robin';
    }
    let turn = 0;
    const next = (): string => (nginx ? nginx.url : (children[turn++ % children.length] as ReadyChild<{ url: string }>).url);
    return { processes, next, front, children, nginx, keys: [] };
  } catch (error) {
    await nginx?.stop();
    await Promise.all(children.map((c) => c.stop()));
    throw error;
  }
}

async function openSessions(cluster: Cluster, pool: TokenPool, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${cluster.next()}/v1/balance/create`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ initial_balance_token: await pool.big(20_000) }) });
    if (res.status !== 200) throw new Error(`balance/create on ${cluster.processes} processes: HTTP ${res.status} ${await res.text()}`);
    cluster.keys.push(((await res.json()) as { api_key: string }).api_key);
  }
}

/** Where client `i` sends its requests and the session it pays with. */
type Route = (client: number) => { url: () => string; key: string };

/** All clients through one cluster's front door, each on its own session. */
const through = (cluster: Cluster): Route => (i) => ({ url: cluster.next, key: cluster.keys[i % cluster.keys.length] as string });

/** `clients` closed-loop clients sending back to back for `windowMs`: requests/s. */
async function requestsPerSecond(route: Route, clients: number, windowMs: number, body: string): Promise<number> {
  const start = performance.now();
  let done = 0;
  await Promise.all(Array.from({ length: clients }, async (_, i) => {
    const { url, key } = route(i);
    const headers = { authorization: `Bearer ${key}` };
    while (performance.now() - start < windowMs) {
      await complete(url(), headers, body);
      done += 1;
    }
  }));
  return done / ((performance.now() - start) / 1000);
}

export const providerScaleOut: Benchmark = {
  name: 'provider-scale-out',
  description: 'one provider as 1, 2 and 4 node processes on one PostgreSQL behind nginx: session requests/s on the fast upstream as ratios to one process; one session request with the books in SQLite vs PostgreSQL (one process)',
  async run(ctx) {
    const full = ctx.scale === 'full';
    const clients = full ? 32 : 4;
    const windowMs = full ? 3_000 : 300;
    const rounds = ctx.samples(5, 1);
    const latencyRounds = ctx.samples(300, 5);
    const warmup = full ? 20 : 2;
    const dirs: string[] = [];
    const clusters: Cluster[] = [];
    let mint: MintProcess | undefined;
    let upstream: FastUpstream | undefined;
    let pg: PostgresCluster | undefined;
    try {
      [mint, upstream, pg] = await Promise.all([spawnMint(), spawnFastUpstream(), startPostgresCluster()]);
      const whole = chatBody(upstream.model, MAX_TOKENS, 'complete');
      const pool = new TokenPool(mint.proxyUrl, 8);
      const nsec = randomBytes(32).toString('hex');
      const shared = { upstream, mint, nsec, dirs, log: ctx.log };
      for (const n of PROCESSES) clusters.push(await startCluster(n, await pg.newDatabase(`scale_out_${n}`), shared));
      // The ceiling of this machine for two processes: each on its own database (nothing shared, no lock
      // between them), each behind its own nginx; half the clients on each.
      const apart = [await startCluster(1, await pg.newDatabase('scale_out_apart_a'), shared), await startCluster(1, await pg.newDatabase('scale_out_apart_b'), shared)];
      clusters.push(...apart);
      const sqlite = await startCluster(1, undefined, shared);
      clusters.push(sqlite);
      for (const c of clusters) await openSessions(c, pool, c === sqlite ? 1 : apart.includes(c) ? clients / 2 : clients);
      ctx.log(`${PROCESSES.join(', ')} processes on PostgreSQL (${clusters[0]!.front}), 2 on separate databases and one on SQLite up; ${clients} sessions each`);
      // Warm-up: JIT, keep-alive connections, the stores' statements.
      for (const c of clusters) for (let i = 0; i < warmup; i++) await complete(c.next(), { authorization: `Bearer ${c.keys[0]}` }, whole);

      // Requests/s: every round measures each setup once, in a rotating order, so machine noise hits them alike.
      const setups: { name: string; route: Route }[] = [
        ...PROCESSES.map((n, k) => ({ name: `${n}`, route: through(clusters[k] as Cluster) })),
        { name: 'apart', route: (i: number) => through(apart[i % 2] as Cluster)(Math.floor(i / 2)) },
      ];
      const rps = new Map<string, number[]>(setups.map((x) => [x.name, []]));
      for (let r = 0; r < rounds; r++) {
        for (let k = 0; k < setups.length; k++) {
          const setup = setups[(r + k) % setups.length]!;
          rps.get(setup.name)!.push(await requestsPerSecond(setup.route, clients, windowMs, whole));
        }
        ctx.log(`round ${r + 1}/${rounds}: ${setups.map((x) => `${x.name} ${rps.get(x.name)!.at(-1)!.toFixed(0)}/s`).join(', ')}`);
      }

      // Latency, one process, c1, straight at the node (no proxy): SQLite books vs PostgreSQL books, alternating.
      const onPostgres = clusters[0]!;
      const direct = { sqlite: (sqlite.children[0] as ReadyChild<{ url: string }>).url, postgres: (onPostgres.children[0] as ReadyChild<{ url: string }>).url };
      const latency = { sqlite: [] as number[], postgres: [] as number[] };
      for (let i = 0; i < latencyRounds; i++) {
        for (const which of i % 2 === 0 ? (['sqlite', 'postgres'] as const) : (['postgres', 'sqlite'] as const)) {
          const key = which === 'sqlite' ? sqlite.keys[0] : onPostgres.keys[0];
          latency[which].push((await complete(direct[which], { authorization: `Bearer ${key}` }, whole)).ms);
        }
      }

      const series: Series[] = [
        { name: 'session-rps-1-process', unit: 'ops/s', samples: rps.get('1')!, better: 'higher', note: `${clients} closed-loop clients (one session each) for ${windowMs} ms through ${onPostgres.front}` },
        { name: 'session-rps-2-processes', unit: 'ops/s', samples: rps.get('2')!, baseline: 'session-rps-1-process', better: 'higher', target: { op: '>=', value: TWO_PROCESS_TARGET, of: 'ratio', note: `2 processes ≥ ${TWO_PROCESS_TARGET}× one (issue 19, 5)` } },
        { name: 'session-rps-4-processes', unit: 'ops/s', samples: rps.get('4')!, baseline: 'session-rps-1-process', better: 'higher' },
        { name: 'session-rps-2-processes-apart', unit: 'ops/s', samples: rps.get('apart')!, baseline: 'session-rps-1-process', better: 'higher', note: 'two processes each on its own database behind its own nginx, half the clients on each: what two processes give on this machine when they share nothing (the ceiling of the shared figure)' },
        { name: 'session-latency-sqlite', unit: 'ms', samples: latency.sqlite, better: 'lower', note: 'one process, books in SQLite files, c1, whole answer, straight at the node' },
        { name: 'session-latency-postgres', unit: 'ms', samples: latency.postgres, baseline: 'session-latency-sqlite', better: 'lower', note: 'one process, books in PostgreSQL (loopback), c1, whole answer, straight at the node' },
      ];
      const notes = [
        `front door: ${onPostgres.front}${onPostgres.front === 'nginx' ? ' (deploy/nginx/routstr-kit.conf, least_conn, one worker), also for the 1-process figure' : ''}`,
        `upstream: the fast canned server (fast-upstream.ts) in its own process; every node a child process (provider-child.ts) with ${SLOTS} slots; PostgreSQL a throwaway cluster on loopback (fsync off); mint (devnet) in its own process`,
        'the clients, nginx, PostgreSQL, the nodes and the upstream share the machine’s cores: compare ratios within one run',
      ];
      return { name: this.name, description: this.description, series, notes };
    } finally {
      for (const c of clusters) {
        await c.nginx?.stop();
        await Promise.all(c.children.map((child) => child.stop()));
      }
      await upstream?.stop();
      await mint?.stop();
      await pg?.stop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  },
};
