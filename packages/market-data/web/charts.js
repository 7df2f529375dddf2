// The model page's two charts, both drawn by uPlot (served from the installed package by the
// service itself): the price history, zoomable by dragging, and the book's depth.
import uPlot from './uplot.js';
import { compact, msat } from './format.js';

export const BEST_ASK_COLOUR = '#5b3cc4';
export const MEDIAN_COLOUR = '#e07b00';
const DEPTH_COLOUR = '#1e7b34';

/** Aligns the best-ask and median OHLC series on one time axis (seconds, as uPlot wants). */
export function historyData(history) {
  const times = new Set();
  for (const b of history.bestAsk) times.add(b.t);
  for (const b of history.median) times.add(b.t);
  const xs = [...times].sort((a, b) => a - b);
  const close = (series) => {
    const byTime = new Map(series.map((b) => [b.t, b.c]));
    return xs.map((t) => byTime.get(t) ?? null);
  };
  return [xs.map((t) => t / 1000), close(history.bestAsk), close(history.median)];
}

/** Cumulative depth: how many asks there are at or below each price (typical request, msat). */
export function depthData(asks) {
  const prices = asks.map((a) => a.typicalRequestMsat).sort((a, b) => a - b);
  if (prices.length === 0) return [[], []];
  const xs = [];
  const ys = [];
  // a zero step just below the cheapest ask, so the first step shows
  xs.push(Math.max(0, Math.floor(prices[0] * 0.95)));
  ys.push(0);
  prices.forEach((p, i) => {
    if (xs[xs.length - 1] === p) ys[ys.length - 1] = i + 1;
    else {
      xs.push(p);
      ys.push(i + 1);
    }
  });
  return [xs, ys];
}

function width(container) {
  return Math.max(320, container.clientWidth || 800);
}

/**
 * A price-history chart in `container`: best ask and median of a typical request over time.
 * Dragging across it zooms in (and calls `onZoom`); a double-click zooms back out.
 */
export function historyChart(container, data, onZoom) {
  const options = {
    width: width(container),
    height: 300,
    cursor: { drag: { x: true, y: false, setScale: true } },
    hooks: { setSelect: [(u) => u.select.width > 0 && onZoom()] },
    scales: { x: { time: true } },
    axes: [{}, { values: (_u, ticks) => ticks.map(compact), size: 70 }],
    // a price holds until the next change: steps, not slopes
    series: [
      {},
      { label: 'Best ask', stroke: BEST_ASK_COLOUR, width: 2, spanGaps: true, paths: uPlot.paths.stepped({ align: 1 }), value: (_u, v) => msat(v) },
      { label: 'Median', stroke: MEDIAN_COLOUR, width: 2, spanGaps: true, paths: uPlot.paths.stepped({ align: 1 }), value: (_u, v) => msat(v) },
    ],
  };
  return new uPlot(options, data, container);
}

/** A depth chart in `container`: a step per ask, price on x, cumulative number of asks on y. */
export function depthChart(container, data) {
  const options = {
    width: width(container),
    height: 220,
    cursor: { drag: { x: true, y: false, setScale: true } },
    scales: { x: { time: false } },
    axes: [{ values: (_u, ticks) => ticks.map(compact) }, {}],
    series: [
      { label: 'Typical request (msat)', value: (_u, v) => msat(v) },
      { label: 'Asks at or below', stroke: DEPTH_COLOUR, fill: 'rgba(30, 123, 52, 0.15)', width: 2, paths: uPlot.paths.stepped({ align: 1 }) },
    ],
  };
  return new uPlot(options, data, container);
}
