/**
 * The PostgreSQL store: the same statements as SQLite (sql.ts) on one PostgreSQL
 * connection, for a broker whose database must outlive its machine, or several
 * brokers sharing one database.
 *
 * The `Store` contract is synchronous (the core is a single writer that keeps its
 * state in memory), so the connection is libpq's own synchronous API through
 * pg-native, the node-postgres family's libpq binding: a call returns once
 * PostgreSQL has committed it (synchronous_commit on), and a failure throws. A lost
 * connection makes the call that found it throw an error `isStorageUnavailable`
 * recognises (the broker refuses what it cannot store, with a `wait` error); the
 * next call connects again, at most once a second, never in the middle of a
 * transaction.
 *
 * The schema is the SQLite one, versions 1–4 with the same meaning, kept in the
 * one-row table `voxnet_schema`; migrations run under a transaction-scoped advisory
 * lock, so brokers starting together migrate once.
 */
import { createRequire } from 'node:module';
import type Client from 'pg-native';
import pg from 'pg';
import { STORAGE_UNAVAILABLE } from '../../common/storage-full.ts';
import { backfillIvorns, SqlStore, type MigrationOptions, type SqlArg, type SqlDriver } from './sql.ts';

/** Migration i takes the schema from version i to i + 1: the same steps as SQLite's (IF NOT EXISTS as there), in PostgreSQL's types. */
const MIGRATIONS: ((db: SqlDriver, opts: MigrationOptions) => void)[] = [
  (db) =>
    db.script(`
      CREATE TABLE IF NOT EXISTS nodes (
        id TEXT PRIMARY KEY, config TEXT NOT NULL, created BIGINT NOT NULL, creator TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS affiliations (
        node TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, jid TEXT NOT NULL, affiliation TEXT NOT NULL,
        PRIMARY KEY (node, jid));
      CREATE TABLE IF NOT EXISTS subscriptions (
        node TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, subid TEXT NOT NULL, jid TEXT NOT NULL,
        state TEXT NOT NULL, created BIGINT NOT NULL, PRIMARY KEY (node, subid));
      CREATE TABLE IF NOT EXISTS items (
        seq BIGSERIAL PRIMARY KEY,
        node TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, id TEXT NOT NULL,
        payload TEXT NOT NULL, publisher TEXT NOT NULL, published BIGINT NOT NULL);
      CREATE UNIQUE INDEX IF NOT EXISTS items_node_id ON items(node, id);
      CREATE INDEX IF NOT EXISTS items_node_seq ON items(node, seq);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `),
  // 2: subscription options (XEP-0060 §6.3), one JSON record per subscription.
  (db) => db.script(`ALTER TABLE subscriptions ADD COLUMN IF NOT EXISTS options TEXT NOT NULL DEFAULT '{}'`),
  // 3: release jobs of the access policy (broker-component/policy).
  (db) =>
    db.script(`
      CREATE TABLE IF NOT EXISTS policy_releases (
        source TEXT NOT NULL, item_id TEXT NOT NULL, target TEXT NOT NULL,
        published BIGINT NOT NULL, due_at BIGINT NOT NULL,
        payload TEXT NOT NULL, publisher TEXT NOT NULL,
        PRIMARY KEY (source, item_id, target));
      CREATE INDEX IF NOT EXISTS policy_releases_due ON policy_releases(due_at);
    `),
  // 4: the archive (items carry their IVORN; indexes by time, publisher and IVORN) and the event-thread index.
  (db, { ivornOf }) => {
    db.script(`
      ALTER TABLE items ADD COLUMN IF NOT EXISTS ivorn TEXT;
      CREATE INDEX IF NOT EXISTS items_node_time ON items(node, published, seq);
      CREATE INDEX IF NOT EXISTS items_node_publisher ON items(node, publisher, published, seq);
      CREATE INDEX IF NOT EXISTS items_node_ivorn ON items(node, ivorn) WHERE ivorn IS NOT NULL;
      CREATE TABLE IF NOT EXISTS thread_keys (key TEXT PRIMARY KEY, thread TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS thread_keys_thread ON thread_keys(thread);
      CREATE TABLE IF NOT EXISTS thread_entries (
        node TEXT NOT NULL, item TEXT NOT NULL, thread TEXT NOT NULL, published BIGINT NOT NULL, facts TEXT NOT NULL,
        PRIMARY KEY (node, item));
      CREATE INDEX IF NOT EXISTS thread_entries_thread ON thread_entries(thread);
      CREATE INDEX IF NOT EXISTS thread_entries_item ON thread_entries(item);
    `);
    backfillIvorns(db, ivornOf);
  },
];
export const PG_SCHEMA_VERSION = MIGRATIONS.length;

/** The advisory lock (pg_advisory_xact_lock) migrations hold: hashtext('voxnet schema'). */
const MIGRATION_LOCK = "hashtext('voxnet schema')";

/** The URL with its password (if any) replaced by "***": what logs and messages show. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    if (u.searchParams.has('password')) u.searchParams.set('password', '***');
    return u.toString();
  } catch {
    return url.replace(/(\/\/[^:/@]*:)[^@]*@/, '$1***@');
  }
}

/**
 * pg-native, loaded when a PostgreSQL store first connects (an optional dependency:
 * a broker on SQLite needs neither it nor libpq).
 */
let PgClient: typeof Client | undefined;
function clientClass(): typeof Client {
  if (PgClient) return PgClient;
  try {
    PgClient = createRequire(import.meta.url)('pg-native') as typeof Client;
  } catch (e) {
    throw new Error(
      `the postgres storage driver needs pg-native, built against libpq: install libpq-dev (Debian) and reinstall VOXnet with install scripts allowed for libpq (${(e as Error).message.split('\n')[0]})`,
    );
  }
  return PgClient;
}

/** bigint (count(*), BIGINT columns, BIGSERIAL) as a JavaScript number: ms timestamps and sequence numbers fit. */
const TYPES = { getTypeParser: (oid: number, format?: string) => (oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text')) };

/** `?` placeholders as `$1`, `$2`… (our statements have no `?` inside literals). */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

function text(v: SqlArg): string | null {
  return v === null ? null : String(v);
}

/** SQLSTATE classes that mean the server is gone or going: 08 (connection exception), 57P01–57P03 (shutdown, crash, starting). */
const UNAVAILABLE_STATES = /^(08|57P0[123])/;

export type PostgresStoreOptions = MigrationOptions & {
  /** Seconds to wait for a connection (libpq connect_timeout); 5 by default. */
  connectTimeout?: number;
};

class PgDriver implements SqlDriver {
  private client: Client | undefined;
  private prepared = new Map<string, string>();
  private named = 0;
  private depth = 0;
  private retryAt = 0;
  private connectedBefore = false;
  private lastFailure = '';
  /** Called after connecting again: what the store kept in memory about the database may be stale. */
  onReconnect: (() => void) | undefined;

  constructor(
    private readonly url: string,
    private readonly connectTimeout: number,
  ) {
    this.connect();
  }

  private conninfo(): string {
    try {
      const u = new URL(this.url);
      if (!u.searchParams.has('connect_timeout')) u.searchParams.set('connect_timeout', String(this.connectTimeout));
      if (!u.searchParams.has('application_name')) u.searchParams.set('application_name', 'voxnet-broker');
      return u.toString();
    } catch {
      return this.url;
    }
  }

  private connect(): void {
    const c = new (clientClass())({ types: TYPES });
    try {
      c.connectSync(this.conninfo());
      // Notices (CREATE … IF NOT EXISTS) would go to stderr.
      c.querySync('SET client_min_messages TO warning');
      // Durable when a call returns: never with synchronous_commit off.
      if (c.querySync('SHOW synchronous_commit')[0]?.synchronous_commit === 'off') c.querySync('SET synchronous_commit TO on');
    } catch (e) {
      // A failed connectSync finished the connection itself; a failure after it did not.
      finish(c);
      this.retryAt = Date.now() + 1000;
      this.lastFailure = (e as Error).message.trim();
      throw unavailable(`cannot connect to PostgreSQL at ${redactUrl(this.url)}: ${this.lastFailure}`);
    }
    this.client = c;
    this.prepared.clear();
    if (this.connectedBefore) this.onReconnect?.();
    this.connectedBefore = true;
  }

  /** The connection, connected again if it was lost (between transactions, at most once a second). */
  private conn(): Client {
    if (this.client) return this.client;
    if (this.depth > 0) throw unavailable(`lost the connection to PostgreSQL at ${redactUrl(this.url)} inside a transaction: ${this.lastFailure}`);
    if (Date.now() < this.retryAt) throw unavailable(`PostgreSQL at ${redactUrl(this.url)} is unavailable: ${this.lastFailure}`);
    this.connect();
    return this.client!;
  }

  /** An error of a statement, with its SQLSTATE as `code`; a lost connection is dropped and reported as unavailable. */
  private failure(c: Client, e: unknown): Error {
    const message = (e as Error).message.trim();
    const state = c.pq.resultErrorFields()?.sqlState;
    if (c.pq.transactionStatus() === 4 || (state && UNAVAILABLE_STATES.test(state))) {
      this.drop(message);
      return unavailable(`lost the connection to PostgreSQL at ${redactUrl(this.url)}: ${message}`);
    }
    return Object.assign(new Error(message), { code: state });
  }

  private drop(why: string): void {
    if (this.client) finish(this.client);
    this.client = undefined;
    this.lastFailure = why;
    this.retryAt = Date.now() + 1000;
  }

  private exec(sql: string, args: SqlArg[]): Record<string, unknown>[] {
    const c = this.conn();
    try {
      let name = this.prepared.get(sql);
      if (!name) {
        // Archive queries vary with their filters: keep the server's statements bounded.
        if (this.prepared.size >= 512) {
          c.querySync('DEALLOCATE ALL');
          this.prepared.clear();
        }
        name = `voxnet_${++this.named}`;
        c.prepareSync(name, numbered(sql), args.length);
        this.prepared.set(sql, name);
      }
      return c.executeSync(name, args.map(text));
    } catch (e) {
      throw this.failure(c, e);
    }
  }

  all<R>(sql: string, args: SqlArg[] = []): R[] {
    return this.exec(sql, args) as R[];
  }

  get<R>(sql: string, args: SqlArg[] = []): R | undefined {
    return this.exec(sql, args)[0] as R | undefined;
  }

  value<V>(sql: string, args: SqlArg[] = []): V | undefined {
    const row = this.exec(sql, args)[0];
    return row ? (Object.values(row)[0] as V) : undefined;
  }

  run(sql: string, args: SqlArg[] = []): number {
    this.exec(sql, args);
    return Number(this.client?.pq.cmdTuples()) || 0;
  }

  script(sql: string): void {
    this.command(sql);
  }

  private command(sql: string): void {
    const c = this.conn();
    try {
      c.querySync(sql);
    } catch (e) {
      throw this.failure(c, e);
    }
  }

  transaction<T>(fn: () => T): T {
    const savepoint = this.depth > 0 ? `voxnet_sp${this.depth}` : undefined;
    this.command(savepoint ? `SAVEPOINT ${savepoint}` : 'BEGIN');
    this.depth++;
    let r: T;
    try {
      r = fn();
    } catch (e) {
      this.depth--;
      this.rollback(savepoint);
      throw e;
    }
    this.depth--;
    try {
      this.command(savepoint ? `RELEASE SAVEPOINT ${savepoint}` : 'COMMIT');
    } catch (e) {
      this.rollback(savepoint);
      throw e;
    }
    return r;
  }

  /** Undo a transaction (or savepoint) that failed, when the connection still holds it. */
  private rollback(savepoint: string | undefined): void {
    const c = this.client;
    if (!c) return;
    const status = c.pq.transactionStatus();
    if (status !== 2 && status !== 3) return;
    try {
      c.querySync(savepoint ? `ROLLBACK TO SAVEPOINT ${savepoint}; RELEASE SAVEPOINT ${savepoint}` : 'ROLLBACK');
    } catch (e) {
      // The rollback found the connection gone: the server rolls back on its side.
      this.failure(c, e);
    }
  }

  close(): void {
    this.drop('closed');
    this.retryAt = Infinity;
  }
}

/**
 * Clients closed in the last second. libpq's finish() closes its socket watcher (a
 * libuv handle inside the native object) and lets the object be garbage-collected:
 * collected before the event loop completed the close, the process aborts
 * (uv__finish_close). Holding the client a while keeps it alive until then.
 */
const closing = new Set<Client>();

function finish(c: Client): void {
  try {
    c.pq.finish();
  } catch {
    /* already gone */
  }
  keepWhileClosing(c);
}

function keepWhileClosing(c: Client): void {
  closing.add(c);
  setTimeout(() => closing.delete(c), 1000).unref();
}

function unavailable(message: string): Error {
  return Object.assign(new Error(message), { code: STORAGE_UNAVAILABLE });
}

export class PostgresStore extends SqlStore {
  constructor(url: string, opts: PostgresStoreOptions = {}) {
    const driver = new PgDriver(url, opts.connectTimeout ?? 5);
    try {
      migrate(driver, opts);
    } catch (e) {
      driver.close();
      throw e;
    }
    super(driver);
    driver.onReconnect = () => this.forgetCounts();
  }
}

/**
 * Bring the database to PG_SCHEMA_VERSION: each migration runs once, in its own
 * transaction with the version bump, under the migration lock (a broker starting
 * meanwhile waits, then finds the new version).
 */
function migrate(db: SqlDriver, opts: MigrationOptions): void {
  for (;;) {
    const done = db.transaction(() => {
      db.all(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
      db.script('CREATE TABLE IF NOT EXISTS voxnet_schema (version INTEGER NOT NULL)');
      let version = db.value<number>('SELECT version FROM voxnet_schema');
      if (version === undefined) {
        db.run('INSERT INTO voxnet_schema (version) VALUES (0)');
        version = 0;
      }
      if (version > PG_SCHEMA_VERSION) throw new Error(`database schema ${version} is newer than this broker (${PG_SCHEMA_VERSION})`);
      if (version === PG_SCHEMA_VERSION) return true;
      MIGRATIONS[version]!(db, opts);
      db.run('UPDATE voxnet_schema SET version = ?', [version + 1]);
      return false;
    });
    if (done) return;
  }
}
