import { describe, expect, it } from 'vitest';
import { SSE_DONE, xCashuSseComment } from '../../protocol/index.ts';
import { holdStreamEnd } from './held-stream.ts';
import { SseTap } from './sse-tap.ts';

const encoder = new TextEncoder();

function source(parts: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const p of parts) controller.enqueue(encoder.encode(p));
      controller.close();
    },
  });
}

describe('holdStreamEnd', () => {
  it('passes every byte through, sees usage, cost and change, and settles before [DONE] reaches the reader', async () => {
    const usage = { prompt_tokens: 30, completion_tokens: 8, cost: { total_msats: 14_000 } };
    const body = `data: {"choices":[{"delta":{"content":"hi"}}]}\n\ndata: {"choices":[],"usage":${JSON.stringify(usage)}}\n\n${xCashuSseComment('cashuBchange')}${SSE_DONE}`;
    // split at awkward places: lines cross chunk boundaries
    const parts = [body.slice(0, 7), body.slice(7, 60), body.slice(60, 131), body.slice(131)];
    const tap = new SseTap();
    const events: string[] = [];
    const out = holdStreamEnd(source(parts), tap, {
      settle: async () => {
        events.push(`settled with ${tap.changeToken}`);
      },
      broken: () => events.push('broken'),
    });
    const reader = out.getReader();
    const decoder = new TextDecoder();
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const piece = decoder.decode(value);
      if (piece.includes('[DONE]')) events.push('done delivered');
      text += piece;
    }
    expect(text).toBe(body);
    expect(events).toEqual(['settled with cashuBchange', 'done delivered']);
    expect(tap.costMsat).toBe(14_000);
    expect(tap.usage).toMatchObject({ prompt_tokens: 30, completion_tokens: 8 });
  });

  it('settles in the background when the caller cancels', async () => {
    const tap = new SseTap();
    const events: string[] = [];
    const out = holdStreamEnd(source(['data: {"choices":[]}\n\n', 'data: {"choices":[]}\n\n']), tap, {
      settle: async () => undefined,
      broken: () => events.push('broken'),
    });
    const reader = out.getReader();
    await reader.read();
    await reader.cancel('caller left');
    expect(events).toEqual(['broken']);
  });
});
