/**
 * The dynamic price model (RIP-10 §2.1) as pure functions. A provider's price for a model is
 * `(energy + amortisation + margin) × f(utilisation)`, where energy per Mtok comes from measured
 * power and throughput, and `f` runs from an idle floor (towards the marginal electricity cost)
 * through 1 at full load to a surge when requests queue or are turned away (429s count as demand).
 * Updates are smoothed (EWMA), ignore changes inside a hysteresis band, move at most a maximum
 * step, and stay within min/max clamps. Prices out are integer msat/Mtok.
 */
import { InvalidAmount, msatPerMtok, type MsatPerMtok } from '../money/index.ts';

const JOULES_PER_KWH = 3_600_000;

function positive(name: string, v: number): void {
  if (!Number.isFinite(v) || v <= 0) throw new InvalidAmount(`${name} must be a positive number, got ${String(v)}`);
}

function nonNegative(name: string, v: number): void {
  if (!Number.isFinite(v) || v < 0) throw new InvalidAmount(`${name} must be a non-negative number, got ${String(v)}`);
}

/** Measured operating point of the engine serving a model. */
export interface EnergyInputs {
  /** Electrical draw while serving (GPU + share of host), watts. */
  readonly powerWatts: number;
  /** Power usage effectiveness of the site (≥ 1). */
  readonly pue: number;
  /** Electricity price, msat per kWh. */
  readonly electricityMsatPerKwh: number;
  /** Measured generation throughput at that draw, tokens per second. */
  readonly tokensPerSecond: number;
}

/** Energy cost per million tokens: power × PUE × price ÷ throughput, rounded up. */
export function energyCostPerMtok(e: EnergyInputs): MsatPerMtok {
  nonNegative('powerWatts', e.powerWatts);
  if (!(e.pue >= 1) || !Number.isFinite(e.pue)) throw new InvalidAmount(`pue must be ≥ 1, got ${String(e.pue)}`);
  nonNegative('electricityMsatPerKwh', e.electricityMsatPerKwh);
  positive('tokensPerSecond', e.tokensPerSecond);
  const joulesPerMtok = ((e.powerWatts * e.pue) / e.tokensPerSecond) * 1_000_000;
  return msatPerMtok(Math.ceil((joulesPerMtok / JOULES_PER_KWH) * e.electricityMsatPerKwh - 1e-9));
}

/** Hardware paid off over its life at an expected average utilisation. */
export interface AmortisationInputs {
  readonly hardwareCostMsat: number;
  readonly lifetimeSeconds: number;
  readonly tokensPerSecond: number;
  /** Expected average utilisation over the lifetime, (0, 1]. */
  readonly expectedUtilisation: number;
}

/** Amortisation per million tokens, rounded up. */
export function amortisationPerMtok(a: AmortisationInputs): MsatPerMtok {
  nonNegative('hardwareCostMsat', a.hardwareCostMsat);
  positive('lifetimeSeconds', a.lifetimeSeconds);
  positive('tokensPerSecond', a.tokensPerSecond);
  if (!(a.expectedUtilisation > 0 && a.expectedUtilisation <= 1)) throw new InvalidAmount('expectedUtilisation must be within (0, 1]');
  const lifetimeTokens = a.lifetimeSeconds * a.tokensPerSecond * a.expectedUtilisation;
  return msatPerMtok(Math.ceil((a.hardwareCostMsat / lifetimeTokens) * 1_000_000 - 1e-9));
}

/** Demand seen over a window, in request slots. */
export interface DemandSample {
  /** Requests being served. */
  readonly running: number;
  /** Requests waiting for a slot. */
  readonly queued: number;
  /** Requests turned away (429) in the window: unmet demand, so they count. */
  readonly rejected: number;
  /** Concurrent slots the engine serves at full speed. */
  readonly capacity: number;
}

/** Utilisation = (running + queued + rejected) ÷ capacity; above 1 means requests wait or are refused. */
export function utilisationFromDemand(s: DemandSample): number {
  positive('capacity', s.capacity);
  for (const [k, v] of [['running', s.running], ['queued', s.queued], ['rejected', s.rejected]] as const) nonNegative(k, v);
  return (s.running + s.queued + s.rejected) / s.capacity;
}

/** Shape of `f(utilisation)`. */
export interface PriceCurve {
  /** f(0): the idle discount, (0, 1]. With the floor this pulls idle prices towards marginal cost. */
  readonly idleFactor: number;
  /** Curvature between idle and full load (1 = linear, > 1 stays cheap longer). */
  readonly exponent: number;
  /** f at and beyond `surgeAt`: the most a queue can multiply the price (≥ 1). */
  readonly surgeFactor: number;
  /** Utilisation (> 1) at which the surge is complete. */
  readonly surgeAt: number;
}

export const DEFAULT_CURVE: PriceCurve = { idleFactor: 0.5, exponent: 1.5, surgeFactor: 3, surgeAt: 2 };

function checkCurve(c: PriceCurve): void {
  if (!(c.idleFactor > 0 && c.idleFactor <= 1)) throw new InvalidAmount('idleFactor must be within (0, 1]');
  positive('exponent', c.exponent);
  if (!(c.surgeFactor >= 1) || !Number.isFinite(c.surgeFactor)) throw new InvalidAmount('surgeFactor must be ≥ 1');
  if (!(c.surgeAt > 1) || !Number.isFinite(c.surgeAt)) throw new InvalidAmount('surgeAt must be > 1');
}

/** f(u): idleFactor at 0, rising to 1 at full load, then linearly to surgeFactor at surgeAt; monotone. */
export function utilisationFactor(utilisation: number, curve: PriceCurve = DEFAULT_CURVE): number {
  checkCurve(curve);
  const u = Number.isFinite(utilisation) ? Math.max(0, utilisation) : utilisation > 0 ? Infinity : 0;
  if (u <= 1) return curve.idleFactor + (1 - curve.idleFactor) * u ** curve.exponent;
  return 1 + (curve.surgeFactor - 1) * Math.min(1, (u - 1) / (curve.surgeAt - 1));
}

/** Cost basis and bounds of one model's price. */
export interface PriceModel {
  readonly energy: MsatPerMtok;
  readonly amortisation: MsatPerMtok;
  readonly margin: MsatPerMtok;
  readonly curve?: PriceCurve;
  /** Never price below this (default: the energy cost, i.e. the marginal electricity cost). */
  readonly floor?: MsatPerMtok;
  /** Operator clamps. */
  readonly min?: MsatPerMtok;
  readonly max?: MsatPerMtok;
}

/** The [low, high] clamp a model's price stays within. */
export function priceBounds(model: PriceModel): { low: MsatPerMtok; high: MsatPerMtok } {
  const low = Math.max(model.floor ?? model.energy, model.min ?? 0);
  const high = model.max ?? Number.MAX_SAFE_INTEGER;
  if (high < low) throw new InvalidAmount(`max price ${high} is below the floor/min ${low}`);
  return { low: msatPerMtok(low), high: msatPerMtok(high) };
}

/** The price the model asks at a utilisation, before smoothing and step limits. */
export function targetPrice(utilisation: number, model: PriceModel): MsatPerMtok {
  const base = model.energy + model.amortisation + model.margin;
  const { low, high } = priceBounds(model);
  const raw = Math.ceil(base * utilisationFactor(utilisation, model.curve ?? DEFAULT_CURVE) - 1e-9);
  return msatPerMtok(Math.min(high, Math.max(low, raw)));
}

/** How prices move between updates. */
export interface PriceUpdateRules {
  /** EWMA weight of a new utilisation sample, (0, 1]. */
  readonly alpha: number;
  /** Relative band around the current price inside which no new price is set (e.g. 0.05). */
  readonly hysteresis: number;
  /** Largest relative move per update (e.g. 0.1); at least 1 msat/Mtok. */
  readonly maxStep: number;
}

export const DEFAULT_UPDATE_RULES: PriceUpdateRules = { alpha: 0.3, hysteresis: 0.05, maxStep: 0.1 };

/** What the pricer remembers between updates. */
export interface PriceState {
  readonly price: MsatPerMtok;
  readonly smoothedUtilisation: number;
}

/** Exponentially weighted moving average. */
export function ewma(previous: number, sample: number, alpha: number): number {
  if (!(alpha > 0 && alpha <= 1)) throw new InvalidAmount('alpha must be within (0, 1]');
  return previous + alpha * (sample - previous);
}

/** The most one update may move `price`. */
export function stepLimit(price: number, rules: PriceUpdateRules): number {
  nonNegative('maxStep', rules.maxStep);
  return Math.max(1, Math.floor(price * rules.maxStep));
}

/** A starting state at the target price for a utilisation (default idle). */
export function initialPriceState(model: PriceModel, utilisation = 0): PriceState {
  return { price: targetPrice(utilisation, model), smoothedUtilisation: Math.max(0, utilisation) };
}

/** The result of one update; `changed` says whether to publish a new price. */
export interface PriceUpdate {
  readonly state: PriceState;
  readonly target: MsatPerMtok;
  readonly changed: boolean;
}

/** One pricing step: smooth the sample, find the target, apply hysteresis, step limit and clamps. */
export function nextPrice(state: PriceState, utilisationSample: number, model: PriceModel, rules: PriceUpdateRules = DEFAULT_UPDATE_RULES): PriceUpdate {
  nonNegative('hysteresis', rules.hysteresis);
  const sample = Number.isFinite(utilisationSample) ? Math.max(0, utilisationSample) : 0;
  const smoothed = ewma(state.smoothedUtilisation, sample, rules.alpha);
  const target = targetPrice(smoothed, model);
  const { low, high } = priceBounds(model);
  const current = state.price;
  const diff = target - current;
  let price: number = current;
  if (Math.abs(diff) > rules.hysteresis * current) {
    price = current + Math.sign(diff) * Math.min(Math.abs(diff), stepLimit(current, rules));
  }
  // clamps win over the step limit (only matters when the bounds themselves changed)
  price = Math.min(high, Math.max(low, price));
  return { state: { price: msatPerMtok(price), smoothedUtilisation: smoothed }, target, changed: price !== current };
}
