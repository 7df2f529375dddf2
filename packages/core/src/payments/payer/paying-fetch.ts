/**
 * `createPayingFetch`: a `fetch` that OpenAI-compatible SDKs take unchanged. A POST to
 * `<any base>/v1/chat/completions` (or `/completions`, `/embeddings`) whose JSON body names a
 * `model` is routed on the market, paid, and answered as the provider answered (streams pass
 * through as they arrive). Anything else gets a 404 in OpenAI's error shape.
 */
import { Payer, type PayerOptions, type PayerRecoveryReport } from './payer.ts';
import type { Receipt } from './receipt.ts';
import { UnroutableRequest } from './errors.ts';

/** The inference routes the paying fetch pays for (with or without `/v1`). */
const PAID_ROUTE = /(?:^|\/)(?:v1\/)?(chat\/completions|completions|embeddings)\/?$/;

export interface PayingFetchOptions extends Omit<PayerOptions, 'mode'> {
  mode: PayerOptions['mode'];
}

/** A `fetch` that pays, with its payer's controls. */
export type PayingFetch = typeof fetch & {
  readonly payer: Payer;
  /** Resolves when the start-up recovery is done. */
  readonly ready: Promise<PayerRecoveryReport>;
  receipts(): readonly Receipt[];
  /** Recovers what failed tries or an earlier crash left (change at providers, session balances). */
  recover(): Promise<PayerRecoveryReport>;
  /** Waits for change still being collected in the background. */
  settled(): Promise<void>;
  /** Refunds session balances and stops. */
  close(): Promise<void>;
};

/** The paid route of a URL (`v1/chat/completions`), or undefined. */
export function paidRoute(url: string): string | undefined {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    path = url;
  }
  const m = PAID_ROUTE.exec(path.replace(/^\/+/, ''));
  return m ? `v1/${m[1]}` : undefined;
}

async function readRequest(input: string | URL | Request, init: RequestInit | undefined): Promise<{ url: string; method: string; text: string | undefined; signal: AbortSignal | undefined }> {
  if (input instanceof Request) {
    const text = init?.body !== undefined ? await new Response(init.body).text() : await input.text();
    return { url: input.url, method: (init?.method ?? input.method).toUpperCase(), text, signal: init?.signal ?? input.signal };
  }
  const url = input instanceof URL ? input.href : String(input);
  const body = init?.body;
  const text = body === undefined || body === null ? undefined : typeof body === 'string' ? body : await new Response(body).text();
  return { url, method: (init?.method ?? 'GET').toUpperCase(), text, signal: init?.signal ?? undefined };
}

function notFound(message: string, status = 404): Response {
  return new Response(JSON.stringify({ error: { message, type: 'invalid_request_error', code: 'not_found' } }), { status, headers: { 'content-type': 'application/json' } });
}

/** Creates a paying `fetch`; see PayerOptions. Typed errors (AllProvidersFailed, PriceAboveLimit, BudgetExceeded) are thrown. */
export function createPayingFetch(options: PayingFetchOptions): PayingFetch {
  const payer = new Payer(options);
  const payingFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const req = await readRequest(input, init);
    const route = paidRoute(req.url);
    if (!route || req.method !== 'POST') return notFound(`${req.method} ${req.url} is not a paid route`);
    let body: unknown;
    try {
      body = JSON.parse(req.text ?? '') as unknown;
    } catch {
      throw new UnroutableRequest('the request body is not JSON');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new UnroutableRequest('the request body is not a JSON object');
    const paid = await payer.send(route, body as Record<string, unknown>, req.signal ? { signal: req.signal } : {});
    return paid.response;
  };
  return Object.assign(payingFetch as typeof fetch, {
    payer,
    ready: payer.ready,
    receipts: () => payer.receipts(),
    recover: () => payer.recover(),
    settled: () => payer.settled(),
    close: () => payer.close(),
  });
}
