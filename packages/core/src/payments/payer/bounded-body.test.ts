import { describe, expect, it } from 'vitest';
import { limitStream, readBounded } from './bounded-body.ts';
import { ResponseTooLarge, StreamLimitExceeded } from './errors.ts';

const bytes = (n: number, fill = 97): Uint8Array => new Uint8Array(n).fill(fill);

/** A stream of `chunks`, then open forever (a provider that stops sending) unless `end`. */
function source(chunks: Uint8Array[], end: boolean): { stream: ReadableStream<Uint8Array>; cancelled: Promise<unknown> } {
  let onCancel: (reason: unknown) => void = () => undefined;
  const cancelled = new Promise<unknown>((resolve) => (onCancel = resolve));
  const queue = [...chunks];
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = queue.shift();
      if (next) controller.enqueue(next);
      else if (end) controller.close();
      else return new Promise(() => undefined);
    },
    cancel: (reason) => onCancel(reason),
  });
  return { stream, cancelled };
}

const limits = { maxBytes: 1_000, maxLineBytes: 100, idleMs: 60_000, totalMs: 60_000 };

describe('readBounded', () => {
  it('reads a body within the limit and cuts one past it with ResponseTooLarge', async () => {
    expect(await readBounded(new Response('hello'), 5)).toBe('hello');
    await expect(readBounded(new Response(bytes(6)), 5)).rejects.toBeInstanceOf(ResponseTooLarge);
  });
});

describe('limitStream', () => {
  it('passes a stream within its limits unchanged', async () => {
    const { stream } = source([new TextEncoder().encode('data: a\n\n'), new TextEncoder().encode('data: b\n\n')], true);
    expect(await new Response(limitStream(stream, { ...limits, onLimit: () => undefined })).text()).toBe('data: a\n\ndata: b\n\n');
  });

  it('ends a line longer than the line limit, cancels the upstream and reports it', async () => {
    const { stream, cancelled } = source([bytes(60), bytes(60)], false);
    const seen: unknown[] = [];
    const err = await new Response(limitStream(stream, { ...limits, onLimit: (e) => seen.push(e) })).text().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ResponseTooLarge);
    expect(seen).toEqual([err]);
    await cancelled;
  });

  it('ends a stream past its byte limit', async () => {
    const line = new TextEncoder().encode(`${'x'.repeat(98)}\n`);
    const { stream } = source(Array.from({ length: 20 }, () => line), false);
    await expect(new Response(limitStream(stream, { ...limits, onLimit: () => undefined })).text()).rejects.toBeInstanceOf(ResponseTooLarge);
  });

  it('ends a stream that goes silent at the idle limit', async () => {
    const { stream, cancelled } = source([new TextEncoder().encode('data: a\n\n')], false);
    const err = await new Response(limitStream(stream, { ...limits, idleMs: 20, onLimit: () => undefined })).text().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamLimitExceeded);
    expect((err as StreamLimitExceeded).limit).toBe('idle');
    await cancelled;
  });
});
