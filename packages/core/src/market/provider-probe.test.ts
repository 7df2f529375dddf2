import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseModelsBody } from '../protocol/index.ts';
import { ProbeError, asksFromModels, checkProviderAddress, isPrivateAddress, probeProvider } from './provider-probe.ts';
import { infoBody, modelsBody, recordedBodies, startRecordedProvider, type RecordedProvider } from './recorded-provider.ts';

/** The recorded providers listen on loopback. */
const LOOP = { allowAddresses: 'loopback' } as const;

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

async function serve(routes: Record<string, string | number>): Promise<RecordedProvider> {
  const p = await startRecordedProvider(routes);
  stops.push(() => p.stop());
  return p;
}

async function probeError(promise: Promise<unknown>): Promise<ProbeError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProbeError);
  return error as ProbeError;
}

describe('asksFromModels', () => {
  it('turns the recorded sats_pricing into msat/Mtok asks and collects aliases', () => {
    const models = parseModelsBody(recordedBodies().models);
    expect(asksFromModels(models)).toEqual({
      asks: [{ model: 'gpt-4o-mini', prompt: 151_500, completion: 606_000 }],
      aliases: [['openai/gpt-4o-mini', 'gpt-4o-mini']],
    });
  });

  it('skips models without sats_pricing and disabled ones', () => {
    const [m] = parseModelsBody(recordedBodies().models);
    expect(asksFromModels([{ ...m!, sats_pricing: null }, { ...m!, enabled: false }]).asks).toEqual([]);
  });
});

describe('probeProvider', () => {
  it('reads /v1/info and /v1/models and measures latency', async () => {
    const p = await serve({ '/v1/info': infoBody(), '/v1/models': modelsBody([{ prompt: 0.001, completion: 0.002 }]) });
    const result = await probeProvider(p.url, LOOP);
    expect(result.url).toBe(`${p.url}/`);
    expect(result.info.mints).toEqual(['https://mint.minibits.cash/Bitcoin', 'https://mint.cubabitcoin.org']);
    expect(result.asks).toEqual([{ model: 'gpt-4o-mini', prompt: 1_000_000, completion: 2_000_000 }]);
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(result.attempts).toBe(1);
  });

  it('retries a 5xx with backoff and succeeds when the node recovers', async () => {
    const p = await serve({ '/v1/info': infoBody(), '/v1/models': 503 });
    const probing = probeProvider(p.url, { ...LOOP, retries: 3, backoffMs: 5 });
    // recover once the first failed attempt has been seen
    while ((p.hits.get('/v1/models') ?? 0) < 1) await new Promise((r) => setImmediate(r));
    p.routes.set('/v1/models', modelsBody([{ prompt: 0.001, completion: 0.001 }]));
    const result = await probing;
    expect(result.attempts).toBeGreaterThan(1);
  });

  it('gives up after the retries, with the status', async () => {
    const p = await serve({ '/v1/info': infoBody(), '/v1/models': 500 });
    const error = await probeError(probeProvider(p.url, { ...LOOP, retries: 1, backoffMs: 1 }));
    expect([error.code, error.status]).toEqual(['http_status', 500]);
    expect(p.hits.get('/v1/models')).toBe(2);
  });

  it('does not retry a 404 or a malformed body', async () => {
    const p = await serve({ '/v1/info': infoBody(), '/v1/models': '{"data": [{"id": 7}]}' });
    expect((await probeError(probeProvider(p.url, { ...LOOP, retries: 3, backoffMs: 1 }))).code).toBe('malformed_body');
    expect(p.hits.get('/v1/models')).toBe(1);
    p.routes.set('/v1/models', 'not json');
    expect((await probeError(probeProvider(p.url, { ...LOOP, retries: 3, backoffMs: 1 }))).code).toBe('malformed_body');
    p.routes.delete('/v1/info');
    const notFound = await probeError(probeProvider(p.url, { ...LOOP, retries: 3, backoffMs: 1 }));
    expect([notFound.code, notFound.status]).toEqual(['http_status', 404]);
  });

  it('times out a node that never answers', async () => {
    const server = createServer(() => {});
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    stops.push(() => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect((await probeError(probeProvider(url, { ...LOOP, timeoutMs: 50, retries: 0 }))).code).toBe('timeout');
  });

  it('stops when aborted', async () => {
    const abort = new AbortController();
    abort.abort();
    const p = await serve({ '/v1/info': infoBody(), '/v1/models': 503 });
    expect((await probeError(probeProvider(p.url, { ...LOOP, signal: abort.signal }))).code).toBe('aborted');
  });

  it('refuses private, loopback and link-local hosts under public; loopback only when allowed; DNS names by what they resolve to', async () => {
    const p = await serve({ '/v1/info': infoBody(), '/v1/models': modelsBody([{ prompt: 0.001, completion: 0.001 }]) });
    const PUBLIC = { allowAddresses: 'public' } as const;
    expect((await probeError(probeProvider(p.url, PUBLIC))).code).toBe('private_address');
    expect((await probeError(probeProvider('http://localhost:1/', PUBLIC))).code).toBe('private_address');
    for (const url of ['http://10.0.0.1:1/', 'http://169.254.169.254/', 'http://[::ffff:a00:1]:1/', 'http://[fe80::1]:1/', 'http://0.0.0.0:1/']) {
      expect([url, (await probeError(probeProvider(url, { allowAddresses: 'loopback' }))).code]).toEqual([url, 'private_address']);
    }
    // a name is judged by every address it resolves to
    const toLoopback = async () => ['127.0.0.1'];
    await expect(checkProviderAddress(new URL('http://provider.example/'), 'public', toLoopback)).rejects.toMatchObject({ code: 'private_address' });
    await expect(checkProviderAddress(new URL('http://provider.example/'), 'public', async () => ['8.8.8.8', '10.0.0.7'])).rejects.toMatchObject({ code: 'private_address' });
    await expect(checkProviderAddress(new URL('http://provider.example/'), 'loopback', toLoopback)).resolves.toBeUndefined();
    await expect(checkProviderAddress(new URL('http://provider.example/'), 'public', async () => ['8.8.8.8'])).resolves.toBeUndefined();
    expect(p.hits.size).toBe(0);
    await expect(probeProvider(p.url, LOOP)).resolves.toMatchObject({ attempts: 1 });
    await expect(probeProvider(p.url, { allowAddresses: 'any' })).resolves.toMatchObject({ attempts: 1 });
  });

  it('classifies addresses', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:a00:1']) {
      expect([ip, isPrivateAddress(ip)]).toEqual([ip, true]);
    }
    for (const ip of ['8.8.8.8', '172.32.0.1', '1.1.1.1', '2606:4700::1111', '::ffff:8.8.8.8', '::ffff:808:808']) {
      expect([ip, isPrivateAddress(ip)]).toEqual([ip, false]);
    }
  });
});

describe('probe body limit', () => {
  it('refuses a declared oversize body without reading it', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(200 * 1024 * 1024) });
      res.write('{');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    stops.push(() => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const error = await probeError(probeProvider(url, { ...LOOP, retries: 2 }));
    expect([error.code, error.message]).toEqual(['too_large', `${url}/v1/info: body of 209715200 bytes is over the 2097152 byte limit`]);
  });
});
