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
export type ProbeErrorCode = 'timeout' | 'network' | 'http_status' | 'malformed_body' | 'too_large' | 'private_address' | 'aborted';

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
  /** Largest `/v1/info` or `/v1/models` body read; a bigger one is cut off there and fails the probe (default 2 MiB). */
  readonly maxBodyBytes?: number;
  /** Further attempts after a transient failure (default 2). */
  readonly retries?: number;
  /** First backoff; doubles each retry (default 250 ms). */
  readonly backoffMs?: number;
  readonly signal?: AbortSignal;
  /**
   * Which addresses the probe may dial. The market passes its `allowProviderAddresses` (default
   * 'public'); a bare probe of a URL the market already admitted (the payer's) allows 'any'.
   */
  readonly allowAddresses?: ProviderAddressPolicy;
  /** Resolves a host name to every address it has (default: the system resolver, `dns.lookup`). */
  readonly resolveHost?: (host: string) => Promise<string[]>;
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

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

// not public: private, link-local, CGNAT, benchmarking, "this host", multicast, reserved
const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 3],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv6');
}

/** Which provider addresses the market dials: public only, public and loopback (the devnet), or any. */
export type ProviderAddressPolicy = 'public' | 'loopback' | 'any';

export const PROVIDER_ADDRESS_POLICIES: readonly ProviderAddressPolicy[] = ['public', 'loopback', 'any'];

/** The policy a setting names (`ROUTSTR_KIT_PROVIDER_ADDRESSES`), or undefined when it names none of them. */
export function parseProviderAddressPolicy(value: string | undefined): ProviderAddressPolicy | undefined {
  const v = value?.trim().toLowerCase();
  return PROVIDER_ADDRESS_POLICIES.find((p) => p === v);
}

/** Where an address leads: the open network, this machine, or a private/link-local/reserved network. */
export type AddressScope = 'public' | 'loopback' | 'private';

/** The scope of an IP literal (IPv4-mapped IPv6 is judged as the IPv4 it carries); undefined for a name. */
export function addressScope(ip: string): AddressScope | undefined {
  const family = isIP(ip);
  if (family === 0) return undefined;
  let v4: string | undefined = family === 4 ? ip : undefined;
  if (family === 6) {
    // a ::ffff:0:0/96 subnet in the list would match every IPv4, so unwrap instead
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
    const hexMapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(ip);
    if (mapped) v4 = mapped[1] as string;
    else if (hexMapped) {
      const hi = parseInt(hexMapped[1] as string, 16);
      const lo = parseInt(hexMapped[2] as string, 16);
      v4 = `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
    }
  }
  if (v4 !== undefined) return LOOPBACK.check(v4, 'ipv4') ? 'loopback' : PRIVATE.check(v4, 'ipv4') ? 'private' : 'public';
  return LOOPBACK.check(ip, 'ipv6') ? 'loopback' : PRIVATE.check(ip, 'ipv6') ? 'private' : 'public';
}

/** Whether an IP literal is private, loopback, link-local or otherwise not a public host. */
export function isPrivateAddress(ip: string): boolean {
  const scope = addressScope(ip);
  return scope !== undefined && scope !== 'public';
}

/** Whether `policy` lets the market dial an address of `scope`. */
export function scopeAllowed(scope: AddressScope, policy: ProviderAddressPolicy): boolean {
  return policy === 'any' || scope === 'public' || (policy === 'loopback' && scope === 'loopback');
}

/** The scope a URL's host has without DNS (IP literals, localhost names, mDNS `.local`); undefined when it must be resolved. */
export function literalHostScope(url: URL): AddressScope | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return 'loopback';
  if (host.endsWith('.local') || host.endsWith('.internal')) return 'private';
  return addressScope(host);
}

/**
 * Refuses a URL whose host is, or resolves to, an address `policy` does not allow. Every resolved
 * address must pass (a DNS answer may mix them); the gap between this check and the connect remains.
 */
export async function checkProviderAddress(url: URL, policy: ProviderAddressPolicy, resolve: (host: string) => Promise<string[]> = resolveAll): Promise<void> {
  if (policy === 'any') return;
  const literal = literalHostScope(url);
  if (literal !== undefined) {
    if (!scopeAllowed(literal, policy)) throw new ProbeError('private_address', url.href, `host ${url.hostname} is ${literal} (allowed: ${policy})`);
    return;
  }
  let addresses: string[];
  try {
    addresses = await resolve(url.hostname);
  } catch (error) {
    throw new ProbeError('network', url.href, `cannot resolve ${url.hostname}: ${(error as Error).message}`);
  }
  for (const address of addresses) {
    const scope = addressScope(address) ?? 'private';
    if (!scopeAllowed(scope, policy)) throw new ProbeError('private_address', url.href, `host ${url.hostname} resolves to ${scope} address ${address} (allowed: ${policy})`);
  }
}

async function resolveAll(host: string): Promise<string[]> {
  return (await lookup(host, { all: true })).map((a) => a.address);
}

/** Reads at most `maxBytes` of a body as UTF-8; cancels the stream and throws past that, so a huge answer is never buffered whole. */
async function readCapped(response: Response, url: string, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new ProbeError('too_large', url, `body of ${declared} bytes is over the ${maxBytes} byte limit`);
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new ProbeError('too_large', url, `body is over the ${maxBytes} byte limit`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

async function getJson(doFetch: typeof fetch, url: string, timeoutMs: number, maxBytes: number, signal: AbortSignal | undefined): Promise<unknown> {
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
    text = await readCapped(response, url, maxBytes);
  } catch (error) {
    if (error instanceof ProbeError) throw error;
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
  const maxBytes = options.maxBodyBytes ?? 2 * 1024 * 1024;
  const started = performance.now();
  const [infoBody, modelsBody] = await Promise.all([
    getJson(doFetch, `${base}v1/info`, timeoutMs, maxBytes, options.signal),
    getJson(doFetch, `${base}v1/models`, timeoutMs, maxBytes, options.signal),
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
  await checkProviderAddress(parsedUrl, options.allowAddresses ?? 'any', options.resolveHost);
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
