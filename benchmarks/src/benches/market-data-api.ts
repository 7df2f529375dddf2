import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { msatPerMtok } from '@routstr-kit/core';
import { startMarketDataService } from '@routstr-kit/market-data';
import type { Benchmark } from '../harness.ts';

/** One GET over a keep-alive agent; resolves with the body's length once it is all read. */
function get(agent: Agent, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      let length = 0;
      res.on('data', (chunk: Buffer) => (length += chunk.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(length) : reject(new Error(`GET ${url}: ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export const marketDataApi: Benchmark = {
  name: 'market-data-api',
  description: 'GET /api/models latency with N providers × 20 models in the book vs a bare node:http server sending the same body',
  async run(ctx) {
    const providers = ctx.scale === 'full' ? 10_000 : 200;
    const models = 20;
    const requests = ctx.samples(2_000, 50);
    const service = await startMarketDataService({ relays: [], store: ':memory:', log: ctx.log, market: { tickIntervalMs: 0 } });
    // the baseline: the same client, the same loopback, the same bytes, and no market behind them
    let body = '';
    const bare = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
    const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/api/models`;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // the book as probes of N providers would fill it (asks straight into the book: signatures are not what this measures)
      for (let p = 0; p < providers; p++) {
        const quotes = Array.from({ length: models }, (_, m) => ({ model: `model-${m}`, prompt: msatPerMtok(1_000 + ((p * 7919) % 100_000)), completion: msatPerMtok(2_000 + ((p * 104_729) % 100_000)) }));
        service.market.book.setAsks(`38421:${p.toString(16).padStart(64, '0')}:bench`, 'models', quotes);
      }
      await service.recordNow();
      const url = `${service.url}/api/models`;
      const check = JSON.parse(await new Promise<string>((resolve, reject) => {
        request(url, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve(text));
        }).on('error', reject).end();
      })) as { models: { providers: number }[] };
      if (check.models.length !== models || check.models.some((m) => m.providers !== providers)) throw new Error(`the index does not hold ${providers} × ${models}`);
      body = JSON.stringify(check);
      ctx.log(`book: ${providers} providers × ${models} models (${service.market.book.size} asks); /api/models body ${Buffer.byteLength(body)} bytes`);

      const time = async (target: string): Promise<number> => {
        const start = performance.now();
        await get(agent, target);
        return performance.now() - start;
      };
      for (let i = 0; i < Math.min(200, requests); i++) {
        await time(url);
        await time(bareUrl);
      }
      const api: number[] = [];
      const baseline: number[] = [];
      // interleaved, the first of each pair alternating, so machine noise hits both alike
      for (let i = 0; i < requests; i++) {
        if (i % 2 === 0) {
          api.push(await time(url));
          baseline.push(await time(bareUrl));
        } else {
          baseline.push(await time(bareUrl));
          api.push(await time(url));
        }
      }
      return {
        name: this.name,
        description: this.description,
        series: [
          { name: 'bare-http-same-body', unit: 'ms', samples: baseline, better: 'lower', note: 'node:http answering the same bytes, no market' },
          {
            name: 'GET /api/models',
            unit: 'ms',
            samples: api,
            baseline: 'bare-http-same-body',
            better: 'lower',
            target: { op: '<=', value: 2, of: 'median', note: `p50 ≤ 2 ms with ${providers} providers × ${models} models (issue 18)` },
          },
        ],
        notes: ['one keep-alive connection per server, requests one at a time; the market-data service records its price index each second meanwhile, as in production'],
      };
    } finally {
      agent.destroy();
      await new Promise<void>((resolve) => bare.close(() => resolve()));
      await service.close();
    }
  },
};
