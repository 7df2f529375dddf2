/**
 * The buyer's own records, in the wallet's sqlite file (its own tables), so a crash never loses
 * track of money at a provider: which provider holds each X-Cashu token (to ask its refund route
 * for the change), and each session key with the deposits behind it (to refund it on restart).
 */
import { AttachedTables, type Row } from '../../storage/index.ts';
import type { WalletStore } from '../../wallet/store.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS payer_xcashu (
  journal_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, provider_url TEXT NOT NULL, owner TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('sent','done')), change_token TEXT,
  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS payer_xcashu_by_state ON payer_xcashu (state);
CREATE TABLE IF NOT EXISTS payer_sessions (
  id TEXT PRIMARY KEY, provider_url TEXT NOT NULL, mint TEXT NOT NULL, api_key TEXT NOT NULL, owner TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('open','closed')), deposited_sat INTEGER NOT NULL DEFAULT 0,
  refunded_sat INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS payer_sessions_by_state ON payer_sessions (state, provider_url);
CREATE TABLE IF NOT EXISTS payer_deposits (
  journal_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, amount_sat INTEGER NOT NULL, created_at INTEGER NOT NULL);
`;

const POSTGRES_SCHEMA = `
CREATE TABLE IF NOT EXISTS payer_xcashu (
  journal_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, provider_url TEXT NOT NULL, owner TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('sent','done')), change_token TEXT,
  created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS payer_xcashu_by_state ON payer_xcashu (state);
CREATE TABLE IF NOT EXISTS payer_sessions (
  id TEXT PRIMARY KEY, provider_url TEXT NOT NULL, mint TEXT NOT NULL, api_key TEXT NOT NULL, owner TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('open','closed')), deposited_sat BIGINT NOT NULL DEFAULT 0,
  refunded_sat BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS payer_sessions_by_state ON payer_sessions (state, provider_url);
CREATE TABLE IF NOT EXISTS payer_deposits (
  journal_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, amount_sat BIGINT NOT NULL, created_at BIGINT NOT NULL);
`;

/** An X-Cashu token handed to a provider. */
export interface XCashuRecord {
  journalId: string;
  requestId: string;
  providerUrl: string;
  owner: string;
  state: 'sent' | 'done';
  changeToken: string | null;
}

/** A session key at a provider (routstr `sk-` account funded by deposits). */
export interface SessionRecord {
  id: string;
  providerUrl: string;
  mint: string;
  apiKey: string;
  owner: string;
  state: 'open' | 'closed';
  depositedSat: number;
  refundedSat: number;
  updatedAt: number;
}

/** Payer tables over the wallet store's database handle (its transactions apply). */
export class PayerStore extends AttachedTables {
  constructor(walletStore: WalletStore) {
    super(walletStore, { sqlite: SCHEMA, postgres: POSTGRES_SCHEMA }, 'payer');
  }

  // --- X-Cashu ---------------------------------------------------------------------------------

  /** Records (or moves to another provider) the token of a journal entry before it is sent. */
  markSent(journalId: string, requestId: string, providerUrl: string, owner: string): void {
    const now = Date.now();
    this.run(
      `INSERT INTO payer_xcashu (journal_id, request_id, provider_url, owner, state, created_at, updated_at)
         VALUES (?, ?, ?, ?, 'sent', ?, ?)
         ON CONFLICT(journal_id) DO UPDATE SET provider_url = excluded.provider_url, owner = excluded.owner, state = 'sent', updated_at = excluded.updated_at`,
      journalId, requestId, providerUrl, owner, now, now,
    );
  }

  /** Keeps a change token as soon as it arrives (before the wallet redeems it). */
  saveChange(journalId: string, token: string): void {
    this.run('UPDATE payer_xcashu SET change_token = ?, updated_at = ? WHERE journal_id = ?', token, Date.now(), journalId);
  }

  markDone(journalId: string): void {
    this.run("UPDATE payer_xcashu SET state = 'done', updated_at = ? WHERE journal_id = ?", Date.now(), journalId);
  }

  xcashu(journalId: string): XCashuRecord | undefined {
    const r = this.one('SELECT * FROM payer_xcashu WHERE journal_id = ?', journalId);
    return r ? xcashuOf(r) : undefined;
  }

  openXCashu(): XCashuRecord[] {
    return this.all("SELECT * FROM payer_xcashu WHERE state = 'sent' ORDER BY created_at").map(xcashuOf);
  }

  // --- sessions --------------------------------------------------------------------------------

  insertSession(s: Omit<SessionRecord, 'updatedAt' | 'refundedSat' | 'state'>): void {
    const now = Date.now();
    this.run(
      `INSERT INTO payer_sessions (id, provider_url, mint, api_key, owner, state, deposited_sat, refunded_sat, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, 'open', ?, 0, ?, ?)`,
      s.id, s.providerUrl, s.mint, s.apiKey, s.owner, s.depositedSat, now, now,
    );
  }

  /** Journals a deposit (first one or top-up) against a session, before the token leaves. */
  addDeposit(sessionId: string, journalId: string, amountSat: number): void {
    this.tx(() => {
      this.run('INSERT INTO payer_deposits (journal_id, session_id, amount_sat, created_at) VALUES (?, ?, ?, ?)', journalId, sessionId, amountSat, Date.now());
      this.run('UPDATE payer_sessions SET deposited_sat = deposited_sat + ?, updated_at = ? WHERE id = ?', amountSat, Date.now(), sessionId);
    });
  }

  /** A deposit that never reached the node (taken back): it no longer counts. */
  removeDeposit(journalId: string): void {
    this.tx(() => {
      const d = this.one('SELECT session_id, amount_sat FROM payer_deposits WHERE journal_id = ?', journalId);
      if (!d) return;
      this.run('DELETE FROM payer_deposits WHERE journal_id = ?', journalId);
      this.run('UPDATE payer_sessions SET deposited_sat = deposited_sat - ?, updated_at = ? WHERE id = ?', Number(d['amount_sat']), Date.now(), String(d['session_id']));
    });
  }

  setApiKey(sessionId: string, apiKey: string): void {
    this.run('UPDATE payer_sessions SET api_key = ?, updated_at = ? WHERE id = ?', apiKey, Date.now(), sessionId);
  }

  closeSession(sessionId: string, refundedSat: number): void {
    this.run("UPDATE payer_sessions SET state = 'closed', refunded_sat = refunded_sat + ?, updated_at = ? WHERE id = ?", refundedSat, Date.now(), sessionId);
  }

  session(id: string): SessionRecord | undefined {
    const r = this.one('SELECT * FROM payer_sessions WHERE id = ?', id);
    return r ? sessionOf(r) : undefined;
  }

  openSessions(): SessionRecord[] {
    return this.all("SELECT * FROM payer_sessions WHERE state = 'open' ORDER BY created_at").map(sessionOf);
  }

  sessions(): SessionRecord[] {
    return this.all('SELECT * FROM payer_sessions ORDER BY created_at').map(sessionOf);
  }

  depositsOf(sessionId: string): { journalId: string; amountSat: number }[] {
    return this.all('SELECT journal_id, amount_sat FROM payer_deposits WHERE session_id = ? ORDER BY created_at', sessionId).map((r) => ({
      journalId: String(r['journal_id']),
      amountSat: Number(r['amount_sat']),
    }));
  }
}

function xcashuOf(r: Row): XCashuRecord {
  return {
    journalId: String(r['journal_id']),
    requestId: String(r['request_id']),
    providerUrl: String(r['provider_url']),
    owner: String(r['owner']),
    state: String(r['state']) as XCashuRecord['state'],
    changeToken: r['change_token'] === null || r['change_token'] === undefined ? null : String(r['change_token']),
  };
}

function sessionOf(r: Row): SessionRecord {
  return {
    id: String(r['id']),
    providerUrl: String(r['provider_url']),
    mint: String(r['mint']),
    apiKey: String(r['api_key']),
    owner: String(r['owner']),
    state: String(r['state']) as SessionRecord['state'],
    depositedSat: Number(r['deposited_sat']),
    refundedSat: Number(r['refunded_sat']),
    updatedAt: Number(r['updated_at']),
  };
}
