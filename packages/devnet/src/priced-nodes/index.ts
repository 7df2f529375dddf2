export { startTickerNode, asksOf, type Price, type PricedNetwork, type TickOptions, type PreparedTick, type TickerNode } from './ticker-node.ts';
export { pricedNodes, startPricedDevnet, tickIntoBook, untilBook, once, type NodeSpec, type PricedNodesOptions, type PricedNodes, type PricedDevnet, type PricedDevnetOptions } from './priced-devnet.ts';
export { useKitDevnet, type KitDevnet, type SuiteHooks } from './kit-devnet.ts';
