/**
 * `voxnet backup`: an online copy of the broker's database that restores to the same
 * nodes and items, taken while the store keeps writing; errors name the file.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, rmSync, existsSync, copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { SqliteStore } from '../broker-component/store/sqlite.ts';
import { DEFAULT_NODE_CONFIG } from '../pubsub/node-config.ts';
import { backupDatabase, BackupError, databaseFile } from '../broker-component/backup.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'voxnet-backup-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function fill(store: SqliteStore, node: string, n: number, from = 0) {
  for (let i = from; i < from + n; i++) store.publishItems(node, [{ id: `i${i}`, payload: `<x xmlns="urn:t">${i}</x>`, publisher: 'alice@svom.fr', published: 1_700_000_000_000 + i }], 1000);
}

describe('voxnet backup', () => {
  it('copies a live database that restores to the same nodes and items', async () => {
    const data = join(dir, 'data');
    const store = new SqliteStore(data);
    store.createNode({ id: 'svom/eclairs', config: DEFAULT_NODE_CONFIG, created: 1, creator: 'alice@svom.fr' }, 'alice@svom.fr');
    fill(store, 'svom/eclairs', 50);
    // The broker keeps writing while the copy is taken (WAL: the copy sees one consistent state).
    const writer = setInterval(() => fill(store, 'svom/eclairs', 1, 1000 + Math.floor(Math.random() * 1e6)), 1);
    const out = join(dir, 'backup.sqlite');
    const r = await backupDatabase(data, out);
    clearInterval(writer);
    expect(r.nodes).toBe(1);
    expect(r.items).toBeGreaterThanOrEqual(50);
    expect(readdirSync(dir).filter((f) => f.includes('.partial-'))).toEqual([]);

    const restored = join(dir, 'restored');
    mkdirSync(restored);
    copyFileSync(out, databaseFile(restored));
    const back = new SqliteStore(restored);
    const page = back.getItems('svom/eclairs', {});
    expect(page.count).toBe(r.items);
    expect(back.getItem('svom/eclairs', 'i49')?.payload).toBe('<x xmlns="urn:t">49</x>');
    back.close();
    store.close();
  });

  it('refuses a directory without a database, naming it, and writes nothing', async () => {
    const out = join(dir, 'b.sqlite');
    await expect(backupDatabase(join(dir, 'nothing'), out)).rejects.toThrow(BackupError);
    await expect(backupDatabase(join(dir, 'nothing'), out)).rejects.toThrow(/nothing\/voxnet\.sqlite: no broker database/);
    expect(existsSync(out)).toBe(false);
  });

  it('the CLI prints what it copied, and exits 2 without --out', () => {
    const data = join(dir, 'data');
    const store = new SqliteStore(data);
    store.createNode({ id: 'n', config: DEFAULT_NODE_CONFIG, created: 1, creator: 'alice@svom.fr' }, 'alice@svom.fr');
    fill(store, 'n', 3);
    store.close();
    const out = join(dir, 'cli.sqlite');
    const ok = spawnSync(process.execPath, ['bin/voxnet.js', 'backup', '--data-dir', data, '--out', out], { encoding: 'utf8' });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/cli\.sqlite: 1 nodes, 3 items, \d+ bytes \(integrity ok\)/);
    const bad = spawnSync(process.execPath, ['bin/voxnet.js', 'backup', '--data-dir', data], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--out FILE is required/);
  });

  it('the CLI sends a broker on PostgreSQL to pg_dump (exit 2), naming the server without the password, and writes nothing', () => {
    const cfg = join(dir, 'pg.yaml');
    writeFileSync(cfg, 'xmpp_url: xmpp://127.0.0.1:5347\ndomain: pubsub.svom.fr\nsecret: s\nstorage:\n  driver: postgres\n  url: postgres://voxnet:s3cret-pw@db.svom.fr/voxnet\n');
    const out = join(dir, 'pg.sqlite');
    const r = spawnSync(process.execPath, ['bin/voxnet.js', 'backup', '--config', cfg, '--out', out], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/stores its data in PostgreSQL \(postgres:\/\/voxnet:\*\*\*@db\.svom\.fr\/voxnet\)/);
    expect(r.stderr).toMatch(/pg_dump --format=custom/);
    expect(r.stderr).not.toContain('s3cret-pw');
    expect(existsSync(out)).toBe(false);
  });
});
