/**
 * The client side of the payment benches: one request (whole or streamed, timed to the first
 * content token), and a pool of pre-minted one-proof X-Cashu tokens so the client's own wallet
 * work never lands in a timed request.
 */
import { getEncodedToken, Wallet, type Proof } from '@cashu/cashu-ts';

/** One timed request. */
export interface Timed {
  /** ms from sending to the full answer (whole) or to the first content token (streamed). */
  ms: number;
  /** Streamed: ms to the end of the stream. */
  totalMs?: number;
  /** Epoch ms (the mint proxy's clock base) when the request was sent. */
  startAt: number;
  /** Epoch ms of the full answer (whole) or of the end of the stream (streamed). */
  endAt: number;
  /** Streamed: epoch ms of the first content token. */
  firstAt?: number;
}

/** performance.timeOrigin-based wall clock, comparable with the mint proxy's records. */
export const epochNow = (): number => performance.timeOrigin + performance.now();

const post = (url: string, headers: Record<string, string>, body: string): Promise<Response> =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

/** POSTs a whole (non-streaming) chat completion; throws unless 200. */
export async function complete(url: string, headers: Record<string, string>, body: string): Promise<Timed> {
  const startAt = epochNow();
  const start = performance.now();
  const res = await post(url, headers, body);
  const text = await res.text();
  const ms = performance.now() - start;
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${text.slice(0, 300)}`);
  return { ms, startAt, endAt: epochNow() };
}

/** POSTs a streamed chat completion, times its first content token and drains it to the end. */
export async function stream(url: string, headers: Record<string, string>, body: string): Promise<Timed> {
  const startAt = epochNow();
  const start = performance.now();
  const res = await post(url, headers, body);
  if (res.status !== 200 || !res.body) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
  const decoder = new TextDecoder();
  let buffered = '';
  let first: number | undefined;
  let firstAt: number | undefined;
  for await (const chunk of res.body) {
    if (first !== undefined) continue; // drain to the end
    buffered += decoder.decode(chunk, { stream: true });
    let nl: number;
    while (first === undefined && (nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (!line.startsWith('data:') || line.includes('[DONE]')) continue;
      const delta = (JSON.parse(line.slice(5)) as { choices?: { delta?: { content?: string } }[] }).choices?.[0]?.delta?.content;
      if (delta) {
        first = performance.now() - start;
        firstAt = epochNow();
      }
    }
  }
  if (first === undefined || firstAt === undefined) throw new Error('stream ended without a content token');
  return { ms: first, totalMs: performance.now() - start, startAt, endAt: epochNow(), firstAt };
}

/** Pre-minted one-proof tokens of one face value. */
export class TokenPool {
  private readonly tokens: string[] = [];
  private readonly wallet: Wallet;
  private readonly mintUrl: string;
  private readonly faceSat: number;
  constructor(mintUrl: string, faceSat: number) {
    this.mintUrl = mintUrl;
    this.faceSat = faceSat;
    this.wallet = new Wallet(mintUrl);
  }
  /** Mints `count` more tokens (in batches of 250 outputs). */
  async fill(count: number): Promise<void> {
    await this.wallet.loadMint();
    for (let left = count; left > 0; ) {
      const n = Math.min(left, 250);
      const quote = await this.wallet.createMintQuoteBolt11(n * this.faceSat);
      const proofs = await this.wallet.mintProofsBolt11(n * this.faceSat, quote, undefined, { type: 'random', denominations: Array<number>(n).fill(this.faceSat) });
      for (const p of proofs) this.tokens.push(getEncodedToken({ mint: this.mintUrl, proofs: [p], unit: 'sat' }));
      left -= n;
    }
  }
  /** One token of `amount` sats in proofs of the default split (a session's opening balance). */
  async big(amount: number): Promise<string> {
    await this.wallet.loadMint();
    const quote = await this.wallet.createMintQuoteBolt11(amount);
    const proofs: Proof[] = await this.wallet.mintProofsBolt11(amount, quote);
    return getEncodedToken({ mint: this.mintUrl, proofs, unit: 'sat' });
  }
  /** Takes one token; throws when the pool ran dry (the bench sized it wrong). */
  take(): string {
    const token = this.tokens.pop();
    if (!token) throw new Error('token pool ran dry');
    return token;
  }
  /** Redeems one token at the mint (one swap) with the pool's own wallet: a reference mint round trip. */
  async swapOne(): Promise<void> {
    await this.wallet.receive(this.take());
  }
  get left(): number {
    return this.tokens.length;
  }
}
