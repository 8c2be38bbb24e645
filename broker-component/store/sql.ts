/**
 * The `Store` contract written once in SQL, over a small synchronous driver: the
 * SQLite store (sqlite.ts) and the PostgreSQL store (postgres.ts) differ only in how
 * they connect, run a statement and migrate their schema. The statements use `?`
 * placeholders and SQL that both engines read the same way (row values,
 * ON CONFLICT … DO UPDATE, RETURNING, partial indexes).
 */
import type { Affiliation, Item, NodeConfig, NodeRecord, Subscription, SubscriptionOptions } from '../../pubsub/types.ts';
import { subscriptionOptionsOf } from '../../pubsub/subscription-options.ts';
import { DEFAULT_NODE_CONFIG } from '../../pubsub/node-config.ts';
import type { ArchivePage, ArchiveQuery, ItemPage, ItemQuery, ReleaseJob, Store, StoredState, ThreadEntryRow, ThreadIndexOp } from './store.ts';

/** A value bound to a `?`. */
export type SqlArg = string | number | null;

/**
 * One database connection, synchronous. Every call outside `transaction` commits by
 * itself (durably, when it returns); a failure throws.
 */
export interface SqlDriver {
  all<R>(sql: string, args?: SqlArg[]): R[];
  get<R>(sql: string, args?: SqlArg[]): R | undefined;
  /** The first column of the first row. */
  value<V>(sql: string, args?: SqlArg[]): V | undefined;
  /** Run a write; returns the number of rows it changed. */
  run(sql: string, args?: SqlArg[]): number;
  /** Run several statements without parameters (a migration). */
  script(sql: string): void;
  /** Run `fn` in one transaction (nested: a savepoint): committed together when it returns, rolled back when it throws. */
  transaction<T>(fn: () => T): T;
  close(): void;
}

export type MigrationOptions = {
  /** The IVORN of a stored payload, to fill the archive's IVORN index of items stored before it existed (schema 1). */
  ivornOf?: (payload: string) => string | undefined;
};

/** Counting a result set (RSM <count/>, <first index>) stops beyond this many items: a huge count is never worth a full scan. */
export const ARCHIVE_COUNT_LIMIT = 10_000;

/** Schema 4 fills in the IVORN of the items stored before the archive existed, 1,000 at a time. */
export function backfillIvorns(db: SqlDriver, ivornOf: ((payload: string) => string | undefined) | undefined): void {
  if (!ivornOf) return;
  for (let last = -1; ; ) {
    const rows = db.all<{ seq: number; payload: string }>('SELECT seq, payload FROM items WHERE seq > ? ORDER BY seq LIMIT 1000', [last]);
    for (const r of rows) {
      const iv = ivornOf(r.payload);
      if (iv) db.run('UPDATE items SET ivorn = ? WHERE seq = ?', [iv, r.seq]);
    }
    if (rows.length < 1000) break;
    last = rows[rows.length - 1]!.seq;
  }
}

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

const Q = {
  itemsAfter: 'SELECT * FROM items WHERE seq > ? ORDER BY seq LIMIT ?',
  threadOfKey: 'SELECT thread FROM thread_keys WHERE key = ?',
  threadOfItem: 'SELECT thread FROM thread_entries WHERE item = ? LIMIT 1',
  threadEntries: 'SELECT node, item, published, facts FROM thread_entries WHERE thread = ?',
  putThreadKey: 'INSERT INTO thread_keys (key, thread) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET thread = excluded.thread',
  moveThreadKeys: 'UPDATE thread_keys SET thread = ? WHERE thread = ?',
  moveThreadEntries: 'UPDATE thread_entries SET thread = ? WHERE thread = ?',
  putThreadEntry: `INSERT INTO thread_entries (node, item, thread, published, facts) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT(node, item) DO UPDATE SET thread = excluded.thread, published = excluded.published, facts = excluded.facts`,
  delThreadEntry: 'DELETE FROM thread_entries WHERE node = ? AND item = ?',
  delThreadEntries: 'DELETE FROM thread_entries WHERE node = ?',
  insertNode: 'INSERT INTO nodes (id, config, created, creator) VALUES (?, ?, ?, ?)',
  updateConfig: 'UPDATE nodes SET config = ? WHERE id = ?',
  deleteNode: 'DELETE FROM nodes WHERE id = ?',
  setAff: 'INSERT INTO affiliations (node, jid, affiliation) VALUES (?, ?, ?) ON CONFLICT(node, jid) DO UPDATE SET affiliation = excluded.affiliation',
  delAff: 'DELETE FROM affiliations WHERE node = ? AND jid = ?',
  putSub: `INSERT INTO subscriptions (node, subid, jid, state, created, options) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT(node, subid) DO UPDATE SET state = excluded.state, jid = excluded.jid, options = excluded.options`,
  delSub: 'DELETE FROM subscriptions WHERE node = ? AND subid = ?',
  delItem: 'DELETE FROM items WHERE node = ? AND id = ?',
  insItem: 'INSERT INTO items (node, id, payload, publisher, published, ivorn) VALUES (?, ?, ?, ?, ?, ?) RETURNING seq',
  posOf: 'SELECT published, seq FROM items WHERE node = ? AND id = ?',
  expired: 'SELECT id FROM items WHERE node = ? AND published < ? ORDER BY published, seq LIMIT 10000',
  countItems: 'SELECT count(*) AS n FROM items WHERE node = ?',
  oldestIds: 'SELECT id FROM items WHERE node = ? ORDER BY seq ASC LIMIT ?',
  purge: 'DELETE FROM items WHERE node = ?',
  getItem: 'SELECT * FROM items WHERE node = ? AND id = ?',
  lastItem: 'SELECT * FROM items WHERE node = ? ORDER BY seq DESC LIMIT 1',
  seqOf: 'SELECT seq FROM items WHERE node = ? AND id = ?',
  // `floor`: the lowest seq of the result set (0: every item; see ItemQuery.newest).
  nthNewestSeq: 'SELECT seq FROM items WHERE node = ? ORDER BY seq DESC LIMIT 1 OFFSET ?',
  countBefore: 'SELECT count(*) FROM items WHERE node = ? AND seq >= ? AND seq < ?',
  countFromCapped: `SELECT count(*) FROM (SELECT 1 FROM items WHERE node = ? AND seq >= ? LIMIT ${ARCHIVE_COUNT_LIMIT + 1}) AS capped`,
  pageAfter: 'SELECT * FROM items WHERE node = ? AND seq > ? ORDER BY seq ASC LIMIT ?',
  pageBefore: 'SELECT * FROM items WHERE node = ? AND seq >= ? AND seq < ? ORDER BY seq DESC LIMIT ?',
  pageIndex: 'SELECT * FROM items WHERE node = ? AND seq >= ? ORDER BY seq ASC LIMIT ? OFFSET ?',
  newest: 'SELECT * FROM items WHERE node = ? ORDER BY seq DESC LIMIT ?',
  getMeta: 'SELECT value FROM meta WHERE key = ?',
  setMeta: 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
  delMeta: 'DELETE FROM meta WHERE key = ?',
  putRelease: `INSERT INTO policy_releases (source, item_id, target, published, due_at, payload, publisher) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(source, item_id, target) DO UPDATE SET published = excluded.published, due_at = excluded.due_at,
       payload = excluded.payload, publisher = excluded.publisher`,
  dueReleases: 'SELECT * FROM policy_releases WHERE due_at <= ? ORDER BY due_at, published LIMIT ?',
  nextRelease: 'SELECT min(due_at) FROM policy_releases',
  delRelease: 'DELETE FROM policy_releases WHERE source = ? AND item_id = ? AND target = ?',
  delReleaseItem: 'DELETE FROM policy_releases WHERE source = ? AND item_id = ?',
  delReleaseSource: 'DELETE FROM policy_releases WHERE source = ?',
  releasePairs: 'SELECT DISTINCT source, target FROM policy_releases',
  delReleasePair: 'DELETE FROM policy_releases WHERE source = ? AND target = ?',
  rescheduleReleases: 'UPDATE policy_releases SET due_at = published + ? WHERE source = ? AND target = ?',
  allReleases: 'SELECT * FROM policy_releases ORDER BY due_at',
  countReleases: 'SELECT count(*) FROM policy_releases',
} as const;

export class SqlStore implements Store {
  constructor(protected readonly db: SqlDriver) {}

  /** A transaction of the driver; a failed outermost one may have changed what the item counts assumed: they are counted again. */
  private tx<T>(fn: () => T): T {
    const outer = this.depth++ === 0;
    try {
      return this.db.transaction(fn);
    } catch (e) {
      if (outer) this.counts.clear();
      throw e;
    } finally {
      this.depth--;
    }
  }
  private depth = 0;

  /** Forget the item counts kept in memory (after a lost connection: a commit may or may not have happened). */
  protected forgetCounts(): void {
    this.counts.clear();
  }

  load(): StoredState {
    const nodes = this.db.all<{ id: string; config: string; created: number; creator: string }>('SELECT * FROM nodes').map(
      (r): NodeRecord => ({ id: r.id, config: decodeConfig(r.config), created: r.created, creator: r.creator }),
    );
    const affiliations = this.db.all<StoredState['affiliations'][number]>('SELECT node, jid, affiliation FROM affiliations');
    const subscriptions = this.db
      .all<Omit<Subscription, 'options'> & { options: string }>('SELECT node, subid, jid, state, created, options FROM subscriptions ORDER BY created')
      .map((r): Subscription => ({ ...r, options: decodeOptions(r.options) }));
    return { nodes, affiliations, subscriptions };
  }

  createNode(node: NodeRecord, owner: string): void {
    this.tx(() => {
      this.db.run(Q.insertNode, [node.id, encodeConfig(node.config), node.created, node.creator]);
      this.db.run(Q.setAff, [node.id, owner, 'owner']);
    });
  }

  updateNodeConfig(node: string, config: NodeConfig): void {
    this.db.run(Q.updateConfig, [encodeConfig(config), node]);
  }

  deleteNode(node: string): void {
    this.db.run(Q.deleteNode, [node]);
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
    if (n === undefined) this.counts.set(node, (n = this.db.value<number>(Q.countItems, [node])!));
    return n;
  }

  private adjust(node: string, delta: number): void {
    const n = this.counts.get(node);
    if (n !== undefined) this.counts.set(node, n + delta);
  }

  /** Position of the item with this seq among the node's items from `floor` on, counting from the near end. */
  private indexOf(node: string, floor: number, seq: number, count: number): number {
    const fromHere = this.db.value<number>(Q.countFromCapped, [node, seq])!;
    if (fromHere <= ARCHIVE_COUNT_LIMIT) return count - fromHere;
    return this.db.value<number>(Q.countBefore, [node, floor, seq])!;
  }

  setAffiliation(node: string, jid: string, affiliation: Affiliation): void {
    if (affiliation === 'none') this.db.run(Q.delAff, [node, jid]);
    else this.db.run(Q.setAff, [node, jid, affiliation]);
  }

  putSubscription(sub: Subscription): void {
    this.db.run(Q.putSub, [sub.node, sub.subid, sub.jid, sub.state, sub.created, encodeOptions(sub.options)]);
  }

  deleteSubscription(node: string, subid: string): void {
    this.db.run(Q.delSub, [node, subid]);
  }

  atomically<T>(fn: () => T): T {
    return this.tx(fn);
  }

  publishItems(node: string, items: Omit<Item, 'seq' | 'node'>[], maxItems: number) {
    const before = this.countOf(node);
    const out = this.tx(() => {
      const stored: Item[] = [];
      let delta = 0;
      for (const it of items) {
        delta -= this.db.run(Q.delItem, [node, it.id]);
        const seq = this.db.value<number>(Q.insItem, [node, it.id, it.payload, it.publisher, it.published, it.ivorn ?? null])!;
        delta++;
        stored.push({ ...it, node, seq });
      }
      const trimmed = this.trimInTx(node, maxItems, before + delta);
      return { stored, trimmed, delta: delta - trimmed.length };
    });
    this.adjust(node, out.delta);
    return { stored: out.stored, trimmed: out.trimmed };
  }

  private trimInTx(node: string, maxItems: number, n: number): string[] {
    if (!Number.isFinite(maxItems)) return [];
    if (n <= maxItems) return [];
    const ids = this.db.all<{ id: string }>(Q.oldestIds, [node, n - maxItems]).map((r) => r.id);
    for (const id of ids) this.db.run(Q.delItem, [node, id]);
    return ids;
  }

  trim(node: string, maxItems: number): string[] {
    const n = this.countOf(node);
    const trimmed = this.tx(() => this.trimInTx(node, maxItems, n));
    this.adjust(node, -trimmed.length);
    return trimmed;
  }

  retractItems(node: string, ids: string[]): string[] {
    const removed = this.tx(() => ids.filter((id) => this.db.run(Q.delItem, [node, id]) > 0));
    this.adjust(node, -removed.length);
    return removed;
  }

  purge(node: string): number {
    const n = this.db.run(Q.purge, [node]);
    this.counts.set(node, 0);
    return n;
  }

  getItem(node: string, id: string): Item | undefined {
    const r = this.db.get<ItemRow>(Q.getItem, [node, id]);
    return r && toItem(r);
  }

  lastItem(node: string): Item | undefined {
    const r = this.db.get<ItemRow>(Q.lastItem, [node]);
    return r && toItem(r);
  }

  expire(node: string, cutoff: number): string[] {
    const removed: string[] = [];
    // In transactions of at most 10,000 items, so publishes are never held up long.
    for (;;) {
      const ids = this.tx(() => {
        const batch = this.db.all<{ id: string }>(Q.expired, [node, cutoff]).map((r) => r.id);
        for (const id of batch) this.db.run(Q.delItem, [node, id]);
        return batch;
      });
      removed.push(...ids);
      this.adjust(node, -ids.length);
      if (ids.length < 10_000) return removed;
    }
  }

  queryArchive(node: string, q: ArchiveQuery): ArchivePage {
    // The result set: every filter and bound, in (published, seq) order.
    const where: string[] = ['node = ?'];
    const args: SqlArg[] = [node];
    let filtered = false;
    const bound = (id: string, op: '>' | '<'): string | undefined => {
      const p = this.db.get<{ published: number; seq: number }>(Q.posOf, [node, id]);
      if (!p) return id;
      where.push(`(published, seq) ${op} (?, ?)`);
      args.push(p.published, p.seq);
      return undefined;
    };
    const filter = (sql: string, ...values: SqlArg[]) => {
      where.push(sql);
      args.push(...values);
      filtered = true;
    };
    if (q.start !== undefined) filter('published >= ?', q.start);
    if (q.end !== undefined) filter('published <= ?', q.end);
    if (q.publisher !== undefined) filter('publisher = ?', q.publisher);
    if (q.ivorn !== undefined) filter('ivorn = ?', q.ivorn);
    if (q.ids) filter(`id IN (${q.ids.map(() => '?').join(', ')})`, ...q.ids);
    for (const [id, op] of [[q.afterId, '>'], [q.beforeId, '<']] as const) {
      if (id === undefined) continue;
      filtered = true;
      const missing = bound(id, op);
      if (missing !== undefined) return { items: [], complete: true, missingCursor: missing };
    }
    const resultSet = where.join(' AND ');
    const resultArgs = [...args];
    // The page: after / before a cursor inside the result set, or the first / last page.
    const backward = q.before !== undefined;
    const cursor = q.after ?? (q.before || undefined);
    if (cursor !== undefined) {
      const missing = bound(cursor, backward ? '<' : '>');
      if (missing !== undefined) return { items: [], complete: true, missingCursor: missing };
    }
    const order = backward ? 'DESC' : 'ASC';
    const rows = this.db.all<ItemRow>(`SELECT * FROM items WHERE ${where.join(' AND ')} ORDER BY published ${order}, seq ${order} LIMIT ?`, [...args, q.max + 1]);
    const complete = rows.length <= q.max;
    const page = rows.slice(0, q.max);
    if (backward) page.reverse();
    const items = page.map(toItem);
    // RSM count and index. The whole node: its count is kept, the index counted from the near end.
    if (!filtered) {
      const total = this.countOf(node);
      if (!items.length) return { items, complete, count: total };
      const f = items[0]!;
      const capped = (op: string) =>
        this.db.value<number>(`SELECT count(*) FROM (SELECT 1 FROM items WHERE node = ? AND (published, seq) ${op} (?, ?) LIMIT ${ARCHIVE_COUNT_LIMIT + 1}) AS capped`, [node, f.published, f.seq])!;
      const fromHere = capped('>=');
      if (fromHere <= ARCHIVE_COUNT_LIMIT) return { items, complete, count: total, firstIndex: total - fromHere };
      const before = capped('<');
      return before <= ARCHIVE_COUNT_LIMIT ? { items, complete, count: total, firstIndex: before } : { items, complete, count: total };
    }
    // A filtered result set: counted when small enough.
    const count = this.db.value<number>(`SELECT count(*) FROM (SELECT 1 FROM items WHERE ${resultSet} LIMIT ${ARCHIVE_COUNT_LIMIT + 1}) AS capped`, resultArgs)!;
    if (count > ARCHIVE_COUNT_LIMIT) return { items, complete };
    let firstIndex: number | undefined;
    if (items.length) {
      const f = items[0]!;
      firstIndex = this.db.value<number>(`SELECT count(*) FROM items WHERE ${resultSet} AND (published, seq) < (?, ?)`, [...resultArgs, f.published, f.seq])!;
    }
    return { items, complete, count, firstIndex };
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
      floor = this.db.value<number>(Q.nthNewestSeq, [node, query.newest - 1])!;
      count = query.newest;
    }
    const max = Math.max(0, Math.min(query.max ?? count, count));
    let rows: ItemRow[];
    if (query.after !== undefined) {
      const seq = this.db.value<number>(Q.seqOf, [node, query.after]);
      if (seq === undefined) return { items: [], count, firstIndex: 0, missingCursor: query.after };
      rows = this.db.all<ItemRow>(Q.pageAfter, [node, Math.max(seq, floor - 1), max]);
    } else if (query.before !== undefined && query.before !== '') {
      const seq = this.db.value<number>(Q.seqOf, [node, query.before]);
      if (seq === undefined) return { items: [], count, firstIndex: 0, missingCursor: query.before };
      rows = this.db.all<ItemRow>(Q.pageBefore, [node, floor, seq, max]).reverse();
    } else if (query.index !== undefined) {
      rows = this.db.all<ItemRow>(Q.pageIndex, [node, floor, max, query.index]);
    } else {
      // No cursor, or <before/>: the last page, i.e. the newest `max` items, oldest first.
      rows = this.db.all<ItemRow>(Q.newest, [node, max]).reverse();
    }
    const firstIndex = rows.length ? this.indexOf(node, floor, rows[0]!.seq, count) : 0;
    return { items: rows.map(toItem), count, firstIndex };
  }

  // ---------------------------------------------------------------- event-thread index

  itemsAfter(seq: number, limit: number): Item[] {
    return this.db.all<ItemRow>(Q.itemsAfter, [seq, limit]).map(toItem);
  }

  threadMark(): number {
    return Number(this.getMeta('threads.seq') ?? 0);
  }

  threadOfKey(key: string): string | undefined {
    return this.db.value<string>(Q.threadOfKey, [key]);
  }

  threadOfItem(item: string): string | undefined {
    return this.db.value<string>(Q.threadOfItem, [item]);
  }

  threadEntries(thread: string): ThreadEntryRow[] {
    return this.db.all<ThreadEntryRow>(Q.threadEntries, [thread]);
  }

  updateThreads(ops: ThreadIndexOp[], mark: number): void {
    this.tx(() => {
      for (const o of ops) {
        if (o.op === 'merge') {
          this.db.run(Q.moveThreadKeys, [o.into, o.from]);
          this.db.run(Q.moveThreadEntries, [o.into, o.from]);
        } else if (o.op === 'key') this.db.run(Q.putThreadKey, [o.key, o.thread]);
        else this.db.run(Q.putThreadEntry, [o.node, o.item, o.thread, o.published, o.facts]);
      }
      this.setMeta('threads.seq', String(mark));
    });
  }

  forgetThreadEntries(node: string, items?: string[]): void {
    if (!items) this.db.run(Q.delThreadEntries, [node]);
    else this.tx(() => items.forEach((id) => this.db.run(Q.delThreadEntry, [node, id])));
  }

  // ---------------------------------------------------------------- release jobs

  putReleaseJobs(jobs: ReleaseJob[]): void {
    this.tx(() => {
      for (const j of jobs) this.db.run(Q.putRelease, [j.source, j.itemId, j.target, j.published, j.dueAt, j.payload, j.publisher]);
    });
  }

  dueReleaseJobs(now: number, limit: number): ReleaseJob[] {
    return this.db.all<ReleaseRow>(Q.dueReleases, [now, limit]).map(toJob);
  }

  nextReleaseDue(): number | undefined {
    return this.db.value<number | null>(Q.nextRelease) ?? undefined;
  }

  deleteReleaseJob(j: Pick<ReleaseJob, 'source' | 'itemId' | 'target'>): void {
    this.db.run(Q.delRelease, [j.source, j.itemId, j.target]);
  }

  deleteReleaseJobsOfItems(source: string, itemIds: string[]): number {
    return this.tx(() => itemIds.reduce((n, id) => n + this.db.run(Q.delReleaseItem, [source, id]), 0));
  }

  deleteReleaseJobsOfSource(source: string): number {
    return this.db.run(Q.delReleaseSource, [source]);
  }

  realignReleaseJobs(embargoMs: (source: string, target: string) => number | undefined): { source: string; target: string; cancelled: number }[] {
    const out: { source: string; target: string; cancelled: number }[] = [];
    this.tx(() => {
      for (const { source, target } of this.db.all<{ source: string; target: string }>(Q.releasePairs)) {
        const ms = embargoMs(source, target);
        if (ms === undefined) out.push({ source, target, cancelled: this.db.run(Q.delReleasePair, [source, target]) });
        else this.db.run(Q.rescheduleReleases, [ms, source, target]);
      }
    });
    return out;
  }

  allReleaseJobs(): ReleaseJob[] {
    return this.db.all<ReleaseRow>(Q.allReleases).map(toJob);
  }

  countReleaseJobs(): number {
    return this.db.value<number>(Q.countReleases)!;
  }

  getMeta(key: string): string | undefined {
    return this.db.value<string>(Q.getMeta, [key]);
  }

  setMeta(key: string, value: string | undefined): void {
    if (value === undefined) this.db.run(Q.delMeta, [key]);
    else this.db.run(Q.setMeta, [key, value]);
  }

  close(): void {
    this.db.close();
  }
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
