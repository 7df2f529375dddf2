/**
 * A paid inference request, end to end: gate (routstr-core's, from the Model we advertise or the
 * quoted one, over the request's real output bound), payment (X-Cashu wins over Authorization),
 * admission to the engine, forwarding with the paid output bound written in, billing from usage,
 * change. Bearer streams, and X-Cashu streams whose request carries `X-Routstr-Stream-Change: sse`,
 * are piped chunk by chunk as the engine produces them (X-Cashu change then arrives as a final
 * `: x-cashu <token>` comment and via the refund route); any other X-Cashu stream is buffered as
 * routstr-core does, so that its change can travel in the `X-Cashu` response header, the only place
 * unmodified Routstr clients read it.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setImmediate as nextMacrotask } from 'node:timers/promises';
import {
  NO_TOKEN_ECHO_CODES,
  PayeeError,
  SSE_DONE,
  attachCostMetadata,
  buildCostHeaders,
  buildHttpExceptionBody,
  buildUpstreamRefundBody,
  minimumBalanceError,
  parseAuthorization,
  requestGate,
  xCashuSseComment,
  type CostResult,
  type Model,
  type Payee,
  type TokenFacts,
} from '@routstr-kit/core';
import type { QuoteLookup } from '../market-maker/price-board.ts';
import { QueueFull, type Admission } from './admission.ts';
import { bill, choiceChars, countCompletionTokens, countPromptTokens, generatedChars } from './billing.ts';
import { boundedUpstreamBody, invalidOutputFields, outputLimit } from './output-bound.ts';
import { InvalidJson, baseHeaders, header, readJson, sendError, sendJson, sendPayeeError } from './responses.ts';
import { sseLines } from './sse-lines.ts';
import type { ReplicaPool } from './replica-pool.ts';
import { postToReplica, readText, type UpstreamAgents, type UpstreamResponse } from './upstream-request.ts';

/** What a paid request needs from the node. */
export interface PaidProxyDeps {
  /** The engine replicas (a request goes to the least loaded serving its model). */
  readonly replicas: ReplicaPool;
  readonly upstreamApiKey?: string;
  /** Kept-alive connections to the engine. */
  readonly upstreamAgents: UpstreamAgents;
  readonly payee: Payee;
  readonly admission: Admission;
  /** The advertised Model at current prices. */
  model(id: string): Model | undefined;
  /** The Model at a quote's prices (`X-Routstr-Quote`). */
  /** A pinned quote's model (async: quotes may be shared by several processes in PostgreSQL). */
  quotedModel(quoteId: string, modelId: string): Promise<{ ok: true; model: Model } | { ok: false; reason: Extract<QuoteLookup, { ok: false }>['reason'] }>;
}

type Payer =
  | { readonly kind: 'xcashu'; readonly token: string; readonly facts: TokenFacts; tokenHash?: string }
  | { readonly kind: 'bearer'; readonly apiKey: string; readonly reservationId: string };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const QUOTE_MESSAGES = {
  unknown: 'Unknown quote: this node published no price tick with that id (or forgot it)',
  expired: 'The quote has expired; fetch current prices or a fresh tick',
  model_not_quoted: 'The quote does not price this model',
} as const;

/** Serves one paid POST (`upstreamPath` like `/v1/chat/completions`). */
export async function handlePaidRequest(deps: PaidProxyDeps, req: IncomingMessage, res: ServerResponse, upstreamPath: string, requestId: string): Promise<void> {
  let body: Record<string, unknown>;
  try {
    const parsed = await readJson(req);
    if (!isObject(parsed)) throw new InvalidJson('Request body must be a JSON object');
    body = parsed;
  } catch (error) {
    return sendError(res, 400, 'invalid_request_error', 'invalid_json', error instanceof Error ? error.message : 'Invalid JSON', requestId);
  }
  const modelId = typeof body['model'] === 'string' ? body['model'] : '';
  let model = deps.model(modelId);
  if (!model) return sendError(res, 400, 'invalid_request_error', 'invalid_model', `Model '${modelId}' not found`, requestId);
  // An output bound the gate cannot read (negative, fractional, a string…) is refused before any payment.
  const badBound = invalidOutputFields(body);
  if (badBound) return sendError(res, 400, 'invalid_request_error', 'invalid_output_bound', badBound, requestId);
  const quoteId = header(req, 'x-routstr-quote');
  if (quoteId !== undefined) {
    const quoted = await deps.quotedModel(quoteId.trim(), modelId);
    if (!quoted.ok) return sendError(res, 400, 'invalid_request_error', `quote_${quoted.reason}`, QUOTE_MESSAGES[quoted.reason], requestId);
    model = quoted.model;
  }
  const gateMsat = requestGate(model, body);

  const xCashu = header(req, 'x-cashu')?.trim();
  const authorization = header(req, 'authorization');
  let payer: Payer;
  try {
    if (xCashu) {
      // Cheap checks first: nothing is redeemed for a token that cannot pay.
      const facts = deps.payee.describeToken(xCashu);
      if (facts.faceMsat < gateMsat) throw minimumBalanceError(gateMsat, model.id);
      payer = { kind: 'xcashu', token: xCashu, facts };
    } else if (authorization) {
      let credential;
      try {
        credential = parseAuthorization(authorization);
      } catch {
        return sendJson(res, 401, buildHttpExceptionBody({ error: { message: 'Invalid API key', type: 'invalid_request_error', code: 'invalid_api_key' } }, requestId), requestId);
      }
      const apiKey = await deps.payee.accountFor(credential);
      payer = { kind: 'bearer', apiKey, reservationId: deps.payee.reserve(apiKey, gateMsat) };
    } else {
      return sendJson(res, 401, buildHttpExceptionBody('Unauthorized', requestId), requestId);
    }
  } catch (error) {
    if (error instanceof PayeeError) return sendPayeeError(res, error, requestId, echo(xCashu, error));
    throw error;
  }

  let release: () => void;
  try {
    release = await deps.admission.acquire();
  } catch (error) {
    if (payer.kind === 'bearer') deps.payee.release(payer.reservationId);
    if (error instanceof QueueFull) {
      return sendError(res, 429, 'rate_limit_error', 'node_at_capacity', error.message, requestId, { 'retry-after': '1', ...(xCashu ? { 'X-Cashu': xCashu } : {}) });
    }
    throw error;
  }
  try {
    if (payer.kind === 'xcashu') {
      try {
        const payment = await deps.payee.beginXCashu(payer.token, { gateMsat, model: model.id, requestId }, payer.facts);
        payer.tokenHash = payment.tokenHash;
      } catch (error) {
        if (error instanceof PayeeError) return sendPayeeError(res, error, requestId, echo(xCashu, error));
        throw error;
      }
    }
    const sseChange = header(req, 'x-routstr-stream-change')?.trim().toLowerCase() === 'sse';
    await forward(deps, res, { upstreamPath, body, model, gateMsat, payer, requestId, sseChange });
  } finally {
    release();
  }
}

/** routstr-core echoes the unspent original token on X-Cashu errors, except for these codes. */
function echo(token: string | undefined, error: PayeeError): Record<string, string> {
  if (!token || NO_TOKEN_ECHO_CODES.includes(error.code) || error.code === 'invalid_cashu_token') return {};
  return { 'X-Cashu': token };
}

interface Job {
  readonly upstreamPath: string;
  readonly body: Record<string, unknown>;
  readonly model: Model;
  readonly gateMsat: number;
  readonly payer: Payer;
  readonly requestId: string;
  /** The client asked for incremental X-Cashu streaming (`X-Routstr-Stream-Change: sse`). */
  readonly sseChange: boolean;
}

/** Most bytes of an X-Cashu stream the node buffers (routstr-core mode); the paid output bound normally stops it far sooner. */
const MAX_BUFFERED_STREAM_BYTES = 32 * 1024 * 1024;

/** Settles the bill with the payer: X-Cashu change token, or Bearer remaining balance. */
async function settle(deps: PaidProxyDeps, payer: Payer, cost: CostResult): Promise<{ changeToken?: string; remainingMsat?: number }> {
  if (payer.kind === 'xcashu') {
    const change = await deps.payee.finishXCashu(payer.tokenHash as string, cost.total_msats);
    return change.token ? { changeToken: change.token } : {};
  }
  return { remainingMsat: deps.payee.settle(payer.reservationId, cost.total_msats).remainingMsat };
}

async function forward(deps: PaidProxyDeps, res: ServerResponse, job: Job): Promise<void> {
  const { body, model, payer, requestId } = job;
  const stream = body['stream'] === true;
  // The gate priced this bound: the engine is told it explicitly, whatever the client sent.
  const { body: upstreamBody, bound } = boundedUpstreamBody(body, model);
  if (stream) upstreamBody['stream_options'] = { ...(isObject(body['stream_options']) ? body['stream_options'] : {}), include_usage: true };

  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  let upstreamRes: UpstreamResponse;
  try {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: stream ? 'text/event-stream' : 'application/json',
      ...(deps.upstreamApiKey ? { authorization: `Bearer ${deps.upstreamApiKey}` } : {}),
    };
    upstreamRes = await postToReplica(deps.replicas, deps.upstreamAgents, model.id, job.upstreamPath, headers, JSON.stringify(upstreamBody), abort.signal);
  } catch {
    return upstreamFailed(deps, res, payer, requestId, 502, undefined);
  }
  if (upstreamRes.status < 200 || upstreamRes.status > 299) {
    const text = await readText(upstreamRes.body).catch(() => '');
    return upstreamFailed(deps, res, payer, requestId, upstreamRes.status, text);
  }
  if (stream && upstreamRes.contentType.includes('text/event-stream')) return relayStream(deps, res, job, upstreamRes.body, { abort, limit: outputLimit(bound) });

  let json: Record<string, unknown>;
  try {
    const parsed = JSON.parse(await readText(upstreamRes.body)) as unknown;
    json = isObject(parsed) ? parsed : {};
  } catch {
    return upstreamFailed(deps, res, payer, requestId, 502, undefined);
  }
  const b = bill(model, job.gateMsat, json['usage'], { promptTokens: countPromptTokens(body), completionTokens: countCompletionTokens(generatedChars(json)) });
  const settled = await settle(deps, payer, b.cost);
  const out = attachCostMetadata(json, b.cost, settled.remainingMsat);
  const headers: Record<string, string> = buildCostHeaders({ total_msats: b.cost.total_msats, input_msats: b.cost.input_msats, output_msats: b.cost.output_msats });
  if (settled.changeToken) headers['X-Cashu'] = settled.changeToken;
  sendJson(res, 200, out, requestId, headers);
}

/** Upstream failed: X-Cashu gets a full refund (body `refund_token` and header); Bearer's reservation is released. */
async function upstreamFailed(deps: PaidProxyDeps, res: ServerResponse, payer: Payer, requestId: string, status: number, text: string | undefined): Promise<void> {
  if (payer.kind === 'xcashu') {
    const change = await deps.payee.refundXCashu(payer.tokenHash as string);
    const token = change.token ?? '';
    return sendJson(res, status, buildUpstreamRefundBody(status, token), requestId, token ? { 'X-Cashu': token } : {});
  }
  deps.payee.release(payer.reservationId);
  if (text !== undefined && text !== '') {
    if (res.headersSent) return void res.end();
    res.writeHead(status, { ...baseHeaders(requestId), 'content-type': 'application/json' });
    res.end(text);
    return;
  }
  sendError(res, status, 'upstream_error', 'upstream_request_failed', 'Error forwarding request to upstream', requestId);
}

/**
 * Relays the engine's SSE events, holding back the usage chunk and ending with one usage trailer
 * carrying the cost. Incremental (Bearer, or X-Cashu with `X-Routstr-Stream-Change: sse`): events
 * are written as they come and X-Cashu change follows as a final comment. Buffered (any other
 * X-Cashu stream, as routstr-core): everything is held until the change is made, then sent with the
 * change in the `X-Cashu` header. Either way the engine is cut off once it has generated more
 * output events than the paid bound allows (an engine that ignores `max_tokens`, e.g. under a grammar).
 */
async function relayStream(
  deps: PaidProxyDeps, res: ServerResponse, job: Job, upstreamBody: AsyncIterable<Uint8Array>, guard: { abort: AbortController; limit: number | undefined },
): Promise<void> {
  const incremental = job.payer.kind === 'bearer' || job.sseChange;
  const buffered: string[] = [];
  let bufferedBytes = 0;
  const emit = (text: string): void => {
    if (incremental) {
      if (!res.destroyed) res.write(text);
    } else {
      buffered.push(text);
      bufferedBytes += text.length;
    }
  };
  if (incremental) {
    res.writeHead(200, sseHeaders(job.requestId));
    res.flushHeaders();
  }
  let usage: unknown;
  let usageChunk: Record<string, unknown> | undefined;
  let chars = 0;
  let outputEvents = 0;
  let last: Record<string, unknown> = {};
  let firstSent = false;
  try {
    for await (const line of sseLines(upstreamBody)) {
      if (!line.startsWith('data:')) continue; // comments and keep-alives are dropped, as routstr-core does
      const payload = line.slice(5).trim();
      if (payload === '[DONE]') continue; // re-emitted once, after the trailer
      let chunk: unknown;
      try {
        chunk = JSON.parse(payload) as unknown;
      } catch {
        chunk = undefined;
      }
      if (isObject(chunk)) {
        last = chunk;
        if (isObject(chunk['usage'])) usage = chunk['usage'];
        const choices = chunk['choices'];
        if (Array.isArray(choices)) {
          if (choices.length === 0 && isObject(chunk['usage'])) {
            usageChunk = chunk;
            continue;
          }
          for (const c of choices) {
            const n = choiceChars(c);
            chars += n;
            if (n > 0) outputEvents++; // engines stream one token per event (or more): a floor on tokens made
          }
        }
      }
      if ((guard.limit !== undefined && outputEvents > guard.limit) || bufferedBytes > MAX_BUFFERED_STREAM_BYTES) {
        // More output than was paid for: stop the engine and bill (at most the gate) what it made.
        guard.abort.abort();
        break;
      }
      emit(`data: ${payload}\n\n`);
      if (incremental && !firstSent && outputEvents > 0) {
        // Node corks a response's writes until the microtasks run dry, which here means until the
        // rest of the engine's buffered chunk is relayed: the first token leaves now instead.
        firstSent = true;
        await nextMacrotask();
      }
    }
  } catch {
    // The engine broke off or the client left: bill what was generated.
  }
  const b = bill(job.model, job.gateMsat, usage, { promptTokens: countPromptTokens(job.body), completionTokens: countCompletionTokens(chars) });
  const settled = await settle(deps, job.payer, b.cost);
  if (res.destroyed) return; // X-Cashu change stays retrievable through the refund route
  const usageOut = isObject(usage)
    ? usage
    : { prompt_tokens: countPromptTokens(job.body), completion_tokens: countCompletionTokens(chars), total_tokens: countPromptTokens(job.body) + countCompletionTokens(chars) };
  const trailer = usageChunk ?? { id: last['id'] ?? job.requestId, object: last['object'] ?? 'chat.completion.chunk', created: last['created'], model: last['model'] ?? job.model.id, choices: [], usage: usageOut };
  if (!incremental) {
    const headers: Record<string, string> = { ...sseHeaders(job.requestId), ...buildCostHeaders({ total_msats: b.cost.total_msats, input_msats: b.cost.input_msats, output_msats: b.cost.output_msats }) };
    if (settled.changeToken) headers['X-Cashu'] = settled.changeToken;
    res.writeHead(200, headers);
    for (const text of buffered) res.write(text);
  }
  res.write(`data: ${JSON.stringify(attachCostMetadata(trailer, b.cost, settled.remainingMsat))}\n\n`);
  if (incremental && settled.changeToken) res.write(xCashuSseComment(settled.changeToken));
  // [DONE] always ends our stream: the change and cost trailer come after the engine's last chunk.
  res.write(SSE_DONE);
  res.end();
}

function sseHeaders(requestId: string): Record<string, string> {
  return { ...baseHeaders(requestId), 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' };
}
