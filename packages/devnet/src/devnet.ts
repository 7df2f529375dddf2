import { startRelay, type RelayOptions, type RunningRelay } from './relay/index.ts';
import { startMint, type MintOptions, type RunningMint } from './mint/index.ts';
import { startEngine, type EngineOptions, type RunningEngine } from './engine/index.ts';

export interface DevnetOptions {
  /** Interface every part listens on; loopback by default. */
  host?: string;
  relay?: Omit<RelayOptions, 'host'>;
  mint?: Omit<MintOptions, 'host'>;
  /** Engines by name. Default: one llama.cpp-flavoured engine named `llama`. */
  engines?: Record<string, Omit<EngineOptions, 'host'>>;
}

export interface Devnet {
  relayUrl: string;
  mintUrl: string;
  /** Engine base URLs (no `/v1`) by name. */
  engines: Record<string, string>;
  /** The running parts, for tests that need their state. */
  parts: { relay: RunningRelay; mint: RunningMint; engines: Record<string, RunningEngine> };
  stop(): Promise<void>;
}

/** Starts a whole Routstr market on loopback: a Nostr relay, a Cashu mint and inference engines. */
export async function startDevnet(options: DevnetOptions = {}): Promise<Devnet> {
  const host = options.host ?? '127.0.0.1';
  const started: { stop(): Promise<void> }[] = [];
  const stopAll = async (): Promise<void> => {
    // Stop in reverse order; keep going if one part fails to stop.
    const results = await Promise.allSettled(started.reverse().map((part) => part.stop()));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
  };
  try {
    const [relay, mint] = await Promise.all([
      startRelay({ ...options.relay, host }).then((r) => (started.push(r), r)),
      startMint({ ...options.mint, host }).then((m) => (started.push(m), m)),
    ]);
    const engines: Record<string, RunningEngine> = {};
    // Engines start one after the other: each loads the model and 2 cores are all we have.
    for (const [name, engineOptions] of Object.entries(options.engines ?? { llama: {} })) {
      const engine = await startEngine({ ...engineOptions, host });
      started.push(engine);
      engines[name] = engine;
    }
    return {
      relayUrl: relay.url,
      mintUrl: mint.url,
      engines: Object.fromEntries(Object.entries(engines).map(([name, e]) => [name, e.url])),
      parts: { relay, mint, engines },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll().catch(() => {});
    throw error;
  }
}
