/**
 * The SQLite store's schema migrations: a database written by an older broker
 * opens, is brought up to date once, and keeps everything it held.
 */
import { describe, it, expect, afterAll } from 'vitest';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../broker-component/store/sqlite.ts';
import { DEFAULT_SUBSCRIPTION_OPTIONS } from '../pubsub/subscription-options.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('store migrations', () => {
  it('opens a schema-1 database (before subscription options): subscriptions read with the default options', () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxnet-migrate-'));
    dirs.push(dir);
    // A database as the wave-1 broker wrote it.
    const old = new Database(join(dir, 'voxnet.sqlite'));
    old.exec(`
      CREATE TABLE nodes (id TEXT PRIMARY KEY, config TEXT NOT NULL, created INTEGER NOT NULL, creator TEXT NOT NULL);
      CREATE TABLE affiliations (node TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, jid TEXT NOT NULL, affiliation TEXT NOT NULL, PRIMARY KEY (node, jid));
      CREATE TABLE subscriptions (node TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, subid TEXT NOT NULL, jid TEXT NOT NULL, state TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (node, subid));
      CREATE TABLE items (seq INTEGER PRIMARY KEY AUTOINCREMENT, node TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, id TEXT NOT NULL, payload TEXT NOT NULL, publisher TEXT NOT NULL, published INTEGER NOT NULL);
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO nodes VALUES ('svom/grb', '{"access_model":"open","max_items":"max"}', 1, 'admin@svom.fr');
      INSERT INTO subscriptions VALUES ('svom/grb', 'sub-1', 'bob@svom.cn', 'subscribed', 2);
      INSERT INTO items (node, id, payload, publisher, published) VALUES ('svom/grb', 'i1', '<x xmlns="urn:x"/>', 'admin@svom.fr', 3);
      PRAGMA user_version = 1;
    `);
    old.close();
    const store = new SqliteStore(dir);
    const state = store.load();
    expect(state.subscriptions).toEqual([{ node: 'svom/grb', subid: 'sub-1', jid: 'bob@svom.cn', state: 'subscribed', created: 2, options: DEFAULT_SUBSCRIPTION_OPTIONS }]);
    expect(state.nodes[0]!.config).toMatchObject({ node_type: 'leaf', collection: [], max_items: Infinity });
    expect(store.getItem('svom/grb', 'i1')?.payload).toBe('<x xmlns="urn:x"/>');
    // Options written now survive a reopen, including "all" (Infinity) depths.
    store.putSubscription({ ...state.subscriptions[0]!, options: { ...DEFAULT_SUBSCRIPTION_OPTIONS, deliver: false, subscription_depth: Infinity } });
    store.close();
    const again = new SqliteStore(dir);
    expect(again.load().subscriptions[0]!.options).toMatchObject({ deliver: false, subscription_depth: Infinity });
    again.close();
    // Brought to the current schema (3: the policy's release jobs joined the store's
    // migrations; 4: the archive's indexes and the event-thread index).
    const db = new Database(join(dir, 'voxnet.sqlite'));
    expect(db.pragma('user_version', { simple: true })).toBe(4);
    db.close();
  });
});
