/** `GET /v1/info` as routstr-core 0.4.5 serves it (no `models`; old nodes' extra keys are kept). */
import { z } from 'zod';
import { parseWith } from './protocol-error.ts';
import { fastApiJson } from './python-json.ts';

export const nodeInfoSchema = z
  .object({
    name: z.string(),
    description: z.string().optional(),
    version: z.string(),
    npub: z.string().optional(),
    /** Empty means "accepts any mint" to the SDK. */
    mints: z.array(z.string()),
    http_url: z.string().nullable().optional(),
    onion_url: z.string().nullable().optional(),
    child_key_cost_msats: z.number().int().nonnegative().optional(),
  })
  .loose();

export type NodeInfo = z.infer<typeof nodeInfoSchema>;

/** Parses a `/v1/info` body. */
export function parseNodeInfo(input: unknown): NodeInfo {
  return parseWith(nodeInfoSchema, input);
}

/** A `/v1/info` body in routstr-core's key order (unset URLs are `""`, as its settings default). */
export function buildNodeInfo(info: {
  name: string;
  description: string;
  version: string;
  npub: string;
  mints: readonly string[];
  httpUrl?: string;
  onionUrl?: string;
  childKeyCostMsats?: number;
}): NodeInfo {
  return {
    name: info.name,
    description: info.description,
    version: info.version,
    npub: info.npub,
    mints: [...info.mints],
    http_url: info.httpUrl ?? '',
    onion_url: info.onionUrl ?? '',
    child_key_cost_msats: info.childKeyCostMsats ?? 0,
  };
}

/** The bytes FastAPI sends for a `/v1/info` body. */
export function serializeNodeInfo(info: NodeInfo): string {
  return fastApiJson(info);
}

/** The SDK's mint normalisation: strip trailing slashes (comparison is then exact). */
export function normalizeMintUrl(url: string): string {
  return url.replace(/\/+$/, '');
}
