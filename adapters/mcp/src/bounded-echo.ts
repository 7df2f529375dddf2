/**
 * Errors never carry a large input back into the agent's context: a value quoted in an error is
 * clipped where it is quoted (`clip`), and every error that leaves the server — the SDK's own
 * ("Tool … not found", zod issue lists) included — is bounded at the transport.
 */
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage, MessageExtraInfo } from '@modelcontextprotocol/sdk/types.js';

/** Most characters of one input value an error quotes. */
export const MAX_ECHO_CHARS = 200;
/** Most characters of an error message or error result text the server sends. */
export const MAX_ERROR_CHARS = 1000;

/** `text` cut to `max` characters, saying how much was left out. */
export function clip(text: string, max = MAX_ECHO_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/** `message` with its error text (JSON-RPC error, or an isError tool result's text) bounded; other messages unchanged. */
export function boundErrors(message: JSONRPCMessage): JSONRPCMessage {
  if ('error' in message) {
    const { code, message: text, data } = message.error;
    // `data` often repeats the input (the SDK's parse errors); kept only when small
    const keepData = data !== undefined && JSON.stringify(data).length <= MAX_ECHO_CHARS;
    return { ...message, error: { code, message: clip(text, MAX_ERROR_CHARS), ...(keepData ? { data } : {}) } };
  }
  if ('result' in message && message.result['isError'] === true && Array.isArray(message.result['content'])) {
    const content = (message.result['content'] as Array<Record<string, unknown>>).map((c) => (c['type'] === 'text' && typeof c['text'] === 'string' ? { ...c, text: clip(c['text'], MAX_ERROR_CHARS) } : c));
    return { ...message, result: { ...message.result, content } };
  }
  return message;
}

/** A transport that bounds the errors sent through it (see boundErrors) and passes everything else on. */
export class BoundedErrorsTransport implements Transport {
  readonly #inner: Transport;
  readonly setProtocolVersion: ((version: string) => void) | undefined;

  constructor(inner: Transport) {
    this.#inner = inner;
    this.setProtocolVersion = inner.setProtocolVersion ? (version) => inner.setProtocolVersion?.(version) : undefined;
  }

  get sessionId(): string | undefined {
    return this.#inner.sessionId;
  }
  get onclose(): (() => void) | undefined {
    return this.#inner.onclose;
  }
  set onclose(handler: (() => void) | undefined) {
    this.#inner.onclose = handler;
  }
  get onerror(): ((error: Error) => void) | undefined {
    return this.#inner.onerror;
  }
  set onerror(handler: ((error: Error) => void) | undefined) {
    this.#inner.onerror = handler;
  }
  get onmessage(): (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined {
    return this.#inner.onmessage;
  }
  set onmessage(handler: (<T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void) | undefined) {
    this.#inner.onmessage = handler;
  }

  start(): Promise<void> {
    return this.#inner.start();
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
  send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    return this.#inner.send(boundErrors(message), options);
  }
}
