// Number and time formatting for the market page. Pure functions: they return strings, and the
// callers put them in with textContent.

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** "1,234,567" for an integer msat amount; an em dash when there is none. */
export function msat(value) {
  return value === null || value === undefined ? '—' : integer.format(value);
}

const short = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

/** "1.2M" for an axis label, where full digits would overlap. */
export function compact(value) {
  return value === null || value === undefined ? '' : short.format(value);
}

/** "12 sat" for a typical request's price in sats. */
export function sats(value) {
  return value === null || value === undefined ? '—' : `${integer.format(value)} sat`;
}

/** "+5.0 %" for a relative change (0.05); an em dash when there is no history. */
export function change(value) {
  if (value === null || value === undefined) return '—';
  const pct = (value * 100).toFixed(1);
  return `${value > 0 ? '+' : ''}${pct} %`;
}

/** The CSS class for a change: prices going up are red for a buyer. */
export function changeClass(value) {
  if (value === null || value === undefined || value === 0) return '';
  return value > 0 ? 'up' : 'down';
}

/** "42 %" for a load or uptime share in [0, 1]. */
export function share(value) {
  return value === null || value === undefined ? '—' : `${Math.round(value * 100)} %`;
}

/** "12 ms" for a probe latency. */
export function latency(value) {
  return value === null || value === undefined ? '—' : `${integer.format(value)} ms`;
}

/** "3 s ago", "4 min ago", "2 h ago" for an epoch-ms time, relative to now. */
export function age(at, now) {
  if (at === null || at === undefined) return '—';
  const s = Math.max(0, Math.floor((now - at) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** "npub1abcd…wxyz": short enough for a table cell; the full key goes in the title. */
export function shortKey(npub) {
  return typeof npub === 'string' && npub.length > 16 ? `${npub.slice(0, 10)}…${npub.slice(-4)}` : String(npub ?? '');
}
