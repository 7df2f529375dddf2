// The market page: routes between the models/providers view and a model's page, and keeps both
// live from /api/stream (Server-Sent Events). State lives in the objects made in main().
import { getJson } from './dom.js';
import { closeModel, loadModel, modelPage, resizeCharts } from './model-view.js';
import { filterBy, modelsTable, refreshAges, showModel, showSnapshot, sortBy } from './models-view.js';
import { refreshProviderAges, showProviders } from './providers-view.js';

/** Runs `task` now, or once more after the run in progress when asked again meanwhile. */
function coalesced(task, onError) {
  let running = false;
  let again = false;
  return function run() {
    if (running) {
      again = true;
      return;
    }
    running = true;
    Promise.resolve()
      .then(task)
      .catch(onError)
      .finally(() => {
        running = false;
        if (again) {
          again = false;
          run();
        }
      });
  };
}

const INTERVAL_FOR_RANGE = { 900000: '1s', 3600000: '15s', 21600000: '1m', 86400000: '5m' };

/** The route in the hash: `#/model/<id>`, `#/providers` or the models view. */
function route() {
  const hash = location.hash.replace(/^#/, '');
  const match = /^\/model\/(.+)$/.exec(hash);
  if (match) {
    try {
      return { view: 'model', model: decodeURIComponent(match[1]) };
    } catch {
      return { view: 'models' }; // not valid URL encoding: no such model page
    }
  }
  if (hash === '/providers') return { view: 'providers' };
  return { view: 'models' };
}

function main() {
  const $ = (id) => document.getElementById(id);
  const views = { models: $('models-view'), model: $('model-view'), providers: $('providers-view') };
  const live = $('live');
  const table = modelsTable($('models').tBodies[0], $('models-empty'));
  const page = modelPage({
    title: $('model-title'),
    range: $('range'),
    interval: $('interval'),
    historyChart: $('history-chart'),
    historyEmpty: $('history-empty'),
    depthChart: $('depth-chart'),
    book: $('book').tBodies[0],
    ticks: $('ticks').tBodies[0],
    error: $('model-error'),
  });
  const providersBody = $('providers').tBodies[0];
  const showError = (error) => {
    live.dataset.state = 'error';
    live.textContent = error instanceof Error ? error.message : String(error);
  };

  // model ids the stream updated while a /api/models snapshot was in flight: the snapshot is older
  const streamedSince = new Set();
  const loadModels = coalesced(async () => {
    streamedSince.clear();
    const doc = await getJson('/api/models');
    showSnapshot(table, doc.models, streamedSince, Date.now());
  }, showError);
  const loadProviders = coalesced(async () => showProviders(providersBody, await getJson('/api/providers'), Date.now()), showError);
  // the model page's errors (an unknown model, too many buckets) show on that page
  const modelError = (error) => {
    page.error.hidden = false;
    page.error.textContent = error instanceof Error ? error.message : String(error);
  };
  const openModel = (model) => loadModel(page, model, false).catch(modelError);
  const refreshModel = coalesced(async () => {
    if (page.model !== null) await loadModel(page, page.model, true);
  }, modelError);
  // the providers list can be long: a book change marks it stale, and it is refetched at most
  // every few seconds, and only while it is on screen
  let providersStale = false;

  function show() {
    const r = route();
    views.models.hidden = r.view !== 'models';
    views.providers.hidden = r.view === 'model';
    views.model.hidden = r.view !== 'model';
    if (r.view === 'model') openModel(r.model);
    else {
      closeModel(page);
      if (providersStale) loadProviders();
      providersStale = false;
    }
  }
  window.addEventListener('hashchange', show);
  window.addEventListener('resize', () => resizeCharts(page));
  $('models').tHead.addEventListener('click', (event) => {
    const th = event.target.closest('th[data-sort]');
    if (!th) return;
    sortBy(table, th.dataset.sort);
    for (const other of $('models').tHead.querySelectorAll('th[data-sort]')) other.removeAttribute('aria-sort');
    th.setAttribute('aria-sort', table.sort.dir > 0 ? 'ascending' : 'descending');
  });
  $('models-filter').addEventListener('input', (event) => filterBy(table, event.target.value));
  page.range.addEventListener('change', () => {
    // a bucket size that gives a few hundred points over the new range
    page.interval.value = INTERVAL_FOR_RANGE[page.range.value] ?? page.interval.value;
    if (page.model !== null) openModel(page.model);
  });
  page.interval.addEventListener('change', () => page.model !== null && openModel(page.model));

  const stream = new EventSource('/api/stream');
  stream.addEventListener('open', () => {
    live.dataset.state = 'open';
    live.textContent = 'live';
    // (re)connected: anything may have changed while we were away
    loadModels();
    loadProviders();
  });
  stream.addEventListener('error', () => {
    live.dataset.state = 'error';
    live.textContent = 'reconnecting…';
  });
  stream.addEventListener('model', (event) => {
    const entry = JSON.parse(event.data);
    streamedSince.add(entry.id);
    showModel(table, entry, Date.now());
  });
  stream.addEventListener('book', (event) => {
    const { model } = JSON.parse(event.data);
    if (model === page.model) refreshModel();
    providersStale = true;
  });

  // ages ("3 s ago") move on by themselves, and the price index gains a point every second even
  // when no book changes: the open model page follows it every few seconds
  let seconds = 0;
  setInterval(() => {
    const now = Date.now();
    refreshAges(table, now);
    refreshProviderAges(providersBody, now);
    seconds += 1;
    if (seconds % 5 !== 0) return;
    refreshModel();
    if (providersStale && !views.providers.hidden) {
      providersStale = false;
      loadProviders();
    }
  }, 1000);

  show();
}

main();
