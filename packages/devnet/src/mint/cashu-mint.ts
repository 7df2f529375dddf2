import { randomBytes } from 'node:crypto';
import { fakeInvoice, invoiceAmountSat } from './fake-invoice.ts';
import {
  type BlindSignatureRecord,
  type Keyset,
  KEYSET_SIZE,
  deriveKeyset,
  isPoint,
  proofSignatureValid,
  proofY,
  signBlindedMessage,
} from './keyset.ts';
import { Ledger, type MeltQuoteRow, type MintQuoteRow, type SpentProof } from './ledger.ts';
import { NutCode, NutError } from './nut-error.ts';
import type { BlindedMessageInput, ProofInput, RequestBody } from './requests.ts';

/** Counters of successful operations and of refusals, for tests that count what the mint did. */
export interface MintStats {
  swaps: number;
  mints: number;
  melts: number;
  checkstates: number;
  restores: number;
  signaturesIssued: number;
  proofsSpent: number;
  errorsByCode: Record<number, number>;
}

export interface CashuMintConfig {
  dbPath: string;
  seedHex: string;
  unit: string;
  inputFeePpk: number;
  quotePaidAfterMs: number;
  /** Clock in unix ms (tests move it to pay quotes without waiting). */
  now: () => number;
  name: string;
}

const QUOTE_TTL_S = 3600;
const MAX_AMOUNT = 2 ** KEYSET_SIZE - 1;

type MintQuoteState = 'UNPAID' | 'PAID' | 'ISSUED';

/** The NUT-00…09/12 mint logic over a Ledger: each method validates, signs, then commits in one transaction. */
export class CashuMint {
  readonly #config: CashuMintConfig;
  readonly #ledger: Ledger;
  readonly #keysets = new Map<string, Keyset>();
  readonly #active: Keyset;
  readonly #stats: MintStats = {
    swaps: 0,
    mints: 0,
    melts: 0,
    checkstates: 0,
    restores: 0,
    signaturesIssued: 0,
    proofsSpent: 0,
    errorsByCode: {},
  };

  constructor(config: CashuMintConfig) {
    this.#config = config;
    this.#ledger = new Ledger(config.dbPath);
    try {
      const active = deriveKeyset(config.seedHex, config.unit, config.inputFeePpk, true);
      const rows = this.#ledger.activateKeyset({ ...active, seedHex: config.seedHex });
      for (const row of rows) {
        this.#keysets.set(row.id, row.id === active.id ? active : deriveKeyset(row.seedHex, row.unit, row.inputFeePpk, false));
      }
      this.#active = active;
    } catch (error) {
      this.#ledger.close();
      throw error;
    }
  }

  get keysetId(): string {
    return this.#active.id;
  }

  close(): void {
    this.#ledger.close();
  }

  stats(): MintStats {
    return { ...this.#stats, errorsByCode: { ...this.#stats.errorsByCode } };
  }

  recordError(code: number): void {
    this.#stats.errorsByCode[code] = (this.#stats.errorsByCode[code] ?? 0) + 1;
  }

  /** NUT-06 */
  info(): object {
    const limits = { method: 'bolt11', unit: this.#config.unit, min_amount: 1, max_amount: MAX_AMOUNT };
    return {
      name: this.#config.name,
      pubkey: this.#active.publicKeys['1'],
      version: 'routstr-devnet-mint/0.1.0',
      description: 'Devnet Cashu mint with a fake Lightning backend',
      contact: [],
      time: Math.floor(this.#config.now() / 1000),
      nuts: {
        '4': { methods: [{ ...limits, description: true }], disabled: false },
        '5': { methods: [limits], disabled: false },
        '7': { supported: true },
        '8': { supported: true },
        '9': { supported: true },
        '12': { supported: true },
      },
    };
  }

  /** NUT-01: active keysets, or one keyset by id. */
  keys(id?: string): object {
    const chosen = id === undefined ? [...this.#keysets.values()].filter((k) => k.active) : [this.#keyset(id)];
    return {
      keysets: chosen.map((k) => ({ id: k.id, unit: k.unit, active: k.active, input_fee_ppk: k.inputFeePpk, keys: k.publicKeys })),
    };
  }

  /** NUT-02 */
  keysets(): object {
    return {
      keysets: [...this.#keysets.values()].map((k) => ({ id: k.id, unit: k.unit, active: k.active, input_fee_ppk: k.inputFeePpk })),
    };
  }

  /** NUT-04: the fake invoice counts as paid `quotePaidAfterMs` after the quote is made. */
  createMintQuote(body: RequestBody<'mintQuote'>): object {
    this.#requireUnit(body.unit);
    if (body.amount > MAX_AMOUNT) throw new NutError(NutCode.amountOutsideLimit, `amount above ${MAX_AMOUNT}`);
    const now = this.#config.now();
    const quote: MintQuoteRow = {
      quote: randomBytes(16).toString('base64url'),
      request: fakeInvoice(body.amount),
      amount: body.amount,
      unit: body.unit,
      createdAt: now,
      paidAt: now + this.#config.quotePaidAfterMs,
      expiry: Math.floor(now / 1000) + QUOTE_TTL_S,
      issued: false,
    };
    this.#ledger.insertMintQuote(quote);
    return mintQuoteResponse(quote, now);
  }

  mintQuoteStatus(id: string): object {
    return mintQuoteResponse(this.#mintQuote(id), this.#config.now());
  }

  /** NUT-04: issue signatures for a paid quote, exactly once. */
  mint(body: RequestBody<'mint'>): object {
    const quote = this.#mintQuote(body.quote);
    this.#requireMintable(quote, this.#config.now());
    const total = this.#verifyOutputs(body.outputs, false);
    if (total !== quote.amount) {
      throw new NutError(NutCode.transactionUnbalanced, `outputs (${total}) do not match the quote amount (${quote.amount})`);
    }
    const signatures = this.#sign(body.outputs);
    this.#ledger.transaction(() => {
      const current = this.#mintQuote(body.quote);
      this.#requireMintable(current, this.#config.now());
      this.#ledger.spendAndSign([], signatures);
      this.#ledger.markMintQuoteIssued(current.quote);
    });
    this.#stats.mints++;
    this.#stats.signaturesIssued += signatures.length;
    return { signatures: signatures.map(signatureResponse) };
  }

  /** NUT-03: inputs minus NUT-02 fees must equal outputs. */
  swap(body: RequestBody<'swap'>): object {
    const inputs = this.#verifyInputs(body.inputs);
    const outputTotal = this.#verifyOutputs(body.outputs, false);
    if (inputs.total - inputs.fee !== outputTotal) {
      throw new NutError(
        NutCode.transactionUnbalanced,
        `inputs (${inputs.total}) - fees (${inputs.fee}) != outputs (${outputTotal})`,
      );
    }
    const signatures = this.#sign(body.outputs);
    this.#ledger.transaction(() => this.#ledger.spendAndSign(inputs.proofs, signatures));
    this.#stats.swaps++;
    this.#stats.signaturesIssued += signatures.length;
    this.#stats.proofsSpent += inputs.proofs.length;
    return { signatures: signatures.map(signatureResponse) };
  }

  /** NUT-07 */
  checkState(body: RequestBody<'checkState'>): object {
    const spent = this.#ledger.spentAmong(body.Ys);
    this.#stats.checkstates++;
    return { states: body.Ys.map((Y) => ({ Y, state: spent.has(Y) ? 'SPENT' : 'UNSPENT', witness: null })) };
  }

  /** NUT-09: the signatures already issued for these blinded messages. */
  restore(body: RequestBody<'restore'>): object {
    const found = this.#ledger.signaturesFor(body.outputs.map((o) => o.B_));
    this.#stats.restores++;
    return {
      outputs: found.map((s) => ({ id: s.id, amount: s.amount, B_: s.B_ })),
      signatures: found.map(signatureResponse),
    };
  }

  /** NUT-05: the amount comes from the invoice HRP; the fake backend charges no routing fee. */
  createMeltQuote(body: RequestBody<'meltQuote'>): object {
    this.#requireUnit(body.unit);
    const amount = invoiceAmountSat(body.request);
    if (amount > MAX_AMOUNT) throw new NutError(NutCode.amountOutsideLimit, `amount above ${MAX_AMOUNT}`);
    this.#requireInvoiceUnpaid(body.request, this.#config.now());
    const quote: MeltQuoteRow = {
      quote: randomBytes(16).toString('base64url'),
      request: body.request,
      amount,
      unit: body.unit,
      feeReserve: 0,
      state: 'UNPAID',
      paymentPreimage: null,
      expiry: Math.floor(this.#config.now() / 1000) + QUOTE_TTL_S,
      change: [],
    };
    this.#ledger.insertMeltQuote(quote);
    return meltQuoteResponse(quote);
  }

  meltQuoteStatus(id: string): object {
    return meltQuoteResponse(this.#meltQuote(id));
  }

  /** NUT-05 + NUT-08: pay at once and return overpaid inputs as change on the blank outputs. */
  melt(body: RequestBody<'melt'>): object {
    const quote = this.#meltQuote(body.quote);
    this.#requireMeltable(quote);
    const inputs = this.#verifyInputs(body.inputs);
    const blanks = body.outputs ?? [];
    this.#verifyOutputs(blanks, true);
    const needed = quote.amount + quote.feeReserve + inputs.fee;
    if (inputs.total < needed) {
      throw new NutError(
        NutCode.transactionUnbalanced,
        `inputs (${inputs.total}) below amount + fee reserve + input fees (${needed})`,
      );
    }
    const changeAmounts = powersOfTwo(inputs.total - inputs.fee - quote.amount).slice(0, blanks.length);
    const change = this.#sign(changeAmounts.map((amount, i) => ({ ...(blanks[i] as BlindedMessageInput), amount })));
    const preimage = randomBytes(32).toString('hex');
    this.#ledger.transaction(() => {
      const current = this.#meltQuote(quote.quote);
      this.#requireMeltable(current);
      const internal = this.#requireInvoiceUnpaid(current.request, this.#config.now());
      if (internal) this.#ledger.markMintQuotePaid(internal.quote, this.#config.now());
      this.#ledger.spendAndSign(inputs.proofs, change);
      this.#ledger.markMeltQuotePaid(current.quote, preimage, change);
    });
    this.#stats.melts++;
    this.#stats.signaturesIssued += change.length;
    this.#stats.proofsSpent += inputs.proofs.length;
    return meltQuoteResponse({ ...quote, state: 'PAID', paymentPreimage: preimage, change });
  }

  #keyset(id: string): Keyset {
    const keyset = this.#keysets.get(id);
    if (!keyset) throw new NutError(NutCode.keysetUnknown, `keyset ${id} is not known`);
    return keyset;
  }

  #requireUnit(unit: string): void {
    if (unit !== this.#config.unit) throw new NutError(NutCode.unitUnsupported, `unit ${unit} is not supported`);
  }

  #mintQuote(id: string): MintQuoteRow {
    const quote = this.#ledger.mintQuote(id);
    if (!quote) throw new NutError(NutCode.malformedRequest, 'quote not found');
    return quote;
  }

  #meltQuote(id: string): MeltQuoteRow {
    const quote = this.#ledger.meltQuote(id);
    if (!quote) throw new NutError(NutCode.malformedRequest, 'quote not found');
    return quote;
  }

  #requireMintable(quote: MintQuoteRow, now: number): void {
    const state = mintQuoteState(quote, now);
    if (state === 'ISSUED') throw new NutError(NutCode.quoteAlreadyIssued, 'Tokens have already been issued for quote.');
    if (state === 'UNPAID') {
      if (now / 1000 > quote.expiry) throw new NutError(NutCode.quoteExpired, 'Quote is expired.');
      throw new NutError(NutCode.quoteNotPaid, 'Quote request is not paid.');
    }
  }

  #requireMeltable(quote: MeltQuoteRow): void {
    if (quote.state !== 'UNPAID') throw new NutError(NutCode.invoiceAlreadyPaid, 'Invoice already paid.');
    if (this.#config.now() / 1000 > quote.expiry) throw new NutError(NutCode.quoteExpired, 'Quote is expired.');
  }

  /** Refuse an invoice that is already paid; returns this mint's own unpaid mint quote for it, if any. */
  #requireInvoiceUnpaid(request: string, now: number): MintQuoteRow | undefined {
    if (this.#ledger.invoicePaidByMelt(request)) throw new NutError(NutCode.invoiceAlreadyPaid, 'Invoice already paid.');
    const internal = this.#ledger.mintQuoteByRequest(request);
    if (internal && mintQuoteState(internal, now) !== 'UNPAID') {
      throw new NutError(NutCode.invoiceAlreadyPaid, 'Invoice already paid.');
    }
    return internal;
  }

  /** Check every input's keyset and signature; refuse duplicates and already-spent proofs. */
  #verifyInputs(inputs: readonly ProofInput[]): { proofs: SpentProof[]; total: number; fee: number } {
    if (new Set(inputs.map((p) => p.secret)).size !== inputs.length) {
      throw new NutError(NutCode.duplicateInputs, 'Duplicate inputs provided.');
    }
    let total = 0;
    let feePpk = 0;
    const proofs = inputs.map((p): SpentProof => {
      const keyset = this.#keyset(p.id);
      if (keyset.unit !== this.#config.unit) throw new NutError(NutCode.unitUnsupported, `unit ${keyset.unit} is not supported`);
      if (!proofSignatureValid(keyset, p.amount, p.secret, p.C)) {
        throw new NutError(NutCode.proofVerificationFailed, 'Token could not be verified.');
      }
      total += p.amount;
      feePpk += keyset.inputFeePpk;
      const witness = p.witness == null ? null : typeof p.witness === 'string' ? p.witness : JSON.stringify(p.witness);
      return { Y: proofY(p.secret), secret: p.secret, amount: p.amount, keysetId: keyset.id, witness };
    });
    if (!Number.isSafeInteger(total)) throw new NutError(NutCode.amountOutsideLimit, 'input total too large');
    // Cheap early refusal; the transaction re-checks atomically.
    if (this.#ledger.spentAmong(proofs.map((p) => p.Y)).size > 0) throw new NutError(NutCode.tokenAlreadySpent, 'Token already spent.');
    return { proofs, total, fee: Math.ceil(feePpk / 1000) };
  }

  /** Check outputs are well formed, signable and fresh; returns their total (blanks have no amount of their own). */
  #verifyOutputs(outputs: readonly BlindedMessageInput[], blank: boolean): number {
    if (new Set(outputs.map((o) => o.B_.toLowerCase())).size !== outputs.length) {
      throw new NutError(NutCode.duplicateOutputs, 'Duplicate outputs provided.');
    }
    let total = 0;
    for (const output of outputs) {
      const keyset = this.#keyset(output.id);
      if (!keyset.active) throw new NutError(NutCode.keysetInactive, `keyset ${output.id} is inactive, cannot sign`);
      if (keyset.unit !== this.#config.unit) throw new NutError(NutCode.unitUnsupported, `unit ${keyset.unit} is not supported`);
      if (!blank && !Object.hasOwn(keyset.publicKeys, String(output.amount))) {
        throw new NutError(NutCode.amountOutsideLimit, `no key for amount ${output.amount}`);
      }
      if (!isPoint(output.B_)) throw new NutError(NutCode.malformedRequest, 'B_ is not a valid point');
      total += output.amount;
    }
    if (this.#ledger.signedAmong(outputs.map((o) => o.B_)).size > 0) {
      throw new NutError(NutCode.outputAlreadySigned, 'Blinded message already signed.');
    }
    return total;
  }

  #sign(outputs: readonly BlindedMessageInput[]): BlindSignatureRecord[] {
    return outputs.map((o) => signBlindedMessage(this.#keyset(o.id), o.amount, o.B_));
  }
}

function mintQuoteState(quote: MintQuoteRow, now: number): MintQuoteState {
  if (quote.issued) return 'ISSUED';
  return now >= quote.paidAt ? 'PAID' : 'UNPAID';
}

function mintQuoteResponse(quote: MintQuoteRow, now: number): object {
  const state = mintQuoteState(quote, now);
  return {
    quote: quote.quote,
    request: quote.request,
    amount: quote.amount,
    unit: quote.unit,
    state,
    expiry: quote.expiry,
    amount_paid: state === 'UNPAID' ? 0 : quote.amount,
    amount_issued: state === 'ISSUED' ? quote.amount : 0,
  };
}

function meltQuoteResponse(quote: MeltQuoteRow): object {
  return {
    quote: quote.quote,
    request: quote.request,
    amount: quote.amount,
    unit: quote.unit,
    fee_reserve: quote.feeReserve,
    state: quote.state,
    expiry: quote.expiry,
    payment_preimage: quote.paymentPreimage,
    ...(quote.change.length > 0 ? { change: quote.change.map(signatureResponse) } : {}),
  };
}

function signatureResponse(s: BlindSignatureRecord): object {
  return { id: s.id, amount: s.amount, C_: s.C_, dleq: s.dleq };
}

/** Split an amount into ascending powers of two (1 + 4 + 8 for 13). */
function powersOfTwo(amount: number): number[] {
  const parts: number[] = [];
  for (let bit = 1; amount > 0 && bit <= amount; bit *= 2) {
    if (Math.floor(amount / bit) % 2 === 1) parts.push(bit);
  }
  return parts;
}
