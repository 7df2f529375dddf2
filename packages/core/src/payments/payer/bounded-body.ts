/**
 * Reading a provider's answer within the buyer's limits: a non-streamed body up to a byte limit,
 * a stream up to a byte limit, a line length, an idle gap and a total time. Past a limit the
 * upstream is cancelled (the connection closes) and a typed error says which limit ended it, so
 * memory stays bounded whatever a provider sends.
 */
import { ResponseTooLarge, StreamLimitExceeded } from './errors.ts';

/** Reads at most `maxBytes` of `res`'s body as text; past it, cancels the body and throws ResponseTooLarge. */
export async function readBounded(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const step = await reader.read();
    if (step.done) break;
    size += step.value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new ResponseTooLarge(maxBytes);
    }
    chunks.push(step.value);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** Limits of one stream. */
export interface StreamLimits {
  readonly maxBytes: number;
  readonly maxLineBytes: number;
  readonly idleMs: number;
  readonly totalMs: number;
  /** Called when a limit ends the stream (abort the request's connection). */
  readonly onLimit: (error: StreamLimitExceeded | ResponseTooLarge) => void;
}

/** Passes `body` on, ending it with a typed error at the first limit it crosses. */
export function limitStream(body: ReadableStream<Uint8Array>, limits: StreamLimits): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let size = 0;
  let lineBytes = 0;
  let ended: StreamLimitExceeded | ResponseTooLarge | undefined;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  let totalTimer: ReturnType<typeof setTimeout> | undefined;
  let wake: ((error: StreamLimitExceeded) => void) | undefined;
  const clear = (): void => {
    clearTimeout(idleTimer);
    clearTimeout(totalTimer);
  };
  const stop = (error: StreamLimitExceeded | ResponseTooLarge): void => {
    if (ended) return;
    ended = error;
    clear();
    limits.onLimit(error);
    reader.cancel(error).catch(() => undefined);
  };
  const expire = (error: StreamLimitExceeded): void => {
    stop(error);
    wake?.(error);
  };
  const armIdle = (): void => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => expire(new StreamLimitExceeded('idle', limits.idleMs)), limits.idleMs);
    idleTimer.unref(); // a limit never keeps the process alive on its own
  };
  return new ReadableStream<Uint8Array>(
    {
      start() {
        totalTimer = setTimeout(() => expire(new StreamLimitExceeded('total', limits.totalMs)), limits.totalMs);
        totalTimer.unref();
      },
      async pull(controller) {
        if (ended) {
          controller.error(ended);
          return;
        }
        const expired = new Promise<never>((_, reject) => (wake = reject));
        expired.catch(() => undefined);
        let step: Awaited<ReturnType<typeof reader.read>>;
        // the idle clock runs only while we wait on the provider, not while the caller is slow to read
        armIdle();
        try {
          step = await Promise.race([reader.read(), expired]);
        } catch (error) {
          clear();
          controller.error(ended ?? error);
          return;
        } finally {
          wake = undefined;
          clearTimeout(idleTimer);
        }
        if (ended) {
          controller.error(ended);
          return;
        }
        if (step.done) {
          clear();
          controller.close();
          return;
        }
        const chunk = step.value;
        size += chunk.byteLength;
        const nl = chunk.lastIndexOf(10);
        lineBytes = nl === -1 ? lineBytes + chunk.byteLength : chunk.byteLength - nl - 1;
        if (size > limits.maxBytes) stop(new ResponseTooLarge(limits.maxBytes));
        else if (lineBytes > limits.maxLineBytes) stop(new ResponseTooLarge(limits.maxLineBytes, 'line'));
        if (ended) {
          controller.error(ended);
          return;
        }
        controller.enqueue(chunk);
      },
      cancel(reason) {
        clear();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
