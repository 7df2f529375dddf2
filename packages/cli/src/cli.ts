import { devnetCommand } from './devnet-command.ts';
import { demoCommand } from './demo-command.ts';
import { providerCommand } from './provider-command.ts';
import { mcpCommand } from './mcp-command.ts';
import { walletCommand } from './wallet-command.ts';
import { marketCommand } from './market-command.ts';

const USAGE = `routstr-kit — buy and sell AI inference on the Routstr market, paid in Cashu ecash

Usage:
  routstr-kit devnet up [--json] [--out <file>] [--engine <name>=<flavour>]... [--data-dir <dir>]
      Start a whole market on loopback (Nostr relay, Cashu mint, llama.cpp engines) until interrupted.
  routstr-kit provider --engine <vllm|ollama|openai|llama.cpp> (--upstream <url>… | --model <file.gguf>) --mint <url>… [--relay <url>…] [--price …]
      Sell an inference engine on the market (see \`routstr-kit provider --help\`).
  routstr-kit mcp [--http <port>] [--relay <url>…] [--mint <url>…] [--wallet <path>] [--budget-per-request-sat <n>] [--budget-total-sat <n>]
      MCP server with market tools for Claude and other MCP hosts (see \`routstr-kit mcp --help\`).
  routstr-kit wallet balance | fund <sat> | receive <token> | send <sat> | history | restore [--wallet <path>] [--mint <url>…] [--json]
      The wallet every adapter pays from (see \`routstr-kit wallet --help\`).
  routstr-kit market [--model <id>] [--sort price|providers] [--json] [--relay <url>…]
      Live view of the market: best ask, median, spread, providers and price trend per model; \`--model\`
      shows one model's book and ticks; JSON lines when piped (see \`routstr-kit market --help\`).
  routstr-kit market serve [--port <n>] [--store <path|postgres://…>] [--relay <url>…]
      The market-data service: price history, JSON API and a live web page (see \`routstr-kit market serve --help\`).
  routstr-kit demo
      Start the devnet and show agents buying inference with ecash. Ends by itself with a summary.
  routstr-kit help
`;

/** Runs the CLI with the given arguments; resolves to the process exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'devnet':
        return await devnetCommand(rest);
      case 'provider':
        return await providerCommand(rest);
      case 'demo':
        return await demoCommand(rest);
      case 'mcp':
        return await mcpCommand(rest);
      case 'wallet':
        return await walletCommand(rest);
      case 'market':
        return await marketCommand(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return 0;
      default:
        process.stderr.write(`routstr-kit: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    process.stderr.write(`routstr-kit: ${(error as Error).message}\n`);
    return 1;
  }
}
