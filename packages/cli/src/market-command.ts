/**
 * `routstr-kit market`: the market, live. Subscribes to the configured relays through core's
 * `openMarket` and shows every model's best ask, median, spread, providers, tick age and a
 * sparkline (`--model X`: that model's book and recent ticks). Piped, it writes JSON lines
 * instead. `routstr-kit market serve` runs the market-data service of @routstr-kit/market-data.
 */
import { BUYER_SETTINGS, ConfigError, openMarket, parseFlags, resolveSettings, type Env, type Market, type ProviderAddresses } from '@routstr-kit/core';
import { modelBook, modelRows, SORT_ORDERS, type SortOrder } from './market-rows.ts';
import { bookLines, tableLines } from './market-screen.ts';
import { JsonLines, TerminalScreen, type JsonEntry, type MarketOutput } from './market-view.ts';
import { MarketWatch } from './market-watch.ts';
import { loadMarketData } from './optional-packages.ts';
import { waitForShutdownSignal } from './shutdown-signal.ts';

export const MARKET_USAGE = `usage: routstr-kit market [--model <id>] [--sort price|providers] [--json]
                          [--relay <url>...] [--provider-addresses public|loopback|any] [--config <file.json>]
       routstr-kit market serve [--port <n>] [--host <ip>] [--store <path|postgres://…>] [--relay <url>...]
Live view of the market on the relays: per model the best ask (prompt and completion, msat per million
tokens), what a typical request (1 000 prompt + 500 completion tokens) costs at the best ask and at the
median ask in sat, the spread, the number of providers, the age of the last price tick and a sparkline of
the best ask. Redrawn as ticks arrive (at most 10 times a second); Ctrl-C quits.
  --model <id>            that model's book instead: every provider's ask, its load (from its ticks) and
                          probe latency, and the model's recent ticks
  --sort price|providers  table order: cheapest typical request first (default), or most providers first
  --json                  JSON lines even on a terminal; piped output is always JSON lines: one line per
                          change of a model's entry ({"type":"model",…}) or of the book ({"type":"book",…})
Relays and the provider-address policy come from the usual sources: --relay, ROUTSTR_KIT_RELAYS, the
config file's "relays", the defaults (see the README's Configuration table).
\`market serve\` runs the market-data service (JSON API, web page; see \`routstr-kit market serve --help\`).
`;

const MARKET_SETTINGS = BUYER_SETTINGS.filter((s) => s.key === 'relays' || s.key === 'providerAddresses');

/** What `routstr-kit market` was asked to show. */
export interface MarketViewSettings {
  readonly relays: readonly string[];
  readonly providerAddresses: ProviderAddresses;
  readonly model: string | undefined;
  readonly sort: SortOrder;
  readonly json: boolean;
  readonly help: boolean;
}

/** Resolves the view's settings: flags > ROUTSTR_KIT_* environment > config file > defaults. */
export function resolveMarketSettings(argv: readonly string[], env: Env): MarketViewSettings {
  const { flags } = parseFlags(argv, MARKET_SETTINGS, { model: { type: 'string' }, sort: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
  const sort = (flags['sort'] ?? 'price') as string;
  if (!(SORT_ORDERS as readonly string[]).includes(sort)) throw new ConfigError('sort', { kind: 'flag', name: 'sort' }, `one of ${SORT_ORDERS.join(', ')}`, `got ${JSON.stringify(sort)}`);
  const model = flags['model'];
  if (model !== undefined && (typeof model !== 'string' || model.trim() === '')) throw new ConfigError('model', { kind: 'flag', name: 'model' }, 'a model id', 'got an empty one');
  const resolved = resolveSettings(MARKET_SETTINGS, { flags, env });
  return {
    relays: resolved.values.get('relays') as string[],
    providerAddresses: resolved.values.get('providerAddresses') as ProviderAddresses,
    model: model as string | undefined,
    sort: sort as SortOrder,
    json: flags['json'] === true,
    help: flags['help'] === true,
  };
}

/** Runs `routstr-kit market [serve]`; resolves to the exit code (0 after Ctrl-C). */
export async function marketCommand(argv: string[], env: Env = process.env): Promise<number> {
  if (argv[0] === 'serve') return serveCommand(argv.slice(1), env);
  const settings = resolveMarketSettings(argv, env);
  if (settings.help) {
    process.stdout.write(MARKET_USAGE);
    return 0;
  }
  const market = openMarket({ relays: settings.relays, allowProviderAddresses: settings.providerAddresses });
  const watch = new MarketWatch();
  const output = settings.json || process.stdout.isTTY !== true ? jsonOutput(market, watch, settings) : terminalOutput(market, watch, settings);
  const detach = watch.attach(market, Date.now, () => output.changed());
  // the ages move with the clock; this timer also holds the process while relays reconnect
  const clock = setInterval(() => output.refresh(), 1_000);
  try {
    await Promise.race([waitForShutdownSignal(), outputClosed(process.stdout)]);
    return 0;
  } finally {
    clearInterval(clock);
    detach();
    output.close();
    market.close();
  }
}

function terminalOutput(market: Market, watch: MarketWatch, settings: MarketViewSettings): MarketOutput {
  const { model } = settings;
  const ctx = (now: number) => ({ relays: settings.relays.length, now, sort: settings.sort });
  const screen = new TerminalScreen(
    process.stdout,
    model === undefined ? (now) => tableLines(modelRows(market, watch, settings.sort), ctx(now)) : (now) => bookLines(modelBook(market, watch, model), ctx(now)),
  );
  screen.start();
  return screen;
}

function jsonOutput(market: Market, watch: MarketWatch, settings: MarketViewSettings): MarketOutput {
  const { model } = settings;
  const snapshot =
    model === undefined
      ? (): JsonEntry[] =>
          modelRows(market, watch, settings.sort).map(({ spark: _spark, ...row }) => ({ key: row.id, value: { type: 'model', ...row } }))
      : (): JsonEntry[] => {
          const book = modelBook(market, watch, model);
          return [{ key: 'book', value: { type: 'book', ...book } }];
        };
  const lines = new JsonLines(process.stdout, snapshot, (id) => ({ type: 'model', id, bestAsk: null, median: null, spreadMsat: null, providers: 0, lastTickAt: null }));
  lines.start();
  return lines;
}

/** Resolves when the reader of `out` went away (EPIPE: `routstr-kit market | head`). */
function outputClosed(out: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => out.once('error', () => resolve()));
}

/** `market serve`: the aggregator of @routstr-kit/market-data (an optional package), which parses its own flags. */
async function serveCommand(argv: string[], env: Env): Promise<number> {
  const { runMarketServe } = await loadMarketData('market serve');
  return runMarketServe(argv, env as NodeJS.ProcessEnv);
}
