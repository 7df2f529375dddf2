import { DatabaseSync } from 'node:sqlite';
import type { BlindSignatureRecord } from './keyset.ts';
import { NutCode, NutError } from './nut-error.ts';

/** A stored keyset: enough to derive its keys again after a restart. */
export interface KeysetRow {
  id: string;
  unit: string;
  inputFeePpk: number;
  seedHex: string;
  active: boolean;
}

/** An input being spent: its NUT-07 Y and what it carried. */
export interface SpentProof {
  Y: string;
  secret: string;
  amount: number;
  keysetId: string;
  witness: string | null;
}

/** NUT-04 mint quote as stored; its state is derived from paidAt/issued at read time. */
export interface MintQuoteRow {
  quote: string;
  request: string;
  amount: number;
  unit: string;
  createdAt: number;
  /** ms epoch at which the fake invoice counts as paid. */
  paidAt: number;
  /** unix seconds */
  expiry: number;
  issued: boolean;
}

/** NUT-05 melt quote as stored. */
export interface MeltQuoteRow {
  quote: string;
  request: string;
  amount: number;
  unit: string;
  feeReserve: number;
  state: 'UNPAID' | 'PENDING' | 'PAID';
  paymentPreimage: string | null;
  expiry: number;
  change: BlindSignatureRecord[];
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS keysets (
  id TEXT PRIMARY KEY, unit TEXT NOT NULL, input_fee_ppk INTEGER NOT NULL, seed TEXT NOT NULL, active INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS spent_proofs (
  y TEXT PRIMARY KEY, secret TEXT NOT NULL, amount INTEGER NOT NULL, keyset_id TEXT NOT NULL, witness TEXT, spent_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blind_signatures (
  b_ TEXT PRIMARY KEY, keyset_id TEXT NOT NULL, amount INTEGER NOT NULL, c_ TEXT NOT NULL, dleq_e TEXT NOT NULL, dleq_s TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS mint_quotes (
  quote TEXT PRIMARY KEY, request TEXT NOT NULL UNIQUE, amount INTEGER NOT NULL, unit TEXT NOT NULL, created_at INTEGER NOT NULL,
  paid_at INTEGER NOT NULL, expiry INTEGER NOT NULL, issued INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS melt_quotes (
  quote TEXT PRIMARY KEY, request TEXT NOT NULL, amount INTEGER NOT NULL, unit TEXT NOT NULL, fee_reserve INTEGER NOT NULL,
  state TEXT NOT NULL, payment_preimage TEXT, expiry INTEGER NOT NULL, change TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS melt_quotes_request ON melt_quotes (request);
`;

type Row = Record<string, unknown>;

/**
 * The mint's durable state in node:sqlite. Every write that guards money runs in one synchronous
 * BEGIN IMMEDIATE transaction that re-checks what it guards, so two requests (or two processes on one
 * file) can never both spend a proof, reuse a blinded message or issue a quote twice.
 */
export class Ledger {
  readonly #db: DatabaseSync;

  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    // Another mint process holding the write lock makes us wait (synchronously) rather than fail.
    this.#db.exec('PRAGMA busy_timeout = 10000');
    if (path !== ':memory:') this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL');
    this.#db.exec(SCHEMA);
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /** Run `work` in one write transaction; it must not await. */
  transaction<T>(work: () => T): T {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.#db.exec('COMMIT');
      return result;
    } catch (error) {
      this.#db.exec('ROLLBACK');
      throw error;
    }
  }

  /** Record `active` as the only active keyset, keeping older ones so their proofs stay spendable. */
  activateKeyset(active: KeysetRow): KeysetRow[] {
    return this.transaction(() => {
      this.#db.exec('UPDATE keysets SET active = 0');
      this.#db
        .prepare(
          `INSERT INTO keysets (id, unit, input_fee_ppk, seed, active) VALUES (?, ?, ?, ?, 1)
           ON CONFLICT (id) DO UPDATE SET active = 1`,
        )
        .run(active.id, active.unit, active.inputFeePpk, active.seedHex);
      return this.#db
        .prepare('SELECT * FROM keysets ORDER BY rowid')
        .all()
        .map((row: Row) => ({
          id: String(row.id),
          unit: String(row.unit),
          inputFeePpk: Number(row.input_fee_ppk),
          seedHex: String(row.seed),
          active: Number(row.active) === 1,
        }));
    });
  }

  /** The subset of `ys` already spent. */
  spentAmong(ys: readonly string[]): Set<string> {
    const stmt = this.#db.prepare('SELECT 1 FROM spent_proofs WHERE y = ?');
    return new Set(ys.filter((y) => stmt.get(y) !== undefined));
  }

  /** The subset of blinded messages already signed. */
  signedAmong(bs: readonly string[]): Set<string> {
    const stmt = this.#db.prepare('SELECT 1 FROM blind_signatures WHERE b_ = ?');
    return new Set(bs.filter((b) => stmt.get(b) !== undefined));
  }

  /** Stored signatures for the given blinded messages (NUT-09), in request order, unknown ones skipped. */
  signaturesFor(bs: readonly string[]): BlindSignatureRecord[] {
    const stmt = this.#db.prepare('SELECT * FROM blind_signatures WHERE b_ = ?');
    const found: BlindSignatureRecord[] = [];
    for (const b of bs) {
      const row = stmt.get(b) as Row | undefined;
      if (row) found.push(signatureFromRow(row));
    }
    return found;
  }

  /** Inside a transaction: refuse if any input is spent or any output signed, then record both. */
  spendAndSign(inputs: readonly SpentProof[], signatures: readonly BlindSignatureRecord[]): void {
    if (this.spentAmong(inputs.map((p) => p.Y)).size > 0) throw new NutError(NutCode.tokenAlreadySpent, 'Token already spent.');
    if (this.signedAmong(signatures.map((s) => s.B_)).size > 0) {
      throw new NutError(NutCode.outputAlreadySigned, 'Blinded message already signed.');
    }
    const now = Date.now();
    const spend = this.#db.prepare(
      'INSERT INTO spent_proofs (y, secret, amount, keyset_id, witness, spent_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    for (const p of inputs) spend.run(p.Y, p.secret, p.amount, p.keysetId, p.witness, now);
    const sign = this.#db.prepare(
      'INSERT INTO blind_signatures (b_, keyset_id, amount, c_, dleq_e, dleq_s, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    for (const s of signatures) sign.run(s.B_, s.id, s.amount, s.C_, s.dleq.e, s.dleq.s, now);
  }

  insertMintQuote(q: MintQuoteRow): void {
    this.#db
      .prepare(
        'INSERT INTO mint_quotes (quote, request, amount, unit, created_at, paid_at, expiry, issued) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(q.quote, q.request, q.amount, q.unit, q.createdAt, q.paidAt, q.expiry, q.issued ? 1 : 0);
  }

  mintQuote(quote: string): MintQuoteRow | undefined {
    const row = this.#db.prepare('SELECT * FROM mint_quotes WHERE quote = ?').get(quote) as Row | undefined;
    return row && mintQuoteFromRow(row);
  }

  mintQuoteByRequest(request: string): MintQuoteRow | undefined {
    const row = this.#db.prepare('SELECT * FROM mint_quotes WHERE request = ?').get(request) as Row | undefined;
    return row && mintQuoteFromRow(row);
  }

  markMintQuoteIssued(quote: string): void {
    this.#db.prepare('UPDATE mint_quotes SET issued = 1 WHERE quote = ?').run(quote);
  }

  /** An internal payment (a melt of this mint's own invoice) pays the mint quote now. */
  markMintQuotePaid(quote: string, now: number): void {
    this.#db.prepare('UPDATE mint_quotes SET paid_at = MIN(paid_at, ?) WHERE quote = ?').run(now, quote);
  }

  insertMeltQuote(q: MeltQuoteRow): void {
    this.#db
      .prepare(
        `INSERT INTO melt_quotes (quote, request, amount, unit, fee_reserve, state, payment_preimage, expiry, change, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(q.quote, q.request, q.amount, q.unit, q.feeReserve, q.state, q.paymentPreimage, q.expiry, JSON.stringify(q.change), Date.now());
  }

  meltQuote(quote: string): MeltQuoteRow | undefined {
    const row = this.#db.prepare('SELECT * FROM melt_quotes WHERE quote = ?').get(quote) as Row | undefined;
    return row && meltQuoteFromRow(row);
  }

  /** Whether some melt quote already paid (or is paying) this invoice. */
  invoicePaidByMelt(request: string): boolean {
    return this.#db.prepare("SELECT 1 FROM melt_quotes WHERE request = ? AND state != 'UNPAID'").get(request) !== undefined;
  }

  markMeltQuotePaid(quote: string, preimage: string, change: readonly BlindSignatureRecord[]): void {
    this.#db
      .prepare("UPDATE melt_quotes SET state = 'PAID', payment_preimage = ?, change = ? WHERE quote = ?")
      .run(preimage, JSON.stringify(change), quote);
  }
}

function signatureFromRow(row: Row): BlindSignatureRecord {
  return {
    B_: String(row.b_),
    id: String(row.keyset_id),
    amount: Number(row.amount),
    C_: String(row.c_),
    dleq: { e: String(row.dleq_e), s: String(row.dleq_s) },
  };
}

function mintQuoteFromRow(row: Row): MintQuoteRow {
  return {
    quote: String(row.quote),
    request: String(row.request),
    amount: Number(row.amount),
    unit: String(row.unit),
    createdAt: Number(row.created_at),
    paidAt: Number(row.paid_at),
    expiry: Number(row.expiry),
    issued: Number(row.issued) === 1,
  };
}

function meltQuoteFromRow(row: Row): MeltQuoteRow {
  return {
    quote: String(row.quote),
    request: String(row.request),
    amount: Number(row.amount),
    unit: String(row.unit),
    feeReserve: Number(row.fee_reserve),
    state: String(row.state) as MeltQuoteRow['state'],
    paymentPreimage: row.payment_preimage == null ? null : String(row.payment_preimage),
    expiry: Number(row.expiry),
    change: JSON.parse(String(row.change)) as BlindSignatureRecord[],
  };
}
