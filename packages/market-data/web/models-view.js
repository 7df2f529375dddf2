// The models table: one row per model, created from /api/models and kept current by the
// stream's `model` events.
import { el, setCell } from './dom.js';
import { age, change, changeClass, msat, sats } from './format.js';

const FIELDS = ['prompt', 'completion', 'typical', 'median', 'spread', 'change1h', 'change24h', 'providers', 'age'];

// what a header sorts by; a model without asks (null) goes last either way
const SORT_KEYS = {
  model: (e) => e.id,
  prompt: (e) => e.bestAsk?.promptMsatPerMtok ?? null,
  completion: (e) => e.bestAsk?.completionMsatPerMtok ?? null,
  typical: (e) => e.bestAsk?.typicalRequestMsat ?? null,
  median: (e) => e.median?.typicalRequestMsat ?? null,
  spread: (e) => e.spreadMsat ?? null,
  change1h: (e) => e.change1h ?? null,
  change24h: (e) => e.change24h ?? null,
  providers: (e) => e.providers,
  age: (e) => (e.lastTickAt === null || e.lastTickAt === undefined ? null : -e.lastTickAt),
};

/** The models table's state: its body, the last entry seen per model, the sort and the filter. */
export function modelsTable(tbody, empty) {
  return { tbody, empty, entries: new Map(), rows: new Map(), sort: { key: 'model', dir: 1 }, filter: '' };
}

function compare(table, a, b) {
  const key = SORT_KEYS[table.sort.key];
  const x = key(a);
  const y = key(b);
  if (x === null || y === null) return x === y ? a.id.localeCompare(b.id) : x === null ? 1 : -1;
  const order = typeof x === 'string' ? x.localeCompare(y) : x - y;
  return order === 0 ? a.id.localeCompare(b.id) : order * table.sort.dir;
}

/** Puts a model's row where the sort wants it. */
function place(table, id) {
  const entry = table.entries.get(id);
  const tr = table.rows.get(id);
  let before = null;
  for (const [other, row] of table.rows) {
    if (other === id) continue;
    const o = table.entries.get(other);
    if (o && compare(table, entry, o) < 0 && (before === null || compare(table, o, table.entries.get(before.dataset.model)) < 0)) before = row;
  }
  if (tr.nextSibling !== before || tr.parentNode !== table.tbody) table.tbody.insertBefore(tr, before);
}

function applyFilter(table, id) {
  table.rows.get(id).hidden = table.filter !== '' && !id.toLowerCase().includes(table.filter);
}

/** Sorts by a column (a second click on it reverses the order). */
export function sortBy(table, key) {
  if (!(key in SORT_KEYS)) return;
  table.sort = { key, dir: table.sort.key === key ? -table.sort.dir : key === 'providers' ? -1 : 1 };
  const ordered = [...table.entries.values()].sort((a, b) => compare(table, a, b));
  table.tbody.append(...ordered.map((e) => table.rows.get(e.id)));
}

/** Shows only models whose id contains `text` (any case). */
export function filterBy(table, text) {
  table.filter = text.trim().toLowerCase();
  for (const id of table.rows.keys()) applyFilter(table, id);
}

function newRow(table, id) {
  const tr = el('tr');
  tr.dataset.model = id;
  // done once: a hidden view shown again would replay the animation
  tr.addEventListener('animationend', () => tr.classList.remove('flash'));
  const name = el('td', undefined, 'name');
  name.dataset.field = 'model';
  const link = el('a', id);
  link.href = `#/model/${encodeURIComponent(id)}`;
  name.append(link);
  tr.append(name);
  for (const field of FIELDS) {
    const td = el('td', '—', 'num');
    td.dataset.field = field;
    tr.append(td);
  }
  table.rows.set(id, tr);
  return tr;
}

function cell(tr, field) {
  return tr.querySelector(`td[data-field="${field}"]`);
}

/** Shows one entry of /api/models (or of a `model` event); flashes the row when its price moved. */
export function showModel(table, entry, now) {
  const tr = table.rows.get(entry.id) ?? newRow(table, entry.id);
  table.entries.set(entry.id, entry);
  table.empty.hidden = true;
  const best = entry.bestAsk;
  let moved = false;
  moved = setCell(cell(tr, 'prompt'), msat(best?.promptMsatPerMtok)) || moved;
  moved = setCell(cell(tr, 'completion'), msat(best?.completionMsatPerMtok)) || moved;
  const typical = cell(tr, 'typical');
  moved = setCell(typical, sats(best?.typicalRequestSat)) || moved;
  typical.title = best ? `${msat(best.typicalRequestMsat)} msat` : '';
  const median = cell(tr, 'median');
  setCell(median, sats(entry.median?.typicalRequestSat));
  median.title = entry.median ? `${msat(entry.median.typicalRequestMsat)} msat` : '';
  setCell(cell(tr, 'spread'), entry.spreadMsat === null || entry.spreadMsat === undefined ? '—' : `${msat(entry.spreadMsat)} msat`);
  setCell(cell(tr, 'change1h'), change(entry.change1h), `num ${changeClass(entry.change1h)}`.trim());
  setCell(cell(tr, 'change24h'), change(entry.change24h), `num ${changeClass(entry.change24h)}`.trim());
  setCell(cell(tr, 'providers'), entry.providers);
  setCell(cell(tr, 'age'), age(entry.lastTickAt, now));
  place(table, entry.id);
  applyFilter(table, entry.id);
  if (moved) {
    // restart the highlight animation
    tr.classList.remove('flash');
    void tr.offsetWidth;
    tr.classList.add('flash');
  }
}

/** Replaces the table with a snapshot of /api/models, keeping rows the stream updated since `skip`. */
export function showSnapshot(table, models, skip, now) {
  const ids = new Set(models.map((m) => m.id));
  for (const [id, tr] of table.rows) {
    if (!ids.has(id) && !skip.has(id)) {
      tr.remove();
      table.rows.delete(id);
      table.entries.delete(id);
    }
  }
  for (const entry of models) if (!skip.has(entry.id)) showModel(table, entry, now);
  table.empty.hidden = table.rows.size > 0;
}

/** Moves every "last tick" age on. */
export function refreshAges(table, now) {
  for (const [id, tr] of table.rows) setCell(cell(tr, 'age'), age(table.entries.get(id)?.lastTickAt, now));
}
