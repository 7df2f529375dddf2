// One model's page: price history (zoomable), the book's depth, the book and recent ticks.
import { depthChart, depthData, historyChart, historyData } from './charts.js';
import { el, fillBody, getJson } from './dom.js';
import { age, latency, msat, sats, share, shortKey } from './format.js';

/** The model page's state: which model it shows and its two charts. */
export function modelPage(elements) {
  const page = { ...elements, model: null, history: null, depth: null, zoomed: false };
  // uPlot zooms back out on a double-click; live refreshes may rescale again from then on
  page.historyChart.addEventListener('dblclick', () => setZoomed(page, false));
  return page;
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

function setZoomed(page, zoomed) {
  page.zoomed = zoomed;
  page.historyChart.dataset.zoomed = String(zoomed);
}

/** Draws the history chart, or feeds a live refresh into it without undoing the user's zoom. */
function drawHistory(page, history, refresh) {
  const data = historyData(history);
  page.historyEmpty.hidden = data[0].length > 0;
  if (page.history && refresh) page.history.setData(data, !page.zoomed);
  else {
    page.history?.destroy();
    page.historyChart.replaceChildren();
    setZoomed(page, false);
    page.history = historyChart(page.historyChart, data, () => setZoomed(page, true));
  }
}

function drawDepth(page, book) {
  const data = depthData(book.asks);
  if (page.depth) page.depth.setData(data);
  else page.depth = depthChart(page.depthChart, data);
}

/**
 * Loads the model's book and history and draws them. A live `refresh` keeps the charts (and a
 * zoom the user made); a new model, range or interval starts them afresh.
 */
export async function loadModel(page, model, refresh) {
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
    refresh = false;
  }
  page.title.textContent = model;
  const now = Date.now();
  const [book, history] = await Promise.all([
    getJson(`/api/models/${encodeURIComponent(model)}/book`),
    getJson(historyPath(model, Number(page.range.value), page.interval.value, now)),
  ]);
  if (page.model !== model) return; // the user moved on meanwhile
  page.error.hidden = true;
  fillBody(page.book, book.asks, (ask) => bookRow(ask, now));
  const names = new Map(book.asks.map((a) => [a.provider, a.name || shortKey(a.npub)]));
  fillBody(page.ticks, book.ticks, (tick) => tickRow(tick, names));
  drawDepth(page, book);
  drawHistory(page, history, refresh);
}

/** Fits the charts to their containers' width (after a window resize). */
export function resizeCharts(page) {
  for (const [chart, container] of [[page.history, page.historyChart], [page.depth, page.depthChart]]) {
    if (chart) chart.setSize({ width: Math.max(320, container.clientWidth), height: chart.height });
  }
}

/** Leaves the model page: drops its charts. */
export function closeModel(page) {
  page.history?.destroy();
  page.depth?.destroy();
  page.history = null;
  page.depth = null;
  page.model = null;
}
