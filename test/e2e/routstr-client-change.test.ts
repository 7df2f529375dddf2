// Issue 13, point 14 / acceptance 5: unmodified Routstr clients read X-Cashu change only from the
// `X-Cashu` response header and skip SSE comment lines. A streamed X-Cashu reply to a request that
// does not opt in is therefore buffered, as routstr-core does, with the change in the header; the
// kit's own payer opts in (`X-Routstr-Stream-Change: sse`) and still gets its first tokens while the
// engine is generating.
import { getTokenMetadata } from '@cashu/cashu-ts';
import { createRoutstrClient, requestGate, sat, type EcashWallet, type Model } from '@routstr-kit/core';
import type { RunningEngine } from '@routstr-kit/devnet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPricedDevnet, type PricedDevnet, type TickerNode } from '@routstr-kit/devnet/priced-nodes';

const PRICE = { prompt: 50_000_000, completion: 200_000_000 };
const FUNDED = 400;

let net: PricedDevnet;
let node: TickerNode;
let engine: RunningEngine;
let model: Model;
let wallet: EcashWallet;

const faceOf = (token: string): number => Number(getTokenMetadata(token).amount.toString());

/** A client as the Routstr SDK is: SSE `data:` lines only (comments skipped), change only from the `X-Cashu` header. */
async function routstrSdkCall(body: Record<string, unknown>, token: string): Promise<{ change: string | null; chunks: Array<Record<string, unknown>>; runningAtFirstChunk: number | undefined }> {
  const res = await fetch(`${node.node.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'X-Cashu': token }, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  const change = res.headers.get('x-cashu');
  if (body['stream'] !== true) return { change, chunks: [(await res.json()) as Record<string, unknown>], runningAtFirstChunk: undefined };
  const chunks: Array<Record<string, unknown>> = [];
  let runningAtFirstChunk: number | undefined;
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const bytes of res.body as ReadableStream<Uint8Array>) {
    runningAtFirstChunk ??= engine.state().running;
    buffer += decoder.decode(bytes, { stream: true });
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('data:')) continue; // comments (`: x-cashu …`) and blank lines are skipped
      const payload = line.slice(5).trim();
      if (payload !== '[DONE]') chunks.push(JSON.parse(payload) as Record<string, unknown>);
    }
  }
  return { change, chunks, runningAtFirstChunk };
}

beforeAll(async () => {
  net = await startPricedDevnet();
  node = await net.startTicker('compat', PRICE);
  engine = net.devnet.parts.engines['llama'] as RunningEngine;
  model = ((await (await fetch(`${node.node.url}/v1/models`)).json()) as { data: Model[] }).data[0] as Model;
  wallet = (await net.newWallet(FUNDED)).wallet;
});

afterAll(async () => {
  await net?.stop();
});

describe('X-Cashu change for unmodified Routstr clients (header only)', () => {
  for (const stream of [true, false]) {
    it(`a Routstr-SDK-like client gets its exact change from the X-Cashu header on a ${stream ? 'streamed' : 'non-streamed'} reply`, async () => {
      const body = { model: model.id, messages: [{ role: 'user', content: `compat ${stream}` }], max_tokens: 40, stream, ...(stream ? { stream_options: { include_usage: true } } : {}) };
      const paid = Math.ceil(requestGate(model, body) / 1000) + 5;
      const token = (await wallet.send(sat(paid), { purpose: 'sdk-like' })).token;
      const { change, chunks, runningAtFirstChunk } = await routstrSdkCall(body, token);
      const usage = chunks.map((c) => c['usage'] as { completion_tokens: number; cost: { total_msats: number } } | undefined).find((u) => u);
      expect(usage?.completion_tokens).toBe(40);
      expect(change).not.toBeNull();
      expect(faceOf(change as string)).toBe(paid - Math.ceil((usage?.cost.total_msats ?? 0) / 1000));
      expect(await wallet.receive(change as string)).toBe(faceOf(change as string));
      // buffered as routstr-core: the first byte left the node after the engine had finished
      if (stream) expect(runningAtFirstChunk).toBe(0);
      expect(wallet.balance() + net.providerHeldSat()).toBe(FUNDED);
    });
  }

  it("the kit's payer still streams incrementally: its first chunk arrives while the engine is generating", async () => {
    const client = createRoutstrClient({ wallet, market: await net.openMarket(), mode: 'xcashu' });
    const streamed = client.chatStream({ model: model.id, messages: [{ role: 'user', content: 'incremental' }], max_tokens: 400 });
    let runningAtFirstChunk: number | undefined;
    let chunks = 0;
    for await (const chunk of streamed.chunks) {
      if (runningAtFirstChunk === undefined && JSON.stringify(chunk).includes('"content"')) runningAtFirstChunk = engine.state().running;
      chunks++;
    }
    const receipt = await streamed.receipt;
    expect(runningAtFirstChunk).toBeGreaterThanOrEqual(1);
    expect(chunks).toBeGreaterThan(1);
    expect(receipt.changeSat).toBeGreaterThanOrEqual(0);
    await client.close();
    expect(wallet.balance() + net.providerHeldSat()).toBe(FUNDED);
  });
});
