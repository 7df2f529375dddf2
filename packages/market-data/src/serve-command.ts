/** `routstr-kit market serve`: flags and config (core's contract) → startMarketDataService, until SIGINT/SIGTERM. */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError, MARKET_SERVE_SETTINGS, parseFlags, resolveSettings, type Env } from '@routstr-kit/core';
import type { ProviderAddressPolicy } from '@routstr-kit/core/market';
import { startMarketDataService, type MarketDataService } from './service.ts';
import type { MarketDataServiceOptions } from './service-options.ts';
import { isPostgresUrl } from './store/market-store.ts';

export const MARKET_SERVE_USAGE = `usage: routstr-kit market serve [--relay <url>...] [--store <file.db | postgres://…>]
         [--host <ip>] [--port <n>] [--provider-addresses <public|loopback|any>] [--config <file.json>] [--json]
Serves the market's live prices and their history: GET /api/models, /api/models/{id}/book,
/api/models/{id}/history?from&to&interval, /api/providers, /api/stream (Server-Sent Events), and the web page at /.
Settings are also ROUTSTR_KIT_MARKET_STORE, ROUTSTR_KIT_MARKET_HOST, ROUTSTR_KIT_MARKET_PORT, ROUTSTR_KIT_RELAYS and
ROUTSTR_KIT_PROVIDER_ADDRESSES, or keys of the config file ({"market": {"store": "…", "port": 8421}}).
`;

/** Where the command writes, and what stops it (default: SIGINT or SIGTERM). */
export interface ServeIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly stop?: Promise<unknown>;
}

/** Resolves the command's settings into service options (flags > environment > config file > defaults). */
export function marketServeOptions(argv: readonly string[], env: Env): { options: MarketDataServiceOptions; json: boolean } {
  const { flags } = parseFlags(argv, MARKET_SERVE_SETTINGS, { json: { type: 'boolean' } });
  const v = resolveSettings(MARKET_SERVE_SETTINGS, { flags, env }).values;
  const store = v.get('market.store') as string;
  return {
    options: {
      relays: v.get('relays') as string[],
      store: isPostgresUrl(store) || store === ':memory:' ? store : resolve(store),
      host: v.get('market.host') as string,
      port: v.get('market.port') as number,
      providerAddresses: v.get('providerAddresses') as ProviderAddressPolicy,
    },
    json: flags['json'] === true,
  };
}

function shutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((done) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      done(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** Shows a postgres URL without its password. */
function shownStore(store: string): string {
  return isPostgresUrl(store) ? store.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@') : store;
}

/** Runs the `market serve` command; resolves with the exit code (0 after SIGINT/SIGTERM, 2 on bad settings, 1 when it cannot start). */
export async function runMarketServe(argv: string[], env: NodeJS.ProcessEnv, io: ServeIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(MARKET_SERVE_USAGE);
    return 0;
  }
  let settings;
  try {
    settings = marketServeOptions(argv, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.stderr.write(`routstr-kit market serve: ${error.message}\n\n${MARKET_SERVE_USAGE}`);
    return 2;
  }
  const { options, json } = settings;
  // listen for the signal before starting, so a Ctrl-C during start-up still closes cleanly
  const stop = io.stop ?? shutdownSignal();
  let service: MarketDataService;
  try {
    if (!isPostgresUrl(options.store) && options.store !== ':memory:') mkdirSync(dirname(options.store), { recursive: true, mode: 0o700 });
    service = await startMarketDataService({ ...options, log: (line) => io.stderr.write(`${line}\n`) });
  } catch (error) {
    io.stderr.write(`routstr-kit market serve: cannot start: ${(error as Error).message}\n`);
    return 1;
  }
  if (json) io.stdout.write(`${JSON.stringify({ url: service.url, store: shownStore(options.store), relays: options.relays })}\n`);
  else io.stdout.write(`market data on ${service.url} (store ${shownStore(options.store)}, relays ${options.relays.join(', ')})\n`);
  await stop;
  await service.close();
  return 0;
}
