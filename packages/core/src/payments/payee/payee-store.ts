/**
 * The payee's books in one node:sqlite file, every amount an integer number of msats: X-Cashu
 * requests (keyed by sha256 of the token), Bearer accounts and their reservations, deposits,
 * settled charges (revenue), refunds and payouts. Multi-step changes run in BEGIN IMMEDIATE
 * transactions so a crash leaves each record in one named state that recovery knows how to finish.
 */
import type { SQLInputValue } from 'node:sqlite';
import { DurableDatabase } from '../../storage/index.ts';
import type { Settlement } from './settlement-group.ts';

/** redeeming: the token may be in our wallet; redeemed: ours, not yet billed; charged: cost fixed, change not stored; done: change stored. */
export type XCashuState = 'redeeming' | 'redeemed' | 'charged' | 'done';

export interface XCashuRecord {
  tokenHash: string;
  token: string;
  requestId: string;
  mint: string;
  model: string;
  faceSat: number;
  gateMsat: number;
  creditedMsat: number | null;
  state: XCashuState;
  costMsat: number | null;
  changeSat: number | null;
  changeToken: string | null;
  createdAt: number;
}

export interface AccountRecord {
  apiKey: string;
  balanceMsat: number;
  reservedMsat: number;
  totalRequests: number;
  totalSpentMsat: number;
  /** The last refund, returned again while nothing new was deposited (idempotent refunds). */
  refundToken: string | null;
  refundSat: number | null;
  createdAt: number;
}

export interface DepositRecord {
  tokenHash: string;
  token: string;
  apiKey: string;
  mint: string;
  faceSat: number;
  state: 'redeeming' | 'done';
  creditedMsat: number | null;
}

export interface ReservationRecord {
  id: string;
  apiKey: string;
  amountMsat: number;
  state: 'held' | 'settled' | 'released';
  costMsat: number | null;
}

export interface RefundRecord {
  id: string;
  apiKey: string;
  sat: number;
  state: 'pending' | 'done';
  token: string | null;
}

export interface PayoutRecord {
  id: string;
  kind: 'token' | 'invoice';
  amountMsat: number;
  state: 'pending' | 'done' | 'failed';
  token: string | null;
  createdAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS xcashu (
  token_hash TEXT PRIMARY KEY, token TEXT NOT NULL, request_id TEXT NOT NULL, mint TEXT NOT NULL, model TEXT NOT NULL,
  face_sat INTEGER NOT NULL, gate_msat INTEGER NOT NULL, credited_msat INTEGER, state TEXT NOT NULL,
  cost_msat INTEGER, change_sat INTEGER, change_token TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
  api_key TEXT PRIMARY KEY, balance_msat INTEGER NOT NULL, reserved_msat INTEGER NOT NULL, total_requests INTEGER NOT NULL,
  total_spent_msat INTEGER NOT NULL, refund_token TEXT, refund_sat INTEGER, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS deposits (
  token_hash TEXT PRIMARY KEY, token TEXT NOT NULL, api_key TEXT NOT NULL, mint TEXT NOT NULL, face_sat INTEGER NOT NULL,
  state TEXT NOT NULL, credited_msat INTEGER, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS reservations (
  id TEXT PRIMARY KEY, api_key TEXT NOT NULL, amount_msat INTEGER NOT NULL, state TEXT NOT NULL, cost_msat INTEGER,
  created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS charges (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, ref TEXT NOT NULL UNIQUE, source TEXT NOT NULL, amount_msat INTEGER NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS refunds (
  id TEXT PRIMARY KEY, api_key TEXT NOT NULL, sat INTEGER NOT NULL, state TEXT NOT NULL, token TEXT, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS payouts (
  id TEXT PRIMARY KEY, kind TEXT NOT NULL, amount_msat INTEGER NOT NULL, state TEXT NOT NULL, token TEXT,
  created_at INTEGER NOT NULL);
`;

type Row = Record<string, SQLInputValue>;
const n = (v: SQLInputValue | undefined): number => Number(v ?? 0);
const nn = (v: SQLInputValue | undefined): number | null => (v === null || v === undefined ? null : Number(v));
const s = (v: SQLInputValue | undefined): string => String(v ?? '');
const sn = (v: SQLInputValue | undefined): string | null => (v === null || v === undefined ? null : String(v));

function toXCashu(r: Row): XCashuRecord {
  return {
    tokenHash: s(r['token_hash']), token: s(r['token']), requestId: s(r['request_id']), mint: s(r['mint']), model: s(r['model']),
    faceSat: n(r['face_sat']), gateMsat: n(r['gate_msat']), creditedMsat: nn(r['credited_msat']), state: s(r['state']) as XCashuState,
    costMsat: nn(r['cost_msat']), changeSat: nn(r['change_sat']), changeToken: sn(r['change_token']), createdAt: n(r['created_at']),
  };
}

function toAccount(r: Row): AccountRecord {
  return {
    apiKey: s(r['api_key']), balanceMsat: n(r['balance_msat']), reservedMsat: n(r['reserved_msat']), totalRequests: n(r['total_requests']),
    totalSpentMsat: n(r['total_spent_msat']), refundToken: sn(r['refund_token']), refundSat: nn(r['refund_sat']), createdAt: n(r['created_at']),
  };
}

function toDeposit(r: Row): DepositRecord {
  return {
    tokenHash: s(r['token_hash']), token: s(r['token']), apiKey: s(r['api_key']), mint: s(r['mint']), faceSat: n(r['face_sat']),
    state: s(r['state']) as DepositRecord['state'], creditedMsat: nn(r['credited_msat']),
  };
}

/** The payee's durable books (see module doc). */
export class PayeeStore extends DurableDatabase {
  constructor(path: string) {
    super(path, SCHEMA);
  }

  // --- X-Cashu requests ------------------------------------------------------------------------

  /** Inserts a request in state 'redeeming'; false when this token was seen before. */
  insertXCashu(r: Omit<XCashuRecord, 'creditedMsat' | 'state' | 'costMsat' | 'changeSat' | 'changeToken' | 'createdAt'>): boolean {
    const now = Date.now();
    return (
      this.run(
        `INSERT OR IGNORE INTO xcashu (token_hash, token, request_id, mint, model, face_sat, gate_msat, state, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'redeeming', ?, ?)`,
        r.tokenHash, r.token, r.requestId, r.mint, r.model, r.faceSat, r.gateMsat, now, now,
      ) === 1
    );
  }

  xcashu(tokenHash: string): XCashuRecord | undefined {
    const row = this.get('SELECT * FROM xcashu WHERE token_hash = ?', tokenHash);
    return row ? toXCashu(row) : undefined;
  }

  xcashuByState(state: XCashuState): XCashuRecord[] {
    return this.all('SELECT * FROM xcashu WHERE state = ? ORDER BY created_at', state).map(toXCashu);
  }

  deleteXCashu(tokenHash: string): void {
    this.run('DELETE FROM xcashu WHERE token_hash = ?', tokenHash);
  }

  updateXCashu(tokenHash: string, patch: Partial<Pick<XCashuRecord, 'state' | 'creditedMsat' | 'costMsat' | 'changeSat' | 'changeToken'>>): void {
    const cur = this.xcashu(tokenHash);
    if (!cur) throw new Error(`no x-cashu request ${tokenHash}`);
    const next = { ...cur, ...patch };
    this.run(
      'UPDATE xcashu SET state = ?, credited_msat = ?, cost_msat = ?, change_sat = ?, change_token = ?, updated_at = ? WHERE token_hash = ?',
      next.state, next.creditedMsat, next.costMsat, next.changeSat, next.changeToken, Date.now(), tokenHash,
    );
  }

  // --- accounts ---------------------------------------------------------------------------------

  account(apiKey: string): AccountRecord | undefined {
    const row = this.get('SELECT * FROM accounts WHERE api_key = ?', apiKey);
    return row ? toAccount(row) : undefined;
  }

  /** Adds msats to an account (creating it), and forgets the cached refund: new money, new refund. */
  credit(apiKey: string, msat: number): void {
    this.run(
      `INSERT INTO accounts (api_key, balance_msat, reserved_msat, total_requests, total_spent_msat, created_at) VALUES (?, ?, 0, 0, 0, ?)
       ON CONFLICT(api_key) DO UPDATE SET balance_msat = balance_msat + excluded.balance_msat, refund_token = NULL, refund_sat = NULL`,
      apiKey, msat, Date.now(),
    );
  }

  updateAccount(apiKey: string, patch: Partial<Omit<AccountRecord, 'apiKey' | 'createdAt'>>): void {
    const cur = this.account(apiKey);
    if (!cur) throw new Error(`no account ${apiKey.slice(0, 8)}…`);
    const a = { ...cur, ...patch };
    this.run(
      `UPDATE accounts SET balance_msat = ?, reserved_msat = ?, total_requests = ?, total_spent_msat = ?, refund_token = ?, refund_sat = ?
       WHERE api_key = ?`,
      a.balanceMsat, a.reservedMsat, a.totalRequests, a.totalSpentMsat, a.refundToken, a.refundSat, apiKey,
    );
  }

  /** Sum of what accounts hold (msats owed to clients). */
  accountLiabilitiesMsat(): number {
    return n(this.get('SELECT COALESCE(SUM(balance_msat), 0) AS v FROM accounts')?.['v']);
  }

  // --- deposits ---------------------------------------------------------------------------------

  insertDeposit(d: Omit<DepositRecord, 'state' | 'creditedMsat'>): boolean {
    return (
      this.run(
        `INSERT OR IGNORE INTO deposits (token_hash, token, api_key, mint, face_sat, state, created_at) VALUES (?, ?, ?, ?, ?, 'redeeming', ?)`,
        d.tokenHash, d.token, d.apiKey, d.mint, d.faceSat, Date.now(),
      ) === 1
    );
  }

  deposit(tokenHash: string): DepositRecord | undefined {
    const row = this.get('SELECT * FROM deposits WHERE token_hash = ?', tokenHash);
    return row ? toDeposit(row) : undefined;
  }

  depositsRedeeming(): DepositRecord[] {
    return this.all("SELECT * FROM deposits WHERE state = 'redeeming' ORDER BY created_at").map(toDeposit);
  }

  finishDeposit(tokenHash: string, creditedMsat: number): void {
    this.run("UPDATE deposits SET state = 'done', credited_msat = ? WHERE token_hash = ?", creditedMsat, tokenHash);
  }

  deleteDeposit(tokenHash: string): void {
    this.run('DELETE FROM deposits WHERE token_hash = ?', tokenHash);
  }

  // --- reservations and settlements ----------------------------------------------------------

  reservation(id: string): ReservationRecord | undefined {
    const r = this.get('SELECT * FROM reservations WHERE id = ?', id);
    return r
      ? { id: s(r['id']), apiKey: s(r['api_key']), amountMsat: n(r['amount_msat']), state: s(r['state']) as ReservationRecord['state'], costMsat: nn(r['cost_msat']) }
      : undefined;
  }

  /** Reservations an older version left held (this one keeps them in memory only). */
  heldReservations(): ReservationRecord[] {
    return this.all("SELECT id FROM reservations WHERE state = 'held'").map((r) => this.reservation(s(r['id'])) as ReservationRecord);
  }

  closeReservation(id: string, state: 'settled' | 'released', costMsat: number | null): void {
    this.run('UPDATE reservations SET state = ?, cost_msat = ? WHERE id = ?', state, costMsat, id);
  }

  /**
   * Writes a group of settlements (call inside tx): each account debited once by the group's
   * charges (a delta, so deposits committed meanwhile compose), each reservation recorded settled
   * at its cost, each charge recorded as revenue.
   */
  writeSettlements(group: readonly Settlement[]): void {
    const now = Date.now();
    const perAccount = new Map<string, { charged: number; requests: number }>();
    for (const g of group) {
      // The settled reservation row is the settlement's receipt: a group written again (its first commit
      // landed, the step after it failed) finds the rows there and debits nothing twice.
      const fresh = this.run(
        "INSERT OR IGNORE INTO reservations (id, api_key, amount_msat, state, cost_msat, created_at) VALUES (?, ?, ?, 'settled', ?, ?)",
        g.reservationId, g.apiKey, g.reservedMsat, g.chargedMsat, now,
      ) === 1;
      if (!fresh) continue;
      const t = perAccount.get(g.apiKey) ?? { charged: 0, requests: 0 };
      t.charged += g.chargedMsat;
      t.requests += 1;
      perAccount.set(g.apiKey, t);
      if (g.chargedMsat > 0) this.insertCharge(`res:${g.reservationId}`, 'bearer', g.chargedMsat);
    }
    for (const [apiKey, t] of perAccount) {
      this.run(
        'UPDATE accounts SET balance_msat = balance_msat - ?, total_requests = total_requests + ?, total_spent_msat = total_spent_msat + ? WHERE api_key = ?',
        t.charged, t.requests, t.charged, apiKey,
      );
    }
  }

  // --- charges (revenue) --------------------------------------------------------------------------

  /** Records revenue once per `ref` (a request id); a repeat is ignored. */
  insertCharge(ref: string, source: 'xcashu' | 'bearer', amountMsat: number): void {
    this.run('INSERT OR IGNORE INTO charges (ref, source, amount_msat, created_at) VALUES (?, ?, ?, ?)', ref, source, amountMsat, Date.now());
  }

  revenueMsat(): number {
    return n(this.get('SELECT COALESCE(SUM(amount_msat), 0) AS v FROM charges')?.['v']);
  }

  // --- refunds ----------------------------------------------------------------------------------

  insertRefund(r: { id: string; apiKey: string; sat: number }): void {
    this.run("INSERT INTO refunds (id, api_key, sat, state, created_at) VALUES (?, ?, ?, 'pending', ?)", r.id, r.apiKey, r.sat, Date.now());
  }

  pendingRefunds(apiKey?: string): RefundRecord[] {
    const rows = apiKey === undefined
      ? this.all("SELECT * FROM refunds WHERE state = 'pending' ORDER BY created_at")
      : this.all("SELECT * FROM refunds WHERE state = 'pending' AND api_key = ? ORDER BY created_at", apiKey);
    return rows.map((r) => ({ id: s(r['id']), apiKey: s(r['api_key']), sat: n(r['sat']), state: 'pending' as const, token: sn(r['token']) }));
  }

  finishRefund(id: string, token: string): void {
    this.run("UPDATE refunds SET state = 'done', token = ? WHERE id = ?", token, id);
  }

  // --- payouts ----------------------------------------------------------------------------------

  insertPayout(p: { id: string; kind: PayoutRecord['kind']; amountMsat: number }): void {
    this.run("INSERT INTO payouts (id, kind, amount_msat, state, created_at) VALUES (?, ?, ?, 'pending', ?)", p.id, p.kind, p.amountMsat, Date.now());
  }

  updatePayout(id: string, patch: { state: PayoutRecord['state']; token?: string | null; amountMsat?: number }): void {
    const cur = this.get('SELECT * FROM payouts WHERE id = ?', id);
    if (!cur) throw new Error(`no payout ${id}`);
    this.run('UPDATE payouts SET state = ?, token = ?, amount_msat = ? WHERE id = ?', patch.state, patch.token ?? sn(cur['token']), patch.amountMsat ?? n(cur['amount_msat']), id);
  }

  pendingPayouts(): PayoutRecord[] {
    return this.all("SELECT * FROM payouts WHERE state = 'pending'").map((r) => ({
      id: s(r['id']), kind: s(r['kind']) as PayoutRecord['kind'], amountMsat: n(r['amount_msat']), state: 'pending' as const, token: sn(r['token']), createdAt: n(r['created_at']),
    }));
  }

  /** Pending and done payouts count against revenue (a pending one may have left). */
  paidOutMsat(): number {
    return n(this.get("SELECT COALESCE(SUM(amount_msat), 0) AS v FROM payouts WHERE state IN ('pending', 'done')")?.['v']);
  }
}
