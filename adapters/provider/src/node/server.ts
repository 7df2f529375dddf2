/**
 * The provider node's HTTP surface, routstr-core compatible: `/v1/info`, `/v1/models`, paid
 * inference (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, also without `/v1`),
 * balances (`/v1/balance/*`, `/v1/wallet/*`) and the operator API (`/admin/api/*`).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { buildNodeInfo, type Model, type Payee } from '@routstr-kit/core';
import type { BatchService } from '../batches/index.ts';
import type { PriceBoard } from '../market-maker/price-board.ts';
import type { Admission } from './admission.ts';
import { handleAdminRoute } from './admin-routes.ts';
import { balanceRoute, handleBalanceRoute } from './balance-routes.ts';
import { catalog, modelFor, type CatalogOptions, type EngineModel } from './catalog.ts';
import { handlePaidRequest, type PaidProxyDeps } from './paid-proxy.ts';
import { baseHeaders, sendError, sendJson } from './responses.ts';
import type { ReplicaPool } from './replica-pool.ts';
import { destroyUpstreamAgents, upstreamAgents } from './upstream-request.ts';

export interface NodeServerOptions {
  /** The engine replicas requests go to. */
  readonly replicas: ReplicaPool;
  readonly upstreamApiKey?: string;
  readonly payee: Payee;
  readonly admission: Admission;
  readonly board: PriceBoard;
  readonly engineModels: readonly EngineModel[];
  readonly catalog: CatalogOptions;
  readonly info: { name: string; about: string; version: string; npub: string; mints: readonly string[]; httpUrl?: string };
  readonly adminToken?: string;
  readonly allowRemoteAdmin?: boolean;
  /** What `/admin/api/price-inputs` shows (default: the board's current prices). */
  priceInputs?(): unknown;
  /** OpenAI Files + Batch API (`/v1/files`, `/v1/batches`); absent: those routes are 404. */
  readonly batches?: Pick<BatchService, 'handles' | 'handle'>;
  /** Where an unexpected error (answered 500 internal_error) is reported for the operator (default: stderr). */
  readonly log?: (message: string) => void;
}

/** Inference routes forwarded to the engine (with or without the `/v1` prefix). */
const PAID_PATHS = new Set(['/chat/completions', '/completions', '/embeddings']);

/** The node's HTTP server (not listening yet). */
export function createNodeServer(options: NodeServerOptions): Server {
  // The catalog is rebuilt only when the board's prices change (a board replaces its map on every change).
  let priced: { prices: ReadonlyMap<string, unknown>; models: Model[]; byId: Map<string, Model> } | undefined;
  const catalogNow = (): NonNullable<typeof priced> => {
    const prices = options.board.current();
    if (priced?.prices !== prices) {
      const list = catalog(options.engineModels, prices, options.catalog);
      priced = { prices, models: list, byId: new Map(list.map((m) => [m.id, m])) };
    }
    return priced;
  };
  const models = (): Model[] => catalogNow().models;
  const agents = upstreamAgents();
  const log = options.log ?? ((message: string) => void process.stderr.write(`${message}\n`));
  const proxyDeps: PaidProxyDeps = {
    replicas: options.replicas,
    upstreamAgents: agents,
    ...(options.upstreamApiKey ? { upstreamApiKey: options.upstreamApiKey } : {}),
    payee: options.payee,
    admission: options.admission,
    model: (id) => catalogNow().byId.get(id),
    async quotedModel(quoteId, modelId) {
      const lookup = await options.board.quote(quoteId, modelId);
      if (!lookup.ok) return lookup;
      const engineModel = options.engineModels.find((m) => m.id === modelId);
      const price = lookup.prices.get(modelId);
      if (!engineModel || !price) return { ok: false, reason: 'model_not_quoted' };
      return { ok: true, model: modelFor(engineModel, price, options.catalog) };
    },
  };
  const priceInputs = options.priceInputs ?? (() => ({ prices: [...options.board.current().values()] }));
  const adminDeps = { payee: options.payee, adminToken: options.adminToken, allowRemote: options.allowRemoteAdmin ?? false, priceInputs };

  const server = createServer((req, res) => {
    const requestId = randomUUID();
    const url = new URL(req.url ?? '/', 'http://node');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const route = async (): Promise<void> => {
      if (method === 'OPTIONS') {
        res.writeHead(204, {
          ...baseHeaders(requestId),
          'access-control-allow-methods': 'GET, POST, OPTIONS',
          'access-control-allow-headers': 'authorization, content-type, x-cashu, x-routstr-quote, refund-lnurl, key-expiry-time',
          'access-control-max-age': '600',
        });
        return void res.end();
      }
      if (method === 'GET' && path === '/') {
        return sendJson(res, 200, { name: options.info.name, description: options.info.about, version: options.info.version, status: 'running', ui: 'not available' }, requestId);
      }
      if (method === 'GET' && path === '/v1/info') {
        const { name, about, version, npub, mints, httpUrl } = options.info;
        return sendJson(res, 200, buildNodeInfo({ name, description: about, version, npub, mints, ...(httpUrl ? { httpUrl } : {}) }), requestId);
      }
      if (method === 'GET' && /^\/(v1\/)?models\/?$/.test(path)) return sendJson(res, 200, { data: models() }, requestId);
      const balance = balanceRoute(path);
      if (balance !== undefined) return handleBalanceRoute(options.payee, req, res, balance, url, requestId);
      if (options.batches?.handles(path)) return options.batches.handle(req, res, url, requestId);
      if (path.startsWith('/admin/api/')) return handleAdminRoute(adminDeps, req, res, path, requestId);
      if (method === 'POST') {
        const bare = path.startsWith('/v1/') ? path.slice(3) : path;
        if (PAID_PATHS.has(bare)) return handlePaidRequest(proxyDeps, req, res, `/v1${bare}`, requestId);
      }
      return sendError(res, 404, 'invalid_request_error', 'not_found', `${method} ${path} not found`, requestId);
    };
    route().catch((error: unknown) => {
      // Internal details stay out of the answer; the operator's log gets them with any Cashu token cut out.
      const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
      log(`internal error on ${method} ${path} (request ${requestId}): ${detail.replace(/cashu[AB][\w-]+=*/g, 'cashu…')}`);
      if (res.headersSent) return void res.end();
      sendError(res, 500, 'api_error', 'internal_error', 'Internal error', requestId);
    });
  });
  server.on('close', () => destroyUpstreamAgents(agents));
  return server;
}
