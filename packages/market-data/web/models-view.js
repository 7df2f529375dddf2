// The models table: one row per model, created from /api/models and kept current by the
// stream's `model` events.
import { el, setCell } from './dom.js';
import { age, change, changeClass, msat, sats } from './format.js';

const FIELDS = ['prompt', 'completion', 'typical', 'median', 'spread', 'change1h', 'change24h', 'providers', 'age'];

/** The models table's state: its body and the last entry seen per model. */
export function modelsTable(tbody, empty) {
  return { tbody, empty, entries: new Map(), rows: new Map() };
}

function newRow(table, id) {
  const tr = el('tr');
  tr.dataset.model = id;
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
  // keep rows sorted by model id
  const after = [...table.rows.keys()].filter((other) => other > id).sort()[0];
  table.tbody.insertBefore(tr, after === undefined ? null : (table.rows.get(after) ?? null));
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
