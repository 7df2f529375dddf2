/**
 * What the payer needs to know of a provider before paying it: its `/v1/models` entries (to
 * compute the gate exactly as the node will) and its `/v1/info` mints (to pay with a token it
 * accepts). Read with the market's probe, cached briefly, dropped on a price mismatch.
 */
import { probeProvider, type ProbeResult } from '../../market/index.ts';
import { normalizeMintUrl, type Model, type NodeInfo } from '../../protocol/index.ts';

export interface ProviderFacts {
  readonly url: string;
  readonly info: NodeInfo;
  readonly models: readonly Model[];
  readonly at: number;
}

export interface ProviderDirectoryOptions {
  readonly fetch?: typeof fetch;
  /** How long facts are reused (default 30 000 ms). */
  readonly ttlMs?: number;
  readonly timeoutMs?: number;
}

/** `/v1/info` + `/v1/models` per provider base URL. */
export class ProviderDirectory {
  readonly #options: ProviderDirectoryOptions;
  readonly #facts = new Map<string, Promise<ProviderFacts>>();

  constructor(options: ProviderDirectoryOptions = {}) {
    this.#options = options;
  }

  /** Facts of the provider at `url` (base URL ending in `/`). */
  get(url: string): Promise<ProviderFacts> {
    const cached = this.#facts.get(url);
    const ttl = this.#options.ttlMs ?? 30_000;
    if (cached) {
      return cached.then((f) => (Date.now() - f.at < ttl ? f : this.#load(url)));
    }
    return this.#load(url);
  }

  /** Forgets what is known of `url` (its prices moved, or it failed). */
  invalidate(url: string): void {
    this.#facts.delete(url);
  }

  #load(url: string): Promise<ProviderFacts> {
    const p = probeProvider(url, { retries: 0, timeoutMs: this.#options.timeoutMs ?? 5_000, ...(this.#options.fetch ? { fetch: this.#options.fetch } : {}) }).then(
      (r: ProbeResult): ProviderFacts => ({ url, info: r.info, models: r.models, at: Date.now() }),
    );
    this.#facts.set(url, p);
    p.catch(() => {
      if (this.#facts.get(url) === p) this.#facts.delete(url);
    });
    return p;
  }
}

/** The provider's Model for an id (its own id, or an alias it lists). */
export function findModel(facts: ProviderFacts, id: string): Model | undefined {
  return (
    facts.models.find((m) => m.id === id) ??
    facts.models.find((m) => m.canonical_slug === id || m.forwarded_model_id === id || (m.alias_ids ?? []).includes(id))
  );
}

/** The first wallet mint the provider accepts (an empty list in `/v1/info` accepts any). */
export function pickMint(facts: ProviderFacts, walletMints: readonly string[]): string | undefined {
  const accepted = facts.info.mints.map(normalizeMintUrl);
  if (accepted.length === 0) return walletMints[0];
  return walletMints.find((m) => accepted.includes(normalizeMintUrl(m)));
}
