import { msatPerMtok, type MsatPerMtok } from '../money/index.ts';
import { ProtocolError } from './protocol-error.ts';

/** One model's price as we put it on Nostr: `["model", id, prompt msat/Mtok, completion msat/Mtok]`. */
export interface ModelAsk {
  readonly model: string;
  readonly prompt: MsatPerMtok;
  readonly completion: MsatPerMtok;
}

const DECIMAL_INTEGER = /^(0|[1-9][0-9]*)$/;

function price(value: string | undefined, field: string): MsatPerMtok {
  if (value === undefined) throw new ProtocolError('missing_field', field, 'price missing');
  const n = Number(value);
  if (!DECIMAL_INTEGER.test(value) || !Number.isSafeInteger(n)) {
    throw new ProtocolError('invalid_value', field, `price must be a non-negative decimal integer string, got ${JSON.stringify(value)}`);
  }
  return msatPerMtok(n);
}

/** Parses a `model` tag; `field` names it in errors (e.g. `tags.6`). */
export function parseModelTag(tag: readonly string[], field: string): ModelAsk {
  const model = tag[1];
  if (model === undefined || model === '') throw new ProtocolError('missing_field', `${field}.1`, 'model id missing');
  return { model, prompt: price(tag[2], `${field}.2`), completion: price(tag[3], `${field}.3`) };
}

/** All `model` tags of an event as asks, in tag order. */
export function parseModelTags(tags: readonly (readonly string[])[]): ModelAsk[] {
  const asks: ModelAsk[] = [];
  tags.forEach((tag, i) => {
    if (tag[0] === 'model') asks.push(parseModelTag(tag, `tags.${i}`));
  });
  return asks;
}

/** Builds a `model` tag (prices as decimal integer strings); `field` names the ask in errors. */
export function modelTag(ask: ModelAsk, field = 'model'): string[] {
  if (typeof ask.model !== 'string' || ask.model === '') throw new ProtocolError('missing_field', `${field}.model`, 'model id missing');
  for (const key of ['prompt', 'completion'] as const) {
    const v = ask[key];
    if (!Number.isSafeInteger(v) || v < 0) throw new ProtocolError('invalid_value', `${field}.${key}`, `price must be a non-negative integer msat/Mtok, got ${String(v)}`);
  }
  return ['model', ask.model, String(ask.prompt), String(ask.completion)];
}
