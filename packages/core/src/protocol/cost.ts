/**
 * Cost metadata a routstr-core node attaches to responses: `usage.cost`, `usage.cost_sats`,
 * `usage.remaining_balance_msats`, `metadata.routstr`, and the `X-Routstr-Cost-*` headers.
 */
import { z } from 'zod';
import type { Msat } from '../money/index.ts';
import { ProtocolError, parseWith, wireMsat } from './protocol-error.ts';

const msats = z.number().int().nonnegative();

/** `usage.cost` (routstr-core CostData as put in usage). */
export const usageCostSchema = z
  .object({
    base_msats: msats.optional(),
    input_msats: msats.optional(),
    output_msats: msats.optional(),
    total_msats: msats,
    cache_read_input_tokens: z.number().int().nonnegative().optional(),
    cache_creation_input_tokens: z.number().int().nonnegative().optional(),
    cache_read_msats: msats.optional(),
    cache_creation_msats: msats.optional(),
    total_usd: z.number().optional(),
    input_tokens: z.number().int().nonnegative().optional(),
    output_tokens: z.number().int().nonnegative().optional(),
  })
  .loose();

export type UsageCost = z.infer<typeof usageCostSchema>;

/** routstr-core's CostData, as the builder takes it. */
export interface CostData {
  readonly base_msats: number;
  readonly input_msats: number;
  readonly output_msats: number;
  readonly total_msats: number;
  readonly total_usd?: number;
  readonly input_tokens: number;
  readonly output_tokens: number;
  readonly cache_read_input_tokens: number;
  readonly cache_creation_input_tokens: number;
  readonly cache_read_msats: number;
  readonly cache_creation_msats: number;
}

export const COST_HEADERS = {
  total: 'X-Routstr-Cost-Msats',
  input: 'X-Routstr-Input-Cost-Msats',
  output: 'X-Routstr-Output-Cost-Msats',
  usd: 'X-Routstr-Cost-Usd',
} as const;

/** Where a cost figure was found. */
export type CostSource = 'usage.cost' | 'metadata.routstr' | 'usage.cost_sats' | 'header';

/** The charge a response reports. */
export interface ReportedCost {
  readonly totalMsat: Msat;
  readonly inputMsat: Msat | undefined;
  readonly outputMsat: Msat | undefined;
  readonly source: CostSource;
}

/** `usage.cost` in routstr-core's key order (`total_usd` only when given). */
export function buildUsageCost(cost: CostData): Record<string, number> {
  const out: Record<string, number> = {
    base_msats: cost.base_msats,
    input_msats: cost.input_msats,
    output_msats: cost.output_msats,
    total_msats: cost.total_msats,
    cache_read_input_tokens: cost.cache_read_input_tokens,
    cache_creation_input_tokens: cost.cache_creation_input_tokens,
    cache_read_msats: cost.cache_read_msats,
    cache_creation_msats: cost.cache_creation_msats,
  };
  if (cost.total_usd !== undefined) out['total_usd'] = cost.total_usd;
  return out;
}

/** The full CostData object (`metadata.routstr.cost`, legacy top-level `cost`). */
export function buildCostData(cost: CostData): Record<string, number> {
  return {
    base_msats: cost.base_msats,
    input_msats: cost.input_msats,
    output_msats: cost.output_msats,
    total_msats: cost.total_msats,
    total_usd: cost.total_usd ?? 0,
    input_tokens: cost.input_tokens,
    output_tokens: cost.output_tokens,
    cache_read_input_tokens: cost.cache_read_input_tokens,
    cache_creation_input_tokens: cost.cache_creation_input_tokens,
    cache_read_msats: cost.cache_read_msats,
    cache_creation_msats: cost.cache_creation_msats,
  };
}

/** Adds routstr-core's cost fields to a response body's `usage` (and `metadata.routstr`, legacy `cost`). */
export function attachCostMetadata<T extends Record<string, unknown>>(
  body: T,
  cost: CostData,
  remainingBalanceMsats?: number,
): T & { usage: Record<string, unknown>; metadata: Record<string, unknown>; cost: Record<string, unknown> } {
  const usage = (typeof body['usage'] === 'object' && body['usage'] !== null ? body['usage'] : {}) as Record<string, unknown>;
  const satsCost = Math.floor(cost.total_msats / 1000);
  const extra: Record<string, unknown> = { cost: buildUsageCost(cost), cost_sats: satsCost };
  if (remainingBalanceMsats !== undefined) extra['remaining_balance_msats'] = remainingBalanceMsats;
  const routstr: Record<string, unknown> = { cost: buildCostData(cost), sats_cost: satsCost };
  if (remainingBalanceMsats !== undefined) routstr['remaining_balance_msats'] = remainingBalanceMsats;
  const metadata = (typeof body['metadata'] === 'object' && body['metadata'] !== null ? body['metadata'] : {}) as Record<string, unknown>;
  const legacy: Record<string, unknown> = { ...buildCostData(cost), sats_cost: satsCost };
  if (remainingBalanceMsats !== undefined) legacy['remaining_balance_msats'] = remainingBalanceMsats;
  return { ...body, usage: { ...usage, ...extra }, metadata: { ...metadata, routstr }, cost: legacy };
}

/** The `X-Routstr-Cost-*` response headers. */
export function buildCostHeaders(cost: Pick<CostData, 'total_msats' | 'input_msats' | 'output_msats' | 'total_usd'>): Record<string, string> {
  const headers: Record<string, string> = {
    [COST_HEADERS.total]: String(cost.total_msats),
    [COST_HEADERS.input]: String(cost.input_msats),
    [COST_HEADERS.output]: String(cost.output_msats),
  };
  if (cost.total_usd !== undefined) headers[COST_HEADERS.usd] = String(cost.total_usd);
  return headers;
}

type HeaderSource = Headers | Record<string, string | undefined> | undefined;

function header(headers: HeaderSource, name: string): string | undefined {
  if (!headers) return undefined;
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

function headerMsat(headers: HeaderSource, name: string): Msat | undefined {
  const value = header(headers, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim())) throw new ProtocolError('invalid_value', `headers.${name}`, `expected integer msats, got ${JSON.stringify(value)}`);
  return wireMsat(Number(value.trim()), `headers.${name}`);
}

/** Parses the `X-Routstr-Cost-*` headers; undefined if the total is absent. */
export function parseCostHeaders(headers: HeaderSource): ReportedCost | undefined {
  const total = headerMsat(headers, COST_HEADERS.total);
  if (total === undefined) return undefined;
  return { totalMsat: total, inputMsat: headerMsat(headers, COST_HEADERS.input), outputMsat: headerMsat(headers, COST_HEADERS.output), source: 'header' };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The charge a response reports, in the SDK's order: `usage.cost.total_msats`,
 * `metadata.routstr.cost`, `usage.cost_sats`, then the `X-Routstr-Cost-Msats` header.
 */
export function readReportedCost(body: unknown, headers?: HeaderSource): ReportedCost | undefined {
  if (isObject(body)) {
    const usage = body['usage'];
    if (isObject(usage) && usage['cost'] !== undefined && usage['cost'] !== null && typeof usage['cost'] === 'object') {
      const c = parseWith(usageCostSchema, usage['cost'], 'usage.cost');
      return { totalMsat: wireMsat(c.total_msats, 'usage.cost.total_msats'), inputMsat: opt(c.input_msats), outputMsat: opt(c.output_msats), source: 'usage.cost' };
    }
    const meta = body['metadata'];
    if (isObject(meta) && isObject(meta['routstr']) && meta['routstr']['cost'] !== undefined) {
      const c = parseWith(usageCostSchema, meta['routstr']['cost'], 'metadata.routstr.cost');
      return { totalMsat: wireMsat(c.total_msats, 'metadata.routstr.cost.total_msats'), inputMsat: opt(c.input_msats), outputMsat: opt(c.output_msats), source: 'metadata.routstr' };
    }
    if (isObject(usage) && usage['cost_sats'] !== undefined) {
      const sats = parseWith(z.number().int().nonnegative(), usage['cost_sats'], 'usage.cost_sats');
      return { totalMsat: wireMsat(sats * 1000, 'usage.cost_sats'), inputMsat: undefined, outputMsat: undefined, source: 'usage.cost_sats' };
    }
  }
  return parseCostHeaders(headers);
}

function opt(v: number | undefined): Msat | undefined {
  return v === undefined ? undefined : wireMsat(v, 'usage.cost');
}
