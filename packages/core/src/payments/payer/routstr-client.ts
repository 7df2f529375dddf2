/**
 * `createRoutstrClient`: the paying fetch for direct use, without an OpenAI SDK. `chat()` returns
 * the provider's completion with its receipt; `chatStream()` yields the parsed chunks.
 */
import { readSseLine } from '../../protocol/index.ts';
import { parseNodeError } from '../../protocol/index.ts';
import { Payer, type PaidResponse, type PayerOptions } from './payer.ts';
import { receiptSlot } from './payer-types.ts';
import type { Receipt } from './receipt.ts';

export interface ChatRequest {
  model: string;
  messages: ReadonlyArray<{ role: string; content: unknown }>;
  max_tokens?: number;
  [key: string]: unknown;
}

export interface ChatResult {
  /** The provider's JSON answer (OpenAI chat.completion with routstr cost metadata). */
  completion: Record<string, unknown>;
  /** The text of the first choice. */
  text: string;
  receipt: Receipt;
}

export interface RoutstrClient {
  readonly payer: Payer;
  chat(request: ChatRequest, options?: { signal?: AbortSignal }): Promise<ChatResult>;
  /** Streams a chat; the receipt resolves once the stream ended and the change is stored. */
  chatStream(request: ChatRequest, options?: { signal?: AbortSignal }): { chunks: AsyncIterable<Record<string, unknown>>; receipt: Promise<Receipt> };
  close(): Promise<void>;
}

/** A client that pays per request on the market; see PayerOptions. */
export function createRoutstrClient(options: PayerOptions): RoutstrClient {
  const payer = new Payer(options);
  return {
    payer,
    async chat(request, opts = {}) {
      const paid = await payer.send('v1/chat/completions', { ...request, stream: false }, opts.signal ? { signal: opts.signal } : {});
      const text = await paid.response.text();
      if (!paid.response.ok) throw parseNodeError(paid.response.status, text);
      const completion = JSON.parse(text) as Record<string, unknown>;
      const choice = (completion['choices'] as Array<{ message?: { content?: unknown } }> | undefined)?.[0];
      return { completion, text: typeof choice?.message?.content === 'string' ? choice.message.content : '', receipt: await paid.receipt };
    },
    chatStream(request, opts = {}) {
      const receipt = receiptSlot();
      async function* chunks(): AsyncGenerator<Record<string, unknown>> {
        let paid: PaidResponse;
        try {
          paid = await payer.send('v1/chat/completions', { ...request, stream: true }, opts.signal ? { signal: opts.signal } : {});
        } catch (error) {
          receipt.reject(error);
          throw error;
        }
        // the stream's own receipt: it settles when the stream ended (or was broken off) and its change is stored
        paid.receipt.then(receipt.resolve, receipt.reject);
        const res = paid.response;
        if (!res.body) throw parseNodeError(res.status, await res.text());
        const decoder = new TextDecoder();
        let buffer = '';
        for await (const part of res.body as unknown as AsyncIterable<Uint8Array>) {
          buffer += decoder.decode(part, { stream: true });
          let nl: number;
          while ((nl = buffer.indexOf('\n')) !== -1) {
            const line = readSseLine(buffer.slice(0, nl));
            buffer = buffer.slice(nl + 1);
            if (line.kind === 'data' && typeof line.json === 'object' && line.json !== null) yield line.json as Record<string, unknown>;
          }
        }
      }
      return { chunks: chunks(), receipt: receipt.promise };
    },
    close: () => payer.close(),
  };
}
