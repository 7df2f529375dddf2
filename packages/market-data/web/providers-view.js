// The providers table, rebuilt from /api/providers. Names, URLs and model ids come from
// providers' own Nostr events: they go in as text only.
import { el, fillBody } from './dom.js';
import { age, latency, share, shortKey } from './format.js';

/** Rebuilds the providers table body from a /api/providers document. */
export function showProviders(tbody, doc, now) {
  const providers = [...doc.providers].sort((a, b) => String(a.name).localeCompare(String(b.name)));
  fillBody(tbody, providers, (p) => {
    const tr = el('tr');
    tr.dataset.provider = p.id;
    const npub = el('td', shortKey(p.npub));
    npub.title = String(p.npub ?? '');
    const lastTick = el('td', age(p.lastTickAt, now), 'num');
    lastTick.dataset.at = p.lastTickAt ?? '';
    tr.append(
      el('td', p.name ?? '', 'name'),
      npub,
      el('td', p.url ?? ''),
      el('td', (p.models ?? []).join(', ')),
      el('td', share(p.load), 'num'),
      el('td', latency(p.latencyMs), 'num'),
      el('td', share(p.uptime), 'num'),
      lastTick,
    );
    return tr;
  });
}

/** Moves the providers' "last tick" ages on. */
export function refreshProviderAges(tbody, now) {
  for (const td of tbody.querySelectorAll('td[data-at]')) {
    const at = td.dataset.at === '' ? null : Number(td.dataset.at);
    td.textContent = age(at, now);
  }
}
