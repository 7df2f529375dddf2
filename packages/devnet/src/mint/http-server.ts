import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { CashuMint } from './cashu-mint.ts';
import { NutCode, NutError } from './nut-error.ts';
import { type RequestKind, parseRequest } from './requests.ts';

const MAX_BODY_BYTES = 1024 * 1024;

type Route = (mint: CashuMint, body: unknown, param: string) => object;

const post = <K extends RequestKind>(kind: K, run: (mint: CashuMint, body: ReturnType<typeof parseRequest<K>>) => object): Route =>
  (mint, body) => run(mint, parseRequest(kind, body));

const ROUTES: { method: 'GET' | 'POST'; path: RegExp; route: Route }[] = [
  { method: 'GET', path: /^\/v1\/info$/, route: (mint) => mint.info() },
  { method: 'GET', path: /^\/v1\/keys$/, route: (mint) => mint.keys() },
  { method: 'GET', path: /^\/v1\/keys\/([^/]+)$/, route: (mint, _b, id) => mint.keys(id) },
  { method: 'GET', path: /^\/v1\/keysets$/, route: (mint) => mint.keysets() },
  { method: 'POST', path: /^\/v1\/mint\/quote\/bolt11$/, route: post('mintQuote', (m, b) => m.createMintQuote(b)) },
  { method: 'GET', path: /^\/v1\/mint\/quote\/bolt11\/([^/]+)$/, route: (mint, _b, id) => mint.mintQuoteStatus(id) },
  { method: 'POST', path: /^\/v1\/mint\/bolt11$/, route: post('mint', (m, b) => m.mint(b)) },
  { method: 'POST', path: /^\/v1\/swap$/, route: post('swap', (m, b) => m.swap(b)) },
  { method: 'POST', path: /^\/v1\/checkstate$/, route: post('checkState', (m, b) => m.checkState(b)) },
  { method: 'POST', path: /^\/v1\/restore$/, route: post('restore', (m, b) => m.restore(b)) },
  { method: 'POST', path: /^\/v1\/melt\/quote\/bolt11$/, route: post('meltQuote', (m, b) => m.createMeltQuote(b)) },
  { method: 'GET', path: /^\/v1\/melt\/quote\/bolt11\/([^/]+)$/, route: (mint, _b, id) => mint.meltQuoteStatus(id) },
  { method: 'POST', path: /^\/v1\/melt\/bolt11$/, route: post('melt', (m, b) => m.melt(b)) },
];

/** The NUT HTTP API over node:http. Each request is handled synchronously once its body is read, so no await splits a check from its write. */
export function createMintServer(mint: CashuMint): Server {
  return createServer((req, res) => {
    readBody(req).then(
      (raw) => respond(mint, req, res, raw),
      (error: unknown) => sendError(mint, res, error),
    );
  });
}

function respond(mint: CashuMint, req: IncomingMessage, res: ServerResponse, raw: string): void {
  const path = new URL(req.url ?? '/', 'http://mint').pathname.replace(/\/+$/, '');
  const match = ROUTES.map((r) => ({ r, m: r.method === req.method ? r.path.exec(path) : null })).find((x) => x.m);
  if (!match?.m) {
    send(res, 404, { detail: `no route ${req.method} ${path}`, code: NutCode.malformedRequest });
    return;
  }
  try {
    const param = decodePathParam(match.m[1] ?? '');
    send(res, 200, match.r.route(mint, req.method === 'POST' ? parseJson(raw) : undefined, param));
  } catch (error) {
    sendError(mint, res, error);
  }
}

function decodePathParam(param: string): string {
  try {
    return decodeURIComponent(param);
  } catch {
    throw new NutError(NutCode.malformedRequest, 'malformed path');
  }
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new NutError(NutCode.malformedRequest, 'malformed request (body is not JSON)');
  }
}

function sendError(mint: CashuMint, res: ServerResponse, error: unknown): void {
  if (error instanceof NutError) {
    mint.recordError(error.code);
    send(res, 400, { detail: error.message, code: error.code });
    return;
  }
  mint.recordError(0);
  console.error('devnet mint: unexpected error', error);
  send(res, 500, { detail: 'internal mint error', code: 0 });
}

function send(res: ServerResponse, status: number, body: object): void {
  if (res.headersSent) return;
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () =>
      size > MAX_BODY_BYTES
        ? reject(new NutError(NutCode.malformedRequest, 'request body too large'))
        : resolve(Buffer.concat(chunks).toString('utf8')),
    );
    req.on('error', reject);
  });
}
