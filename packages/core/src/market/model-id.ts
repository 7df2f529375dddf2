/**
 * Model id matching as routstr-core and the SDK do it: a `vendor/` prefix is dropped
 * (`openai/gpt-4o-mini` and `gpt-4o-mini` are one model), aliases (`alias_ids`,
 * `canonical_slug`, 38426 mappings) map single-hop onto a canonical id, and a trailing
 * `-YYYYMMDD` is retried without the date.
 */

const DATE_SUFFIX = /-\d{8}$/;

/** The id with its `vendor/` prefix removed (everything up to the last `/`). */
export function stripVendorPrefix(id: string): string {
  const slash = id.lastIndexOf('/');
  return slash === -1 ? id : id.slice(slash + 1);
}

/** Maps model ids from any source onto the book's keys. */
export class ModelIdResolver {
  readonly #aliases = new Map<string, string>();

  constructor(aliases: Iterable<readonly [string, string]> = []) {
    for (const [alias, canonical] of aliases) this.addAlias(alias, canonical);
  }

  /** Registers `alias` → `canonical` (single hop; the first mapping for an alias wins). */
  addAlias(alias: string, canonical: string): void {
    const from = stripVendorPrefix(alias);
    const to = stripVendorPrefix(canonical);
    if (from === to || this.#aliases.has(from)) return;
    this.#aliases.set(from, to);
  }

  /** The book key for `id`. */
  key(id: string): string {
    const bare = stripVendorPrefix(id);
    return this.#aliases.get(bare) ?? bare;
  }

  /** Keys to try for a query, best first: the key itself, then without a `-YYYYMMDD` suffix. */
  lookupKeys(id: string): string[] {
    const key = this.key(id);
    if (!DATE_SUFFIX.test(key)) return [key];
    return [key, this.key(key.replace(DATE_SUFFIX, ''))];
  }
}
