import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SSE_DONE, attachCostMetadata, readReportedCost, readSseLine, sseDataEvent, usageTrailerChunk, xCashuSseComment, type CostData } from './index.ts';

describe('SSE framing', () => {
  it('builds routstr-core\'s usage trailer with Python json.dumps spacing, cost readable by clients', () => {
    const cost: CostData = { base_msats: 0, input_msats: 145, output_msats: 254, total_msats: 399, input_tokens: 950, output_tokens: 420, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, cache_read_msats: 0, cache_creation_msats: 0 };
    const chunk = usageTrailerChunk('chatcmpl-1', 'gpt-4o-mini', { prompt_tokens: 950, completion_tokens: 420 });
    const event = sseDataEvent(chunk);
    expect(event).toBe('data: {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini", "choices": [], "usage": {"prompt_tokens": 950, "completion_tokens": 420, "total_tokens": 1370}}\n\n');
    const line = readSseLine(sseDataEvent(attachCostMetadata(chunk, cost)).trimEnd());
    expect(line.kind).toBe('data');
    expect(readReportedCost(line.kind === 'data' ? line.json : undefined)?.totalMsat).toBe(399);
  });

  it('round-trips the x-cashu change comment and [DONE]', () => {
    expect(readSseLine(xCashuSseComment('cashuBabc').trimEnd())).toEqual({ kind: 'x-cashu', token: 'cashuBabc' });
    expect(readSseLine(SSE_DONE.trimEnd())).toEqual({ kind: 'done' });
    expect(readSseLine(': keepalive')).toEqual({ kind: 'other', text: ': keepalive' });
    expect(() => xCashuSseComment('a\nb')).toThrow(RangeError);
  });

  it('fuzz: any line is classified without throwing', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string().map((s) => `data: ${s}`)), (line) => {
        expect(['data', 'done', 'x-cashu', 'other']).toContain(readSseLine(line).kind);
      }),
    );
  });
});
