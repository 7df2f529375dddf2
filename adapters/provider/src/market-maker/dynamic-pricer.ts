/**
 * Per-model dynamic prices from the core price model (RIP-10 §2.1): the cost basis comes from the
 * operating point (power × PUE × electricity ÷ throughput, plus amortisation and margin), the
 * multiplier from utilisation. The completion price is the model's price; the prompt price is a
 * fixed share of it (prefill costs far less than generation per token).
 */
import {
  amortisationPerMtok,
  DEFAULT_UPDATE_RULES,
  energyCostPerMtok,
  ewma,
  initialPriceState,
  msatPerMtok,
  nextPrice,
  priceBounds,
  type MsatPerMtok,
  type PriceCurve,
  type PriceModel,
  type PriceState,
  type PriceUpdateRules,
} from '@routstr-kit/core';
import type { LoadReading } from './load-monitor.ts';
import { MarketMakerConfigError } from './market-maker-error.ts';
import type { ModelPrice } from './price-board.ts';

/** How one model is priced. Prices are msat/Mtok (integers). */
export interface DynamicModelPricing {
  /** Electrical draw while serving, watts. Default: nvidia-smi's draw while busy (its power limit until then). */
  powerWatts?: number;
  /** Power usage effectiveness of the site (default 1). */
  pue?: number;
  electricityMsatPerKwh: number;
  /** Generation throughput, tokens/s: the value used until the engine's counters give a measurement. */
  tokensPerSecond: number;
  /** Refine tokensPerSecond from vLLM's generation counter while busy (default true). */
  measureThroughput?: boolean;
  margin: number;
  /** msat/Mtok, or the hardware to pay off over its life. Default 0. */
  amortisation?: number | { hardwareCostMsat: number; lifetimeSeconds: number; expectedUtilisation: number };
  curve?: PriceCurve;
  /** Never below (default: the energy cost). */
  floor?: number;
  min?: number;
  max?: number;
  /** Prompt price as a share of the completion price (default 0.25). */
  promptShare?: number;
}

/** `board: { mode: 'dynamic', … }`: one pricing for every model, with optional per-model overrides. */
export interface DynamicBoardConfig extends DynamicModelPricing {
  mode: 'dynamic';
  /** EWMA weight of a new utilisation sample (default 0.3). Also smooths measured power and throughput. */
  alpha?: number;
  /** Relative band inside which the price stays put (default 0.05). */
  hysteresis?: number;
  /** Largest relative move per sample (default 0.1). */
  maxStep?: number;
  perModel?: Record<string, Partial<DynamicModelPricing>>;
}

/** What the admin view shows for a model. */
export interface ModelPricingState {
  prompt: MsatPerMtok;
  completion: MsatPerMtok;
  /** Where the completion price is heading at the smoothed utilisation. */
  target: MsatPerMtok;
  smoothedUtilisation: number;
  energy: MsatPerMtok;
  amortisation: MsatPerMtok;
  margin: MsatPerMtok;
  /** The clamp the completion price stays within. */
  low: MsatPerMtok;
  high: MsatPerMtok;
  powerWatts: number;
  powerSource: 'config' | 'nvidia-smi' | 'nvidia-smi-limit';
  tokensPerSecond: number;
  tokensPerSecondSource: 'config' | 'measured';
}

interface ModelEntry {
  readonly model: string;
  readonly pricing: DynamicModelPricing;
  state: PriceState;
  target: MsatPerMtok;
  basis: PriceModel;
}

/** Per-model price states, moved one sample at a time. */
export class DynamicPricer {
  private readonly entries: ModelEntry[];
  private readonly rules: PriceUpdateRules;
  private measuredPower: number | undefined;
  private powerLimit: number | undefined;
  private measuredTps: number | undefined;

  constructor(models: readonly string[], config: DynamicBoardConfig, first: LoadReading) {
    this.rules = {
      alpha: config.alpha ?? DEFAULT_UPDATE_RULES.alpha,
      hysteresis: config.hysteresis ?? DEFAULT_UPDATE_RULES.hysteresis,
      maxStep: config.maxStep ?? DEFAULT_UPDATE_RULES.maxStep,
    };
    this.observe(first);
    this.entries = models.map((model) => {
      const { perModel: _perModel, mode: _mode, alpha: _a, hysteresis: _h, maxStep: _s, ...shared } = config;
      const pricing: DynamicModelPricing = { ...shared, ...(config.perModel?.[model] ?? {}) };
      const basis = this.basis(model, pricing);
      const state = guard(model, () => initialPriceState(basis, 0));
      return { model, pricing, basis, state, target: state.price };
    });
  }

  /** Folds a reading's power and throughput into the operating point. */
  observe(reading: LoadReading): void {
    if (reading.powerLimitWatts !== undefined) this.powerLimit = reading.powerLimitWatts;
    // idle draw says nothing about the energy a token takes, so only busy readings count
    if (reading.busy && reading.powerWatts !== undefined) {
      this.measuredPower = this.measuredPower === undefined ? reading.powerWatts : ewma(this.measuredPower, reading.powerWatts, this.rules.alpha);
    }
    if (reading.tokensPerSecond !== undefined) {
      this.measuredTps = this.measuredTps === undefined ? reading.tokensPerSecond : ewma(this.measuredTps, reading.tokensPerSecond, this.rules.alpha);
    }
  }

  /** One pricing step for every model at this utilisation sample; says whether any price moved. */
  update(reading: LoadReading): boolean {
    this.observe(reading);
    let changed = false;
    for (const entry of this.entries) {
      entry.basis = this.basis(entry.model, entry.pricing);
      const step = guard(entry.model, () => nextPrice(entry.state, reading.utilisation.value, entry.basis, this.rules));
      entry.state = step.state;
      entry.target = step.target;
      changed ||= step.changed;
    }
    return changed;
  }

  /** The prices in force. */
  prices(): ModelPrice[] {
    return this.entries.map((e) => ({ model: e.model, prompt: promptPrice(e.state.price, e.pricing), completion: e.state.price }));
  }

  /** Per-model inputs and outputs, for the admin view. */
  state(): Record<string, ModelPricingState> {
    const out: Record<string, ModelPricingState> = {};
    for (const e of this.entries) {
      const power = this.power(e.model, e.pricing);
      const tps = this.throughput(e.pricing);
      const { low, high } = priceBounds(e.basis);
      out[e.model] = {
        prompt: promptPrice(e.state.price, e.pricing),
        completion: e.state.price,
        target: e.target,
        smoothedUtilisation: e.state.smoothedUtilisation,
        energy: e.basis.energy,
        amortisation: e.basis.amortisation,
        margin: e.basis.margin,
        low,
        high,
        powerWatts: power.watts,
        powerSource: power.source,
        tokensPerSecond: tps.value,
        tokensPerSecondSource: tps.source,
      };
    }
    return out;
  }

  private power(model: string, pricing: DynamicModelPricing): { watts: number; source: ModelPricingState['powerSource'] } {
    if (pricing.powerWatts !== undefined) return { watts: pricing.powerWatts, source: 'config' };
    if (this.measuredPower !== undefined) return { watts: this.measuredPower, source: 'nvidia-smi' };
    // Before any busy reading, price at the power limit: a seller should not start below cost.
    if (this.powerLimit !== undefined) return { watts: this.powerLimit, source: 'nvidia-smi-limit' };
    throw new MarketMakerConfigError('no_power_reading', `model ${model}: no powerWatts configured and nvidia-smi gave no power reading`);
  }

  private throughput(pricing: DynamicModelPricing): { value: number; source: 'config' | 'measured' } {
    if (pricing.measureThroughput !== false && this.measuredTps !== undefined) return { value: this.measuredTps, source: 'measured' };
    return { value: pricing.tokensPerSecond, source: 'config' };
  }

  private basis(model: string, pricing: DynamicModelPricing): PriceModel {
    const power = this.power(model, pricing);
    const tokensPerSecond = this.throughput(pricing).value;
    return guard(model, () => {
      const amortisation =
        typeof pricing.amortisation === 'object'
          ? amortisationPerMtok({ ...pricing.amortisation, tokensPerSecond })
          : msatPerMtok(pricing.amortisation ?? 0);
      return {
        energy: energyCostPerMtok({ powerWatts: power.watts, pue: pricing.pue ?? 1, electricityMsatPerKwh: pricing.electricityMsatPerKwh, tokensPerSecond }),
        amortisation,
        margin: msatPerMtok(pricing.margin),
        ...(pricing.curve ? { curve: pricing.curve } : {}),
        ...(pricing.floor !== undefined ? { floor: msatPerMtok(pricing.floor) } : {}),
        ...(pricing.min !== undefined ? { min: msatPerMtok(pricing.min) } : {}),
        ...(pricing.max !== undefined ? { max: msatPerMtok(pricing.max) } : {}),
      };
    });
  }
}

function promptPrice(completion: MsatPerMtok, pricing: DynamicModelPricing): MsatPerMtok {
  const share = pricing.promptShare ?? 0.25;
  // round up, minus a hair so 0.25 × 4000 stays 1000 despite float noise
  return msatPerMtok(Math.max(0, Math.ceil(completion * share - 1e-9)));
}

function guard<T>(model: string, f: () => T): T {
  try {
    return f();
  } catch (error) {
    if (error instanceof MarketMakerConfigError) throw error;
    throw new MarketMakerConfigError('invalid_config', `model ${model}: ${(error as Error).message}`);
  }
}
