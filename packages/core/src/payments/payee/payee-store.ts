/**
 * The payee's books, in a node:sqlite file or in PostgreSQL (schema 'payee'), every amount an
 * integer number of msats: X-Cashu requests (keyed by sha256 of the token), Bearer accounts and
 * their reservations, deposits, settled charges (revenue), refunds and payouts. Multi-step changes
 * run in transactions that hold the write lock from their start (BEGIN IMMEDIATE; the namespace's
 * advisory lock on PostgreSQL) so a crash leaves each record in one named state that recovery
 * knows how to finish. SQL is portable (ON CONFLICT DO NOTHING, CASE instead of MAX).
 * PostgreSQL: holdIfCovered and settleIfHeld (the Bearer hot path) run WITHOUT that lock, on row
 * locks (writeRowLocked), so every locked writer of accounts/reservations reads what it then writes
 * through lockAccount / lockHeld (FOR UPDATE), or writes relative to the row (`balance + ?`).
 */
import type { SQLInputValue } from 'node:sqlite';
import { DurableDatabase } from '../../storage/index.ts';
import { OWNED_TABLES, POSTGRES_SCHEMA, SQLITE_SCHEMA, sqliteOwnerMigration } from './payee-schema.ts';
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
  /** The process serving or finishing it (shared books); null: nobody (a single-process file, or let go after a failure). */
  owner: string | null;
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
  owner: string | null;
}

export interface ReservationRecord {
  id: string;
  apiKey: string;
  amountMsat: number;
  state: 'held' | 'settled' | 'released';
  costMsat: number | null;
  owner: string | null;
}

export interface RefundRecord {
  id: string;
  apiKey: string;
  sat: number;
  state: 'pending' | 'done';
  token: string | null;
  owner: string | null;
}

export interface PayoutRecord {
  id: string;
  kind: 'token' | 'invoice';
  amountMsat: number;
  state: 'pending' | 'done' | 'failed';
  token: string | null;
  createdAt: number;
  owner: string | null;
}

/** A table whose records carry the owner working on them. */
export type OwnedTable = (typeof OWNED_TABLES)[number];

type Row = Record<string, SQLInputValue>;
// reserved_msat less a reservation, never below 0 (an older version's rows kept it 0); portable (no MAX/GREATEST).
const LESS_RESERVED = 'reserved_msat = CASE WHEN reserved_msat > ? THEN reserved_msat - ? ELSE 0 END';
const n = (v: SQLInputValue | undefined): number => Number(v ?? 0);
const nn = (v: SQLInputValue | undefined): number | null => (v === null || v === undefined ? null : Number(v));
const s = (v: SQLInputValue | undefined): string => String(v ?? '');
const sn = (v: SQLInputValue | undefined): string | null => (v === null || v === undefined ? null : String(v));

function toXCashu(r: Row): XCashuRecord {
  return {
    tokenHash: s(r['token_hash']), token: s(r['token']), requestId: s(r['request_id']), mint: s(r['mint']), model: s(r['model']),
    faceSat: n(r['face_sat']), gateMsat: n(r['gate_msat']), creditedMsat: nn(r['credited_msat']), state: s(r['state']) as XCashuState,
    costMsat: nn(r['cost_msat']), changeSat: nn(r['change_sat']), changeToken: sn(r['change_token']), createdAt: n(r['created_at']),
    owner: sn(r['owner']),
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
    state: s(r['state']) as DepositRecord['state'], creditedMsat: nn(r['credited_msat']), owner: sn(r['owner']),
  };
}

const keyOf = (table: OwnedTable): string => (table === 'xcashu' || table === 'deposits' ? 'token_hash' : 'id');

function toReservation(r: Row): ReservationRecord {
  return {
    id: s(r['id']), apiKey: s(r['api_key']), amountMsat: n(r['amount_msat']), state: s(r['state']) as ReservationRecord['state'],
    costMsat: nn(r['cost_msat']), owner: sn(r['owner']),
  };
}

/** The payee's durable books (see module doc). */
export class PayeeStore extends DurableDatabase {
  // SQLite has no row locks (nor FOR UPDATE): its transactions hold the whole file's write lock.
  readonly #forUpdate: string;

  constructor(path: string) {
    super(path, { sqlite: SQLITE_SCHEMA, postgres: [POSTGRES_SCHEMA] }, { namespace: 'payee' });
    this.#forUpdate = this.dialect === 'postgres' ? ' FOR UPDATE' : '';
    if (this.dialect === 'sqlite') {
      this.tx(() => this.connection.exec(sqliteOwnerMigration((table) => this.all(`PRAGMA table_info(${table})`).map((c) => s(c['name'])))));
    }
  }

  /** Every owner registered live on these books (storage/owner-liveness.ts; some may be gone). */
  registeredOwners(): string[] {
    return this.all('SELECT owner FROM live_owners').map((r) => s(r['owner']));
  }

  /** The owner and state of an owned record (undefined: none). */
  ownerOf(table: OwnedTable, id: string): { owner: string | null; state: string } | undefined {
    const r = this.get(`SELECT owner, state FROM ${table} WHERE ${keyOf(table)} = ?`, id);
    return r ? { owner: sn(r['owner']), state: s(r['state']) } : undefined;
  }

  /** Sets (or clears) the owner working on a record (shared books: a claim made inside a transaction). */
  setOwner(table: OwnedTable, id: string, owner: string | null): void {
    this.run(`UPDATE ${table} SET owner = ? WHERE ${keyOf(table)} = ?`, owner, id);
  }

  // --- X-Cashu requests ------------------------------------------------------------------------

  /** Inserts a request in state 'redeeming'; false when this token was seen before. */
  insertXCashu(r: Omit<XCashuRecord, 'creditedMsat' | 'state' | 'costMsat' | 'changeSat' | 'changeToken' | 'createdAt' | 'owner'>, owner: string | null = null): boolean {
    const now = Date.now();
    return (
      this.run(
        `INSERT INTO xcashu (token_hash, token, request_id, mint, model, face_sat, gate_msat, state, created_at, updated_at, owner)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'redeeming', ?, ?, ?) ON CONFLICT DO NOTHING`,
        r.tokenHash, r.token, r.requestId, r.mint, r.model, r.faceSat, r.gateMsat, now, now, owner,
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

  /** The account, its row locked until the transaction ends (PostgreSQL FOR UPDATE; SQLite's file lock); call inside tx before writing what it read. */
  lockAccount(apiKey: string): AccountRecord | undefined {
    const row = this.get(`SELECT * FROM accounts WHERE api_key = ?${this.#forUpdate}`, apiKey);
    return row ? toAccount(row) : undefined;
  }

  /** Adds msats to an account (creating it), and forgets the cached refund: new money, new refund. */
  credit(apiKey: string, msat: number): void {
    this.run(
      `INSERT INTO accounts (api_key, balance_msat, reserved_msat, total_requests, total_spent_msat, created_at) VALUES (?, ?, 0, 0, 0, ?)
       ON CONFLICT(api_key) DO UPDATE SET balance_msat = accounts.balance_msat + excluded.balance_msat, refund_token = NULL, refund_sat = NULL`,
      apiKey, msat, Date.now(),
    );
  }

  /** Writes the account's figures over the row (call inside tx; the row is read FOR UPDATE, so a lockless hold or settle cannot land between). */
  updateAccount(apiKey: string, patch: Partial<Omit<AccountRecord, 'apiKey' | 'createdAt'>>): void {
    const cur = this.lockAccount(apiKey);
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

  insertDeposit(d: Omit<DepositRecord, 'state' | 'creditedMsat' | 'owner'>, owner: string | null = null): boolean {
    return (
      this.run(
        `INSERT INTO deposits (token_hash, token, api_key, mint, face_sat, state, created_at, owner) VALUES (?, ?, ?, ?, ?, 'redeeming', ?, ?)
         ON CONFLICT DO NOTHING`,
        d.tokenHash, d.token, d.apiKey, d.mint, d.faceSat, Date.now(), owner,
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
    return r ? toReservation(r) : undefined;
  }

  /** The reservation if still held, locking its account's row then its own until the tx ends (one order for every locked writer: no deadlock). */
  lockHeld(id: string): ReservationRecord | undefined {
    const apiKey = this.reservation(id)?.apiKey;
    if (apiKey === undefined) return undefined;
    this.lockAccount(apiKey);
    const r = this.get(`SELECT * FROM reservations WHERE id = ? AND state = 'held'${this.#forUpdate}`, id);
    return r ? toReservation(r) : undefined;
  }

  /** Held reservations (of one account): shared books' requests in flight, or what an older version left held. */
  heldReservations(apiKey?: string): ReservationRecord[] {
    const rows = apiKey === undefined
      ? this.all("SELECT * FROM reservations WHERE state = 'held' ORDER BY created_at")
      : this.all("SELECT * FROM reservations WHERE state = 'held' AND api_key = ?", apiKey);
    return rows.map(toReservation);
  }

  /** Holds `amountMsat` of an account for a request (shared books; call inside tx after checking the balance). */
  holdReservation(r: { id: string; apiKey: string; amountMsat: number; owner: string }): void {
    this.run(
      "INSERT INTO reservations (id, api_key, amount_msat, state, created_at, owner) VALUES (?, ?, ?, 'held', ?, ?)",
      r.id, r.apiKey, r.amountMsat, Date.now(), r.owner,
    );
    this.run('UPDATE accounts SET reserved_msat = reserved_msat + ? WHERE api_key = ?', r.amountMsat, r.apiKey);
  }

  /**
   * PostgreSQL, shared books: holds the gate in one statement when the account covers it; false
   * when not (nothing written: the caller finds out why in a transaction). Row-locked: the UPDATE
   * locks the account row and READ COMMITTED re-checks `balance − reserved ≥ gate` on its newest
   * version. Unsynced: a reservation lost in a server crash frees the hold (favours the buyer).
   */
  holdIfCovered(r: { id: string; apiKey: string; amountMsat: number; owner: string }): boolean {
    return (
      this.writeRowLocked(
        `WITH a AS (UPDATE accounts SET reserved_msat = reserved_msat + ? WHERE api_key = ? AND balance_msat - reserved_msat >= ? RETURNING api_key)
         INSERT INTO reservations (id, api_key, amount_msat, state, created_at, owner) SELECT ?::text, api_key, ?::bigint, 'held', ?::bigint, ?::text FROM a`,
        [r.amountMsat, r.apiKey, r.amountMsat, r.id, r.amountMsat, Date.now(), r.owner], { synced: false },
      ) === 1
    );
  }

  /**
   * PostgreSQL, shared books: settles a held reservation in one statement at `costMsat` as far as
   * the balance goes — reservation settled, account debited, charge recorded; nothing when it is
   * not held. Read the outcome with reservationWithAccount. Row-locked: the CTE locks reservation
   * and account (FOR UPDATE), so a repeat waits and finds it settled, and another reservation's settle
   * charges from the balance this left. Unsynced: its loss in a server crash favours the buyer (settlement-group.ts).
   */
  settleIfHeld(id: string, costMsat: number): void {
    this.writeRowLocked(
      `WITH r AS (
         SELECT res.id, res.api_key, res.amount_msat, LEAST(?::bigint, acc.balance_msat) AS charged
         FROM reservations res JOIN accounts acc ON acc.api_key = res.api_key WHERE res.id = ? AND res.state = 'held'
         FOR UPDATE OF res, acc),
       u AS (UPDATE reservations SET state = 'settled', cost_msat = r.charged FROM r WHERE reservations.id = r.id AND reservations.state = 'held' RETURNING 1),
       a AS (UPDATE accounts SET balance_msat = balance_msat - r.charged,
               reserved_msat = CASE WHEN reserved_msat > r.amount_msat THEN reserved_msat - r.amount_msat ELSE 0 END,
               total_requests = total_requests + 1, total_spent_msat = total_spent_msat + r.charged
             FROM r WHERE accounts.api_key = r.api_key RETURNING 1)
       INSERT INTO charges (ref, source, amount_msat, created_at) SELECT 'res:' || r.id, 'bearer', r.charged, ?::bigint FROM r
       WHERE r.charged > 0 ON CONFLICT DO NOTHING`,
      [costMsat, id, Date.now()], { synced: false },
    );
  }

  /** A reservation with its account's balance and reserved msats (one read). */
  reservationWithAccount(id: string): (ReservationRecord & { balanceMsat: number; reservedMsat: number }) | undefined {
    const r = this.get(
      'SELECT res.*, acc.balance_msat AS acc_balance, acc.reserved_msat AS acc_reserved FROM reservations res JOIN accounts acc ON acc.api_key = res.api_key WHERE res.id = ?',
      id,
    );
    return r ? { ...toReservation(r), balanceMsat: n(r['acc_balance']), reservedMsat: n(r['acc_reserved']) } : undefined;
  }

  /** Closes a held reservation (shared books; call inside tx): settled at `chargedMsat` (debited, earned) or released. */
  closeHeld(r: ReservationRecord, outcome: { state: 'settled'; chargedMsat: number } | { state: 'released' }): void {
    const charged = outcome.state === 'settled' ? outcome.chargedMsat : 0;
    this.closeReservation(r.id, outcome.state, outcome.state === 'settled' ? charged : null);
    if (outcome.state === 'released') {
      this.run(`UPDATE accounts SET ${LESS_RESERVED} WHERE api_key = ?`, r.amountMsat, r.amountMsat, r.apiKey);
      return;
    }
    this.run(
      `UPDATE accounts SET balance_msat = balance_msat - ?, ${LESS_RESERVED}, total_requests = total_requests + 1,
       total_spent_msat = total_spent_msat + ? WHERE api_key = ?`,
      charged, r.amountMsat, r.amountMsat, charged, r.apiKey,
    );
    if (charged > 0) this.insertCharge(`res:${r.id}`, 'bearer', charged);
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
        "INSERT INTO reservations (id, api_key, amount_msat, state, cost_msat, created_at) VALUES (?, ?, ?, 'settled', ?, ?) ON CONFLICT DO NOTHING",
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
    this.run('INSERT INTO charges (ref, source, amount_msat, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING', ref, source, amountMsat, Date.now());
  }

  revenueMsat(): number {
    return n(this.get('SELECT COALESCE(SUM(amount_msat), 0) AS v FROM charges')?.['v']);
  }

  // --- refunds ----------------------------------------------------------------------------------

  insertRefund(r: { id: string; apiKey: string; sat: number }, owner: string | null = null): void {
    this.run("INSERT INTO refunds (id, api_key, sat, state, created_at, owner) VALUES (?, ?, ?, 'pending', ?, ?)", r.id, r.apiKey, r.sat, Date.now(), owner);
  }

  pendingRefunds(apiKey?: string): RefundRecord[] {
    const rows = apiKey === undefined
      ? this.all("SELECT * FROM refunds WHERE state = 'pending' ORDER BY created_at")
      : this.all("SELECT * FROM refunds WHERE state = 'pending' AND api_key = ? ORDER BY created_at", apiKey);
    return rows.map((r) => ({ id: s(r['id']), apiKey: s(r['api_key']), sat: n(r['sat']), state: 'pending' as const, token: sn(r['token']), owner: sn(r['owner']) }));
  }

  /** Marks a pending refund done; false when it was not pending (another process finished it: change nothing else). */
  finishRefund(id: string, token: string): boolean {
    return this.run("UPDATE refunds SET state = 'done', token = ? WHERE id = ? AND state = 'pending'", token, id) === 1;
  }

  // --- payouts ----------------------------------------------------------------------------------

  insertPayout(p: { id: string; kind: PayoutRecord['kind']; amountMsat: number }, owner: string | null = null): void {
    this.run("INSERT INTO payouts (id, kind, amount_msat, state, created_at, owner) VALUES (?, ?, ?, 'pending', ?, ?)", p.id, p.kind, p.amountMsat, Date.now(), owner);
  }

  updatePayout(id: string, patch: { state: PayoutRecord['state']; token?: string | null; amountMsat?: number }): void {
    const cur = this.get('SELECT * FROM payouts WHERE id = ?', id);
    if (!cur) throw new Error(`no payout ${id}`);
    this.run('UPDATE payouts SET state = ?, token = ?, amount_msat = ? WHERE id = ?', patch.state, patch.token ?? sn(cur['token']), patch.amountMsat ?? n(cur['amount_msat']), id);
  }

  pendingPayouts(): PayoutRecord[] {
    return this.all("SELECT * FROM payouts WHERE state = 'pending'").map((r) => ({
      id: s(r['id']), kind: s(r['kind']) as PayoutRecord['kind'], amountMsat: n(r['amount_msat']), state: 'pending' as const, token: sn(r['token']), createdAt: n(r['created_at']),
      owner: sn(r['owner']),
    }));
  }

  /** Pending and done payouts count against revenue (a pending one may have left). */
  paidOutMsat(): number {
    return n(this.get("SELECT COALESCE(SUM(amount_msat), 0) AS v FROM payouts WHERE state IN ('pending', 'done')")?.['v']);
  }
}
