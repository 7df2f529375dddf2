/** Reading requests and writing JSON answers with the headers every node response carries. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { COST_HEADERS, PayeeError, buildErrorBody } from '@routstr-kit/core';

/** Response headers a browser client may read (routstr-core exposes the same). */
export const EXPOSED_HEADERS = [
  'x-routstr-request-id',
  'X-Cashu',
  COST_HEADERS.total,
  COST_HEADERS.input,
  COST_HEADERS.output,
  COST_HEADERS.usd,
  'Retry-After',
];

/** CORS and request-id headers for every answer. */
export function baseHeaders(requestId: string): Record<string, string> {
  return {
    'x-routstr-request-id': requestId,
    'access-control-allow-origin': '*',
    'access-control-expose-headers': EXPOSED_HEADERS.join(', '),
  };
}

/** Writes a JSON answer (unless the response already started). */
export function sendJson(res: ServerResponse, status: number, body: unknown, requestId: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { ...baseHeaders(requestId), 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Answers a PayeeError with routstr-core's status and body. */
export function sendPayeeError(res: ServerResponse, error: PayeeError, requestId: string, headers: Record<string, string> = {}): void {
  sendJson(res, error.status, error.body(requestId), requestId, headers);
}

/** Answers a create_error_response-style error. */
export function sendError(res: ServerResponse, status: number, type: string, code: string | number, message: string, requestId: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, buildErrorBody(status, { message, type, code }, requestId), requestId, headers);
}

/** A body that is not JSON (400 invalid_json). */
export class InvalidJson extends Error {
  readonly code = 'invalid_json';
}

/** Reads a request body as JSON (empty body → `{}`), at most `limitBytes`. */
export async function readJson(req: IncomingMessage, limitBytes = 8 * 1024 * 1024): Promise<unknown> {
  const text = await readBody(req, limitBytes);
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new InvalidJson('Invalid JSON in request body');
  }
}

/** A request body as text, at most `limitBytes` (events, not an async iterator: one promise per body, not per chunk). */
function readBody(req: IncomingMessage, limitBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limitBytes) {
        req.off('data', onData);
        req.resume(); // drain what is left; the answer is the 400
        return reject(new InvalidJson('Request body too large'));
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    let ended = false;
    req.once('end', () => {
      ended = true;
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.once('error', reject);
    req.once('close', () => {
      if (!ended) reject(new InvalidJson('Request body cut off'));
    });
  });
}

/** The first value of a request header. */
export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
