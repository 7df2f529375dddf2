/**
 * A hostile provider for buyer-side tests: a small routstr-core-shaped HTTP node that announces
 * itself on the devnet relay, really redeems X-Cashu tokens at the devnet mint into its own wallet,
 * and then misbehaves in one chosen way (keeps the change, forges it, inflates usage, hangs,
 * streams forever, sends a huge body, advertises absurd limits). It answers with canned text, so
 * it needs no engine. It does not wrap the real provider node: the devnet package must not depend
 * on adapters/provider, and every behaviour here is a few lines over the real mint and relay.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { generateSecretKey, getPublicKey, nip19 } from 'nostr-tools';
import WebSocket from 'ws';
import {
  askGate,
  buildAnnouncement,
  buildModelsBody,
  buildNodeInfo,
  estimatePromptTokens,
  msatPerMtok,
  openWallet,
  pricingFromAsk,
  sat,
  sseDataEvent,
  SSE_DONE,
  usageTrailerChunk,
  xCashuSseComment,
  type EcashWallet,
  type NostrEvent,
} from '@routstr-kit/core';
import { activeKeysetId, forgeChange, spentChange, type Forgery } from './forged-change.ts';

/** The one way a hostile provider misbehaves (`honest` is the control). */
export type HostileBehaviour =
  | 'honest'
  | 'overcharge'
  | 'withhold-change'
  | 'forged-change'
  | 'spent-change'
  | 'hang-before-redeem'
  | 'hang-after-redeem'
  | 'stall-stream'
  | 'stream-forever'
  | 'huge-body'
  | 'absurd-limits';

export interface HostileProviderOptions {
  readonly behaviour: HostileBehaviour;
  readonly mintUrl: string;
  readonly relayUrl: string;
  /** Model id it announces and serves. */
  readonly model: string;
  /** Its ask, msat per million tokens. */
  readonly price: { readonly prompt: number; readonly completion: number };
  /** Folder for its wallet. */
  readonly dataDir: string;
  /** `forged-change`: how the change is forged (default bad-signature). */
  readonly forgery?: Forgery;
  /** `huge-body`: bytes it sends (default 64 MiB). */
  readonly hugeBodyBytes?: number;
  /** Mints it announces and lists in `/v1/info` (default: the devnet mint it redeems at). */
  readonly mints?: readonly string[];
}

/** What the hostile node did, for the tests' books. */
export interface HostileStats {
  requests: number;
  /** Sats credited to its wallet from buyers' tokens. */
  redeemedSat: number;
  /** Body bytes the socket accepted before the buyer stopped reading. */
  bytesSent: number;
}

export interface HostileProvider {
  readonly url: string;
  readonly pubkey: string;
  /** Provider id as the market names it (`38421:<pubkey>:<d>`). */
  readonly id: string;
  readonly wallet: EcashWallet;
  readonly stats: HostileStats;
  /** Resolves once it has redeemed a buyer's token for the first time. */
  readonly redeemed: Promise<void>;
  stop(): Promise<void>;
}

/** BTC/USD the node converts its ask with (any positive figure: the sats prices are what count). */
const BTC_USD = 100_000;
const CHUNK = 64 * 1024;
/** Output tokens of an honest answer when the request bounds none. */
const DEFAULT_COMPLETION = 8;

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.byteLength;
    if (size > 1 << 20) throw new Error('request body too large');
    chunks.push(c);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
}

/** Writes `chunk`, waiting for the socket to drain; false once the buyer has gone. */
function write(res: ServerResponse, stats: HostileStats, chunk: string): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return Promise.resolve(false);
  return new Promise((resolve) => {
    const ok = res.write(chunk, (error) => {
      if (!error) stats.bytesSent += Buffer.byteLength(chunk);
    });
    if (ok) resolve(true);
    else {
      const done = (): void => {
        res.off('drain', done);
        res.off('close', done);
        resolve(!res.destroyed);
      };
      res.on('drain', done);
      res.on('close', done);
    }
  });
}

async function announce(relayUrl: string, event: NostrEvent): Promise<void> {
  const ws = new WebSocket(relayUrl);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('error', reject);
      ws.once('open', () => ws.send(JSON.stringify(['EVENT', event])));
      ws.on('message', (data: Buffer) => {
        const msg = JSON.parse(data.toString()) as unknown[];
        if (msg[0] === 'OK' && msg[1] === event.id) (msg[2] === true ? resolve() : reject(new Error(`relay refused: ${String(msg[3])}`)));
      });
    });
  } finally {
    ws.close();
  }
}

/** Starts a hostile provider on loopback and announces it on the relay. */
export async function startHostileProvider(options: HostileProviderOptions): Promise<HostileProvider> {
  const { behaviour, mintUrl, model } = options;
  const wallet = await openWallet({ path: join(options.dataDir, `hostile-${behaviour}.db`), mints: [mintUrl] });
  const keysetId = await activeKeysetId(mintUrl);
  const secretKey = generateSecretKey();
  const pubkey = getPublicKey(secretKey);
  const ask = { prompt: msatPerMtok(options.price.prompt), completion: msatPerMtok(options.price.completion) };
  const absurd = behaviour === 'absurd-limits';
  const limits = absurd
    ? { context_length: 10_000_000, top_provider: { context_length: 10_000_000, max_completion_tokens: 10_000_000 } }
    : { context_length: 2048, top_provider: { context_length: 2048, max_completion_tokens: 512 } };
  const stats: HostileStats = { requests: 0, redeemedSat: 0, bytesSent: 0 };
  /** Change owed per original token, for the refund route. */
  const refunds = new Map<string, string>();
  const hung = new Set<ServerResponse>();
  let url = '';
  let tookToken: () => void = () => undefined;
  const redeemed = new Promise<void>((resolve) => (tookToken = resolve));
  const mints = options.mints ?? [mintUrl];

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const hang = (res: ServerResponse): void => {
    hung.add(res);
    res.on('close', () => hung.delete(res));
  };

  /** The change token this node hands back for `changeSat`, true to its behaviour. */
  const makeChange = async (changeSat: number): Promise<string | undefined> => {
    if (changeSat <= 0) return undefined;
    if (behaviour === 'forged-change') return forgeChange(mintUrl, keysetId, changeSat, options.forgery ?? 'bad-signature');
    if (behaviour === 'spent-change') return spentChange(wallet, changeSat);
    return (await wallet.send(sat(changeSat), { purpose: 'change' })).token;
  };

  async function chat(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.requests++;
    const token = String(req.headers['x-cashu'] ?? '').trim();
    const body = await readBody(req);
    if (!token) return json(res, 401, { detail: 'X-Cashu token required' });
    if (behaviour === 'hang-before-redeem') return hang(res);
    let paid: number;
    try {
      paid = await wallet.receive(token);
    } catch (error) {
      return json(res, 400, { detail: { error: { type: 'invalid_token', message: String(error), code: 'cashu_token_invalid' } } });
    }
    stats.redeemedSat += paid;
    tookToken();
    if (behaviour === 'hang-after-redeem') return hang(res);
    const rawMax = body['max_tokens'] ?? body['max_completion_tokens'];
    const asked = typeof rawMax === 'number' && rawMax > 0 ? rawMax : DEFAULT_COMPLETION;
    const promptTokens = estimatePromptTokens(body['messages']);
    const served = Math.min(asked, DEFAULT_COMPLETION);
    // the endless and huge answers bill the most the request allows; the others what they served
    const billed = ['stream-forever', 'stall-stream', 'huge-body'].includes(behaviour) ? asked : served;
    const costSat = Math.ceil(askGate(ask, { promptTokens, maxTokens: billed }) / 1000);
    // `overcharge` reports inflated usage (and gives honest change); `withhold-change` keeps it all
    const keepsAll = behaviour === 'withhold-change';
    const change = keepsAll ? undefined : await makeChange(Math.max(0, paid - costSat));
    if (change) refunds.set(token, change);
    const usage = { prompt_tokens: promptTokens, completion_tokens: behaviour === 'overcharge' ? asked * 5000 : served };
    const text = 'hostile '.repeat(served);
    if (body['stream'] === true) return stream(res, usage, text, change);
    const headers: Record<string, string> = change ? { 'x-cashu': change } : {};
    if (behaviour === 'huge-body') return huge(res, headers, false);
    json(res, 200, { id: 'chatcmpl-hostile', object: 'chat.completion', created: 0, model, choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'length' }], usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens } }, headers);
  }

  async function huge(res: ServerResponse, headers: Record<string, string>, sse: boolean): Promise<void> {
    res.writeHead(200, { 'content-type': sse ? 'text/event-stream' : 'application/json', ...headers });
    // one endless line: neither a JSON end nor an SSE newline comes before the limit
    if (!(await write(res, stats, sse ? 'data: {"choices":[{"index":0,"delta":{"content":"' : '{"id":"chatcmpl-hostile","choices":[{"index":0,"message":{"content":"'))) return;
    const block = 'a'.repeat(CHUNK);
    for (let sent = 0; sent < (options.hugeBodyBytes ?? 64 << 20); sent += CHUNK) if (!(await write(res, stats, block))) return;
    res.end(sse ? '"}}]}\n\ndata: [DONE]\n\n' : '"}}]}');
  }

  async function stream(res: ServerResponse, usage: { prompt_tokens: number; completion_tokens: number }, text: string, change: string | undefined): Promise<void> {
    if (behaviour === 'huge-body') return huge(res, {}, true);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const chunk = (content: string): string => sseDataEvent({ id: 'chatcmpl-hostile', object: 'chat.completion.chunk', created: 0, model, choices: [{ index: 0, delta: { content }, finish_reason: null }] });
    if (behaviour === 'stall-stream') {
      await write(res, stats, chunk('hostile '));
      return hang(res);
    }
    if (behaviour === 'stream-forever') {
      hung.add(res);
      // paced so the buyer's time limit, not its byte limit, is what ends it
      while (await write(res, stats, chunk('forever '))) await new Promise((r) => setTimeout(r, 5));
      return;
    }
    for (const word of text.split(' ').filter(Boolean)) await write(res, stats, chunk(`${word} `));
    await write(res, stats, sseDataEvent(usageTrailerChunk('chatcmpl-hostile', model, usage)));
    if (change) await write(res, stats, xCashuSseComment(change));
    res.end(SSE_DONE);
  }

  function refund(req: IncomingMessage, res: ServerResponse): void {
    const token = String(req.headers['x-cashu'] ?? '').trim();
    if (behaviour === 'hang-after-redeem') return hang(res);
    const change = refunds.get(token);
    if (!change || behaviour === 'withhold-change') return json(res, 404, { detail: 'No refund found for this token' });
    json(res, 200, { token: change }, { 'x-cashu': change });
  }

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const run = async (): Promise<void> => {
      if (req.method === 'GET' && path === '/v1/info') {
        return json(res, 200, buildNodeInfo({ name: `hostile ${behaviour}`, description: 'a hostile provider (devnet tests)', version: '0.1.0', npub: nip19.npubEncode(pubkey), mints, httpUrl: url }));
      }
      if (req.method === 'GET' && path === '/v1/models') {
        const { pricing, sats_pricing } = pricingFromAsk(ask, BTC_USD, limits);
        const architecture = { modality: 'text->text', input_modalities: ['text'], output_modalities: ['text'], tokenizer: 'llama' };
        return json(res, 200, buildModelsBody([{ id: model, name: model, created: 0, description: 'hostile', ...limits, architecture, pricing, sats_pricing }]));
      }
      if (req.method === 'POST' && path === '/v1/chat/completions') return chat(req, res);
      if (req.method === 'POST' && (path === '/v1/wallet/refund' || path === '/v1/balance/refund')) return refund(req, res);
      json(res, 404, { detail: 'Not Found' });
    };
    run().catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { detail: String(error) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const event = buildAnnouncement({ d: behaviour, urls: [url], mints, version: '0.1.0', name: `hostile-${behaviour}`, about: 'a hostile provider (devnet tests)', asks: [{ model, ...ask }] }, secretKey);
  await announce(options.relayUrl, event);

  return {
    url,
    pubkey,
    id: `38421:${pubkey}:${behaviour}`,
    wallet,
    stats,
    redeemed,
    async stop() {
      for (const res of hung) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      wallet.close();
    },
  };
}
