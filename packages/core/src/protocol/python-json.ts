/**
 * JSON text as Python's `json.dumps` writes it, so that our node's bodies are byte-identical to
 * routstr-core's: FastAPI responses are compact with raw UTF-8; `json.dumps` defaults (used for
 * error bodies) put a space after `,` and `:` and escape non-ASCII. Floats print as Python's
 * `repr` (`0.0`, `1.515e-07`), which differs from JS (`0`, `1.515e-7`).
 */

export interface PythonJsonOptions {
  /** `separators=(",", ":")` when true; Python's default `", "`/`": "` when false. */
  readonly compact: boolean;
  /** Python's `ensure_ascii`: escape everything outside printable ASCII as `\uXXXX`. */
  readonly ensureAscii: boolean;
  /** Which numbers are Python floats (by key path); others print as JS does (ints). */
  readonly isFloat?: (path: readonly string[]) => boolean;
}

/** Python's `repr(float)` for a finite number. */
export function pythonFloatRepr(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`Out of range float values are not JSON compliant: ${String(value)}`);
  if (Object.is(value, -0)) return '-0.0';
  const sign = value < 0 ? '-' : '';
  const [mantissa = '0', expText = '0'] = Math.abs(value).toExponential().split('e');
  const exp = Number(expText);
  const digits = mantissa.replace('.', '');
  // repr switches to exponent form when the decimal point is before -4 or after 16 digits
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp >= 0) {
    const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
    const frac = digits.slice(exp + 1);
    return `${sign}${intPart}.${frac === '' ? '0' : frac}`;
  }
  return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
}

function escapeNonAscii(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function dumpString(text: string, ensureAscii: boolean): string {
  const json = JSON.stringify(text);
  return ensureAscii ? escapeNonAscii(json) : json;
}

/** Serialises `value` as Python's `json.dumps` would with the given options. */
export function pythonJsonDumps(value: unknown, options: PythonJsonOptions): string {
  const comma = options.compact ? ',' : ', ';
  const colon = options.compact ? ':' : ': ';
  const walk = (v: unknown, path: string[]): string => {
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (typeof v === 'number') {
      if (options.isFloat?.(path) || !Number.isInteger(v)) return pythonFloatRepr(v);
      return String(v);
    }
    if (typeof v === 'string') return dumpString(v, options.ensureAscii);
    if (Array.isArray(v)) return `[${v.map((item, i) => walk(item, [...path, String(i)])).join(comma)}]`;
    if (typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>).filter(([, item]) => item !== undefined);
      return `{${entries.map(([k, item]) => `${dumpString(k, options.ensureAscii)}${colon}${walk(item, [...path, k])}`).join(comma)}}`;
    }
    throw new TypeError(`Object of type ${typeof v} is not JSON serializable`);
  };
  return walk(value, []);
}

/** FastAPI's JSONResponse body: compact, raw UTF-8. */
export function fastApiJson(value: unknown, isFloat?: (path: readonly string[]) => boolean): string {
  return pythonJsonDumps(value, isFloat ? { compact: true, ensureAscii: false, isFloat } : { compact: true, ensureAscii: false });
}
