/**
 * A LangChain pipeline that swaps ChatOpenAI for ChatRoutstr and summarises documents as a
 * limit-buy batch: the batch waits until the market's price falls to the limit, then runs every
 * document at that price. 10 documents (the devnet engine shares 2 CPU cores here; the same
 * code runs 50 or 5 000). Run: `pnpm exec node examples/langchain-batch-summaries.ts`
 */
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { ChatRoutstr } from '@routstr-kit/langchain';
import { LOW, startDevnetMarket } from './devnet-market.ts';

const docs = Array.from({ length: 10 }, (_, i) => `Report ${i + 1}: the relay in region ${i + 1} served ${100 * (i + 1)} requests with ${i % 3} incidents.`);

const dev = await startDevnetMarket(1500);
// was: const model = new ChatOpenAI({ model: 'gpt-4o-mini', maxTokens: 8 });
const model = new ChatRoutstr({
  model: dev.model,
  maxTokens: 8,
  wallet: dev.wallet,
  market: dev.market,
  order: 'limit',
  // msat per million tokens: below the provider's current price, above its off-peak price
  maxPrice: { prompt: 100_000_000, completion: 400_000_000 },
  deadline: 120_000,
});
const pipeline = ChatPromptTemplate.fromMessages([
  ['system', 'Summarise the report in one short line.'],
  ['human', '{doc}'],
]).pipe(model);

try {
  const start = dev.wallet.balance();
  model.marketFetch.once('resting', () => {
    console.log(`batch of ${docs.length} held for price: best ask ${JSON.stringify(dev.market.bestAsk(dev.model)?.completion)} msat/Mtok completion, limit 400000000`);
    // the provider's load drops and it announces a lower price (a signed tick)
    void dev.tick(LOW).then(() => console.log('provider ticked a lower price'));
  });
  const out = await pipeline.batch(docs.map((doc) => ({ doc })), { maxConcurrency: 2 });
  let total = 0;
  out.forEach((msg, i) => {
    const r = msg.response_metadata['routstr'] as { costSat: number; price: { completion: number } };
    total += r.costSat;
    console.log(`doc ${i + 1}: ${JSON.stringify(String(msg.content).slice(0, 40))}  ${msg.usage_metadata?.total_tokens} tok, ${r.costSat} sat at ${r.price.completion} msat/Mtok`);
  });
  console.log(`${out.length} summaries for ${total} sat; the wallet went down by ${start - dev.wallet.balance()} sat`);
} finally {
  await model.close();
  await dev.stop();
}
