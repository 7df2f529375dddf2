// One model's page: price history (zoomable), the book's depth, the book and recent ticks.
import { depthChart, depthData, historyChart, historyData } from './charts.js';
import { el, fillBody, getJson } from './dom.js';
import { age, latency, msat, sats, share, shortKey } from './format.js';

/** The model page's state: which model it shows and its two charts. */
export function modelPage(elements) {
  return { ...elements, model: null, history: null, depth: null, loading: null };
}

function bookRow(ask, now) {
  const tr = el('tr');
  tr.dataset.provider = ask.provider;
  const who = el('td', ask.name || shortKey(ask.npub), 'name');
  who.title = String(ask.npub ?? '');
  tr.append(
    who,
    el('td', msat(ask.promptMsatPerMtok), 'num'),
    el('td', msat(ask.completionMsatPerMtok), 'num'),
    el('td', sats(ask.typicalRequestSat), 'num'),
    el('td', ask.source),
    el('td', share(ask.load), 'num'),
    el('td', latency(ask.latencyMs), 'num'),
    el('td', age(ask.updatedAt, now), 'num'),
  );
  return tr;
}

function tickRow(tick, names) {
  const tr = el('tr');
  tr.append(
    el('td', names.get(tick.provider) ?? shortKey(tick.provider), 'name'),
    el('td', msat(tick.promptMsatPerMtok), 'num'),
    el('td', msat(tick.completionMsatPerMtok), 'num'),
    el('td', share(tick.load), 'num'),
    el('td', new Date(tick.at).toLocaleTimeString(), 'num'),
  );
  return tr;
}

function historyPath(model, rangeMs, interval, now) {
  const query = new URLSearchParams({ from: String(now - rangeMs), to: String(now), interval });
  return `/api/models/${encodeURIComponent(model)}/history?${query}`;
}

/** Draws (or redraws, keeping the zoom) the history chart. */
function drawHistory(page, history, keepZoom) {
  const data = historyData(history);
  page.historyEmpty.hidden = data[0].length > 0;
  if (page.history && keepZoom) page.history.setData(data, false);
  else {
    page.history?.destroy();
    page.historyChart.replaceChildren();
    page.history = historyChart(page.historyChart, data);
  }
}

function drawDepth(page, book) {
  const data = depthData(book.asks);
  if (page.depth) page.depth.setData(data);
  else page.depth = depthChart(page.depthChart, data);
}

/**
 * Loads the model's book and history and draws them. `keepZoom` redraws the history without
 * resetting a zoom the user made (a live refresh); a new model or range starts afresh.
 */
export async function loadModel(page, model, keepZoom) {
  if (page.model !== model) {
    page.history?.destroy();
    page.depth?.destroy();
    page.history = null;
    page.depth = null;
    page.historyChart.replaceChildren();
    page.depthChart.replaceChildren();
    page.book.replaceChildren();
    page.ticks.replaceChildren();
    page.model = model;
    keepZoom = false;
  }
  page.title.textContent = model;
  const now = Date.now();
  const [book, history] = await Promise.all([
    getJson(`/api/models/${encodeURIComponent(model)}/book`),
    getJson(historyPath(model, Number(page.range.value), page.interval.value, now)),
  ]);
  if (page.model !== model) return; // the user moved on meanwhile
  fillBody(page.book, book.asks, (ask) => bookRow(ask, now));
  const names = new Map(book.asks.map((a) => [a.provider, a.name || shortKey(a.npub)]));
  fillBody(page.ticks, book.ticks, (tick) => tickRow(tick, names));
  drawDepth(page, book);
  drawHistory(page, history, keepZoom);
}

/** Leaves the model page: drops its charts. */
export function closeModel(page) {
  page.history?.destroy();
  page.depth?.destroy();
  page.history = null;
  page.depth = null;
  page.model = null;
}
