// What ChatRoutstr adds to `response_metadata` beyond ChatOpenAI's: the model under both names LangChain readers use,
// and, on a cache hit, a receipt that says nothing was paid.
import { AIMessage, AIMessageChunk } from '@langchain/core/messages';
import type { ChatGeneration } from '@langchain/core/outputs';

/** `meta` with `model` and `model_name` (the served model the response names, else the requested one). */
export function withModelName(meta: Record<string, unknown>, requested: string): Record<string, unknown> {
  const served = typeof meta['model_name'] === 'string' && meta['model_name'] !== '' ? meta['model_name'] : typeof meta['model'] === 'string' && meta['model'] !== '' ? meta['model'] : requested;
  return { ...meta, model: served, model_name: served };
}

/** The receipt of an answer served from LangChain's cache: the first call's provenance, `cached: true`, nothing paid. */
export function cachedReceipt(receipt: Record<string, unknown>): Record<string, unknown> {
  return { ...receipt, cached: true, paidSat: 0, changeSat: 0, chargedMsat: 0, costSat: 0, costMsat: 0 };
}

/**
 * A cached generation with its receipt marked cached. A new message, never the cached one changed in place: the cache
 * holds the very object the first call returned, whose receipt must keep its real cost.
 */
export function cachedGeneration(g: ChatGeneration): ChatGeneration {
  const m = g.message;
  const routstr = (m.response_metadata as Record<string, unknown>)['routstr'];
  if (!AIMessage.isInstance(m) || typeof routstr !== 'object' || routstr === null) return g;
  const fields = {
    content: m.content,
    tool_calls: m.tool_calls ?? [],
    invalid_tool_calls: m.invalid_tool_calls ?? [],
    additional_kwargs: m.additional_kwargs,
    response_metadata: { ...m.response_metadata, routstr: cachedReceipt(routstr as Record<string, unknown>) },
    ...(m.usage_metadata ? { usage_metadata: m.usage_metadata } : {}),
    ...(m.id ? { id: m.id } : {}),
    ...(m.name ? { name: m.name } : {}),
  };
  return { ...g, message: AIMessageChunk.isInstance(m) ? new AIMessageChunk(fields) : new AIMessage(fields) };
}
