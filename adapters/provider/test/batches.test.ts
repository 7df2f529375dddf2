// Acceptance tests of the node's Batch API on the devnet: a real Cashu mint, a real llama.cpp
// engine, the official openai client uploading files and polling batches, Bearer accounts paying
// per line at the price in force, batches held for price, priority, expiry, cancel and restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { costFromResponse, msatPerMtok, openWallet, requestGate, sat, type EcashWallet, type Model } from '@routstr-kit/core';
import { startEngine, startMint, type RunningEngine, type RunningMint } from '@routstr-kit/devnet';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPriceBoard, type WritablePriceBoard } from '../src/market-maker/price-board.ts';
import { spawnProviderChild, type NodeChild } from './spawn-provider-child.ts';
import { startProvider, type RunningProvider } from '../src/start-provider.ts';

const PROMPT = 50_000_000; // msat/Mtok
const COMPLETION = 100_000_000;

let mint: RunningMint;
let engine: RunningEngine;
let provider: RunningProvider;
let board: WritablePriceBoard;
let client: EcashWallet;
let model: Model;
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'provider-batches-'));
  dirs.push(d);
  return d;
};

interface OutLine {
  id: string;
  custom_id: string | null;
  response: { status_code: number; request_id: string; body: Record<string, unknown> } | null;
  error: { code: string; message: string } | null;
}
interface BatchObj {
  id: string;
  status: string;
  output_file_id: string | null;
  error_file_id: string | null;
  request_counts: { total: number; completed: number; failed: number };
  [k: string]: unknown;
}
type Usage = { prompt_tokens: number; completion_tokens: number; cost: { total_msats: number } };

const setPrice = (completion: number): void => void board.set([{ model: engine.model, prompt: msatPerMtok(PROMPT), completion: msatPerMtok(completion) }]);

function chatLine(customId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { custom_id: customId, method: 'POST', url: '/v1/chat/completions', body: { model: engine.model, messages: [{ role: 'user', content: `Line ${customId}` }], max_tokens: 4, ...extra } };
}
const jsonl = (lines: unknown[]): string => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

async function post(base: string, path: string, headers: Record<string, string>, body: unknown): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** A Bearer account on the node at `base`, funded with `sats`. */
async function account(sats: number, base = provider.url): Promise<string> {
  const token = (await client.send(sat(sats), { purpose: 'batch test account' })).token;
  const res = await post(base, '/v1/balance/create', {}, { initial_balance_token: token });
  return ((await res.json()) as { api_key: string }).api_key;
}

async function info(apiKey: string, base = provider.url): Promise<{ balance: number; reserved: number; total_requests: number; total_spent: number }> {
  return (await (await fetch(`${base}/v1/balance/info`, { headers: { authorization: `Bearer ${apiKey}` } })).json()) as never;
}

/** Uploads raw JSONL (`?purpose=batch`) and creates a batch, by plain HTTP. */
async function submit(apiKey: string, lines: unknown[], options: { window?: string; maxPrice?: number; base?: string } = {}): Promise<BatchObj> {
  const base = options.base ?? provider.url;
  const auth = { authorization: `Bearer ${apiKey}` };
  const up = await fetch(`${base}/v1/files?purpose=batch`, { method: 'POST', headers: { ...auth, 'content-type': 'application/jsonl' }, body: jsonl(lines) });
  expect(up.status).toBe(200);
  const file = (await up.json()) as { id: string };
  const res = await post(base, '/v1/batches', auth, {
    input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: options.window ?? '24h',
    metadata: { max_price_msat_per_mtok: String(options.maxPrice ?? COMPLETION) },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as BatchObj;
}

/** Resolves with the batch object once `predicate` holds (progress events; checked at once too). */
function waitFor(id: string, predicate: (b: BatchObj) => boolean): Promise<BatchObj> {
  return new Promise((resolve) => {
    let off = (): void => undefined;
    const check = (b: BatchObj): void => {
      if (b.id === id && predicate(b)) {
        off();
        resolve(b);
      }
    };
    off = provider.batches.onProgress((b) => check(b as unknown as BatchObj));
    void provider.batches.runner.batch(id).then((b) => check(b as unknown as BatchObj));
  });
}

async function fileLines(base: string, apiKey: string, fileId: string | null): Promise<OutLine[]> {
  if (!fileId) return [];
  const res = await fetch(`${base}/v1/files/${fileId}/content`, { headers: { authorization: `Bearer ${apiKey}` } });
  expect(res.status).toBe(200);
  return (await res.text()).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as OutLine);
}

/** routstr-core's cost of a usage at a Model's sats pricing. */
function expectedCostMsat(m: Model, usage: { prompt_tokens: number; completion_tokens: number }): number {
  return costFromResponse({ usage: { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens } }, m.sats_pricing ?? m.pricing, { maxCostMsat: 1 }).total_msats;
}

const costOf = (l: OutLine): number => ((l.response?.body['usage'] as Usage).cost.total_msats);

/** Output/error lines: each input custom_id exactly once across both; output lines well formed. */
function expectEveryLineOnce(out: OutLine[], err: OutLine[], customIds: string[]): void {
  expect([...out, ...err].map((l) => l.custom_id).sort()).toEqual([...customIds].sort());
  for (const l of out) {
    expect(l.id).toMatch(/^batch_req_[0-9a-f]+$/);
    expect(l.error).toBeNull();
    expect(l.response?.status_code).toBe(200);
    expect(typeof l.response?.request_id).toBe('string');
    expect(l.response?.body['object']).toBe('chat.completion');
  }
  for (const l of err) expect(l.id).toMatch(/^batch_req_[0-9a-f]+$/);
}

beforeAll(async () => {
  mint = await startMint();
  engine = await startEngine({ flavour: 'llama.cpp', maxConcurrency: 2 });
  board = createPriceBoard([{ model: engine.model, prompt: msatPerMtok(PROMPT), completion: msatPerMtok(COMPLETION) }]);
  provider = await startProvider({
    engine: 'llama.cpp', upstream: engine.url, mints: [mint.url], board, dataDir: tmp(),
    contextLength: engine.contextSize, maxConcurrency: 1, queueSize: 4,
  });
  client = await openWallet({ path: join(tmp(), 'client.db'), mints: [mint.url] });
  await (await client.fund(sat(2000))).complete();
  model = ((await (await fetch(`${provider.url}/v1/models`)).json()) as { data: Model[] }).data[0] as Model;
});

afterAll(async () => {
  await provider?.stop();
  client?.close();
  await engine?.stop();
  await mint?.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('the official openai client', () => {
  it('uploads JSONL, creates a batch with a price ceiling, polls it to completed and downloads the output; Σ line costs charged to the msat', async () => {
    const apiKey = await account(100);
    const before = await info(apiKey);
    const openai = new OpenAI({ baseURL: `${provider.url}/v1`, apiKey, maxRetries: 0 });
    const customIds = ids('oa', 6);
    const text = jsonl(customIds.map((c) => chatLine(c)));
    const file = await openai.files.create({ file: await toFile(Buffer.from(text), 'in.jsonl'), purpose: 'batch' });
    expect(file).toMatchObject({ object: 'file', bytes: Buffer.byteLength(text), filename: 'in.jsonl', purpose: 'batch', status: 'processed' });
    expect(file.id).toMatch(/^file-/);
    expect(await openai.files.retrieve(file.id)).toEqual(file);
    expect(await (await openai.files.content(file.id)).text()).toBe(text);

    const created = await openai.batches.create({
      input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { max_price_msat_per_mtok: String(COMPLETION) },
    });
    expect(created).toMatchObject({ object: 'batch', endpoint: '/v1/chat/completions', input_file_id: file.id, completion_window: '24h', errors: null, request_counts: { total: 6, completed: 0, failed: 0 } });
    expect(created.id).toMatch(/^batch_/);
    expect(['validating', 'in_progress']).toContain(created.status);
    expect(created.expires_at).toBe((created.created_at as number) + 86_400);

    let batch = await openai.batches.retrieve(created.id);
    while (batch.status !== 'completed') {
      // Poll on progress: the next retrieve happens after the batch changed.
      await waitFor(created.id, (b) => b.status !== batch.status || b.request_counts.completed !== batch.request_counts?.completed);
      batch = await openai.batches.retrieve(created.id);
    }
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 6, completed: 6, failed: 0 }, error_file_id: null, metadata: { max_price_msat_per_mtok: String(COMPLETION) } });
    for (const k of ['in_progress_at', 'finalizing_at', 'completed_at'] as const) expect(typeof batch[k]).toBe('number');

    const out = (await (await openai.files.content(batch.output_file_id as string)).text()).split('\n').filter((l) => l).map((l) => JSON.parse(l) as OutLine);
    expectEveryLineOnce(out, [], customIds);
    expect(out.map((l) => l.custom_id)).toEqual(customIds); // input order
    let sum = 0;
    for (const l of out) {
      const usage = l.response?.body['usage'] as Usage;
      expect(usage.completion_tokens).toBe(4);
      expect(usage.cost.total_msats).toBe(expectedCostMsat(model, usage));
      sum += usage.cost.total_msats;
    }
    const after = await info(apiKey);
    expect(before.balance - after.balance).toBe(sum);
    expect(after).toMatchObject({ reserved: 0, total_requests: 6, total_spent: sum });

    const page = await openai.batches.list({ limit: 1 });
    expect(page.data.map((b) => b.id)).toEqual([created.id]);

    // Another account sees none of it.
    const stranger = new OpenAI({ baseURL: `${provider.url}/v1`, apiKey: await account(1), maxRetries: 0 });
    await expect(stranger.batches.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
    await expect(stranger.files.content(batch.output_file_id as string)).rejects.toMatchObject({ status: 404 });
    await expect(stranger.batches.cancel(created.id)).rejects.toMatchObject({ status: 404 });
    expect((await stranger.batches.list()).data).toEqual([]);
  });
});

describe('price gating', () => {
  it('holds the batch in_progress with nothing run while the price is above the ceiling, runs it all once the price falls to the ceiling', async () => {
    const apiKey = await account(50);
    const before = await info(apiKey);
    setPrice(2 * COMPLETION);
    try {
      const customIds = ids('gate', 4);
      const created = await submit(apiKey, customIds.map((c) => chatLine(c)), { maxPrice: COMPLETION });
      await waitFor(created.id, (b) => b.status === 'in_progress');
      // An interactive request takes and frees the only slot: the runner gets a pass with a free engine and still starts nothing.
      const other = await account(20);
      const res = await post(provider.url, '/v1/chat/completions', { authorization: `Bearer ${other}` }, { model: engine.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
      expect(res.status).toBe(200);
      await provider.batches.runner.passesDone();
      const held = (await provider.batches.runner.batch(created.id)) as unknown as BatchObj;
      expect(held).toMatchObject({ status: 'in_progress', request_counts: { total: 4, completed: 0, failed: 0 } });
      expect(await provider.batches.store.batchLines(created.id, 'pending')).toHaveLength(4);
      expect(await info(apiKey)).toEqual(before);

      setPrice(COMPLETION); // at the ceiling: runs
      const done = await waitFor(created.id, (b) => b.status === 'completed');
      expect(done.request_counts).toEqual({ total: 4, completed: 4, failed: 0 });
      const out = await fileLines(provider.url, apiKey, done.output_file_id);
      expectEveryLineOnce(out, [], customIds);
      const sum = out.reduce((s, l) => s + costOf(l), 0);
      for (const l of out) expect(costOf(l)).toBe(expectedCostMsat(model, l.response?.body['usage'] as Usage));
      expect((await info(apiKey)).balance).toBe(before.balance - sum);
    } finally {
      setPrice(COMPLETION);
    }
  });
});

describe('priority and cancel', () => {
  it('serves an interactive request while a long batch runs; cancel ends it cancelling → cancelled with the rest not run nor charged', async () => {
    const apiKey = await account(100);
    const before = await info(apiKey);
    const customIds = ids('long', 24);
    const created = await submit(apiKey, customIds.map((c) => chatLine(c, { max_tokens: 8 })));
    await waitFor(created.id, (b) => b.request_counts.completed >= 1);

    const other = await account(20);
    const res = await post(provider.url, '/v1/chat/completions', { authorization: `Bearer ${other}` }, { model: engine.model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
    expect(res.status).toBe(200);
    // Served before the batch got anywhere near its end: it jumped the batch's queue.
    const during = (await provider.batches.runner.batch(created.id)) as unknown as BatchObj;
    expect(during.status).toBe('in_progress');
    expect(during.request_counts.completed).toBeLessThan(customIds.length / 2);

    const cancel = await post(provider.url, `/v1/batches/${created.id}/cancel`, { authorization: `Bearer ${apiKey}` }, {});
    expect(cancel.status).toBe(200);
    const cancelling = (await cancel.json()) as BatchObj;
    expect(cancelling.status).toBe('cancelling');
    expect(typeof cancelling['cancelling_at']).toBe('number');
    const ended = await waitFor(created.id, (b) => b.status === 'cancelled');
    expect(typeof ended['cancelled_at']).toBe('number');
    const out = await fileLines(provider.url, apiKey, ended.output_file_id);
    const err = await fileLines(provider.url, apiKey, ended.error_file_id);
    expectEveryLineOnce(out, err, customIds);
    expect(err.length).toBeGreaterThan(0);
    for (const l of err) expect(l).toMatchObject({ response: null, error: { code: 'batch_cancelled' } });
    expect(ended.request_counts).toEqual({ total: 24, completed: out.length, failed: err.length });
    const after = await info(apiKey);
    expect(after).toMatchObject({ balance: before.balance - out.reduce((s, l) => s + costOf(l), 0), reserved: 0, total_requests: out.length });
    // An ended batch cannot be cancelled again into another state.
    expect((await post(provider.url, `/v1/batches/${created.id}/cancel`, { authorization: `Bearer ${apiKey}` }, {})).status).toBe(200);
  });
});

describe('expiry', () => {
  it('ends expired when the window passes, with the completed lines as partial results and the rest batch_expired', async () => {
    const apiKey = await account(50);
    const before = await info(apiKey);
    const customIds = ids('exp', 10);
    try {
      const created = await submit(apiKey, customIds.map((c) => chatLine(c)), { window: '6s' });
      expect(created.completion_window).toBe('6s');
      await waitFor(created.id, (b) => b.request_counts.completed >= 2);
      setPrice(2 * COMPLETION); // held for price until the window closes
      const ended = await waitFor(created.id, (b) => b.status === 'expired');
      expect(typeof ended['expired_at']).toBe('number');
      const out = await fileLines(provider.url, apiKey, ended.output_file_id);
      const err = await fileLines(provider.url, apiKey, ended.error_file_id);
      expectEveryLineOnce(out, err, customIds);
      expect(out.length).toBeGreaterThanOrEqual(2);
      expect(err.length).toBeGreaterThan(0);
      for (const l of err) expect(l).toMatchObject({ response: null, error: { code: 'batch_expired' } });
      expect((await info(apiKey)).balance).toBe(before.balance - out.reduce((s, l) => s + costOf(l), 0));
    } finally {
      setPrice(COMPLETION);
    }
  });
});

describe('bad lines and unpaid lines', () => {
  it('sends bad lines to the error file with reasons and runs the rest', async () => {
    const apiKey = await account(20);
    const lines = [
      chatLine('ok-1'),
      'this is not json',
      { method: 'POST', url: '/v1/chat/completions', body: { model: engine.model, messages: [] } },
      chatLine('ok-1'),
      { ...chatLine('wrong-url'), url: '/v1/embeddings' },
      { ...chatLine('wrong-method'), method: 'GET' },
      { custom_id: 'no-model', method: 'POST', url: '/v1/chat/completions', body: { messages: [{ role: 'user', content: 'x' }] } },
      chatLine('ok-2'),
    ];
    const created = await submit(apiKey, lines);
    expect(created.request_counts).toEqual({ total: 8, completed: 0, failed: 6 });
    const done = await waitFor(created.id, (b) => b.status === 'completed');
    expect(done.request_counts).toEqual({ total: 8, completed: 2, failed: 6 });
    const out = await fileLines(provider.url, apiKey, done.output_file_id);
    const err = await fileLines(provider.url, apiKey, done.error_file_id);
    expect(out.map((l) => l.custom_id)).toEqual(['ok-1', 'ok-2']);
    expect(err.map((l) => [l.custom_id, l.response, l.error?.code])).toEqual([
      [null, null, 'invalid_json'],
      [null, null, 'missing_custom_id'],
      ['ok-1', null, 'duplicate_custom_id'],
      ['wrong-url', null, 'invalid_url'],
      ['wrong-method', null, 'invalid_method'],
      ['no-model', null, 'missing_model'],
    ]);
    for (const l of err) expect(l.error?.message).toMatch(/^Line \d+: .+/);
  });

  it('refuses bad batch options with 400 and nothing created', async () => {
    const apiKey = await account(1);
    const auth = { authorization: `Bearer ${apiKey}` };
    const file = (await (await fetch(`${provider.url}/v1/files?purpose=batch`, { method: 'POST', headers: auth, body: jsonl([chatLine('x')]) })).json()) as { id: string };
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ metadata: { max_price_msat_per_mtok: 'cheap' } }, 400, 'invalid_metadata'],
      [{ completion_window: 'forever' }, 400, 'invalid_completion_window'],
      [{ endpoint: '/v1/embeddings' }, 400, 'invalid_endpoint'],
      [{ input_file_id: 'file-nope' }, 404, 'not_found'],
    ];
    for (const [patch, status, code] of cases) {
      const res = await post(provider.url, '/v1/batches', auth, { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', ...patch });
      expect({ code, status: res.status }).toEqual({ code, status });
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    expect((await fetch(`${provider.url}/v1/batches`, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    expect(((await (await fetch(`${provider.url}/v1/batches`, { headers: auth })).json()) as { data: unknown[] }).data).toEqual([]);
  });

  it('fails lines the balance cannot cover with insufficient_balance and goes on; what ran is charged exactly', async () => {
    const apiKey = await account(3);
    const customIds = ids('poor', 6);
    const gate = requestGate(model, chatLine('poor-0', { max_tokens: 8 })['body']);
    expect(gate).toBeLessThan(3000); // at least the first line fits
    const created = await submit(apiKey, customIds.map((c) => chatLine(c, { max_tokens: 8 })));
    const done = await waitFor(created.id, (b) => b.status === 'completed');
    const out = await fileLines(provider.url, apiKey, done.output_file_id);
    const err = await fileLines(provider.url, apiKey, done.error_file_id);
    expectEveryLineOnce(out, err, customIds);
    expect(out.length).toBeGreaterThan(0);
    expect(err.length).toBeGreaterThan(0);
    for (const l of err) {
      expect(l).toMatchObject({ response: null, error: { code: 'insufficient_balance' } });
      expect(l.error?.message).toMatch(/Insufficient balance/);
    }
    const after = await info(apiKey);
    // As for an interactive Bearer request, a line whose real cost exceeds its reserved gate is
    // charged as far as the balance goes: the account never goes below zero.
    expect(after.balance + after.total_spent).toBe(3000);
    expect(after.total_spent).toBeLessThanOrEqual(out.reduce((s, l) => s + costOf(l), 0));
    expect(after.total_requests).toBe(out.length);
    expect(after.balance).toBeLessThan(gate); // every refused line really could not be covered
    expect(after.reserved).toBe(0);
  });
});

// --- restart ----------------------------------------------------------------------------------

const spawnNode = (dataDir: string, failpointName: string | null): Promise<NodeChild> =>
  spawnProviderChild({ upstream: engine.url, mint: mint.url, dataDir, model: engine.model, prompt: PROMPT, completion: COMPLETION, contextLength: engine.contextSize, adminToken: 'admin' }, failpointName);

describe('restart mid-batch', () => {
  const cases: Array<[string, string | null]> = [
    ['SIGKILLed while lines run', null],
    // The claim and the reservation are two steps: a kill between them, or before the reservation is recorded on the
    // line, leaves it running under a gone claimer; recovery runs it again, uncharged until then.
    ['killed after a line was claimed, before its reservation', 'batch:after-claim'],
    ['killed after a line was reserved, before the reservation was recorded on it', 'batch:after-reserve'],
    ['killed after a line was answered, before it was charged', 'batch:after-answer'],
    ['killed after a line was charged, before it was marked done', 'batch:after-settle'],
  ];
  for (const [name, point] of cases) {
    it(`${name}: resumes on the same data dir, every custom_id once, each completed line charged once`, { timeout: 120_000 }, async () => {
      const dataDir = tmp();
      const first = await spawnNode(dataDir, point);
      const apiKey = await account(40, first.url);
      const customIds = ids('rs', 8);
      const created = await submit(apiKey, customIds.map((c) => chatLine(c)), { base: first.url });
      if (point === null) {
        await first.batchProgress<BatchObj>(created.id, (b) => b.request_counts.completed >= 2);
        first.proc.kill('SIGKILL');
      }
      expect(await first.exited).toBe('SIGKILL');

      const second = await spawnNode(dataDir, null);
      try {
        const done = await second.batchProgress<BatchObj>(created.id, (b) => b.status === 'completed');
        const out = await fileLines(second.url, apiKey, done.output_file_id);
        const err = await fileLines(second.url, apiKey, done.error_file_id);
        expectEveryLineOnce(out, err, customIds);
        expect(out).toHaveLength(8);
        expect(done.request_counts).toEqual({ total: 8, completed: 8, failed: 0 });
        const after = await info(apiKey, second.url);
        // One charge per output line, none for a line that ran twice or was cut off.
        expect(after).toMatchObject({ balance: 40_000 - out.reduce((s, l) => s + costOf(l), 0), reserved: 0, total_requests: 8 });
      } finally {
        second.proc.kill('SIGTERM');
        await second.exited;
      }
    });
  }
});
