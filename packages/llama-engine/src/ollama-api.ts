// Ollama's native /api/tags, /api/ps and /api/version bodies (shapes: shared/fixtures/engines/ollama/).

/** The engine's single model as Ollama would list it. */
export interface OllamaModelInfo {
  name: string;
  sizeBytes: number;
  digest: string;
  modifiedAt: Date;
  parameterCount: number;
  family: string;
  quantizationLevel: string;
  contextLength: number;
}

export const OLLAMA_VERSION = '0.33.0';

/** Ollama's human parameter size ("7.6B", "137M", "144K"). */
export function humanParameterSize(n: number): string {
  const units: Array<[number, string]> = [
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [size, unit] of units) {
    if (n >= size) {
      const v = n / size;
      return `${v >= 100 ? Math.round(v) : Math.round(v * 10) / 10}${unit}`;
    }
  }
  return String(n);
}

function details(m: OllamaModelInfo): Record<string, unknown> {
  return {
    parent_model: '',
    format: 'gguf',
    family: m.family,
    families: [m.family],
    parameter_size: humanParameterSize(m.parameterCount),
    quantization_level: m.quantizationLevel,
  };
}

/** GET /api/tags. */
export function ollamaTagsBody(m: OllamaModelInfo): Record<string, unknown> {
  return {
    models: [
      {
        name: m.name,
        model: m.name,
        modified_at: m.modifiedAt.toISOString(),
        size: m.sizeBytes,
        digest: m.digest,
        details: details(m),
        capabilities: ['completion', 'tools'],
      },
    ],
  };
}

/** GET /api/ps: the model while loaded (requests running or within keep-alive), `[]` otherwise. */
export function ollamaPsBody(m: OllamaModelInfo, expiresAt: Date | undefined): Record<string, unknown> {
  if (!expiresAt) return { models: [] };
  return {
    models: [
      {
        name: m.name,
        model: m.name,
        size: m.sizeBytes,
        digest: m.digest,
        details: details(m),
        expires_at: expiresAt.toISOString(),
        // CPU-only: nothing is in VRAM (size_vram < size is how Ollama says "partly on CPU").
        size_vram: 0,
        context_length: m.contextLength,
      },
    ],
  };
}

/** GET /api/version. */
export function ollamaVersionBody(): Record<string, unknown> {
  return { version: OLLAMA_VERSION };
}
