/**
 * The engine replicas behind one node: several engines serving the same model(s). A request goes
 * to the replica serving its model with the fewest requests this node has in flight on it (ties
 * round-robin). A replica that fails (connection refused or reset, a 5xx before any byte of the
 * answer) leaves the rotation and is probed back with a GET of its `/v1/models` on a backoff: one
 * timer per failed replica, none per request. While every replica serving a model is out, requests
 * still go to the least loaded of them (and fail there as they would with one engine), so a probe
 * that has not come round yet never turns a recovered engine's node away.
 */
import type { EngineModel } from './catalog.ts';

/** One engine replica as the node sees it. */
export interface Replica {
  /** Base URL without `/v1` (and without a trailing slash). */
  readonly url: string;
  readonly https: boolean;
  readonly hostname: string;
  readonly port: number;
  /** Path prefix of the base URL (`''` for none), put before `/v1/...`. */
  readonly basePath: string;
  /** Models it serves (from its `/v1/models`). */
  models: ReadonlySet<string>;
  /** Requests this node has sent to it that have not ended. */
  inFlight: number;
  /** In rotation. */
  up: boolean;
  /** Requests sent to it since start. */
  sent: number;
  /** Times it was taken out of rotation. */
  failures: number;
}

/** What the operator view and tests read about a replica. */
export interface ReplicaState {
  readonly url: string;
  readonly up: boolean;
  readonly inFlight: number;
  readonly sent: number;
  readonly failures: number;
  readonly models: string[];
  /** Why it was last taken out, while it is out. */
  readonly downReason?: string;
}

/** Backoff of the probe that brings a failed replica back. */
export interface ProbePolicy {
  /** First probe this long after the failure (default 250 ms). */
  readonly initialMs?: number;
  /** Backoff doubles up to this (default 10 s). */
  readonly maxMs?: number;
  /** One probe's timeout (default 2 s). */
  readonly timeoutMs?: number;
}

/** The upstream option: one engine URL or several replicas of the same engine kind. */
export function replicaUrls(upstream: string | readonly string[]): string[] {
  const list = (typeof upstream === 'string' ? [upstream] : [...upstream]).map((u) => u.trim().replace(/\/+$/, ''));
  if (list.length === 0) throw new RangeError('upstream: at least one engine URL is needed');
  for (const u of list) {
    let parsed: URL;
    try {
      parsed = new URL(u);
    } catch {
      throw new RangeError(`upstream: not a URL: ${JSON.stringify(u)}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new RangeError(`upstream: not an http(s) URL: ${JSON.stringify(u)}`);
  }
  if (new Set(list).size !== list.length) throw new RangeError('upstream: a replica is listed twice');
  return list;
}

function replicaOf(url: string): Replica {
  const parsed = new URL(url);
  const https = parsed.protocol === 'https:';
  return {
    url,
    https,
    hostname: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port ? Number(parsed.port) : https ? 443 : 80,
    basePath: parsed.pathname.replace(/\/+$/, ''),
    models: new Set(),
    inFlight: 0,
    up: false,
    sent: 0,
    failures: 0,
  };
}

/** Reads an engine's `/v1/models` (vLLM's `max_model_len` when present); `fallbackContext` otherwise. */
export async function fetchEngineModels(upstream: string, fallbackContext: number, apiKey?: string, signal?: AbortSignal): Promise<EngineModel[]> {
  const res = await fetch(`${upstream.replace(/\/+$/, '')}/v1/models`, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {}, ...(signal ? { signal } : {}) });
  if (!res.ok) throw new Error(`engine /v1/models answered ${res.status}`);
  const body = (await res.json()) as { data?: Array<Record<string, unknown>> };
  return (body.data ?? [])
    .filter((m) => typeof m['id'] === 'string')
    .map((m) => {
      const len = m['max_model_len'] ?? m['context_length'] ?? (m['meta'] as Record<string, unknown> | undefined)?.['n_ctx_train'];
      return { id: m['id'] as string, contextLength: typeof len === 'number' && len > 0 ? len : fallbackContext };
    });
}

interface Down {
  reason: string;
  delayMs: number;
  timer: NodeJS.Timeout | undefined;
  probing: AbortController | undefined;
}

/** The replicas of one node, their load and health; see the module doc. */
export class ReplicaPool {
  readonly replicas: readonly Replica[];
  private readonly apiKey: string | undefined;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly timeoutMs: number;
  private readonly log: (message: string) => void;
  private readonly down = new Map<Replica, Down>();
  private readonly listeners = new Set<(replica: ReplicaState) => void>();
  private next = 0;
  private stopped = false;

  constructor(urls: readonly string[], options: { apiKey?: string; probe?: ProbePolicy; log?: (message: string) => void } = {}) {
    this.replicas = urls.map(replicaOf);
    this.apiKey = options.apiKey;
    this.initialMs = options.probe?.initialMs ?? 250;
    this.maxMs = Math.max(this.initialMs, options.probe?.maxMs ?? 10_000);
    this.timeoutMs = options.probe?.timeoutMs ?? 2_000;
    this.log = options.log ?? ((m) => void process.stderr.write(`${m}\n`));
  }

  /**
   * Reads every replica's models. Replicas that answer are in rotation; the others are out and
   * probed. Returns the models the node sells: those of the replicas that answered, each with the
   * smallest context any of them reports (a request that fits one fits all). Rejects when none answers.
   */
  async open(fallbackContext: number): Promise<EngineModel[]> {
    const results = await Promise.allSettled(this.replicas.map((r) => fetchEngineModels(r.url, fallbackContext, this.apiKey, AbortSignal.timeout(this.timeoutMs))));
    const merged = new Map<string, number>();
    let firstError: unknown;
    results.forEach((result, i) => {
      const replica = this.replicas[i]!;
      if (result.status === 'rejected') {
        firstError ??= result.reason;
        this.markFailed(replica, `models: ${messageOf(result.reason)}`);
        return;
      }
      replica.models = new Set(result.value.map((m) => m.id));
      replica.up = true;
      for (const m of result.value) merged.set(m.id, Math.min(merged.get(m.id) ?? Infinity, m.contextLength));
    });
    if (!this.replicas.some((r) => r.up)) throw firstError instanceof Error ? firstError : new Error(messageOf(firstError));
    return [...merged].map(([id, contextLength]) => ({ id, contextLength }));
  }

  /**
   * The replica for a request on `model`: among those in rotation that serve it, the one with the
   * fewest requests in flight, ties taken in turn; when none is in rotation, the least loaded of
   * those serving it. `skip` lists replicas already tried for this request. Undefined: none left.
   */
  pick(model: string, skip?: readonly Replica[]): Replica | undefined {
    const list = this.replicas;
    const n = list.length;
    let best: Replica | undefined;
    let bestDown: Replica | undefined;
    let bestAt = 0;
    const start = this.next % n;
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      const r = list[i]!;
      if (!r.models.has(model) || skip?.includes(r)) continue;
      if (r.up) {
        if (!best || r.inFlight < best.inFlight) {
          best = r;
          bestAt = i;
        }
      } else if (!bestDown || r.inFlight < bestDown.inFlight) {
        bestDown = r;
      }
    }
    if (best) {
      this.next = bestAt + 1;
      return best;
    }
    return bestDown;
  }

  /** Takes a replica out of rotation (if in) and schedules its probe. */
  markFailed(replica: Replica, reason: string): void {
    if (this.stopped || this.down.has(replica)) return;
    replica.up = false;
    replica.failures++;
    const down: Down = { reason, delayMs: this.initialMs, timer: undefined, probing: undefined };
    this.down.set(replica, down);
    this.log(`engine replica ${replica.url} out of rotation: ${reason}`);
    this.schedule(replica, down);
    this.emit(replica);
  }

  /** Called with a replica's state whenever it leaves or rejoins the rotation. */
  onChange(listener: (replica: ReplicaState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every replica's state, in configuration order. */
  state(): ReplicaState[] {
    return this.replicas.map((r) => this.stateOf(r));
  }

  /** Stops the probes. */
  stop(): void {
    this.stopped = true;
    for (const d of this.down.values()) {
      if (d.timer) clearTimeout(d.timer);
      d.probing?.abort();
    }
  }

  private stateOf(r: Replica): ReplicaState {
    const down = this.down.get(r);
    return { url: r.url, up: r.up, inFlight: r.inFlight, sent: r.sent, failures: r.failures, models: [...r.models], ...(down ? { downReason: down.reason } : {}) };
  }

  private schedule(replica: Replica, down: Down): void {
    down.timer = setTimeout(() => {
      down.timer = undefined;
      void this.probe(replica, down);
    }, down.delayMs);
    down.timer.unref();
  }

  private async probe(replica: Replica, down: Down): Promise<void> {
    if (this.stopped) return;
    const controller = new AbortController();
    down.probing = controller;
    const timeout = setTimeout(() => controller.abort(), this.timeoutMs);
    timeout.unref();
    try {
      const models = await fetchEngineModels(replica.url, 0, this.apiKey, controller.signal);
      if (this.stopped) return;
      // It rejoins with the models it serves now (a replica that was down at start gets its models here).
      replica.models = new Set(models.map((m) => m.id));
      replica.up = true;
      this.down.delete(replica);
      this.log(`engine replica ${replica.url} back in rotation`);
      this.emit(replica);
    } catch (error) {
      if (this.stopped) return;
      down.reason = `probe: ${messageOf(error)}`;
      down.delayMs = Math.min(this.maxMs, down.delayMs * 2);
      this.schedule(replica, down);
    } finally {
      clearTimeout(timeout);
      down.probing = undefined;
    }
  }

  private emit(replica: Replica): void {
    if (this.listeners.size === 0) return;
    const s = this.stateOf(replica);
    for (const l of [...this.listeners]) l(s);
  }
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}
