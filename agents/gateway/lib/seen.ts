/**
 * The seen-store: which messages a gateway has already bridged, in which
 * direction and from which origin, for a while (the rules over it live in
 * ledger.ts). It serves two jobs:
 *
 * - **dedupe**: a message arriving twice (Kafka redelivery, a VTP broker and its
 *   mirror) is bridged once;
 * - **loop prevention**: a message this VOXnet side sent out (direction 'out') is
 *   never bridged back in, and one that came in is never sent back out, even
 *   when two gateways point at each other. Several gateways on one machine share
 *   one file (SQLite WAL: several processes may use it).
 *
 * Keys are `dedupeKey()` strings (IVORN or Hopskotch _id). Entries expire after
 * `ttlMs` (default 7 days); expired entries are removed lazily and by `prune()`.
 * `mark` is durable when it returns (synchronous=FULL), so mark before you
 * advance a cursor and a crash can only cause a repeat, which the deterministic
 * item id absorbs.
 */
import type Database from 'better-sqlite3';
import { openDurableSqlite } from '../../../common/sqlite-file.ts';

export type Direction = 'in' | 'out';

export type SeenEntry = {
  key: string;
  direction: Direction;
  /** Where the message came from: a gateway id, `kafka://host/topic`, `vtp://host:port`, a node. */
  origin: string;
  /** When it was marked (ms since the epoch). */
  at: number;
  expiresAt: number;
};

export type SeenStoreOptions = {
  /** Default lifetime of an entry (default 7 days). */
  ttlMs?: number;
  /** Clock (tests). */
  now?: () => number;
};

export const DEFAULT_SEEN_TTL_MS = 7 * 24 * 3600_000;

export class SeenStore {
  private readonly db: Database.Database;
  private readonly ttlMs: number;
  private readonly now: () => number;
  private readonly getStmt: Database.Statement;
  private readonly putStmt: Database.Statement;
  private readonly pruneStmt: Database.Statement;

  /** `file` ':memory:' keeps it in memory (tests, one-shot tools). */
  constructor(readonly file: string, opts: SeenStoreOptions = {}) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_SEEN_TTL_MS;
    this.now = opts.now ?? Date.now;
    this.db = openDurableSqlite(file, { busyTimeoutMs: 5000 });
    this.db.exec(`CREATE TABLE IF NOT EXISTS seen (
      key TEXT PRIMARY KEY, direction TEXT NOT NULL, origin TEXT NOT NULL, at INTEGER NOT NULL, expires_at INTEGER NOT NULL)`);
    this.db.exec('CREATE INDEX IF NOT EXISTS seen_expiry ON seen (expires_at)');
    this.getStmt = this.db.prepare('SELECT key, direction, origin, at, expires_at AS expiresAt FROM seen WHERE key = ? AND expires_at > ?');
    this.putStmt = this.db.prepare(
      'INSERT INTO seen (key, direction, origin, at, expires_at) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT(key) DO UPDATE SET expires_at = excluded.expires_at',
    );
    this.pruneStmt = this.db.prepare('DELETE FROM seen WHERE expires_at <= ?');
  }

  /** The live entry for a key, or undefined (never seen, or expired). */
  get(key: string): SeenEntry | undefined {
    return this.getStmt.get(key, this.now()) as SeenEntry | undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /**
   * Remember a key. The first direction and origin stay (a message that came in
   * stays 'in' when the outbound side later sees it too); the expiry is renewed.
   * Durable on return. Returns the entry as stored.
   */
  mark(key: string, direction: Direction, origin: string, ttlMs = this.ttlMs): SeenEntry {
    const at = this.now();
    const existing = this.get(key);
    this.putStmt.run(key, existing?.direction ?? direction, existing?.origin ?? origin, existing?.at ?? at, at + ttlMs);
    return this.get(key)!;
  }

  /**
   * Run `fn` (marks, reads) as one transaction: its marks reach the disk together
   * with one sync, durable when `batch` returns; an exception in `fn` keeps none.
   * `{ sync: false }`: committed (seen at once by every process sharing the file, kept
   * if this process is killed) without waiting for the disk; the next synced commit
   * makes it durable too (WAL frames are synced in order). For marks that a later
   * synced batch follows before anything depends on them surviving a power cut.
   */
  batch<T>(fn: () => T, opts: { sync?: boolean } = {}): T {
    if (opts.sync !== false) return this.db.transaction(fn)();
    this.db.pragma('synchronous = NORMAL');
    try {
      return this.db.transaction(fn)();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  /** Remove expired entries; returns how many. */
  prune(): number {
    return this.pruneStmt.run(this.now()).changes;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
