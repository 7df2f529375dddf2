// Packages the CLI loads only for the commands that use them, so installing the CLI pulls neither the
// devnet (relay, mint, test model) nor node-llama-cpp: `devnet`/`demo` load @routstr-kit/devnet and
// `provider --model` loads @routstr-kit/llama-engine, `market serve` loads @routstr-kit/market-data (the
// aggregator, with its PostgreSQL driver and web page), all optional peer dependencies.
import type * as DevnetPackage from '@routstr-kit/devnet';
import type * as LlamaEnginePackage from '@routstr-kit/llama-engine';
import type * as MarketDataPackage from '@routstr-kit/market-data';

/** A package a command needs is not installed; the message says how to install it. */
export class MissingPackage extends Error {
  readonly packageName: string;
  constructor(packageName: string, command: string) {
    super(
      `\`routstr-kit ${command}\` needs ${packageName}, which is not installed.\n` +
        `Install it next to the CLI: npm i @routstr-kit/cli ${packageName}\n` +
        `or run both with npx: npx -y -p @routstr-kit/cli -p ${packageName} routstr-kit ${command}`,
    );
    this.name = 'MissingPackage';
    this.packageName = packageName;
  }
}

function isMissing(error: unknown, packageName: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  // Only the package itself missing: a dependency missing inside it is a different failure.
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && typeof message === 'string' && message.includes(`'${packageName}'`);
}

/** Loads @routstr-kit/devnet for `command`, or throws MissingPackage. */
export async function loadDevnet(command: string): Promise<typeof DevnetPackage> {
  try {
    return await import('@routstr-kit/devnet');
  } catch (error) {
    if (isMissing(error, '@routstr-kit/devnet')) throw new MissingPackage('@routstr-kit/devnet', command);
    throw error;
  }
}

/** Loads @routstr-kit/llama-engine for `command`, or throws MissingPackage. */
export async function loadLlamaEngine(command: string): Promise<typeof LlamaEnginePackage> {
  try {
    return await import('@routstr-kit/llama-engine');
  } catch (error) {
    if (isMissing(error, '@routstr-kit/llama-engine')) throw new MissingPackage('@routstr-kit/llama-engine', command);
    throw error;
  }
}

/** Loads @routstr-kit/market-data for `command`, or throws MissingPackage. */
export async function loadMarketData(command: string): Promise<typeof MarketDataPackage> {
  try {
    return await import('@routstr-kit/market-data');
  } catch (error) {
    if (isMissing(error, '@routstr-kit/market-data')) throw new MissingPackage('@routstr-kit/market-data', command);
    throw error;
  }
}
