// A deterministic tiny llama-architecture GGUF (random F32 weights, SentencePiece vocab), generated on first use:
// no model download is possible here, and a real tokenizer + real forward pass give honest token counts and timing.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeGguf, type GgufTensor, type GgufValue } from './gguf-writer.ts';
import { TINY_CHAT_TEMPLATE } from '@routstr-kit/llama-engine';

/** Shape of the generated model. Bumping any value changes the file name, so old caches are not reused. */
export const TINY_MODEL_SPEC = {
  name: 'tiny-llama',
  version: 1,
  nEmbd: 64,
  nLayer: 2,
  nHead: 4,
  nFf: 128,
  contextLength: 4096,
  seed: 0x5eed_c0de,
} as const;

const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;
const SPACE = '\u2581'; // SentencePiece's visible space

const COMMON_WORDS = [
  'the', 'and', 'to', 'of', 'a', 'in', 'is', 'it', 'you', 'that', 'for', 'on', 'with', 'as', 'are', 'this',
  'be', 'at', 'or', 'not', 'have', 'from', 'by', 'hello', 'world', 'user', 'assistant', 'system', 'tools',
];

/** Builds the SentencePiece vocabulary: specials, 256 byte tokens, single characters, then common words. */
export function buildTinyVocab(): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  const seen = new Set<string>();
  const add = (piece: string, type: number, score: number): void => {
    if (seen.has(piece)) return;
    seen.add(piece);
    tokens.push(piece);
    scores.push(score);
    types.push(type);
  };
  add('<unk>', TOKEN_TYPE.unknown, 0);
  add('<s>', TOKEN_TYPE.control, 0);
  add('</s>', TOKEN_TYPE.control, 0);
  for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, TOKEN_TYPE.byte, 0);
  // Single characters must exist for SPM merges to start from; every merge step needs its prefix piece too.
  add(SPACE, TOKEN_TYPE.normal, -1);
  for (let c = 0x21; c <= 0x7e; c++) add(String.fromCharCode(c), TOKEN_TYPE.normal, -2);
  for (const word of COMMON_WORDS) {
    for (const form of [SPACE + word, word]) {
      for (let len = 2; len <= form.length; len++) add(form.slice(0, len), TOKEN_TYPE.normal, -3 - tokens.length / 1000);
    }
  }
  for (const piece of ['<|', '|>', '\u2581\u2581']) add(piece, TOKEN_TYPE.normal, -4);
  return { tokens, scores, types };
}

/** mulberry32: a tiny seeded PRNG so weights are byte-identical on every machine. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Builds the GGUF bytes of the tiny model (pure and deterministic). */
export function buildTinyModelGguf(): Buffer {
  const s = TINY_MODEL_SPEC;
  const vocab = buildTinyVocab();
  const nVocab = vocab.tokens.length;
  const rand = seededRandom(s.seed);
  const random = (n: number, scale: number): Float32Array => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * scale;
    return a;
  };
  const ones = (n: number): Float32Array => new Float32Array(n).fill(1);
  const e = s.nEmbd;
  // Random weights would end text at a random point (EOS ≈ 1/vocab per token). Dimension 0 of the residual stream
  // carries a constant positive value (set in every embedding, never written by attention/FFN), and the EOS
  // output row reads it with a large negative weight: EOS is then only sampled when a grammar forces it,
  // so plain generations run to max_tokens and load stays predictable.
  const tokenEmbd = random(e * nVocab, 0.5);
  for (let t = 0; t < nVocab; t++) tokenEmbd[t * e] = 4;
  const output = random(e * nVocab, 0.5);
  for (let t = 0; t < nVocab; t++) output[t * e] = 0;
  output[2 * e] = -8;
  // The same constant dimension steers free text towards readable gibberish: raw byte tokens (U+FFFD soup when
  // detokenized alone) are pushed down and whole-word pieces up. A grammar still forces whatever it needs.
  vocab.types.forEach((type, t) => {
    if (type === TOKEN_TYPE.byte) output[t * e] = -6;
    else if (type === TOKEN_TYPE.normal && vocab.tokens[t]!.startsWith(SPACE) && vocab.tokens[t]!.length >= 3) output[t * e] = 2.5;
  });
  const noDim0Output = (data: Float32Array, nIn: number): Float32Array => data.fill(0, 0, nIn);
  const tensors: GgufTensor[] = [
    { name: 'token_embd.weight', dims: [e, nVocab], data: tokenEmbd },
    { name: 'output_norm.weight', dims: [e], data: ones(e) },
    { name: 'output.weight', dims: [e, nVocab], data: output },
  ];
  for (let l = 0; l < s.nLayer; l++) {
    const p = `blk.${l}.`;
    tensors.push(
      { name: p + 'attn_norm.weight', dims: [e], data: ones(e) },
      { name: p + 'attn_q.weight', dims: [e, e], data: random(e * e, 0.2) },
      { name: p + 'attn_k.weight', dims: [e, e], data: random(e * e, 0.2) },
      { name: p + 'attn_v.weight', dims: [e, e], data: random(e * e, 0.2) },
      { name: p + 'attn_output.weight', dims: [e, e], data: noDim0Output(random(e * e, 0.2), e) },
      { name: p + 'ffn_norm.weight', dims: [e], data: ones(e) },
      { name: p + 'ffn_gate.weight', dims: [e, s.nFf], data: random(e * s.nFf, 0.2) },
      { name: p + 'ffn_up.weight', dims: [e, s.nFf], data: random(e * s.nFf, 0.2) },
      { name: p + 'ffn_down.weight', dims: [s.nFf, e], data: noDim0Output(random(e * s.nFf, 0.2), s.nFf) },
    );
  }
  const metadata: Array<[string, GgufValue]> = [
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: s.name }],
    ['general.file_type', { type: 'u32', value: 0 }],
    ['llama.context_length', { type: 'u32', value: s.contextLength }],
    ['llama.embedding_length', { type: 'u32', value: e }],
    ['llama.block_count', { type: 'u32', value: s.nLayer }],
    ['llama.feed_forward_length', { type: 'u32', value: s.nFf }],
    ['llama.attention.head_count', { type: 'u32', value: s.nHead }],
    ['llama.attention.head_count_kv', { type: 'u32', value: s.nHead }],
    ['llama.rope.dimension_count', { type: 'u32', value: e / s.nHead }],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'f32', value: 1e-5 }],
    ['llama.vocab_size', { type: 'u32', value: nVocab }],
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'string[]', value: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: 'f32[]', value: vocab.scores }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: vocab.types }],
    ['tokenizer.ggml.unknown_token_id', { type: 'u32', value: 0 }],
    ['tokenizer.ggml.bos_token_id', { type: 'u32', value: 1 }],
    ['tokenizer.ggml.eos_token_id', { type: 'u32', value: 2 }],
    // The chat template writes <s> itself, and a space prefix would make tokenize(a+b) != tokenize(a)+tokenize(b).
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: false }],
    ['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }],
    ['tokenizer.ggml.add_space_prefix', { type: 'bool', value: false }],
    ['tokenizer.chat_template', { type: 'string', value: TINY_CHAT_TEMPLATE }],
  ];
  return encodeGguf(metadata, tensors);
}

export interface TinyModelOptions {
  /** Folder for the generated file; default `$ROUTSTR_KIT_CACHE` or `<repo>/.cache/devnet/`. */
  cacheDir?: string;
}

/** Default cache folder: `$ROUTSTR_KIT_CACHE`, else `<repo>/.cache/devnet/` next to this source tree. */
export function defaultCacheDir(): string {
  const env = process.env['ROUTSTR_KIT_CACHE'];
  if (env) return env;
  return fileURLToPath(new URL('../../../../.cache/devnet/', import.meta.url));
}

/** File name of the tiny model; carries the spec version so a changed generator never reuses a stale file. */
export function tinyModelFileName(): string {
  return `${TINY_MODEL_SPEC.name}-v${TINY_MODEL_SPEC.version}.gguf`;
}

/** SHA-256 hex of some bytes. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Writes the tiny GGUF into the cache on first use (temp file + rename, so readers never see half a file) and returns its path. */
export async function ensureTinyModel(options: TinyModelOptions = {}): Promise<string> {
  const dir = options.cacheDir ?? defaultCacheDir();
  const path = join(dir, tinyModelFileName());
  const bytes = buildTinyModelGguf();
  try {
    // Compare content, not just presence: a file from an older generator under the same name must not be reused.
    if (sha256Hex(await readFile(path)) === sha256Hex(bytes)) return path;
  } catch {
    // not cached yet
  }
  await mkdir(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
  return path;
}

/** Reads a cached model file's hash (for determinism checks). */
export async function fileSha256(path: string): Promise<string> {
  return sha256Hex(await readFile(path));
}
