/**
 * The SQLite store (better-sqlite3, WAL). Every write is one transaction; with
 * `synchronous = FULL` a returned call has reached the disk, so neither a killed
 * broker nor a power cut loses an acknowledged publish.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Affiliation, Item, NodeConfig, NodeRecord, Subscription } from '../../pubsub/types.ts';
import { DEFAULT_NODE_CONFIG } from '../../pubsub/node-config.ts';
import type { ItemPage, ItemQuery, Store, StoredState } from './store.ts';

const SCHEMA_VERSION = 1;

export type SqliteStoreOptions = {
  /** 'full' (default): fsync on every commit. 'normal': survives a killed process, not a power cut. */
  synchronous?: 'full' | 'normal';
};

type ItemRow = { node: string; id: string; payload: string; publisher: string; published: number; seq: number };

export class SqliteStore implements Store {
  private db: Database.Database;
  private q: ReturnType<SqliteStore['prepare']>;

  constructor(dataDir: string, opts: SqliteStoreOptions = {}) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new Database(join(dataDir, 'voxnet.sqlite'));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous === 'normal' ? 'NORMAL' : 'FULL'}`);
    this.db.pragma('foreign_keys = ON');
    this.migrate();
    this.q = this.prepare();
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) throw new Error(`database schema ${version} is newer than this broker (${SCHEMA_VERSION})`);
    if (version === SCHEMA_VERSION) return;
    this.db.exec(`
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
    `);
    this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }

  private prepare() {
    const d = this.db;
    return {
      insertNode: d.prepare('INSERT INTO nodes (id, config, created, creator) VALUES (?, ?, ?, ?)'),
      updateConfig: d.prepare('UPDATE nodes SET config = ? WHERE id = ?'),
      deleteNode: d.prepare('DELETE FROM nodes WHERE id = ?'),
      setAff: d.prepare('INSERT INTO affiliations (node, jid, affiliation) VALUES (?, ?, ?) ON CONFLICT(node, jid) DO UPDATE SET affiliation = excluded.affiliation'),
      delAff: d.prepare('DELETE FROM affiliations WHERE node = ? AND jid = ?'),
      putSub: d.prepare('INSERT INTO subscriptions (node, subid, jid, state, created) VALUES (?, ?, ?, ?, ?) ON CONFLICT(node, subid) DO UPDATE SET state = excluded.state, jid = excluded.jid'),
      delSub: d.prepare('DELETE FROM subscriptions WHERE node = ? AND subid = ?'),
      delItem: d.prepare('DELETE FROM items WHERE node = ? AND id = ?'),
      insItem: d.prepare('INSERT INTO items (node, id, payload, publisher, published) VALUES (?, ?, ?, ?, ?)'),
      countItems: d.prepare('SELECT count(*) AS n FROM items WHERE node = ?').pluck(),
      oldestIds: d.prepare('SELECT id FROM items WHERE node = ? ORDER BY seq ASC LIMIT ?').pluck(),
      purge: d.prepare('DELETE FROM items WHERE node = ?'),
      getItem: d.prepare('SELECT * FROM items WHERE node = ? AND id = ?'),
      lastItem: d.prepare('SELECT * FROM items WHERE node = ? ORDER BY seq DESC LIMIT 1'),
      seqOf: d.prepare('SELECT seq FROM items WHERE node = ? AND id = ?').pluck(),
      countBefore: d.prepare('SELECT count(*) FROM items WHERE node = ? AND seq < ?').pluck(),
      pageAfter: d.prepare('SELECT * FROM items WHERE node = ? AND seq > ? ORDER BY seq ASC LIMIT ?'),
      pageBefore: d.prepare('SELECT * FROM items WHERE node = ? AND seq < ? ORDER BY seq DESC LIMIT ?'),
      pageIndex: d.prepare('SELECT * FROM items WHERE node = ? ORDER BY seq ASC LIMIT ? OFFSET ?'),
      newest: d.prepare('SELECT * FROM items WHERE node = ? ORDER BY seq DESC LIMIT ?'),
      getMeta: d.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      setMeta: d.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      delMeta: d.prepare('DELETE FROM meta WHERE key = ?'),
    };
  }

  load(): StoredState {
    const nodes = (this.db.prepare('SELECT * FROM nodes').all() as { id: string; config: string; created: number; creator: string }[]).map(
      (r): NodeRecord => ({ id: r.id, config: decodeConfig(r.config), created: r.created, creator: r.creator }),
    );
    const affiliations = this.db.prepare('SELECT node, jid, affiliation FROM affiliations').all() as StoredState['affiliations'];
    const subscriptions = this.db.prepare('SELECT node, subid, jid, state, created FROM subscriptions ORDER BY created').all() as Subscription[];
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
    this.q.putSub.run(sub.node, sub.subid, sub.jid, sub.state, sub.created);
  }

  deleteSubscription(node: string, subid: string): void {
    this.q.delSub.run(node, subid);
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
    const count = this.q.countItems.get(node) as number;
    if (query.ids) {
      const items = query.ids
        .map((id) => this.getItem(node, id))
        .filter((x): x is Item => !!x)
        .sort((a, b) => a.seq - b.seq);
      return { items, count, firstIndex: items.length ? (this.q.countBefore.get(node, items[0]!.seq) as number) : 0 };
    }
    const max = Math.max(0, Math.min(query.max ?? count, count));
    let rows: ItemRow[];
    if (query.after !== undefined) {
      const seq = this.q.seqOf.get(node, query.after) as number | undefined;
      if (seq === undefined) return { items: [], count, firstIndex: 0, ...missingCursor(query.after) };
      rows = this.q.pageAfter.all(node, seq, max) as ItemRow[];
    } else if (query.before !== undefined && query.before !== '') {
      const seq = this.q.seqOf.get(node, query.before) as number | undefined;
      if (seq === undefined) return { items: [], count, firstIndex: 0, ...missingCursor(query.before) };
      rows = (this.q.pageBefore.all(node, seq, max) as ItemRow[]).reverse();
    } else if (query.index !== undefined) {
      rows = this.q.pageIndex.all(node, max, query.index) as ItemRow[];
    } else {
      // No cursor, or <before/>: the newest `max` items, oldest first.
      rows = (this.q.newest.all(node, max) as ItemRow[]).reverse();
    }
    const firstIndex = rows.length ? (this.q.countBefore.get(node, rows[0]!.seq) as number) : 0;
    return { items: rows, count, firstIndex };
  }

  getMeta(key: string): string | undefined {
    return this.q.getMeta.get(key) as string | undefined;
  }

  setMeta(key: string, value: string | undefined): void {
    if (value === undefined) this.q.delMeta.run(key);
    else this.q.setMeta.run(key, value);
  }

  /**
   * The database itself, for broker extensions that keep their own tables next to
   * the store's (e.g. the access policy's release queue). Not part of `Store`.
   */
  get database(): Database.Database {
    return this.db;
  }

  close(): void {
    this.db.close();
  }
}

/** An RSM cursor naming an item that is not in the node: XEP-0059 §2.6 says item-not-found. */
function missingCursor(id: string): { missingCursor: string } {
  return { missingCursor: id };
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
