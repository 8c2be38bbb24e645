/**
 * The SQLite store (better-sqlite3, WAL): the embedded default. Every write is one
 * transaction; with `synchronous = FULL` a returned call has reached the disk, so
 * neither a killed broker nor a power cut loses an acknowledged publish. The
 * statements are sql.ts's, shared with the PostgreSQL store.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isStorageFull } from '../../common/storage-full.ts';
import { backfillIvorns, SqlStore, type MigrationOptions, type SqlArg, type SqlDriver } from './sql.ts';

export { ARCHIVE_COUNT_LIMIT } from './sql.ts';

/** Migration i takes the schema from version i to i + 1. */
const MIGRATIONS: ((db: Database.Database, opts: MigrationOptions) => void)[] = [
  (db) =>
    db.exec(`
      CREATE TABLE IF NOT EXISTS nodes (
        id TEXT PRIMARY KEY, config TEXT NOT NULL, created INTEGER NOT NULL, creator TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS affiliations (
        node TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, jid TEXT NOT NULL, affiliation TEXT NOT NULL,
        PRIMARY KEY (node, jid));
      CREATE TABLE IF NOT EXISTS subscriptions (
        node TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, subid TEXT NOT NULL, jid TEXT NOT NULL,
        state TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (node, subid));
      CREATE TABLE IF NOT EXISTS items (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        node TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, id TEXT NOT NULL,
        payload TEXT NOT NULL, publisher TEXT NOT NULL, published INTEGER NOT NULL);
      CREATE UNIQUE INDEX IF NOT EXISTS items_node_id ON items(node, id);
      CREATE INDEX IF NOT EXISTS items_node_seq ON items(node, seq);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `),
  // 2: subscription options (XEP-0060 §6.3), one JSON record per subscription; fields
  // added later read as their defaults, so new options need no migration.
  (db) => db.exec(`ALTER TABLE subscriptions ADD COLUMN options TEXT NOT NULL DEFAULT '{}'`),
  // 3: release jobs of the access policy (broker-component/policy); brokers before
  // schema 3 created this table themselves, hence IF NOT EXISTS.
  (db) =>
    db.exec(`
      CREATE TABLE IF NOT EXISTS policy_releases (
        source TEXT NOT NULL, item_id TEXT NOT NULL, target TEXT NOT NULL,
        published INTEGER NOT NULL, due_at INTEGER NOT NULL,
        payload TEXT NOT NULL, publisher TEXT NOT NULL,
        PRIMARY KEY (source, item_id, target));
      CREATE INDEX IF NOT EXISTS policy_releases_due ON policy_releases(due_at);
    `),
  // 4: the archive. Items carry their IVORN; indexes serve archive queries by time, by
  // publisher and by IVORN in publication order (time, then seq), so a query costs a
  // seek plus its page however many items the node holds. The IVORNs of items stored
  // before are filled in.
  (db, { ivornOf }) => {
    db.exec(`
      ALTER TABLE items ADD COLUMN ivorn TEXT;
      CREATE INDEX IF NOT EXISTS items_node_time ON items(node, published, seq);
      CREATE INDEX IF NOT EXISTS items_node_publisher ON items(node, publisher, published, seq);
      CREATE INDEX IF NOT EXISTS items_node_ivorn ON items(node, ivorn) WHERE ivorn IS NOT NULL;
      CREATE TABLE IF NOT EXISTS thread_keys (key TEXT PRIMARY KEY, thread TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS thread_keys_thread ON thread_keys(thread);
      CREATE TABLE IF NOT EXISTS thread_entries (
        node TEXT NOT NULL, item TEXT NOT NULL, thread TEXT NOT NULL, published INTEGER NOT NULL, facts TEXT NOT NULL,
        PRIMARY KEY (node, item));
      CREATE INDEX IF NOT EXISTS thread_entries_thread ON thread_entries(thread);
      CREATE INDEX IF NOT EXISTS thread_entries_item ON thread_entries(item);
    `);
    backfillIvorns(sqliteDriver(db), ivornOf);
  },
];
const SCHEMA_VERSION = MIGRATIONS.length;

export type SqliteStoreOptions = MigrationOptions & {
  /** 'full' (default): fsync on every commit. 'normal': survives a killed process, not a power cut. */
  synchronous?: 'full' | 'normal';
};

/** better-sqlite3 as a SqlDriver: statements prepared once per SQL text. */
function sqliteDriver(db: Database.Database): SqlDriver {
  // Two caches: rows as objects, and first values (pluck).
  const rows = new Map<string, Database.Statement>();
  const values = new Map<string, Database.Statement>();
  const st = (cache: Map<string, Database.Statement>, sql: string): Database.Statement => {
    let s = cache.get(sql);
    if (!s) {
      // Archive queries vary with their filters: keep the cache bounded.
      if (cache.size > 512) cache.clear();
      s = db.prepare(sql);
      if (cache === values) s.pluck();
      cache.set(sql, s);
    }
    return s;
  };
  return {
    all: <R>(sql: string, args: SqlArg[] = []) => st(rows, sql).all(...args) as R[],
    get: <R>(sql: string, args: SqlArg[] = []) => st(rows, sql).get(...args) as R | undefined,
    value: <V>(sql: string, args: SqlArg[] = []) => st(values, sql).get(...args) as V | undefined,
    run: (sql: string, args: SqlArg[] = []) => st(rows, sql).run(...args).changes,
    script: (sql: string) => void db.exec(sql),
    transaction: <T>(fn: () => T): T => db.transaction(fn)(),
    close: () => db.close(),
  };
}

export class SqliteStore extends SqlStore {
  constructor(dataDir: string, opts: SqliteStoreOptions = {}) {
    let db: Database.Database;
    try {
      mkdirSync(dataDir, { recursive: true });
      db = new Database(join(dataDir, 'voxnet.sqlite'));
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
      db.pragma('foreign_keys = ON');
      migrate(db, opts);
    } catch (e) {
      // Opening needs room too (the WAL index alone is 32 KiB): say so, not "disk I/O error".
      if (!isStorageFull(e)) throw e;
      const err = e as Error & { code: string };
      throw Object.assign(new Error(`the data directory ${dataDir} is full: cannot open its database (${err.code}: ${err.message}); free some space and start again`), { code: err.code });
    }
    super(sqliteDriver(db));
  }
}

/**
 * Bring the database to SCHEMA_VERSION: each migration runs once, in order, in
 * one transaction with the version bump (a crash leaves the previous version).
 */
function migrate(db: Database.Database, opts: MigrationOptions): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) throw new Error(`database schema ${version} is newer than this broker (${SCHEMA_VERSION})`);
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      MIGRATIONS[v]!(db, opts);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}
