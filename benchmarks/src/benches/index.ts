import type { Benchmark } from '../harness.ts';
import { marketIngest } from './market-ingest.ts';
import { marketMemory } from './market-memory.ts';
import { pricePropagation } from './price-propagation.ts';
import { paymentOverhead } from './payment-overhead.ts';
import { paymentOverheadEngine } from './payment-overhead-engine.ts';
import { dynamicPricingReaction } from './dynamic-pricing-reaction.ts';
import { buyerOverhead } from './buyer-overhead.ts';
import { limitOrderReaction } from './limit-order-reaction.ts';
import { marketDataIngest } from './market-data-ingest.ts';
import { marketDataApi } from './market-data-api.ts';
import { providerScaleOut } from './provider-scale-out.ts';

/** Every benchmark `pnpm bench` knows, in the order it runs them. */
export const BENCHMARKS: Benchmark[] = [marketIngest, marketMemory, pricePropagation, paymentOverhead, paymentOverheadEngine, dynamicPricingReaction, buyerOverhead, limitOrderReaction, marketDataIngest, marketDataApi, providerScaleOut];
