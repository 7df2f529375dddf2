/** Starts the server from flags and environment: stdio, or Streamable HTTP with `--http <port>`. */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { redactLocation } from '@routstr-kit/core';
import { clip, MAX_ERROR_CHARS } from './bounded-echo.ts';
import { ConfigError, parseConfig, USAGE } from './config.ts';
import { openContext } from './context.ts';
import { startHttpServer } from './http.ts';
import { createMcpServer } from './server.ts';

const log = (line: string): void => void process.stderr.write(`routstr-kit mcp: ${line}\n`);

/** Runs until stdin closes (stdio) or SIGINT/SIGTERM; resolves with the exit code. */
export async function runMcp(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let config;
  try {
    config = parseConfig(argv, env);
  } catch (error) {
    if (error instanceof ConfigError) {
      log(`configuration error (${error.code}): ${error.message}`);
      return 2;
    }
    throw error;
  }
  let ctx;
  try {
    ctx = await openContext(config);
  } catch (error) {
    log(`could not start: the wallet at ${redactLocation(config.walletPath)} with mints ${config.mints.join(', ')} did not open: ${clip(error instanceof Error ? error.message : String(error), MAX_ERROR_CHARS)}`);
    return 1;
  }
  for (const bad of ctx.orders.store.unreadableLimits()) log(`order ${bad.id} in the wallet cannot be read (${bad.problem}); left as stored, not resumed`);
  let stop: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (config.http) {
    let http;
    try {
      http = await startHttpServer(ctx, config.http);
    } catch (error) {
      log(`could not start: HTTP on ${config.http.host}:${config.http.port}: ${clip(error instanceof Error ? error.message : String(error), MAX_ERROR_CHARS)}`);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      await ctx.close();
      return 1;
    }
    log(`listening on ${http.url}`);
    await stopped;
    await http.close();
  } else {
    const server = createMcpServer(ctx);
    const transport = new StdioServerTransport();
    transport.onclose = stop;
    process.stdin.once('end', stop);
    await server.connect(transport);
    log(`serving on stdio (wallet ${redactLocation(config.walletPath)}, ${config.relays.length} relay(s))`);
    await stopped;
    await server.close();
  }
  await ctx.close();
  return 0;
}
