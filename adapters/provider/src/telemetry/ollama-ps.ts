import { z } from 'zod';
import { TelemetryParseError } from './nvidia-smi.ts';

const psSchema = z.object({
  models: z.array(
    z.looseObject({
      name: z.string(),
      model: z.string().optional(),
      size: z.number().nonnegative(),
      size_vram: z.number().nonnegative(),
      expires_at: z.string().optional(),
      context_length: z.number().optional(),
    }),
  ),
});

/** What Ollama's `GET /api/ps` says about loaded models (Ollama exposes no queue depth). */
export interface OllamaLoad {
  loaded: { name: string; sizeBytes: number; vramBytes: number; contextLength?: number; expiresAt?: string }[];
  /** Share of loaded bytes held in GPU memory, 0..1; 1 when nothing is loaded. */
  gpuFraction: number;
}

/** Parses an Ollama `/api/ps` body. */
export function parseOllamaPs(body: unknown): OllamaLoad {
  const parsed = psSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TelemetryParseError(`Ollama /api/ps body is malformed at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
  }
  const loaded = parsed.data.models.map((m) => ({
    name: m.name,
    sizeBytes: m.size,
    vramBytes: m.size_vram,
    ...(m.context_length !== undefined ? { contextLength: m.context_length } : {}),
    ...(m.expires_at !== undefined ? { expiresAt: m.expires_at } : {}),
  }));
  const size = loaded.reduce((s, m) => s + m.sizeBytes, 0);
  const vram = loaded.reduce((s, m) => s + m.vramBytes, 0);
  return { loaded, gpuFraction: size === 0 ? 1 : Math.min(1, vram / size) };
}
