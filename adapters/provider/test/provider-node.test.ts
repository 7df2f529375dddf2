// Acceptance tests of the provider node on the devnet: a real Cashu mint, a real llama.cpp engine,
// clients paying with real tokens (the official openai client, plain fetch with X-Cashu / Bearer).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getDecodedToken, getEncodedToken, getTokenMetadata, type Proof } from '@cashu/cashu-ts';
import {
  apiKeyForToken,
  costFromResponse,
  msatPerMtok,
  openWallet,
  readSseLine,
  requestGate,
  sat,
  type EcashWallet,
  type Model,
} from '@routstr-kit/core';
import { fakeInvoice, startEngine, startMint, type RunningEngine, type RunningMint } from '@routstr-kit/devnet';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPriceBoard, type WritablePriceBoard } from '../src/market-maker/price-board.ts';
import { modelFor } from '../src/node/catalog.ts';
import { spawnProviderChild, type NodeChild } from './spawn-provider-child.ts';
import { startProvider, type RunningProvider } from '../src/start-provider.ts';

const PROMPT = 50_000_000; // msat/Mtok = 0.05 sat per prompt token
const COMPLETION = 100_000_000; // 0.1 sat per output token
const ADMIN = 'admin-secret-for-tests';

let mint: RunningMint;
let foreignMint: RunningMint;
let engine: RunningEngine;
let provider: RunningProvider;
let board: WritablePriceBoard;
let client: EcashWallet;
let model: Model;
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'provider-node-'));
  dirs.push(d);
  return d;
};

const faceOf = (token: string): number => Number(getTokenMetadata(token).amount.toString());
const pay = async (amount: number): Promise<string> => (await client.send(sat(amount), { purpose: 'test payment' })).token;
interface AdminBalances {
  held_sats: number;
  revenue_msats: number;
  paid_out_msats: number;
  [key: string]: number;
}
const admin = async (base = provider.url): Promise<AdminBalances> =>
  (await (await fetch(`${base}/admin/api/balances`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as AdminBalances;

function chatBody(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: engine.model, messages: [{ role: 'user', content: 'Say hi to the market' }], max_tokens: 8, ...extra };
}

async function post(path: string, headers: Record<string, string>, body: unknown, base = provider.url): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** routstr-core's cost of a usage at a Model's advertised sats pricing. */
function expectedCostMsat(m: Model, usage: { prompt_tokens: number; completion_tokens: number }): number {
  const pricing = m.sats_pricing ?? m.pricing;
  return costFromResponse({ usage: { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens } }, pricing, { maxCostMsat: 1 }).total_msats;
}

beforeAll(async () => {
  [mint, foreignMint] = await Promise.all([startMint(), startMint({ seed: 'ab'.repeat(32) })]);
  engine = await startEngine({ flavour: 'llama.cpp', maxConcurrency: 2 });
  board = createPriceBoard([{ model: engine.model, prompt: msatPerMtok(PROMPT), completion: msatPerMtok(COMPLETION) }]);
  provider = await startProvider({
    engine: 'llama.cpp', upstream: engine.url, mints: [mint.url], board, dataDir: tmp(), adminToken: ADMIN,
    contextLength: engine.contextSize, maxConcurrency: 1, queueSize: 0, name: 'test node', about: 'acceptance',
  });
  client = await openWallet({ path: join(tmp(), 'client.db'), mints: [mint.url] });
  await (await client.fund(sat(3000))).complete();
  const models = (await (await fetch(`${provider.url}/v1/models`)).json()) as { data: Model[] };
  model = models.data[0] as Model;
});

afterAll(async () => {
  await provider?.stop();
  client?.close();
  await engine?.stop();
  await mint?.stop();
  await foreignMint?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('discovery', () => {
  it('serves /v1/info and the full routstr-core Model with sats pricing from our msat/Mtok', async () => {
    const info = (await (await fetch(`${provider.url}/v1/info`)).json()) as Record<string, unknown>;
    expect(info).toMatchObject({ name: 'test node', description: 'acceptance', mints: [mint.url], child_key_cost_msats: 0 });
    expect(String(info['npub'])).toMatch(/^npub1/);
    expect(model.id).toBe(engine.model);
    expect(model.sats_pricing?.prompt).toBeCloseTo(PROMPT / 1e9, 15);
    expect(model.sats_pricing?.completion).toBeCloseTo(COMPLETION / 1e9, 15);
    expect(model.top_provider).toEqual({ context_length: engine.contextSize, max_completion_tokens: engine.contextSize / 2, is_moderated: false });
    expect(model.context_length).toBe(engine.contextSize);
    const bare = (await (await fetch(`${provider.url}/models`)).json()) as { data: Model[] };
    expect(bare.data).toEqual([model]);
  });
});

describe('the official openai client with a Cashu token as its API key', () => {
  it('gets a completion and a stream, billed from the engine usage to the account sk-sha256(token)', async () => {
    const token = await pay(60);
    const openai = new OpenAI({ baseURL: `${provider.url}/v1`, apiKey: token, maxRetries: 0 });
    const done = await openai.chat.completions.create({ model: engine.model, messages: [{ role: 'user', content: 'hello' }], max_tokens: 8 });
    expect(done.choices[0]?.message.content?.length).toBeGreaterThan(0);
    const usage1 = done.usage as unknown as { prompt_tokens: number; completion_tokens: number; cost: { total_msats: number } };
    expect(usage1.completion_tokens).toBe(8);
    expect(usage1.cost.total_msats).toBe(expectedCostMsat(model, usage1));

    const stream = await openai.chat.completions.create({ model: engine.model, messages: [{ role: 'user', content: 'hello' }], max_tokens: 8, stream: true });
    let text = '';
    let usage2: { prompt_tokens: number; completion_tokens: number; cost: { total_msats: number } } | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) usage2 = chunk.usage as unknown as typeof usage2;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(usage2?.cost.total_msats).toBe(expectedCostMsat(model, usage2 as NonNullable<typeof usage2>));

    const info = (await (await fetch(`${provider.url}/v1/wallet/info`, { headers: { authorization: `Bearer ${apiKeyForToken(token)}` } })).json()) as Record<string, number>;
    expect(info['balance']).toBe(60_000 - usage1.cost.total_msats - (usage2?.cost.total_msats ?? 0));
    expect(info['total_requests']).toBe(2);
  });
});

describe('paying by X-Cashu', () => {
  it('returns change = paid − ceil(cost/1000) in the X-Cashu header, the same token on every refund call', async () => {
    const before = await admin();
    const token = await pay(20);
    const res = await post('/v1/chat/completions', { 'X-Cashu': token }, chatBody());
    expect(res.status).toBe(200);
    const body = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number; cost: { total_msats: number } } };
    const cost = expectedCostMsat(model, body.usage);
    expect(body.usage.cost.total_msats).toBe(cost);
    expect(res.headers.get('x-routstr-cost-msats')).toBe(String(cost));
    expect(res.headers.get('x-routstr-request-id')).toMatch(/[0-9a-f-]{36}/);
    expect(res.headers.get('access-control-expose-headers')).toContain('X-Cashu');
    const change = res.headers.get('x-cashu') as string;
    expect(change).toMatch(/^cashuB/);
    expect(faceOf(change)).toBe(20 - Math.ceil(cost / 1000));

    for (let i = 0; i < 2; i++) {
      const again = await post('/v1/wallet/refund', { 'X-Cashu': token }, {});
      expect(again.status).toBe(200);
      expect(again.headers.get('x-cashu')).toBe(change);
      expect(await again.json()).toEqual({ token: change, sats: String(20 - Math.ceil(cost / 1000)) });
    }
    expect(await client.receive(change)).toBe(20 - Math.ceil(cost / 1000));
    const after = await admin();
    expect(after['held_sats'] - before['held_sats']).toBe(Math.ceil(cost / 1000));
    expect(after['revenue_msats'] - before['revenue_msats']).toBe(Math.ceil(cost / 1000) * 1000);
  });

  it('refuses a token below the gate with 402 minimum_balance_required before redeeming it', async () => {
    const body = chatBody({ max_tokens: 500 });
    const gate = requestGate(model, body);
    const token = await pay(Math.floor(gate / 1000) - 1);
    const res = await post('/v1/chat/completions', { 'X-Cashu': token }, body);
    expect(res.status).toBe(402);
    expect(((await res.json()) as { detail: unknown }).detail).toEqual({ reason: 'Insufficient balance', amount_required_msat: gate, model: engine.model, type: 'minimum_balance_required' });
    expect(await client.receive(token)).toBe(faceOf(token)); // still the client's
  });

  it('refuses double-spent, forged, foreign-mint and zero-value tokens with routstr-core codes, changing nothing', async () => {
    const before = await admin();
    const spent = await pay(10);
    await client.receive(spent); // the client takes it back: now spent at the mint
    const forgedSource = await pay(10);
    // A real signature on a different secret: well-formed, but the mint cannot verify it.
    const real = getDecodedToken(forgedSource, [mint.keysetId]).proofs[0] as Proof;
    const forged = getEncodedToken({ mint: mint.url, unit: 'sat', proofs: [{ ...real, secret: `${real.secret}00` }] });
    const foreignWallet = await openWallet({ path: join(tmp(), 'foreign.db'), mints: [foreignMint.url] });
    await (await foreignWallet.fund(sat(10))).complete();
    const foreign = (await foreignWallet.send(sat(10), { purpose: 'foreign' })).token;
    const zero = getEncodedToken({ mint: mint.url, unit: 'sat', proofs: [] });

    const cases: Array<[string, string, number, string, string]> = [
      ['spent', spent, 400, 'token_already_spent', 'cashu_token_already_spent'],
      ['forged', forged, 400, 'invalid_token', 'invalid_cashu_token'],
      ['foreign', foreign, 422, 'mint_error', 'cashu_foreign_mint_swap_failed'],
      ['zero', zero, 400, 'cashu_error', 'cashu_token_zero_value'],
      ['malformed', 'cashuBnot-a-token', 400, 'invalid_token', 'invalid_cashu_token'],
    ];
    for (const [name, token, status, type, code] of cases) {
      for (const headers of [{ 'X-Cashu': token }, { authorization: `Bearer ${token}` }] as Record<string, string>[]) {
        const res = await post('/v1/chat/completions', headers, chatBody());
        expect({ name, status: res.status }).toEqual({ name, status });
        const body = (await res.json()) as { error: { type: string; code: string } };
        expect({ name, type: body.error.type, code: body.error.code }).toEqual({ name, type, code });
      }
    }
    expect(await admin()).toEqual(before);
    expect(await foreignWallet.receive(foreign)).toBe(10); // untouched: the node kept nothing
    foreignWallet.close();
    await client.receive(forgedSource);
  });
});

describe('upstream failures', () => {
  it('refund an X-Cashu payment in full (refund_token in the body and X-Cashu header) and release a Bearer reservation', async () => {
    // The devnet engine has no embeddings route: the engine answers 404. Without max_tokens or
    // messages the gate is the whole envelope (≈154 sats here).
    const token = await pay(160);
    const res = await post('/v1/embeddings', { 'X-Cashu': token }, { model: engine.model, input: 'hello' });
    expect(res.status).toBe(404);
    const body = (await res.json()) as { error: { type: string; code: number; refund_token: string } };
    expect(body.error).toMatchObject({ type: 'upstream_error', code: 404 });
    expect(res.headers.get('x-cashu')).toBe(body.error.refund_token);
    expect(await client.receive(body.error.refund_token)).toBe(160);

    const key = ((await (await post('/v1/balance/create', {}, { initial_balance_token: await pay(160) })).json()) as { api_key: string }).api_key;
    const bearer = await post('/embeddings', { authorization: `Bearer ${key}` }, { model: engine.model, input: 'hello' });
    expect(bearer.status).toBe(404);
    const info = (await (await fetch(`${provider.url}/v1/balance/info`, { headers: { authorization: `Bearer ${key}` } })).json()) as Record<string, number>;
    expect(info).toMatchObject({ balance: 160_000, reserved: 0 });
  });
});

describe('paying by Bearer sk- key', () => {
  it('creates, reserves the gate, settles the real cost, refunds once and returns the same token on repeats', async () => {
    const token = await pay(40);
    const created = (await (await post('/v1/balance/create', {}, { initial_balance_token: token })).json()) as { api_key: string; balance: number };
    expect(created).toEqual({ api_key: apiKeyForToken(token), balance: 40_000 });
    const auth = { authorization: `Bearer ${created.api_key}` };

    const res = await post('/chat/completions', auth, chatBody());
    expect(res.status).toBe(200);
    const body = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number; cost: { total_msats: number }; remaining_balance_msats: number } };
    const cost = expectedCostMsat(model, body.usage);
    expect(body.usage.cost.total_msats).toBe(cost);
    expect(body.usage.remaining_balance_msats).toBe(40_000 - cost);
    expect(res.headers.get('x-cashu')).toBeNull();

    const tooBig = await post('/v1/chat/completions', auth, chatBody({ max_tokens: 1000, messages: [{ role: 'user', content: 'x'.repeat(600) }] }));
    expect(tooBig.status).toBe(402);
    expect(((await tooBig.json()) as { error: { type: string; code: string } }).error).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_balance' });

    const topup = (await (await post('/v1/wallet/topup', auth, { cashu_token: await pay(5) })).json()) as { msats: number };
    expect(topup).toEqual({ msats: 5000 });

    const refund1 = (await (await post('/v1/balance/refund', auth, {})).json()) as { token: string; sats: string };
    const expectedSats = Math.floor((45_000 - cost) / 1000);
    expect(refund1.sats).toBe(String(expectedSats));
    expect(faceOf(refund1.token)).toBe(expectedSats);
    const refund2 = (await (await post('/v1/wallet/refund', auth, {})).json()) as { token: string; sats: string };
    expect(refund2).toEqual(refund1);
    const info = (await (await fetch(`${provider.url}/v1/balance/info`, { headers: auth })).json()) as Record<string, number>;
    expect(info['balance']).toBe((45_000 - cost) % 1000);
    expect(await client.receive(refund1.token)).toBe(expectedSats);

    const unknown = await post('/v1/balance/refund', { authorization: `Bearer sk-${'0'.repeat(64)}` }, {});
    expect(unknown.status).toBe(401);
    expect(((await unknown.json()) as { detail: { error: { code: string } } }).detail.error.code).toBe('key_not_found');
  });
});

describe('streaming with X-Cashu, opted in with X-Routstr-Stream-Change: sse', () => {
  it('delivers the first chunk while the engine still generates, then the change as an SSE comment that the refund route repeats', async () => {
    const token = await pay(100);
    const res = await post('/v1/chat/completions', { 'X-Cashu': token, 'X-Routstr-Stream-Change': 'sse' }, chatBody({ stream: true, max_tokens: 600 }));
    expect(res.headers.get('x-cashu')).toBeNull();
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    let runningAtFirstChunk: number | undefined;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      if (runningAtFirstChunk === undefined && text.includes('"content"')) {
        runningAtFirstChunk = engine.state().running;
        // While it is generating, the change is not made yet: the refund route says so.
        const early = await post('/v1/wallet/refund', { 'X-Cashu': token }, {});
        expect(early.status).toBe(425);
        expect(early.headers.get('retry-after')).toBe('2');
      }
    }
    expect(runningAtFirstChunk).toBeGreaterThanOrEqual(1);
    const lines = text.split('\n').filter((l) => l !== '').map(readSseLine);
    const changeLine = lines.find((l) => l.kind === 'x-cashu');
    expect(changeLine?.kind).toBe('x-cashu');
    const change = (changeLine as { token: string }).token;
    expect(lines.at(-1)?.kind).toBe('done');
    const usageChunk = lines.filter((l) => l.kind === 'data').map((l) => (l as { json: Record<string, unknown> }).json).find((j) => j['usage']);
    const usage = usageChunk?.['usage'] as { prompt_tokens: number; completion_tokens: number; cost: { total_msats: number } };
    expect(usage.completion_tokens).toBe(600);
    const cost = expectedCostMsat(model, usage);
    expect(usage.cost.total_msats).toBe(cost);
    expect(faceOf(change)).toBe(100 - Math.ceil(cost / 1000));
    const refund = await post('/v1/balance/refund', { 'X-Cashu': token }, {});
    expect(refund.status).toBe(200);
    expect(((await refund.json()) as { token: string }).token).toBe(change);
    expect(await client.receive(change)).toBe(100 - Math.ceil(cost / 1000));
  });
});

describe('admission', () => {
  it('answers 429 with Retry-After beyond capacity and counts it as demand; the client keeps its token', async () => {
    const first = await post('/v1/chat/completions', { 'X-Cashu': await pay(100), 'X-Routstr-Stream-Change': 'sse' }, chatBody({ stream: true, max_tokens: 600 }));
    const reader = (first.body as ReadableStream<Uint8Array>).getReader();
    await reader.read(); // the first request holds the only slot now
    expect(provider.load.inFlight).toBe(1);
    const rejectedBefore = provider.load.rejectedRecently(60_000);
    const token = await pay(20);
    const second = await post('/v1/chat/completions', { 'X-Cashu': token }, chatBody());
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(provider.load.rejectedRecently(60_000)).toBe(rejectedBefore + 1);
    expect(await client.receive(token)).toBe(20);
    for (;;) if ((await reader.read()).done) break;
  });
});

describe('quotes', () => {
  it('bills at an unexpired quote and refuses expired or unknown quotes with nothing charged', async () => {
    const nowS = Math.floor(Date.now() / 1000);
    const quoted = { model: engine.model, prompt: msatPerMtok(PROMPT * 2), completion: msatPerMtok(COMPLETION * 3) };
    board.rememberQuote('tick-live', [quoted], nowS + 600);
    board.rememberQuote('tick-old', [quoted], nowS - 1);
    const quoteModel = modelFor({ id: engine.model, contextLength: engine.contextSize }, quoted, { btcUsd: 100_000, engine: 'llama.cpp', created: 0 });

    const token = await pay(20);
    const res = await post('/v1/chat/completions', { 'X-Cashu': token, 'X-Routstr-Quote': 'tick-live' }, chatBody());
    expect(res.status).toBe(200);
    const body = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number; cost: { total_msats: number } } };
    expect(body.usage.cost.total_msats).toBe(expectedCostMsat(quoteModel, body.usage));
    expect(body.usage.cost.total_msats).toBeGreaterThan(expectedCostMsat(model, body.usage));
    await client.receive(res.headers.get('x-cashu') as string);

    await provider.payee.wallet.idle(); // a background inventory refill moves sats between held and pending
    const before = await admin();
    for (const [id, code] of [['tick-old', 'quote_expired'], ['no-such-tick', 'quote_unknown']] as const) {
      const t = await pay(20);
      const r = await post('/v1/chat/completions', { 'X-Cashu': t, 'X-Routstr-Quote': id }, chatBody());
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: { type: string; code: string } }).error).toMatchObject({ type: 'invalid_request_error', code });
      expect(await client.receive(t)).toBe(20);
    }
    await provider.payee.wallet.idle();
    expect(await admin()).toEqual(before);
  });
});

describe('admin', () => {
  it('needs the admin token, and withdraws revenue as a Cashu token', async () => {
    expect((await fetch(`${provider.url}/admin/api/balances`)).status).toBe(401);
    expect((await fetch(`${provider.url}/admin/api/balances`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    const before = await admin();
    expect(before['withdrawable_sats']).toBeGreaterThan(0);
    const res = await post('/admin/api/withdraw', { authorization: `Bearer ${ADMIN}` }, { amount_sats: 1 });
    const payout = (await res.json()) as { token: string; amount_sats: number };
    expect(payout.amount_sats).toBe(1);
    expect(await client.receive(payout.token)).toBe(1);
    const after = await admin();
    expect(after['held_sats']).toBe(before['held_sats'] - 1);
    expect(after['paid_out_msats']).toBe(before['paid_out_msats'] + 1000);
    const tooMuch = await post('/admin/api/withdraw', { authorization: `Bearer ${ADMIN}` }, { amount_sats: after['held_sats'] + 1 });
    expect(tooMuch.status).toBe(400);
    const invoice = await post('/admin/api/withdraw', { authorization: `Bearer ${ADMIN}` }, { invoice: fakeInvoice(1) });
    expect(((await invoice.json()) as { kind: string; amount_sats: number }).amount_sats).toBe(1);
    expect((await admin())['held_sats']).toBe(after['held_sats'] - 1);
    const inputs = (await (await fetch(`${provider.url}/admin/api/price-inputs`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { prices: unknown[] };
    expect(inputs.prices).toEqual([{ model: engine.model, prompt: PROMPT, completion: COMPLETION }]);
  });
});

describe('startProvider with its market maker (fixed asks)', () => {
  it('prices every engine model from `price` and shows the market maker state as price inputs', async () => {
    const node = await startProvider({
      engine: 'llama.cpp', upstream: engine.url, mints: [mint.url], dataDir: tmp(), adminToken: ADMIN, price: { prompt: PROMPT, completion: 2 * COMPLETION },
      contextLength: engine.contextSize, tick: { intervalMs: 0 }, log: () => undefined,
    });
    try {
      const models = (await (await fetch(`${node.url}/v1/models`)).json()) as { data: Model[] };
      expect(models.data.map((m) => m.id)).toEqual([engine.model]);
      expect(models.data[0]?.sats_pricing?.completion).toBeCloseTo((2 * COMPLETION) / 1e9, 15);
      expect(node.marketMaker).toBeDefined();
      const inputs = await (await fetch(`${node.url}/admin/api/price-inputs`, { headers: { authorization: `Bearer ${ADMIN}` } })).json();
      // plus the engine replicas' health and requests in flight
      expect(inputs).toEqual(JSON.parse(JSON.stringify({ ...node.marketMaker?.state(), replicas: node.replicas.state() })));
      expect(node.replicas.state()).toEqual([{ url: engine.url, up: true, inFlight: 0, sent: 0, failures: 0, models: [engine.model] }]);
    } finally {
      await node.stop();
    }
  });
});

// --- crash safety ------------------------------------------------------------------------------

const spawnNode = (dataDir: string, failpointName: string | null): Promise<NodeChild> =>
  spawnProviderChild({ upstream: engine.url, mint: mint.url, dataDir, model: engine.model, prompt: PROMPT, completion: COMPLETION, contextLength: engine.contextSize, adminToken: ADMIN }, failpointName);

describe('crash safety: the node SIGKILLed at each step of an X-Cashu request, restarted', () => {
  const steps = [
    'receive:before-swap',
    'receive:after-swap',
    'payee:after-redeem',
    'payee:after-charge',
    'send:after-store', // the change token is made (with or without a swap) and journaled
    'payee:after-change',
    'payee:after-store',
  ];
  for (const step of steps) {
    it(`killed at ${step}: client value + node value = what was paid, to the sat`, { timeout: 120_000 }, async () => {
      const dataDir = tmp();
      const first = await spawnNode(dataDir, step);
      const paid = 30;
      const token = await pay(paid);
      const res = await post('/v1/chat/completions', { 'X-Cashu': token }, chatBody({ max_tokens: 4 }), first.url).catch(() => undefined);
      expect(res).toBeUndefined(); // the process died mid-request
      expect(await first.exited).toBe('SIGKILL');

      const second = await spawnNode(dataDir, null);
      try {
        let clientValue = 0;
        const refund = await post('/v1/wallet/refund', { 'X-Cashu': token }, {}, second.url);
        if (refund.status === 200) {
          const { token: change } = (await refund.json()) as { token: string };
          clientValue += await client.receive(change);
          // Re-delivery is stable across calls.
          const again = (await (await post('/v1/wallet/refund', { 'X-Cashu': token }, {}, second.url)).json()) as { token: string };
          expect(again.token).toBe(change);
        } else {
          expect(refund.status).toBe(404); // never redeemed: the token is still the client's
          clientValue += await client.receive(token);
        }
        const node = await admin(second.url);
        expect(node['pending_sats']).toBe(0);
        expect(clientValue + node['held_sats']).toBe(paid);
      } finally {
        second.proc.kill('SIGTERM');
        await second.exited;
      }
    });
  }
});
