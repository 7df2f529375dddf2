// The page's only way to put text into the document: every string, provider-supplied or not, goes
// in as textContent, never as markup.

/** A new element with optional text and class. */
export function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

/** Sets a cell's text (and class) when it differs; returns whether it changed. */
export function setCell(cell, text, className = cell.className) {
  const value = String(text);
  const changed = cell.textContent !== value;
  if (changed) cell.textContent = value;
  if (cell.className !== className) cell.className = className;
  return changed;
}

/** Replaces a table body's rows with new ones built by `row`. */
export function fillBody(tbody, items, row) {
  const rows = items.map(row);
  tbody.replaceChildren(...rows);
}

/** GET a JSON document from the service; throws with the service's error message. */
export async function getJson(path, signal) {
  const res = await fetch(path, { headers: { accept: 'application/json' }, signal });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.error?.message ?? `${path}: HTTP ${res.status}`);
  return body;
}
