import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMint, type RunningMint } from '@routstr-kit/devnet';
import { msatPerMtok } from '@routstr-kit/core';
import { createFixedPriceBoard, startProvider, type RunningProvider } from '@routstr-kit/provider';
import { startFastUpstream, type FastUpstream } from './fast-upstream.ts';
import { chatBody } from './payment-rig.ts';
import { TokenPool } from './paid-requests.ts';

/** The `data:` payloads of an SSE body, parsed (`[DONE]` kept as the string). */
function events(text: string): unknown[] {
  return text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).map((p) => (p === '[DONE]' ? p : (JSON.parse(p) as unknown)));
}

type Chunk = { choices: { delta?: { content?: string } }[]; usage?: { completion_tokens: number; prompt_tokens: number } };
const contentChunks = (evs: unknown[]): number => evs.filter((e): e is Chunk => typeof e === 'object' && (e as Chunk).choices?.[0]?.delta?.content === ' hi').length;

describe('fast upstream', () => {
  let upstream: FastUpstream;
  let mint: RunningMint;
  let node: RunningProvider;
  const dirs: string[] = [];
  beforeAll(async () => {
    upstream = await startFastUpstream();
    mint = await startMint();
    const dataDir = mkdtempSync(join(tmpdir(), 'fast-upstream-'));
    dirs.push(dataDir);
    node = await startProvider({
      engine: 'vllm', upstream: upstream.url, mints: [mint.url], dataDir, contextLength: upstream.contextSize,
      board: createFixedPriceBoard([{ model: upstream.model, prompt: msatPerMtok(1_000_000), completion: msatPerMtok(2_000_000) }]), log: () => {},
    });
  });
  afterAll(async () => {
    await node?.stop();
    await mint?.stop();
    await upstream?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('streams one content chunk per max_tokens, then the usage chunk (choices: []) and [DONE], as vLLM with include_usage', async () => {
    const res = await fetch(`${upstream.url}/v1/chat/completions`, { method: 'POST', body: chatBody(upstream.model, 256, 'stream') });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const evs = events(await res.text());
    expect(contentChunks(evs)).toBe(256);
    expect(evs.at(-1)).toBe('[DONE]');
    expect(evs.at(-2)).toMatchObject({ choices: [], usage: { prompt_tokens: upstream.promptTokens, completion_tokens: 256 } });
  });

  it('sends no usage chunk without stream_options.include_usage, and answers whole requests with fixed usage', async () => {
    const plain = JSON.stringify({ model: upstream.model, messages: [{ role: 'user', content: 'x' }], max_tokens: 3, stream: true });
    const evs = events(await (await fetch(`${upstream.url}/v1/chat/completions`, { method: 'POST', body: plain })).text());
    expect(evs.some((e) => typeof e === 'object' && (e as Chunk).usage !== undefined)).toBe(false);
    const whole = (await (await fetch(`${upstream.url}/v1/chat/completions`, { method: 'POST', body: chatBody(upstream.model, 5, 'complete') })).json()) as Record<string, unknown>;
    expect(whole).toMatchObject({ object: 'chat.completion', usage: { prompt_tokens: upstream.promptTokens, completion_tokens: 5 } });
  });

  it('refuses a bad output bound and an unknown model with an error, not an answer', async () => {
    const bad = JSON.stringify({ model: upstream.model, messages: [], max_tokens: 1.5 });
    expect((await fetch(`${upstream.url}/v1/chat/completions`, { method: 'POST', body: bad })).status).toBe(400);
    const unknown = JSON.stringify({ model: 'nope', messages: [] });
    expect((await fetch(`${upstream.url}/v1/chat/completions`, { method: 'POST', body: unknown })).status).toBe(404);
  });

  it('is taken by the provider node as its upstream: a paid session stream relays every chunk and bills the fixed usage', async () => {
    const models = (await (await fetch(`${node.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual([upstream.model]);
    const pool = new TokenPool(mint.url, 8);
    const created = await fetch(`${node.url}/v1/balance/create`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ initial_balance_token: await pool.big(1_000) }) });
    const { api_key: apiKey } = (await created.json()) as { api_key: string };
    const res = await fetch(`${node.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` }, body: chatBody(upstream.model, 64, 'stream') });
    expect(res.status).toBe(200);
    const evs = events(await res.text());
    expect(contentChunks(evs)).toBe(64);
    expect(evs.at(-2)).toMatchObject({ choices: [], usage: { completion_tokens: 64 } });
  });
});
