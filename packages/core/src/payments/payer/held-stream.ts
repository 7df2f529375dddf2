/**
 * Passes a paid SSE stream to the caller as it arrives, line by line, but holds back its end —
 * the `data: [DONE]` line and the close — until `settle()` has run (the change is stored, the
 * receipt written). OpenAI's SDK stops reading at `[DONE]`, so that line is the end it sees.
 */
import { SseTap } from './sse-tap.ts';

export interface HeldStreamHooks {
  /** After the first chunk arrived (crash-test failpoint). */
  readonly first?: () => void;
  /** Settles the request; awaited (once) before `[DONE]` and the close are delivered. */
  readonly settle: () => Promise<void>;
  /** The stream broke off or the caller cancelled it: settle in the background. */
  readonly broken: () => void;
  /** True for a read error that ends the stream on purpose (a limit): settle first, then pass the error on. */
  readonly settlesOnError?: (error: unknown) => boolean;
}

/** Wraps `body`; `tap` sees every line (usage, cost, change comment). */
export function holdStreamEnd(body: ReadableStream<Uint8Array>, tap: SseTap, hooks: HeldStreamHooks): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const encoder = new TextEncoder();
  let first = true;
  let settled: Promise<void> | undefined;
  const settle = (): Promise<void> => (settled ??= hooks.settle().catch(() => undefined));
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      // a pull that enqueues nothing is not repeated: read on until a whole line (or the end) is here
      for (;;) {
        let step: Awaited<ReturnType<typeof reader.read>>;
        try {
          step = await reader.read();
        } catch (error) {
          if (hooks.settlesOnError?.(error)) await settle();
          else hooks.broken();
          controller.error(error);
          return;
        }
        if (step.done) {
          const rest = tap.end();
          if (rest !== '') controller.enqueue(encoder.encode(rest));
          await settle();
          controller.close();
          return;
        }
        if (first) {
          first = false;
          hooks.first?.();
        }
        const lines = tap.push(step.value);
        for (const line of lines) {
          if (SseTap.isDone(line)) await settle();
          controller.enqueue(encoder.encode(line));
        }
        if (lines.length > 0) return;
      }
    },
    cancel(reason) {
      reader.cancel(reason).catch(() => undefined);
      hooks.broken();
    },
  });
}
