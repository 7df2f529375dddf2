/**
 * SSE framing around a paid stream. routstr-core ends a Bearer stream with one usage trailer
 * chunk (`"choices": []`, cost injected, Python `json.dumps` bytes) and then `data: [DONE]`.
 * Our X-Cashu streams also carry the change as a comment line `: x-cashu <token>` (DESIGN.md
 * "Wire additions" 4), which SSE parsers ignore.
 */
import { pythonJsonDumps } from './python-json.ts';

export const SSE_DONE = 'data: [DONE]\n\n';
const X_CASHU_COMMENT = ': x-cashu ';

/** A `data:` event with routstr-core's bytes (`json.dumps` defaults) for a chunk. */
export function sseDataEvent(chunk: unknown): string {
  return `data: ${pythonJsonDumps(chunk, { compact: false, ensureAscii: true })}\n\n`;
}

/** routstr-core's synthetic usage trailer chunk (when the upstream sent none). */
export function usageTrailerChunk(id: string, model: string, usage: { prompt_tokens: number; completion_tokens: number }): Record<string, unknown> {
  return {
    id,
    object: 'chat.completion.chunk',
    model,
    choices: [],
    usage: { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens, total_tokens: usage.prompt_tokens + usage.completion_tokens },
  };
}

/** The change comment line for an X-Cashu stream. */
export function xCashuSseComment(token: string): string {
  if (/[\r\n]/.test(token)) throw new RangeError('token must be a single line');
  return `${X_CASHU_COMMENT}${token}\n\n`;
}

/** One SSE line, classified. */
export type SseLine =
  | { readonly kind: 'data'; readonly text: string; readonly json: unknown }
  | { readonly kind: 'done' }
  | { readonly kind: 'x-cashu'; readonly token: string }
  | { readonly kind: 'other'; readonly text: string };

/** Classifies one line of an SSE stream (data JSON, `[DONE]`, our change comment, anything else). */
export function readSseLine(line: string): SseLine {
  const text = line.replace(/\r?\n$/, '');
  if (text.startsWith(X_CASHU_COMMENT)) return { kind: 'x-cashu', token: text.slice(X_CASHU_COMMENT.length).trim() };
  if (text.startsWith('data:')) {
    const payload = text.slice(5).trimStart();
    if (payload === '[DONE]') return { kind: 'done' };
    let json: unknown;
    try {
      json = JSON.parse(payload) as unknown;
    } catch {
      json = undefined;
    }
    return { kind: 'data', text: payload, json };
  }
  return { kind: 'other', text };
}
