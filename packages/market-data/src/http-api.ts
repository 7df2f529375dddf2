/** The HTTP side: JSON API under /api, SSE on /api/stream, the web page's files everywhere else. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Market, MarketClock } from '@routstr-kit/core/market';
import type { ErrorResponse, HistoryResponse } from './api-types.ts';
import { BadQuery, parseHistoryQuery } from './history-query.ts';
import type { MarketIndex } from './market-index.ts';
import { bookView, providersView, type NpubCache } from './market-views.ts';
import type { SseHub } from './sse-hub.ts';
import type { MarketStore } from './store/market-store.ts';
import { webAsset } from './web-assets.ts';

/** What the request handler reads. */
export interface ApiContext {
  readonly market: Market;
  readonly index: MarketIndex;
  readonly store: MarketStore;
  readonly hub: SseHub;
  readonly clock: MarketClock;
  readonly npubs: NpubCache;
  /** Where unexpected errors are reported (their text may name the database; the client gets none of it). */
  readonly log: (line: string) => void;
}

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'access-control-allow-origin': '*',
};

function sendJson(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendError(res: ServerResponse, status: number, message: string): void {
  const body: ErrorResponse = { error: { message } };
  sendJson(res, status, JSON.stringify(body));
}

/** `/api/models/{id}/{what}` → the decoded id and what, or undefined. */
function modelRoute(pathname: string): { id: string; what: string } | undefined {
  const match = /^\/api\/models\/([^/]+)\/(book|history)$/.exec(pathname);
  if (!match) return undefined;
  try {
    return { id: decodeURIComponent(match[1] as string), what: match[2] as string };
  } catch {
    return { id: '', what: match[2] as string };
  }
}

/** Handles one request; never throws (errors become 500 JSON). */
export async function handleRequest(ctx: ApiContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    await route(ctx, req, res);
  } catch (error) {
    ctx.log(`market-data: ${String(req.method)} ${String(req.url).slice(0, 200)} failed: ${(error as Error).message}`);
    if (!res.headersSent) sendError(res, 500, 'internal error');
    else res.destroy();
  }
}

async function route(ctx: ApiContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const path = url.pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return sendError(res, 405, `${String(req.method)} is not allowed; the API is read-only`);
  }
  if (!path.startsWith('/api/') && path !== '/api') {
    const asset = webAsset(path);
    if (!asset) return sendError(res, 404, 'not found');
    const body = typeof asset.body === 'string' ? Buffer.from(asset.body) : asset.body;
    res.writeHead(200, { 'content-type': asset.contentType, 'content-length': body.byteLength, 'x-content-type-options': 'nosniff' });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  const now = ctx.clock.now();
  if (path === '/api/models') return sendJson(res, 200, `{"at":${now},"models":${ctx.index.modelsJson}}`);
  if (path === '/api/providers') return sendJson(res, 200, JSON.stringify(providersView(ctx.market, ctx.index, ctx.npubs, now)));
  if (path === '/api/stream') {
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      return void res.end();
    }
    if (!ctx.hub.add(res)) sendError(res, 503, 'too many open streams; try again later');
    return;
  }
  const r = modelRoute(path);
  if (!r) return sendError(res, 404, 'no such API route');
  if (r.id === '') return sendError(res, 400, 'the model id is not valid URL encoding');
  const key = ctx.index.resolve(r.id);
  if (r.what === 'book') {
    if (key === undefined) return sendError(res, 404, `no live asks for model ${JSON.stringify(r.id)}`);
    return sendJson(res, 200, JSON.stringify(bookView(ctx.market, ctx.index, ctx.npubs, key, now)));
  }
  let query;
  try {
    query = parseHistoryQuery(url.searchParams, now);
  } catch (error) {
    if (error instanceof BadQuery) return sendError(res, 400, error.message);
    throw error;
  }
  const model = key ?? r.id;
  if (key === undefined && !(await ctx.store.hasModel(model))) return sendError(res, 404, `no history for model ${JSON.stringify(r.id)}`);
  const series = await ctx.store.candles(model, query.from, query.to, query.intervalMs);
  const body: HistoryResponse = { model, interval: query.interval, from: query.from, to: query.to, bestAsk: series.bestAsk, median: series.median };
  return sendJson(res, 200, JSON.stringify(body));
}
