/**
 * The store contract tests run once per driver: SQLite in a temporary folder, and
 * PostgreSQL in a fresh database of a real server (test/helpers/postgres.ts, one
 * server per test file). A "place" is where one broker's data lives (a folder, a
 * database): opening it again is what a restart sees.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll } from 'vitest';
import { SqliteStore } from '../../broker-component/store/sqlite.ts';
import { PostgresStore } from '../../broker-component/store/postgres.ts';
import type { Store } from '../../broker-component/store/store.ts';
import { postgresAvailable, POSTGRES_MISSING, startPostgres, type Postgres } from './postgres.ts';

export type StoreOpenOptions = { ivornOf?: (payload: string) => string | undefined };

export type StorePlace = {
  /** Open the store here (again: a restart). */
  open(opts?: StoreOpenOptions): Store;
  /** A number read straight from the database (not through the store), e.g. a count(*). */
  number(sql: string): number;
  /** The schema version the database records. */
  schemaVersion(): number;
  /**
   * Make here a database as a schema-1 broker wrote it (nodes, affiliations,
   * subscriptions without options, items without IVORNs, meta), optionally with the
   * release table the policy used to create itself, then run `inserts` (portable SQL).
   */
  schema1(opts: { policyReleases?: boolean; inserts?: string }): void;
};

export type StoreDriver = {
  name: 'sqlite' | 'postgres';
  /** Why this driver's tests are skipped here (undefined: they run). */
  skip?: string;
  /** A fresh, empty place; removed by `cleanUp`. */
  place(): Promise<StorePlace>;
};

const SCHEMA1_SQLITE = `
  CREATE TABLE nodes (id TEXT PRIMARY KEY, config TEXT NOT NULL, created INTEGER NOT NULL, creator TEXT NOT NULL);
  CREATE TABLE affiliations (node TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, jid TEXT NOT NULL, affiliation TEXT NOT NULL, PRIMARY KEY (node, jid));
  CREATE TABLE subscriptions (node TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, subid TEXT NOT NULL, jid TEXT NOT NULL, state TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (node, subid));
  CREATE TABLE items (seq INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, id TEXT NOT NULL, payload TEXT NOT NULL, publisher TEXT NOT NULL, published INTEGER NOT NULL);
  CREATE UNIQUE INDEX items_node_id ON items(node, id);
  CREATE INDEX items_node_seq ON items(node, seq);
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`;

const SCHEMA1_POSTGRES = `
  CREATE TABLE nodes (id TEXT PRIMARY KEY, config TEXT NOT NULL, created BIGINT NOT NULL, creator TEXT NOT NULL);
  CREATE TABLE affiliations (node TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, jid TEXT NOT NULL, affiliation TEXT NOT NULL, PRIMARY KEY (node, jid));
  CREATE TABLE subscriptions (node TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, subid TEXT NOT NULL, jid TEXT NOT NULL, state TEXT NOT NULL, created BIGINT NOT NULL, PRIMARY KEY (node, subid));
  CREATE TABLE items (seq BIGSERIAL PRIMARY KEY, node TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, id TEXT NOT NULL, payload TEXT NOT NULL, publisher TEXT NOT NULL, published BIGINT NOT NULL);
  CREATE UNIQUE INDEX items_node_id ON items(node, id);
  CREATE INDEX items_node_seq ON items(node, seq);
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE voxnet_schema (version INTEGER NOT NULL);
  INSERT INTO voxnet_schema VALUES (1);`;

const RELEASES1 = (int: string) => `
  CREATE TABLE policy_releases (source TEXT NOT NULL, item_id TEXT NOT NULL, target TEXT NOT NULL, published ${int} NOT NULL,
    due_at ${int} NOT NULL, payload TEXT NOT NULL, publisher TEXT NOT NULL, PRIMARY KEY (source, item_id, target));`;

/**
 * The drivers, each with its places. Call at the top of a test file: the PostgreSQL
 * server starts in beforeAll, and every place is removed in afterAll.
 */
export function storeDrivers(): StoreDriver[] {
  const dirs: string[] = [];
  let server: Postgres | undefined;
  const pgSkip = postgresAvailable() ? undefined : POSTGRES_MISSING;
  beforeAll(async () => {
    if (!pgSkip) server = await startPostgres();
  });
  afterAll(async () => {
    await server?.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  const sqlite: StoreDriver = {
    name: 'sqlite',
    async place() {
      const dir = mkdtempSync(join(tmpdir(), 'voxnet-store-'));
      dirs.push(dir);
      const file = join(dir, 'voxnet.sqlite');
      const withDb = <T>(fn: (db: Database.Database) => T): T => {
        const db = new Database(file);
        try {
          return fn(db);
        } finally {
          db.close();
        }
      };
      return {
        // synchronous 'normal': these tests kill no machine; the broker's default stays 'full'.
        open: (opts) => new SqliteStore(dir, { synchronous: 'normal', ...opts }),
        number: (sql) => withDb((db) => Number(db.prepare(sql).pluck().get())),
        schemaVersion: () => withDb((db) => db.pragma('user_version', { simple: true }) as number),
        schema1: ({ policyReleases, inserts }) =>
          withDb((db) => db.exec(`${SCHEMA1_SQLITE}${policyReleases ? RELEASES1('INTEGER') : ''}${inserts ?? ''}; PRAGMA user_version = 1;`)),
      };
    },
  };

  const postgres: StoreDriver = {
    name: 'postgres',
    skip: pgSkip,
    async place() {
      const url = await server!.createDatabase();
      const database = url.slice(url.lastIndexOf('/') + 1);
      const psql = (sql: string) => server!.psql(sql, database).trim();
      return {
        open: (opts) => new PostgresStore(url, opts),
        number: (sql) => Number(psql(sql)),
        schemaVersion: () => Number(psql('SELECT version FROM voxnet_schema')),
        schema1: ({ policyReleases, inserts }) => void psql(`${SCHEMA1_POSTGRES}${policyReleases ? RELEASES1('BIGINT') : ''}${inserts ?? ''}`),
      };
    },
  };
  return [sqlite, postgres];
}
