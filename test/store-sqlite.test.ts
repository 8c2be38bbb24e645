/**
 * SqliteStore in a temporary folder (no servers): the Store contract, release
 * jobs, reopening (what a restart sees) and the migration of a schema-1 database.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../broker-component/store/sqlite.ts';
import type { ReleaseJob } from '../broker-component/store/store.ts';
import { DEFAULT_NODE_CONFIG } from '../pubsub/node-config.ts';
import { DEFAULT_SUBSCRIPTION_OPTIONS } from '../pubsub/subscription-options.ts';

const dirs: string[] = [];
const fresh = () => {
  const d = mkdtempSync(join(tmpdir(), 'voxnet-store-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const node = (id: string) => ({ id, config: { ...DEFAULT_NODE_CONFIG }, created: 1, creator: 'o@x' });
const item = (id: string, published = 1) => ({ id, payload: `<p>${id}</p>`, publisher: 'p@x', published });

describe('SqliteStore', () => {
  it('keeps nodes, affiliations and subscriptions across a reopen; deleting a node drops what hangs on it', () => {
    const dir = fresh();
    let s = new SqliteStore(dir);
    s.createNode(node('a'), 'o@x');
    s.createNode(node('b'), 'o@x');
    s.setAffiliation('a', 'm@x', 'member');
    s.putSubscription({ node: 'a', subid: 's1', jid: 'm@x/r', state: 'subscribed', created: 5, options: { ...DEFAULT_SUBSCRIPTION_OPTIONS } });
    s.updateNodeConfig('a', { ...DEFAULT_NODE_CONFIG, max_items: 7 });
    s.publishItems('b', [item('1')], 10);
    s.deleteNode('b');
    s.close();
    s = new SqliteStore(dir);
    const st = s.load();
    expect(st.nodes.map((n) => [n.id, n.config.max_items])).toEqual([['a', 7]]);
    expect(st.affiliations).toEqual(expect.arrayContaining([{ node: 'a', jid: 'o@x', affiliation: 'owner' }, { node: 'a', jid: 'm@x', affiliation: 'member' }]));
    expect(st.subscriptions).toEqual([{ node: 'a', subid: 's1', jid: 'm@x/r', state: 'subscribed', created: 5, options: DEFAULT_SUBSCRIPTION_OPTIONS }]);
    expect(s.getItem('b', '1')).toBeUndefined();
    s.close();
  });

  it('publishes with replace-by-id and trimming to max_items, in publication order', () => {
    const s = new SqliteStore(fresh());
    s.createNode(node('n'), 'o@x');
    expect(s.publishItems('n', [item('1'), item('2'), item('3')], 3).trimmed).toEqual([]);
    // Republishing '1' moves it to the newest end; a fourth item trims the oldest.
    const r = s.publishItems('n', [item('1', 2), item('4', 3)], 3);
    expect(r.stored.map((i) => i.id)).toEqual(['1', '4']);
    expect(r.trimmed).toEqual(['2']);
    expect(s.getItems('n', {}).items.map((i) => i.id)).toEqual(['3', '1', '4']);
    expect(s.lastItem('n')?.id).toBe('4');
    expect(s.retractItems('n', ['3', 'nope'])).toEqual(['3']);
    expect(s.trim('n', 1)).toEqual(['1']);
    expect(s.purge('n')).toBe(1);
    expect(s.getItems('n', {})).toMatchObject({ items: [], count: 0 });
    s.close();
  });

  it('pages with RSM cursors and indexes, and says when a cursor names no item', () => {
    const s = new SqliteStore(fresh());
    s.createNode(node('n'), 'o@x');
    s.publishItems('n', ['a', 'b', 'c', 'd', 'e'].map((id) => item(id)), 10);
    const ids = (q: Parameters<SqliteStore['getItems']>[1]) => s.getItems('n', q).items.map((i) => i.id);
    expect(ids({ max: 2 })).toEqual(['d', 'e']);
    expect(ids({ max: 2, after: 'b' })).toEqual(['c', 'd']);
    expect(ids({ max: 2, before: 'c' })).toEqual(['a', 'b']);
    expect(ids({ max: 2, index: 1 })).toEqual(['b', 'c']);
    expect(ids({ ids: ['e', 'a', 'zz'] })).toEqual(['a', 'e']);
    expect(s.getItems('n', { max: 2, after: 'b' })).toMatchObject({ count: 5, firstIndex: 2 });
    expect(s.getItems('n', { max: 2, after: 'zz' }).missingCursor).toBe('zz');
    s.close();
  });

  it('keeps release jobs: due order, replace, cancel by item or source, realign, and across a reopen', () => {
    const dir = fresh();
    let s = new SqliteStore(dir);
    const job = (itemId: string, target: string, dueAt: number): ReleaseJob => ({ source: 'src', itemId, target, published: 100, dueAt, payload: '<p/>', publisher: 'p@x' });
    s.putReleaseJobs([job('1', 'public', 500), job('1', 'collab', 100), job('2', 'public', 300)]);
    s.putReleaseJobs([job('2', 'public', 400)]); // replaces
    expect(s.nextReleaseDue()).toBe(100);
    expect(s.dueReleaseJobs(400, 10).map((j) => `${j.itemId}>${j.target}`)).toEqual(['1>collab', '2>public']);
    s.deleteReleaseJob({ source: 'src', itemId: '1', target: 'collab' });
    s.close();
    s = new SqliteStore(dir);
    expect(s.allReleaseJobs().map((j) => `${j.itemId}>${j.target}@${j.dueAt}`)).toEqual(['2>public@400', '1>public@500']);
    // A new embargo of 1000 ms for src→public: due = published + 1000.
    expect(s.realignReleaseJobs((_src, target) => (target === 'public' ? 1000 : undefined))).toEqual([]);
    expect(s.allReleaseJobs().map((j) => j.dueAt)).toEqual([1100, 1100]);
    expect(s.deleteReleaseJobsOfItems('src', ['2'])).toBe(1);
    expect(s.realignReleaseJobs(() => undefined)).toEqual([{ source: 'src', target: 'public', cancelled: 1 }]);
    s.putReleaseJobs([job('3', 'x', 1), job('4', 'y', 1)]);
    expect(s.deleteReleaseJobsOfSource('src')).toBe(2);
    expect(s.nextReleaseDue()).toBeUndefined();
    s.close();
  });

  it('migrates a schema-1 database whose release table the policy made itself (schema 3 adds it), keeping its jobs', () => {
    const dir = fresh();
    const db = new Database(join(dir, 'voxnet.sqlite'));
    db.exec(`CREATE TABLE nodes (id TEXT PRIMARY KEY, config TEXT NOT NULL, created INTEGER NOT NULL, creator TEXT NOT NULL);
      CREATE TABLE affiliations (node TEXT NOT NULL, jid TEXT NOT NULL, affiliation TEXT NOT NULL, PRIMARY KEY (node, jid));
      CREATE TABLE subscriptions (node TEXT NOT NULL, subid TEXT NOT NULL, jid TEXT NOT NULL, state TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (node, subid));
      CREATE TABLE items (seq INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL, id TEXT NOT NULL, payload TEXT NOT NULL, publisher TEXT NOT NULL, published INTEGER NOT NULL);
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE policy_releases (source TEXT NOT NULL, item_id TEXT NOT NULL, target TEXT NOT NULL, published INTEGER NOT NULL,
        due_at INTEGER NOT NULL, payload TEXT NOT NULL, publisher TEXT NOT NULL, PRIMARY KEY (source, item_id, target));
      INSERT INTO policy_releases VALUES ('s', 'i', 't', 1, 2, '<p/>', 'p@x');`);
    db.pragma('user_version = 1');
    db.close();
    const s = new SqliteStore(dir);
    expect(s.allReleaseJobs()).toEqual([{ source: 's', itemId: 'i', target: 't', published: 1, dueAt: 2, payload: '<p/>', publisher: 'p@x' }]);
    s.close();
    const after = new Database(join(dir, 'voxnet.sqlite'));
    expect(after.pragma('user_version', { simple: true })).toBe(4); // 4: the archive
    after.close();
  });
});
