/**
 * HTTP probe of a provider: `GET /v1/info` (mints, npub) and `GET /v1/models` (prices), with
 * a timeout per attempt and retries with exponential backoff for transient failures. A body
 * that does not parse is never retried: it marks the provider unhealthy.
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { satsPerTokenToMsatPerMtok } from '../money/index.ts';
import { parseModelsBodyLenient, parseNodeInfo, type Model, type NodeInfo } from '../protocol/index.ts';
import type { AskQuote } from './order-book.ts';

/** Stable codes of ProbeError. */
export type ProbeErrorCode = 'timeout' | 'network' | 'http_status' | 'malformed_body' | 'private_address' | 'aborted';

/** A probe that failed; `code` says how. */
export class ProbeError extends Error {
  readonly code: ProbeErrorCode;
  readonly url: string;
  readonly status: number | undefined;
  constructor(code: ProbeErrorCode, url: string, message: string, status?: number) {
    super(`${url}: ${message}`);
    this.name = 'ProbeError';
    this.code = code;
    this.url = url;
    this.status = status;
  }
}

export interface ProbeOptions {
  readonly fetch?: typeof fetch;
  /** Per attempt, per request (default 5 000 ms). */
  readonly timeoutMs?: number;
  /** Further attempts after a transient failure (default 2). */
  readonly retries?: number;
  /** First backoff; doubles each retry (default 250 ms). */
  readonly backoffMs?: number;
  readonly signal?: AbortSignal;
  /** Refuse hosts that resolve to private, loopback or link-local addresses (server-side deployments). */
  readonly refusePrivateAddresses?: boolean;
}

/** What a successful probe learned. */
export interface ProbeResult {
  /** Base URL probed, ending in `/`. */
  readonly url: string;
  readonly info: NodeInfo;
  readonly models: Model[];
  /** Models in the body that did not parse (skipped). */
  readonly rejectedModels: number;
  /** Asks from `sats_pricing` (models without it are not for sale in sats and are skipped). */
  readonly asks: AskQuote[];
  /** alias → the provider's id, from `alias_ids`, `canonical_slug` and `forwarded_model_id`. */
  readonly aliases: [string, string][];
  /** Wall time of the slower of the two requests, last attempt. */
  readonly latencyMs: number;
  readonly attempts: number;
}

const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv6');
}

/** Whether an IP literal is private, loopback, link-local or otherwise not a public host. */
export function isPrivateAddress(ip: string): boolean {
  const family = isIP(ip);
  if (family === 4) return PRIVATE.check(ip, 'ipv4');
  if (family === 6) {
    // IPv4-mapped (::ffff:a.b.c.d) is judged as the IPv4 it carries (a ::ffff:0:0/96 subnet in the list would match every IPv4)
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
    if (mapped) return PRIVATE.check(mapped[1] as string, 'ipv4');
    const hexMapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
    if (hexMapped) {
      const hi = parseInt(hexMapped[1] as string, 16);
      const lo = parseInt(hexMapped[2] as string, 16);
      return PRIVATE.check(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, 'ipv4');
    }
    return PRIVATE.check(ip, 'ipv6');
  }
  return false;
}

async function refuseIfPrivate(url: URL): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (host === 'localhost' || host.endsWith('.localhost') || host.endsWith('.local')) {
    throw new ProbeError('private_address', url.href, `host ${host} is local`);
  }
  // every resolved address must be public (a DNS answer may mix them); the check-then-connect gap remains
  const addresses = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  const bad = addresses.find(isPrivateAddress);
  if (bad !== undefined) throw new ProbeError('private_address', url.href, `host ${host} resolves to private address ${bad}`);
}

async function getJson(doFetch: typeof fetch, url: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<unknown> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let response: Response;
  try {
    response = await doFetch(url, { signal: combined, headers: { accept: 'application/json' } });
  } catch (error) {
    if (signal?.aborted) throw new ProbeError('aborted', url, 'aborted');
    if (timeout.aborted) throw new ProbeError('timeout', url, `no answer within ${timeoutMs} ms`);
    throw new ProbeError('network', url, (error as Error).message);
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    if (signal?.aborted) throw new ProbeError('aborted', url, 'aborted');
    if (timeout.aborted) throw new ProbeError('timeout', url, `body not complete within ${timeoutMs} ms`);
    throw new ProbeError('network', url, (error as Error).message);
  }
  if (!response.ok) throw new ProbeError('http_status', url, `HTTP ${response.status}`, response.status);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ProbeError('malformed_body', url, 'body is not JSON');
  }
}

function transient(error: ProbeError): boolean {
  return error.code === 'timeout' || error.code === 'network' || (error.code === 'http_status' && (error.status ?? 0) >= 500);
}

/** The asks and alias mappings a `/v1/models` list implies (sats per token → msat/Mtok, rounded up). */
export function asksFromModels(models: readonly Model[]): { asks: AskQuote[]; aliases: [string, string][] } {
  const asks: AskQuote[] = [];
  const aliases: [string, string][] = [];
  for (const m of models) {
    if (m.enabled === false) continue;
    const sats = m.sats_pricing;
    if (!sats || !(sats.prompt >= 0) || !(sats.completion >= 0)) continue;
    try {
      asks.push({ model: m.id, prompt: satsPerTokenToMsatPerMtok(sats.prompt), completion: satsPerTokenToMsatPerMtok(sats.completion) });
    } catch {
      continue; // a price too large to hold is not a usable ask
    }
    for (const alias of [...(m.alias_ids ?? []), m.canonical_slug, m.forwarded_model_id]) {
      if (alias && alias !== m.id) aliases.push([alias, m.id]);
    }
  }
  return { asks, aliases };
}

async function probeOnce(base: string, options: ProbeOptions): Promise<Omit<ProbeResult, 'attempts'>> {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const started = performance.now();
  const [infoBody, modelsBody] = await Promise.all([
    getJson(doFetch, `${base}v1/info`, timeoutMs, options.signal),
    getJson(doFetch, `${base}v1/models`, timeoutMs, options.signal),
  ]);
  const latencyMs = Math.round(performance.now() - started);
  let info: NodeInfo;
  let parsed: ReturnType<typeof parseModelsBodyLenient>;
  try {
    info = parseNodeInfo(infoBody);
  } catch (error) {
    throw new ProbeError('malformed_body', `${base}v1/info`, (error as Error).message);
  }
  try {
    parsed = parseModelsBodyLenient(modelsBody);
  } catch (error) {
    throw new ProbeError('malformed_body', `${base}v1/models`, (error as Error).message);
  }
  if (parsed.models.length === 0 && parsed.rejected.length > 0) {
    throw new ProbeError('malformed_body', `${base}v1/models`, parsed.rejected[0]?.error.message ?? 'no usable model');
  }
  const { asks, aliases } = asksFromModels(parsed.models);
  return { url: base, info, models: parsed.models, rejectedModels: parsed.rejected.length, asks, aliases, latencyMs };
}

/** Probes `/v1/info` and `/v1/models` under `baseUrl`, retrying transient failures with backoff. */
export async function probeProvider(baseUrl: string, options: ProbeOptions = {}): Promise<ProbeResult> {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  let parsedUrl: URL;
  try {
    parsedUrl = new URL(base);
  } catch {
    throw new ProbeError('network', base, 'not a URL');
  }
  if (options.refusePrivateAddresses) await refuseIfPrivate(parsedUrl);
  const retries = options.retries ?? 2;
  const backoff = options.backoffMs ?? 250;
  for (let attempt = 0; ; attempt++) {
    try {
      return { ...(await probeOnce(base, options)), attempts: attempt + 1 };
    } catch (error) {
      const e = error instanceof ProbeError ? error : new ProbeError('network', base, (error as Error).message);
      if (!transient(e) || attempt >= retries) throw e;
      try {
        await delay(backoff * 2 ** attempt, undefined, { signal: options.signal });
      } catch {
        throw new ProbeError('aborted', base, 'aborted');
      }
    }
  }
}
