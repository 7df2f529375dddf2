/**
 * Where every probe of a market waits its turn: at most `maxConcurrent` run at once (Bottleneck),
 * and a URL already queued or probing is not probed twice (its callers share the one result). A
 * flood of announcements thus costs a bounded number of connections, whatever its size.
 */
import Bottleneck from 'bottleneck';
import { probeProvider, type ProbeOptions, type ProbeResult } from './provider-probe.ts';

export interface ProbeSchedulerOptions {
  /** Probes running at once (default 16). */
  readonly maxConcurrent?: number;
}

/** A concurrency-limited, de-duplicating probe queue. */
export class ProbeScheduler {
  readonly #limiter: Bottleneck;
  readonly #pending = new Map<string, Promise<ProbeResult>>();

  constructor(options: ProbeSchedulerOptions = {}) {
    this.#limiter = new Bottleneck({ maxConcurrent: options.maxConcurrent ?? 16 });
  }

  /**
   * Probes `url` when a slot is free; joins the probe of the same URL if one is queued or running.
   * `stillWanted` is asked when the slot comes: a provider that left meanwhile is not probed.
   */
  probe(url: string, options: ProbeOptions, stillWanted: () => boolean): Promise<ProbeResult> {
    const pending = this.#pending.get(url);
    if (pending) return pending;
    const run = this.#limiter
      .schedule(() => {
        if (!stillWanted()) return Promise.reject(new SkippedProbe(url));
        return probeProvider(url, options);
      })
      .finally(() => this.#pending.delete(url));
    this.#pending.set(url, run);
    return run;
  }

  /** Probes waiting for a slot and running now. */
  counts(): { queued: number; running: number } {
    const c = this.#limiter.counts();
    return { queued: c.QUEUED + c.RECEIVED, running: c.RUNNING + c.EXECUTING };
  }

  /** Drops what is queued; running probes end through their own abort signal. */
  stop(): void {
    void this.#limiter.stop({ dropWaitingJobs: true }).catch(() => undefined);
  }
}

/** The provider left the market before its probe's turn came. */
export class SkippedProbe extends Error {
  constructor(url: string) {
    super(`${url}: probe skipped, the provider left the market`);
    this.name = 'SkippedProbe';
  }
}
