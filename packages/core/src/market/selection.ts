/**
 * Provider selection (RIP-06): hard filters, then a profile's weighted score, then a random
 * draw among the top N (so buyers do not all herd onto one seller), then a failover list that
 * puts other failure domains (hosts, pubkeys) first. Pure: the market feeds it candidates.
 */
import { normalizeMintUrl, type ReviewSentiment } from '../protocol/index.ts';
import type { PricedAsk, RequestShape } from './order-book.ts';
import { seededRandom } from './seeded-random.ts';

export type SelectionProfile = 'cheapest' | 'fastest' | 'balanced' | 'trusted';

/** Relative weights of the four scores (any non-negative numbers; they are normalised). */
export interface SelectionWeights {
  readonly price: number;
  readonly latency: number;
  readonly reliability: number;
  readonly trust: number;
}

export const PROFILE_WEIGHTS: Readonly<Record<SelectionProfile, SelectionWeights>> = {
  cheapest: { price: 1, latency: 0, reliability: 0, trust: 0 },
  fastest: { price: 0, latency: 0.6, reliability: 0.4, trust: 0 },
  balanced: { price: 0.4, latency: 0.25, reliability: 0.25, trust: 0.1 },
  trusted: { price: 0.2, latency: 0, reliability: 0.2, trust: 0.6 },
};

/** A provider that quotes the model, with what the market knows of it. */
export interface SelectionCandidate {
  readonly provider: string;
  /** Its ask, priced for the request shape. */
  readonly ask: PricedAsk;
  readonly pubkey: string;
  readonly host: string;
  /** Normalised mints it accepts; empty = any. */
  readonly mints: readonly string[];
  readonly latencyMs: number | undefined;
  /** In (0, 1). */
  readonly successRate: number;
  /** `positive` also for pubkeys the buyer trusts outright. */
  readonly sentiment: ReviewSentiment;
  readonly coolingDown: boolean;
  readonly healthy: boolean;
}

export interface SelectionRequest {
  readonly model: string;
  /** Expected tokens; prices and `maxPriceMsat` refer to it (default: 1M in, 1M out). */
  readonly shape?: RequestShape;
  /** Most the request may cost at the ask's prices, in msats. */
  readonly maxPriceMsat?: number;
  /** Mints the wallet holds or can reach; omitted = no mint filter. */
  readonly mints?: readonly string[];
  /** Provider ids, pubkeys or hosts not to use. */
  readonly exclude?: readonly string[];
  readonly profile?: SelectionProfile;
  /** Overrides of the profile's weights. */
  readonly weights?: Partial<SelectionWeights>;
  /** How many of the best to draw the first choice from (default 3; 1 = always the best). */
  readonly topN?: number;
  /** Seed for a reproducible draw (ignored when `random` is given). */
  readonly seed?: number;
  readonly random?: () => number;
}

export type SelectionRejectReason = 'unhealthy' | 'cooling-down' | 'excluded' | 'price' | 'mint' | 'distrusted';

/** A candidate that passed the filters, with its score. */
export interface RankedProvider {
  readonly provider: string;
  readonly ask: PricedAsk;
  readonly score: number;
  readonly pubkey: string;
  readonly host: string;
}

/** The outcome: `providers[0]` is the choice, the rest the failover order. */
export interface Selection {
  readonly model: string;
  readonly providers: RankedProvider[];
  readonly rejected: { provider: string; reason: SelectionRejectReason }[];
}

function rejectReason(c: SelectionCandidate, request: SelectionRequest, wallet: Set<string> | undefined): SelectionRejectReason | undefined {
  if (!c.healthy) return 'unhealthy';
  if (c.coolingDown) return 'cooling-down';
  const exclude = request.exclude;
  if (exclude && (exclude.includes(c.provider) || exclude.includes(c.pubkey) || exclude.includes(c.host))) return 'excluded';
  if (request.maxPriceMsat !== undefined && c.ask.priceMsat > request.maxPriceMsat) return 'price';
  if (wallet && c.mints.length > 0 && !c.mints.some((m) => wallet.has(normalizeMintUrl(m)))) return 'mint';
  // the SDK disables providers a trusted reviewer flagged, whatever the profile
  if (c.sentiment === 'negative') return 'distrusted';
  return undefined;
}

const TRUST_SCORE: Record<ReviewSentiment, number> = { positive: 1, neutral: 0.5, negative: 0 };

/**
 * Scores candidates in [0, 1] under `weights`. Price and latency are ratios to the best present
 * (100 vs 101 msat score almost alike, so the top-N draw spreads load between near-equal asks).
 */
export function scoreCandidates(candidates: readonly SelectionCandidate[], weights: SelectionWeights): number[] {
  const minPrice = Math.min(...candidates.map((c) => c.ask.priceMsat));
  const latencies = candidates.map((c) => c.latencyMs).filter((l): l is number => l !== undefined);
  const minLatency = latencies.length > 0 ? Math.min(...latencies) : 0;
  const total = weights.price + weights.latency + weights.reliability + weights.trust;
  return candidates.map((c) => {
    if (total <= 0) return 0;
    const price = (minPrice + 1) / (c.ask.priceMsat + 1);
    // an unmeasured provider sits in the middle: neither favoured nor shut out
    const latency = c.latencyMs === undefined ? 0.5 : (minLatency + 1) / (c.latencyMs + 1);
    const score =
      weights.price * price + weights.latency * latency + weights.reliability * c.successRate + weights.trust * TRUST_SCORE[c.sentiment];
    return score / total;
  });
}

/** Filters, ranks, draws the first choice among the top N and orders the failover list. */
export function selectProviders(candidates: readonly SelectionCandidate[], request: SelectionRequest): Selection {
  const wallet = request.mints ? new Set(request.mints.map(normalizeMintUrl)) : undefined;
  const rejected: Selection['rejected'] = [];
  const passing: SelectionCandidate[] = [];
  for (const c of candidates) {
    const reason = rejectReason(c, request, wallet);
    if (reason) rejected.push({ provider: c.provider, reason });
    else passing.push(c);
  }
  if (passing.length === 0) return { model: request.model, providers: [], rejected };

  const weights = { ...PROFILE_WEIGHTS[request.profile ?? 'balanced'], ...request.weights };
  const scores = scoreCandidates(passing, weights);
  const ranked: RankedProvider[] = passing
    .map((c, i) => ({ provider: c.provider, ask: c.ask, score: scores[i] as number, pubkey: c.pubkey, host: c.host }))
    .sort((a, b) => b.score - a.score || a.ask.priceMsat - b.ask.priceMsat || (a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0));

  const random = request.random ?? (request.seed !== undefined ? seededRandom(request.seed) : Math.random);
  const top = ranked.slice(0, Math.max(1, request.topN ?? 3));
  const first = ranked.splice(drawIndex(top, random), 1)[0] as RankedProvider;

  const order = [first];
  const hosts = new Set([first.host]);
  const pubkeys = new Set([first.pubkey]);
  while (ranked.length > 0) {
    // another host and another key first: one outage should not take out the next choice too
    let i = ranked.findIndex((r) => !hosts.has(r.host) && !pubkeys.has(r.pubkey));
    if (i === -1) i = 0;
    const next = ranked.splice(i, 1)[0] as RankedProvider;
    hosts.add(next.host);
    pubkeys.add(next.pubkey);
    order.push(next);
  }
  return { model: request.model, providers: order, rejected };
}

// probability proportional to score; all-zero scores draw uniformly
function drawIndex(top: readonly RankedProvider[], random: () => number): number {
  if (top.length === 1) return 0;
  const total = top.reduce((s, r) => s + r.score, 0);
  const r = random();
  if (total <= 0) return Math.min(top.length - 1, Math.floor(r * top.length));
  let acc = 0;
  for (let i = 0; i < top.length; i++) {
    acc += (top[i] as RankedProvider).score / total;
    if (r < acc) return i;
  }
  return top.length - 1;
}
