/**
 * An agent's durable SQLite file (gateways' seen-store and spool, the notify outbox):
 * its directory created, WAL, and `synchronous = FULL`, so a committed write survives a
 * killed process and a power cut. ':memory:' gives an in-memory database (tests).
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export function openDurableSqlite(file: string, opts: { busyTimeoutMs?: number } = {}): Database.Database {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  if (opts.busyTimeoutMs !== undefined) db.pragma(`busy_timeout = ${opts.busyTimeoutMs}`);
  return db;
}
