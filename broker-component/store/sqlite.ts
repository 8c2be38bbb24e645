/**
 * The SQLite store (better-sqlite3, WAL). Every write is one transaction; with
 * `synchronous = FULL` a returned call has reached the disk, so neither a killed
 * broker nor a power cut loses an acknowledged publish.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Affiliation, Item, NodeConfig, NodeRecord, Subscription, SubscriptionOptions } from '../../pubsub/types.ts';
import { subscriptionOptionsOf } from '../../pubsub/subscription-options.ts';
import { DEFAULT_NODE_CONFIG } from '../../pubsub/node-config.ts';
import type { ItemPage, ItemQuery, ReleaseJob, Store, StoredState } from './store.ts';
import { isStorageFull } from '../../common/storage-full.ts';

/** Migration i takes the schema from version i to i + 1. */
const MIGRATIONS: ((db: Database.Database) => void)[] = [
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
];
const SCHEMA_VERSION = MIGRATIONS.length;

export type SqliteStoreOptions = {
  /** 'full' (default): fsync on every commit. 'normal': survives a killed process, not a power cut. */
  synchronous?: 'full' | 'normal';
};

type ItemRow = { node: string; id: string; payload: string; publisher: string; published: number; seq: number };
type ReleaseRow = { source: string; item_id: string; target: string; published: number; due_at: number; payload: string; publisher: string };

const toJob = (r: ReleaseRow): ReleaseJob => ({
  source: r.source,
  itemId: r.item_id,
  target: r.target,
  published: r.published,
  dueAt: r.due_at,
  payload: r.payload,
  publisher: r.publisher,
});

export class SqliteStore implements Store {
  private db: Database.Database;
  private q: ReturnType<SqliteStore['prepare']>;

  constructor(dataDir: string, opts: SqliteStoreOptions = {}) {
    try {
      mkdirSync(dataDir, { recursive: true });
      this.db = new Database(join(dataDir, 'voxnet.sqlite'));
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
      this.db.pragma('foreign_keys = ON');
      this.migrate();
    } catch (e) {
      // Opening needs room too (the WAL index alone is 32 KiB): say so, not "disk I/O error".
      if (!isStorageFull(e)) throw e;
      const err = e as Error & { code: string };
      throw Object.assign(new Error(`the data directory ${dataDir} is full: cannot open its database (${err.code}: ${err.message}); free some space and start again`), { code: err.code });
    }
    this.q = this.prepare();
  }

  /**
   * Bring the database to SCHEMA_VERSION: each migration runs once, in order, in
   * one transaction with the version bump (a crash leaves the previous version).
   */
  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) throw new Error(`database schema ${version} is newer than this broker (${SCHEMA_VERSION})`);
    for (let v = version; v < SCHEMA_VERSION; v++) {
      this.db.transaction(() => {
        MIGRATIONS[v]!(this.db);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  private prepare() {
    const d = this.db;
    return {
      insertNode: d.prepare('INSERT INTO nodes (id, config, created, creator) VALUES (?, ?, ?, ?)'),
      updateConfig: d.prepare('UPDATE nodes SET config = ? WHERE id = ?'),
      deleteNode: d.prepare('DELETE FROM nodes WHERE id = ?'),
      setAff: d.prepare('INSERT INTO affiliations (node, jid, affiliation) VALUES (?, ?, ?) ON CONFLICT(node, jid) DO UPDATE SET affiliation = excluded.affiliation'),
      delAff: d.prepare('DELETE FROM affiliations WHERE node = ? AND jid = ?'),
      putSub: d.prepare('INSERT INTO subscriptions (node, subid, jid, state, created, options) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(node, subid) DO UPDATE SET state = excluded.state, jid = excluded.jid, options = excluded.options'),
      delSub: d.prepare('DELETE FROM subscriptions WHERE node = ? AND subid = ?'),
      delItem: d.prepare('DELETE FROM items WHERE node = ? AND id = ?'),
      insItem: d.prepare('INSERT INTO items (node, id, payload, publisher, published) VALUES (?, ?, ?, ?, ?)'),
      countItems: d.prepare('SELECT count(*) AS n FROM items WHERE node = ?').pluck(),
      oldestIds: d.prepare('SELECT id FROM items WHERE node = ? ORDER BY seq ASC LIMIT ?').pluck(),
      purge: d.prepare('DELETE FROM items WHERE node = ?'),
      getItem: d.prepare('SELECT * FROM items WHERE node = ? AND id = ?'),
      lastItem: d.prepare('SELECT * FROM items WHERE node = ? ORDER BY seq DESC LIMIT 1'),
      seqOf: d.prepare('SELECT seq FROM items WHERE node = ? AND id = ?').pluck(),
      // `floor`: the lowest seq of the result set (0: every item; see ItemQuery.newest).
      countFrom: d.prepare('SELECT count(*) FROM items WHERE node = ? AND seq >= ?').pluck(),
      nthNewestSeq: d.prepare('SELECT seq FROM items WHERE node = ? ORDER BY seq DESC LIMIT 1 OFFSET ?').pluck(),
      countBefore: d.prepare('SELECT count(*) FROM items WHERE node = ? AND seq >= ? AND seq < ?').pluck(),
      pageAfter: d.prepare('SELECT * FROM items WHERE node = ? AND seq > ? ORDER BY seq ASC LIMIT ?'),
      pageBefore: d.prepare('SELECT * FROM items WHERE node = ? AND seq >= ? AND seq < ? ORDER BY seq DESC LIMIT ?'),
      pageIndex: d.prepare('SELECT * FROM items WHERE node = ? AND seq >= ? ORDER BY seq ASC LIMIT ? OFFSET ?'),
      newest: d.prepare('SELECT * FROM items WHERE node = ? ORDER BY seq DESC LIMIT ?'),
      getMeta: d.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      setMeta: d.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      delMeta: d.prepare('DELETE FROM meta WHERE key = ?'),
      putRelease: d.prepare(
        `INSERT INTO policy_releases (source, item_id, target, published, due_at, payload, publisher) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(source, item_id, target) DO UPDATE SET published = excluded.published, due_at = excluded.due_at,
           payload = excluded.payload, publisher = excluded.publisher`,
      ),
      dueReleases: d.prepare('SELECT * FROM policy_releases WHERE due_at <= ? ORDER BY due_at, published LIMIT ?'),
      nextRelease: d.prepare('SELECT min(due_at) FROM policy_releases').pluck(),
      delRelease: d.prepare('DELETE FROM policy_releases WHERE source = ? AND item_id = ? AND target = ?'),
      delReleaseItem: d.prepare('DELETE FROM policy_releases WHERE source = ? AND item_id = ?'),
      delReleaseSource: d.prepare('DELETE FROM policy_releases WHERE source = ?'),
      releasePairs: d.prepare('SELECT DISTINCT source, target FROM policy_releases'),
      delReleasePair: d.prepare('DELETE FROM policy_releases WHERE source = ? AND target = ?'),
      rescheduleReleases: d.prepare('UPDATE policy_releases SET due_at = published + ? WHERE source = ? AND target = ?'),
      allReleases: d.prepare('SELECT * FROM policy_releases ORDER BY due_at'),
      countReleases: d.prepare('SELECT count(*) FROM policy_releases').pluck(),
    };
  }

  load(): StoredState {
    const nodes = (this.db.prepare('SELECT * FROM nodes').all() as { id: string; config: string; created: number; creator: string }[]).map(
      (r): NodeRecord => ({ id: r.id, config: decodeConfig(r.config), created: r.created, creator: r.creator }),
    );
    const affiliations = this.db.prepare('SELECT node, jid, affiliation FROM affiliations').all() as StoredState['affiliations'];
    const subscriptions = (this.db.prepare('SELECT node, subid, jid, state, created, options FROM subscriptions ORDER BY created').all() as (Omit<Subscription, 'options'> & { options: string })[]).map(
      (r): Subscription => ({ ...r, options: decodeOptions(r.options) }),
    );
    return { nodes, affiliations, subscriptions };
  }

  createNode(node: NodeRecord, owner: string): void {
    this.db.transaction(() => {
      this.q.insertNode.run(node.id, encodeConfig(node.config), node.created, node.creator);
      this.q.setAff.run(node.id, owner, 'owner');
    })();
  }

  updateNodeConfig(node: string, config: NodeConfig): void {
    this.q.updateConfig.run(encodeConfig(config), node);
  }

  deleteNode(node: string): void {
    this.q.deleteNode.run(node);
  }

  setAffiliation(node: string, jid: string, affiliation: Affiliation): void {
    if (affiliation === 'none') this.q.delAff.run(node, jid);
    else this.q.setAff.run(node, jid, affiliation);
  }

  putSubscription(sub: Subscription): void {
    this.q.putSub.run(sub.node, sub.subid, sub.jid, sub.state, sub.created, encodeOptions(sub.options));
  }

  deleteSubscription(node: string, subid: string): void {
    this.q.delSub.run(node, subid);
  }

  atomically<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  publishItems(node: string, items: Omit<Item, 'seq' | 'node'>[], maxItems: number) {
    return this.db.transaction(() => {
      const stored: Item[] = [];
      for (const it of items) {
        this.q.delItem.run(node, it.id);
        const r = this.q.insItem.run(node, it.id, it.payload, it.publisher, it.published);
        stored.push({ ...it, node, seq: Number(r.lastInsertRowid) });
      }
      return { stored, trimmed: this.trimInTx(node, maxItems) };
    })();
  }

  private trimInTx(node: string, maxItems: number): string[] {
    if (!Number.isFinite(maxItems)) return [];
    const n = this.q.countItems.get(node) as number;
    if (n <= maxItems) return [];
    const ids = this.q.oldestIds.all(node, n - maxItems) as string[];
    for (const id of ids) this.q.delItem.run(node, id);
    return ids;
  }

  trim(node: string, maxItems: number): string[] {
    return this.db.transaction(() => this.trimInTx(node, maxItems))();
  }

  retractItems(node: string, ids: string[]): string[] {
    return this.db.transaction(() => ids.filter((id) => this.q.delItem.run(node, id).changes > 0))();
  }

  purge(node: string): number {
    return this.q.purge.run(node).changes;
  }

  getItem(node: string, id: string): Item | undefined {
    return this.q.getItem.get(node, id) as ItemRow | undefined;
  }

  lastItem(node: string): Item | undefined {
    return this.q.lastItem.get(node) as ItemRow | undefined;
  }

  getItems(node: string, query: ItemQuery): ItemPage {
    let count = this.q.countItems.get(node) as number;
    if (query.ids) {
      const items = query.ids
        .map((id) => this.getItem(node, id))
        .filter((x): x is Item => !!x)
        .sort((a, b) => a.seq - b.seq);
      return { items, count, firstIndex: items.length ? (this.q.countBefore.get(node, 0, items[0]!.seq) as number) : 0 };
    }
    // The result set: every item, or the newest `newest`, in publication order.
    let floor = 0;
    if (query.newest !== undefined && query.newest < count) {
      if (query.newest <= 0) return { items: [], count: 0, firstIndex: 0 };
      floor = this.q.nthNewestSeq.get(node, query.newest - 1) as number;
      count = query.newest;
    }
    const max = Math.max(0, Math.min(query.max ?? count, count));
    let rows: ItemRow[];
    if (query.after !== undefined) {
      const seq = this.q.seqOf.get(node, query.after) as number | undefined;
      if (seq === undefined) return { items: [], count, firstIndex: 0, ...missingCursor(query.after) };
      rows = this.q.pageAfter.all(node, Math.max(seq, floor - 1), max) as ItemRow[];
    } else if (query.before !== undefined && query.before !== '') {
      const seq = this.q.seqOf.get(node, query.before) as number | undefined;
      if (seq === undefined) return { items: [], count, firstIndex: 0, ...missingCursor(query.before) };
      rows = (this.q.pageBefore.all(node, floor, seq, max) as ItemRow[]).reverse();
    } else if (query.index !== undefined) {
      rows = this.q.pageIndex.all(node, floor, max, query.index) as ItemRow[];
    } else {
      // No cursor, or <before/>: the last page, i.e. the newest `max` items, oldest first.
      rows = (this.q.newest.all(node, max) as ItemRow[]).reverse();
    }
    const firstIndex = rows.length ? (this.q.countBefore.get(node, floor, rows[0]!.seq) as number) : 0;
    return { items: rows, count, firstIndex };
  }

  // ---------------------------------------------------------------- release jobs

  putReleaseJobs(jobs: ReleaseJob[]): void {
    this.db.transaction(() => {
      for (const j of jobs) this.q.putRelease.run(j.source, j.itemId, j.target, j.published, j.dueAt, j.payload, j.publisher);
    })();
  }

  dueReleaseJobs(now: number, limit: number): ReleaseJob[] {
    return (this.q.dueReleases.all(now, limit) as ReleaseRow[]).map(toJob);
  }

  nextReleaseDue(): number | undefined {
    return (this.q.nextRelease.get() as number | null) ?? undefined;
  }

  deleteReleaseJob(j: Pick<ReleaseJob, 'source' | 'itemId' | 'target'>): void {
    this.q.delRelease.run(j.source, j.itemId, j.target);
  }

  deleteReleaseJobsOfItems(source: string, itemIds: string[]): number {
    return this.db.transaction(() => itemIds.reduce((n, id) => n + this.q.delReleaseItem.run(source, id).changes, 0))();
  }

  deleteReleaseJobsOfSource(source: string): number {
    return this.q.delReleaseSource.run(source).changes;
  }

  realignReleaseJobs(embargoMs: (source: string, target: string) => number | undefined): { source: string; target: string; cancelled: number }[] {
    const out: { source: string; target: string; cancelled: number }[] = [];
    this.db.transaction(() => {
      for (const { source, target } of this.q.releasePairs.all() as { source: string; target: string }[]) {
        const ms = embargoMs(source, target);
        if (ms === undefined) out.push({ source, target, cancelled: this.q.delReleasePair.run(source, target).changes });
        else this.q.rescheduleReleases.run(ms, source, target);
      }
    })();
    return out;
  }

  allReleaseJobs(): ReleaseJob[] {
    return (this.q.allReleases.all() as ReleaseRow[]).map(toJob);
  }

  countReleaseJobs(): number {
    return this.q.countReleases.get() as number;
  }

  getMeta(key: string): string | undefined {
    return this.q.getMeta.get(key) as string | undefined;
  }

  setMeta(key: string, value: string | undefined): void {
    if (value === undefined) this.q.delMeta.run(key);
    else this.q.setMeta.run(key, value);
  }

  close(): void {
    this.db.close();
  }
}

/** An RSM cursor naming an item that is not in the node: XEP-0059 §2.6 says item-not-found. */
function missingCursor(id: string): { missingCursor: string } {
  return { missingCursor: id };
}

/** Infinity (subscription_depth "all") survives JSON as "all". */
function encodeOptions(o: SubscriptionOptions): string {
  return JSON.stringify(o, (_k, v) => (v === Infinity ? 'all' : v));
}

function decodeOptions(s: string): SubscriptionOptions {
  const o = JSON.parse(s, (_k, v) => (v === 'all' ? Infinity : v)) as Partial<SubscriptionOptions>;
  return subscriptionOptionsOf(o);
}

function encodeConfig(c: NodeConfig): string {
  return JSON.stringify(c, (_k, v) => (v === Infinity ? 'max' : v));
}

function decodeConfig(s: string): NodeConfig {
  // Fields added after a node was stored take their default.
  const c = { ...DEFAULT_NODE_CONFIG, ...JSON.parse(s) };
  if (c.max_items === 'max') c.max_items = Infinity;
  return c;
}
