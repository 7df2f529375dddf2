import { z } from 'zod';
import { NutCode, NutError } from './nut-error.ts';

const amount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const hexString = z.string().regex(/^[0-9a-fA-F]+$/).max(256);

const proof = z.object({
  id: hexString,
  amount,
  secret: z.string().min(1).max(1024),
  C: hexString,
  witness: z.union([z.string(), z.record(z.string(), z.unknown()), z.null()]).optional(),
});

const blindedMessage = z.object({ id: hexString, amount, B_: hexString });

const schemas = {
  mintQuote: z.object({ amount: amount.min(1), unit: z.string(), description: z.string().max(1024).optional() }),
  mint: z.object({ quote: z.string().min(1).max(256), outputs: z.array(blindedMessage).min(1).max(1000) }),
  swap: z.object({ inputs: z.array(proof).min(1).max(1000), outputs: z.array(blindedMessage).min(1).max(1000) }),
  checkState: z.object({ Ys: z.array(hexString).max(1000) }),
  restore: z.object({ outputs: z.array(blindedMessage).max(1000) }),
  meltQuote: z.object({ request: z.string().min(1).max(8192), unit: z.string() }),
  melt: z.object({
    quote: z.string().min(1).max(256),
    inputs: z.array(proof).min(1).max(1000),
    outputs: z.array(blindedMessage).max(1000).nullish(),
  }),
};

export type ProofInput = z.infer<typeof proof>;
export type BlindedMessageInput = z.infer<typeof blindedMessage>;
export type RequestKind = keyof typeof schemas;
export type RequestBody<K extends RequestKind> = z.infer<(typeof schemas)[K]>;

/** Validate a decoded JSON body against the NUT request shape; wrong shapes are refused with code 10000. */
export function parseRequest<K extends RequestKind>(kind: K, body: unknown): RequestBody<K> {
  const result = schemas[kind].safeParse(body);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue ? `${issue.path.join('.') || 'body'}: ${issue.message}` : 'invalid body';
    throw new NutError(NutCode.malformedRequest, `malformed request (${where})`);
  }
  return result.data as RequestBody<K>;
}
