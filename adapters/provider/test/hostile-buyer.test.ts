// Hostile buyers against the provider node on the devnet (issue 13, point 1 "gate bypass"): every
// request field that bounds or multiplies output is gated and capped. Each attempt is either refused
// with nothing spent (the X-Cashu token comes back unredeemed, the account is untouched) or served
// within what was paid; at the end the buyer's wallet plus the node's holdings equal what was funded.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getTokenMetadata } from '@cashu/cashu-ts';
import { apiKeyForToken, msatPerMtok, openWallet, readSseLine, requestGate, sat, type EcashWallet, type Model, type SseLine } from '@routstr-kit/core';
import { startEngine, startMint, type RunningEngine, type RunningMint } from '@routstr-kit/devnet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPriceBoard } from '../src/market-maker/price-board.ts';
import { startProvider, type RunningProvider } from '../src/start-provider.ts';

const ADMIN = 'hostile-buyer-admin';
const CAP = 40; // the node's max_completion_tokens
const FUNDED = 2000;

let mint: RunningMint;
let engine: RunningEngine;
let provider: RunningProvider;
let client: EcashWallet;
let model: Model;
const dir = mkdtempSync(join(tmpdir(), 'hostile-buyer-'));

const faceOf = (token: string): number => Number(getTokenMetadata(token).amount.toString());
const pay = async (amount: number): Promise<string> => (await client.send(sat(amount), { purpose: 'hostile' })).token;
const messages = [{ role: 'user', content: 'Tell me everything' }];
const gateSat = (body: Record<string, unknown>): number => Math.ceil(requestGate(model, body) / 1000);
const heldSat = async (): Promise<number> =>
  ((await (await fetch(`${provider.url}/admin/api/balances`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { held_sats: number }).held_sats;

function post(headers: Record<string, string>, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${provider.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ model: model.id, messages, ...body }) });
}

async function sseLines(res: Response): Promise<SseLine[]> {
  return (await res.text()).split('\n').filter((l) => l !== '').map(readSseLine);
}

/** Output-bearing events of a stream (content or tool-call deltas). */
function outputEvents(lines: SseLine[]): number {
  let n = 0;
  for (const l of lines) {
    if (l.kind !== 'data' || typeof l.json !== 'object' || l.json === null) continue;
    for (const c of ((l.json as Record<string, unknown>)['choices'] as Array<{ delta?: { content?: string; tool_calls?: unknown[] } }> | undefined) ?? []) {
      if (c.delta?.content || c.delta?.tool_calls?.length) n++;
    }
  }
  return n;
}

/** A refused X-Cashu attempt: the node spent nothing and the token is still the buyer's to take back. */
async function expectRefusedUnspent(res: Response, token: string, status: number, code: string): Promise<void> {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error?: { code: string }; detail?: unknown };
  // routstr-core's 402 is a FastAPI `detail`; other refusals use the error envelope
  expect(body.error?.code ?? (body.detail !== undefined ? 'minimum_balance_required' : undefined)).toBe(code);
  expect(await client.receive(token)).toBe(faceOf(token));
}

/** X-Cashu change: the face less the cost, the cost capped at the face (routstr-core: a gate is a floor, never a refund below zero). */
const changeFor = (face: number, costMsat: number): number => Math.max(0, face - Math.ceil(costMsat / 1000));

beforeAll(async () => {
  mint = await startMint();
  engine = await startEngine({ flavour: 'llama.cpp', maxConcurrency: 2 });
  const board = createPriceBoard([{ model: engine.model, prompt: msatPerMtok(50_000_000), completion: msatPerMtok(1_000_000_000) }]);
  provider = await startProvider({
    engine: 'llama.cpp', upstream: engine.url, mints: [mint.url], board, dataDir: dir, adminToken: ADMIN,
    contextLength: engine.contextSize, maxCompletionTokens: CAP, maxConcurrency: 2, queueSize: 4, name: 'target', about: 'hostile buyers',
  });
  client = await openWallet({ path: join(dir, 'client.db'), mints: [mint.url] });
  await (await client.fund(sat(FUNDED))).complete();
  model = ((await (await fetch(`${provider.url}/v1/models`)).json()) as { data: Model[] }).data[0] as Model;
  expect(model.top_provider?.max_completion_tokens).toBe(CAP);
});

afterAll(async () => {
  await provider?.stop();
  client?.close();
  await engine?.stop();
  await mint?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('hostile buyer: gate bypass (issue 13 point 1)', () => {
  for (const stream of [false, true]) {
    it(`max_tokens 1 with max_completion_tokens 2000, paid for 1 token${stream ? ', streamed' : ''}: refused, token unspent`, async () => {
      const cheap = gateSat({ messages, max_tokens: 1 });
      expect(cheap).toBeLessThan(gateSat({ messages, max_completion_tokens: CAP }));
      const token = await pay(cheap);
      await expectRefusedUnspent(await post({ 'X-Cashu': token }, { max_tokens: 1, max_completion_tokens: 2000, stream }), token, 402, 'minimum_balance_required');
    });
  }

  it("llama.cpp's n_predict cannot lift a paid max_tokens 1: refused, token unspent", async () => {
    const token = await pay(gateSat({ messages, max_tokens: 1 }));
    await expectRefusedUnspent(await post({ 'X-Cashu': token }, { max_tokens: 1, n_predict: 2000 }), token, 402, 'minimum_balance_required');
  });

  it('n multiplies the output: a token that pays one choice is refused for four', async () => {
    const token = await pay(gateSat({ messages, max_tokens: 8 }));
    await expectRefusedUnspent(await post({ 'X-Cashu': token }, { max_tokens: 8, n: 4 }), token, 402, 'minimum_balance_required');
  });

  it('a bound the gate cannot read (negative, fractional, a string, n = 1000) is refused with 400 before payment', async () => {
    for (const bad of [{ max_tokens: -1_000_000 }, { max_completion_tokens: 0.5 }, { max_tokens: '5' }, { n: 1000 }, { n_predict: -1 }]) {
      const token = await pay(2);
      await expectRefusedUnspent(await post({ 'X-Cashu': token }, bad), token, 400, 'invalid_output_bound');
    }
  });

  it('paying for the larger bound is served within it: the engine is told the paid bound, change conserves the token', async () => {
    // routstr-core's gate counts prompt chars ÷ 3, below the rendered prompt's real tokens: pay a little over it.
    const face = gateSat({ messages, max_completion_tokens: 2000 }) + 3;
    const token = await pay(face);
    const res = await post({ 'X-Cashu': token }, { max_tokens: 1, max_completion_tokens: 2000 });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { usage: { completion_tokens: number; cost: { total_msats: number } } };
    expect(body.usage.completion_tokens).toBeLessThanOrEqual(CAP);
    expect(await client.receive(res.headers.get('x-cashu') as string)).toBe(changeFor(face, body.usage.cost.total_msats));
  });

  it('a stream with no bound and no stop runs to the node cap, not the context, and costs at most the token', async () => {
    const face = gateSat({ messages }) + 3;
    const token = await pay(face);
    const res = await post({ 'X-Cashu': token }, { stream: true });
    expect(res.status).toBe(200);
    const lines = await sseLines(res);
    const usage = lines.map((l) => (l.kind === 'data' ? (l.json as { usage?: { completion_tokens: number; cost: { total_msats: number } } }).usage : undefined)).find((u) => u);
    expect(usage?.completion_tokens).toBe(CAP);
    expect(outputEvents(lines)).toBeLessThanOrEqual(CAP);
    expect(await client.receive(res.headers.get('x-cashu') as string)).toBe(changeFor(face, usage?.cost.total_msats ?? 0));
  });

  // The devnet engine runs a grammar to completion whatever max_tokens says and sends the call in one
  // event at the end, so the node cannot stop its compute; the buyer still pays at most the token.
  it('a forced tool call (a grammar the engine may run past max_tokens) streamed: at most the paid events, billed at most the token', async () => {
    const tools = [{ type: 'function', function: { name: 'dump', parameters: { type: 'object', properties: { everything: { type: 'string' } }, required: ['everything'] } } }];
    const request = { max_tokens: 3, tools, tool_choice: 'required', stream: true };
    const face = gateSat({ messages, ...request });
    const token = await pay(face);
    const res = await post({ 'X-Cashu': token, 'X-Routstr-Stream-Change': 'sse' }, request);
    expect(res.status).toBe(200);
    const lines = await sseLines(res);
    expect(outputEvents(lines)).toBeLessThanOrEqual(3);
    const change = lines.find((l) => l.kind === 'x-cashu') as { token: string } | undefined;
    const costMsat = lines.map((l) => (l.kind === 'data' ? (l.json as { usage?: { cost: { total_msats: number } } }).usage?.cost.total_msats : undefined)).find((c) => c !== undefined);
    const changeSat = changeFor(face, costMsat ?? 0);
    if (changeSat > 0) expect(await client.receive(change?.token as string)).toBe(changeSat);
    else expect(change).toBeUndefined();
  });

  it('Bearer: the bypass is refused with 402 and the account keeps every msat', async () => {
    const deposit = await pay(3);
    const res = await post({ authorization: `Bearer ${deposit}` }, { max_tokens: 1, max_completion_tokens: 2000 });
    expect(res.status).toBe(402);
    const key = apiKeyForToken(deposit);
    const info = (await (await fetch(`${provider.url}/v1/balance/info`, { headers: { authorization: `Bearer ${key}` } })).json()) as { balance: number };
    expect(info.balance).toBe(3000);
    const refund = (await (await fetch(`${provider.url}/v1/balance/refund`, { method: 'POST', headers: { authorization: `Bearer ${key}` } })).json()) as { token: string };
    expect(await client.receive(refund.token)).toBe(3);
  });

  it('value is conserved to the sat: buyer wallet + node holdings = funded', async () => {
    expect(client.balance() + (await heldSat())).toBe(FUNDED);
  });
});
