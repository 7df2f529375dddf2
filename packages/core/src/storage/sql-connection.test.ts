import { describe, expect, it } from 'vitest';
import { isPostgresUrl, numberPlaceholders, redactLocation } from './sql-connection.ts';

describe('SQL for PostgreSQL', () => {
  it('numbers ? placeholders, leaving those in strings, quoted names and comments alone', () => {
    expect(numberPlaceholders('SELECT * FROM t WHERE a = ? AND b IN (?, ?)')).toBe('SELECT * FROM t WHERE a = $1 AND b IN ($2, $3)');
    expect(numberPlaceholders("SELECT '?', 'it''s ?', \"col?\" FROM t WHERE a = ? -- why?\nAND b = ?")).toBe("SELECT '?', 'it''s ?', \"col?\" FROM t WHERE a = $1 -- why?\nAND b = $2");
  });

  it('tells a postgres:// or postgresql:// URL from a file path, and masks its password', () => {
    expect(isPostgresUrl('postgres://u@h/db')).toBe(true);
    expect(isPostgresUrl('POSTGRESQL://u@h/db')).toBe(true);
    expect(isPostgresUrl('/home/me/postgres://x.db')).toBe(false);
    expect(isPostgresUrl('wallet.db')).toBe(false);
    expect(redactLocation('postgres://agent:s3cret@db.example:5432/books')).toBe('postgres://agent:***@db.example:5432/books');
    expect(redactLocation('postgres://agent@db.example/books')).toBe('postgres://agent@db.example/books');
    expect(redactLocation('/tmp/wallet.db')).toBe('/tmp/wallet.db');
    expect(redactLocation('postgres://db.example/books?password=s3cret&sslmode=require')).toBe('postgres://db.example/books?password=***&sslmode=require');
    expect(redactLocation('mysql://u:s3cret@h/db')).toBe('mysql://u:***@h/db');
  });
});
