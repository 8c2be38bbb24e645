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
import type { ArchivePage, ArchiveQuery, ItemPage, ItemQuery, ReleaseJob, Store, StoredState, ThreadEntryRow, ThreadIndexOp } from './store.ts';
import { isStorageFull } from '../../common/storage-full.ts';

type MigrationOptions = { ivornOf?: (payload: string) => string | undefined };

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
    if (!ivornOf) return;
    const set = db.prepare('UPDATE items SET ivorn = ? WHERE seq = ?');
    const batch = db.prepare('SELECT seq, payload FROM items WHERE seq > ? ORDER BY seq LIMIT 1000');
    for (let last = -1; ; ) {
      const rows = batch.all(last) as { seq: number; payload: string }[];
      for (const r of rows) {
        const iv = ivornOf(r.payload);
        if (iv) set.run(iv, r.seq);
      }
      if (rows.length < 1000) break;
      last = rows[rows.length - 1]!.seq;
    }
  },
];
const SCHEMA_VERSION = MIGRATIONS.length;

export type SqliteStoreOptions = {
  /** 'full' (default): fsync on every commit. 'normal': survives a killed process, not a power cut. */
  synchronous?: 'full' | 'normal';
  /** The IVORN of a stored payload, to fill the archive's IVORN index of items stored before it existed (schema 1). */
  ivornOf?: (payload: string) => string | undefined;
};

/** Counting a result set (RSM <count/>, <first index>) stops beyond this many items: a huge count is never worth a full scan. */
export const ARCHIVE_COUNT_LIMIT = 10_000;

type ItemRow = { node: string; id: string; payload: string; publisher: string; published: number; seq: number; ivorn: string | null };

function toItem(r: ItemRow): Item {
  const it: Item = { node: r.node, id: r.id, payload: r.payload, publisher: r.publisher, published: r.published, seq: r.seq };
  if (r.ivorn !== null) it.ivorn = r.ivorn;
  return it;
}
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
      this.migrate(opts);
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
  private migrate(opts: MigrationOptions): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) throw new Error(`database schema ${version} is newer than this broker (${SCHEMA_VERSION})`);
    for (let v = version; v < SCHEMA_VERSION; v++) {
      this.db.transaction(() => {
        MIGRATIONS[v]!(this.db, opts);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  private prepare() {
    const d = this.db;
    return {
      itemsAfter: d.prepare('SELECT * FROM items WHERE seq > ? ORDER BY seq LIMIT ?'),
      threadOfKey: d.prepare('SELECT thread FROM thread_keys WHERE key = ?').pluck(),
      threadOfItem: d.prepare('SELECT thread FROM thread_entries WHERE item = ? LIMIT 1').pluck(),
      threadEntries: d.prepare('SELECT node, item, published, facts FROM thread_entries WHERE thread = ?'),
      putThreadKey: d.prepare('INSERT INTO thread_keys (key, thread) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET thread = excluded.thread'),
      moveThreadKeys: d.prepare('UPDATE thread_keys SET thread = ? WHERE thread = ?'),
      moveThreadEntries: d.prepare('UPDATE thread_entries SET thread = ? WHERE thread = ?'),
      putThreadEntry: d.prepare(
        `INSERT INTO thread_entries (node, item, thread, published, facts) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(node, item) DO UPDATE SET thread = excluded.thread, published = excluded.published, facts = excluded.facts`,
      ),
      delThreadEntry: d.prepare('DELETE FROM thread_entries WHERE node = ? AND item = ?'),
      delThreadEntries: d.prepare('DELETE FROM thread_entries WHERE node = ?'),
      insertNode: d.prepare('INSERT INTO nodes (id, config, created, creator) VALUES (?, ?, ?, ?)'),
      updateConfig: d.prepare('UPDATE nodes SET config = ? WHERE id = ?'),
      deleteNode: d.prepare('DELETE FROM nodes WHERE id = ?'),
      setAff: d.prepare('INSERT INTO affiliations (node, jid, affiliation) VALUES (?, ?, ?) ON CONFLICT(node, jid) DO UPDATE SET affiliation = excluded.affiliation'),
      delAff: d.prepare('DELETE FROM affiliations WHERE node = ? AND jid = ?'),
      putSub: d.prepare('INSERT INTO subscriptions (node, subid, jid, state, created, options) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(node, subid) DO UPDATE SET state = excluded.state, jid = excluded.jid, options = excluded.options'),
      delSub: d.prepare('DELETE FROM subscriptions WHERE node = ? AND subid = ?'),
      delItem: d.prepare('DELETE FROM items WHERE node = ? AND id = ?'),
      insItem: d.prepare('INSERT INTO items (node, id, payload, publisher, published, ivorn) VALUES (?, ?, ?, ?, ?, ?)'),
      posOf: d.prepare('SELECT published, seq FROM items WHERE node = ? AND id = ?'),
      expired: d.prepare('SELECT id FROM items WHERE node = ? AND published < ? ORDER BY published, seq LIMIT 10000').pluck(),
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
      countFromCapped: d.prepare(`SELECT count(*) FROM (SELECT 1 FROM items WHERE node = ? AND seq >= ? LIMIT ${ARCHIVE_COUNT_LIMIT + 1})`).pluck(),
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
    this.counts.delete(node);
  }

  /**
   * Items per node, counted once and then kept up to date by every write of this
   * store (the only writer of the items table), applied after each transaction
   * commits: RSM counts stay exact without counting a node of a million items.
   */
  private readonly counts = new Map<string, number>();

  private countOf(node: string): number {
    let n = this.counts.get(node);
    if (n === undefined) this.counts.set(node, (n = this.q.countItems.get(node) as number));
    return n;
  }

  private adjust(node: string, delta: number): void {
    const n = this.counts.get(node);
    if (n !== undefined) this.counts.set(node, n + delta);
  }

  /** Position of the item with this seq among the node's items from `floor` on, counting from the near end. */
  private indexOf(node: string, floor: number, seq: number, count: number): number {
    const fromHere = this.q.countFromCapped.get(node, seq) as number;
    if (fromHere <= ARCHIVE_COUNT_LIMIT) return count - fromHere;
    return this.q.countBefore.get(node, floor, seq) as number;
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
    const before = this.countOf(node);
    const out = this.db.transaction(() => {
      const stored: Item[] = [];
      let delta = 0;
      for (const it of items) {
        delta -= this.q.delItem.run(node, it.id).changes;
        const r = this.q.insItem.run(node, it.id, it.payload, it.publisher, it.published, it.ivorn ?? null);
        delta++;
        stored.push({ ...it, node, seq: Number(r.lastInsertRowid) });
      }
      const trimmed = this.trimInTx(node, maxItems, before + delta);
      return { stored, trimmed, delta: delta - trimmed.length };
    })();
    this.adjust(node, out.delta);
    return { stored: out.stored, trimmed: out.trimmed };
  }

  private trimInTx(node: string, maxItems: number, n: number): string[] {
    if (!Number.isFinite(maxItems)) return [];
    if (n <= maxItems) return [];
    const ids = this.q.oldestIds.all(node, n - maxItems) as string[];
    for (const id of ids) this.q.delItem.run(node, id);
    return ids;
  }

  trim(node: string, maxItems: number): string[] {
    const n = this.countOf(node);
    const trimmed = this.db.transaction(() => this.trimInTx(node, maxItems, n))();
    this.adjust(node, -trimmed.length);
    return trimmed;
  }

  retractItems(node: string, ids: string[]): string[] {
    const removed = this.db.transaction(() => ids.filter((id) => this.q.delItem.run(node, id).changes > 0))();
    this.adjust(node, -removed.length);
    return removed;
  }

  purge(node: string): number {
    const n = this.q.purge.run(node).changes;
    this.counts.set(node, 0);
    return n;
  }

  getItem(node: string, id: string): Item | undefined {
    const r = this.q.getItem.get(node, id) as ItemRow | undefined;
    return r && toItem(r);
  }

  lastItem(node: string): Item | undefined {
    const r = this.q.lastItem.get(node) as ItemRow | undefined;
    return r && toItem(r);
  }

  expire(node: string, cutoff: number): string[] {
    const removed: string[] = [];
    // In transactions of at most 10,000 items, so publishes are never held up long.
    for (;;) {
      const ids = this.db.transaction(() => {
        const batch = this.q.expired.all(node, cutoff) as string[];
        for (const id of batch) this.q.delItem.run(node, id);
        return batch;
      })();
      removed.push(...ids);
      this.adjust(node, -ids.length);
      if (ids.length < 10_000) return removed;
    }
  }

  queryArchive(node: string, q: ArchiveQuery): ArchivePage {
    // The result set: every filter and bound, in (published, seq) order.
    const where: string[] = ['node = ?'];
    const args: unknown[] = [node];
    const shape: string[] = [];
    const bound = (id: string, op: '>' | '<'): string | undefined => {
      const p = this.q.posOf.get(node, id) as { published: number; seq: number } | undefined;
      if (!p) return id;
      where.push(`(published, seq) ${op} (?, ?)`);
      args.push(p.published, p.seq);
      shape.push(op);
      return undefined;
    };
    if (q.start !== undefined) where.push('published >= ?'), args.push(q.start), shape.push('s');
    if (q.end !== undefined) where.push('published <= ?'), args.push(q.end), shape.push('e');
    if (q.publisher !== undefined) where.push('publisher = ?'), args.push(q.publisher), shape.push('p');
    if (q.ivorn !== undefined) where.push('ivorn = ?'), args.push(q.ivorn), shape.push('i');
    if (q.ids) {
      where.push(`id IN (${q.ids.map(() => '?').join(', ')})`);
      args.push(...q.ids);
      shape.push(`d${q.ids.length}`);
    }
    for (const [id, op] of [[q.afterId, '>'], [q.beforeId, '<']] as const) {
      if (id === undefined) continue;
      const missing = bound(id, op);
      if (missing !== undefined) return { items: [], complete: true, missingCursor: missing };
    }
    const filter = where.join(' AND ');
    const filterArgs = [...args];
    const filterShape = shape.join('');
    // The page: after / before a cursor inside the result set, or the first / last page.
    const backward = q.before !== undefined;
    const cursor = q.after ?? (q.before || undefined);
    if (cursor !== undefined) {
      const missing = bound(cursor, backward ? '<' : '>');
      if (missing !== undefined) return { items: [], complete: true, missingCursor: missing };
    }
    const order = backward ? 'DESC' : 'ASC';
    const sql = `SELECT * FROM items WHERE ${where.join(' AND ')} ORDER BY published ${order}, seq ${order} LIMIT ?`;
    const rows = this.cached(`page${order}${shape.join('')}`, sql).all(...args, q.max + 1) as ItemRow[];
    const complete = rows.length <= q.max;
    const page = rows.slice(0, q.max);
    if (backward) page.reverse();
    const items = page.map(toItem);
    // RSM count and index. The whole node: its count is kept, the index counted from the near end.
    if (filterShape === '') {
      const total = this.countOf(node);
      if (!items.length) return { items, complete, count: total };
      const f = items[0]!;
      const fromHereSql = `SELECT count(*) FROM (SELECT 1 FROM items WHERE node = ? AND (published, seq) >= (?, ?) LIMIT ${ARCHIVE_COUNT_LIMIT + 1})`;
      const fromHere = this.cached('fromHere', fromHereSql).pluck().get(node, f.published, f.seq) as number;
      if (fromHere <= ARCHIVE_COUNT_LIMIT) return { items, complete, count: total, firstIndex: total - fromHere };
      const beforeSql = `SELECT count(*) FROM (SELECT 1 FROM items WHERE node = ? AND (published, seq) < (?, ?) LIMIT ${ARCHIVE_COUNT_LIMIT + 1})`;
      const before = this.cached('beforeCapped', beforeSql).pluck().get(node, f.published, f.seq) as number;
      return before <= ARCHIVE_COUNT_LIMIT ? { items, complete, count: total, firstIndex: before } : { items, complete, count: total };
    }
    // A filtered result set: counted when small enough.
    const countSql = `SELECT count(*) FROM (SELECT 1 FROM items WHERE ${filter} LIMIT ${ARCHIVE_COUNT_LIMIT + 1})`;
    const count = this.cached(`count${filterShape}`, countSql).pluck().get(...filterArgs) as number;
    if (count > ARCHIVE_COUNT_LIMIT) return { items, complete };
    let firstIndex: number | undefined;
    if (items.length) {
      const f = items[0]!;
      const beforeSql = `SELECT count(*) FROM items WHERE ${filter} AND (published, seq) < (?, ?)`;
      firstIndex = this.cached(`before${filterShape}`, beforeSql).pluck().get(...filterArgs, f.published, f.seq) as number;
    }
    return { items, complete, count, firstIndex };
  }

  private stmts = new Map<string, Database.Statement>();

  /** Archive statements by query shape (which filters are present), prepared once. */
  private cached(key: string, sql: string): Database.Statement {
    let st = this.stmts.get(key);
    if (!st) {
      if (this.stmts.size > 256) this.stmts.clear();
      st = this.db.prepare(sql);
      this.stmts.set(key, st);
    }
    return st;
  }

  getItems(node: string, query: ItemQuery): ItemPage {
    let count = this.countOf(node);
    if (query.ids) {
      const items = query.ids
        .map((id) => this.getItem(node, id))
        .filter((x): x is Item => !!x)
        .sort((a, b) => a.seq - b.seq);
      return { items, count, firstIndex: items.length ? this.indexOf(node, 0, items[0]!.seq, count) : 0 };
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
    const firstIndex = rows.length ? this.indexOf(node, floor, rows[0]!.seq, count) : 0;
    return { items: rows.map(toItem), count, firstIndex };
  }

  // ---------------------------------------------------------------- event-thread index

  itemsAfter(seq: number, limit: number): Item[] {
    return (this.q.itemsAfter.all(seq, limit) as ItemRow[]).map(toItem);
  }

  threadMark(): number {
    return Number(this.getMeta('threads.seq') ?? 0);
  }

  threadOfKey(key: string): string | undefined {
    return this.q.threadOfKey.get(key) as string | undefined;
  }

  threadOfItem(item: string): string | undefined {
    return this.q.threadOfItem.get(item) as string | undefined;
  }

  threadEntries(thread: string): ThreadEntryRow[] {
    return this.q.threadEntries.all(thread) as ThreadEntryRow[];
  }

  updateThreads(ops: ThreadIndexOp[], mark: number): void {
    this.db.transaction(() => {
      for (const o of ops) {
        if (o.op === 'merge') {
          this.q.moveThreadKeys.run(o.into, o.from);
          this.q.moveThreadEntries.run(o.into, o.from);
        } else if (o.op === 'key') this.q.putThreadKey.run(o.key, o.thread);
        else this.q.putThreadEntry.run(o.node, o.item, o.thread, o.published, o.facts);
      }
      this.setMeta('threads.seq', String(mark));
    })();
  }

  forgetThreadEntries(node: string, items?: string[]): void {
    if (!items) this.q.delThreadEntries.run(node);
    else this.db.transaction(() => items.forEach((id) => this.q.delThreadEntry.run(node, id)))();
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
