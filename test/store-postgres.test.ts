/**
 * What only the PostgreSQL store has: a server that goes away and comes back (the
 * call that finds it gone throws a storage-unavailable error, nothing half-written;
 * the store connects again by itself), committed writes surviving a crash of the
 * server, brokers that migrate one database at the same time, and URLs whose
 * password never shows. The Store contract itself runs on both drivers in
 * store-contract.test.ts.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { PostgresStore, redactUrl } from '../broker-component/store/postgres.ts';
import { isStorageUnavailable } from '../common/storage-full.ts';
import { DEFAULT_NODE_CONFIG } from '../pubsub/node-config.ts';
import { startPostgres, postgresAvailable, POSTGRES_MISSING, type Postgres } from './helpers/postgres.ts';
import { untilValue } from './helpers/until.ts';

const node = (id: string) => ({ id, config: { ...DEFAULT_NODE_CONFIG }, created: 1, creator: 'o@x' });
const item = (id: string) => ({ id, payload: `<p>${id}</p>`, publisher: 'p@x', published: Date.now() });

/** The error a call throws (or undefined). */
function failure(fn: () => unknown): (Error & { code?: string }) | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e as Error & { code?: string };
  }
}

describe.skipIf(!postgresAvailable())(`PostgreSQL store${postgresAvailable() ? '' : ` (skipped: ${POSTGRES_MISSING})`}`, () => {
  let server: Postgres;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => server?.close());

  it('throws storage-unavailable while the server is down, keeps what was committed through its crash, and reconnects by itself', async () => {
    const url = await server.createDatabase();
    const s = new PostgresStore(url);
    s.createNode(node('n'), 'o@x');
    const acked: string[] = [];
    for (let i = 0; i < 20; i++) acked.push(s.publishItems('n', [item(`i${i}`)], Infinity).stored[0]!.id);
    expect(s.getItems('n', {}).count).toBe(20);

    await server.kill(); // a crash: no clean shutdown, no checkpoint
    const down = failure(() => s.publishItems('n', [item('during')], Infinity));
    expect(down && isStorageUnavailable(down)).toBe(true);
    expect(down!.message).toMatch(/PostgreSQL/);
    expect(down!.message).not.toContain(server.password);
    // Inside a transaction too: the whole group fails.
    const grouped = failure(() => s.atomically(() => s.setMeta('k', 'v')));
    expect(grouped && isStorageUnavailable(grouped)).toBe(true);

    await server.start(); // crash recovery
    // The store connects again on a later call (at most once a second).
    const page = await untilValue(() => {
      try {
        return s.getItems('n', { max: 100 });
      } catch (e) {
        if (!isStorageUnavailable(e)) throw e;
        return undefined;
      }
    }, 30_000, 'the store to reconnect', 200);
    expect(page.items.map((i) => i.id)).toEqual(acked);
    expect(page.count).toBe(20);
    expect(s.getItem('n', 'during')).toBeUndefined();
    expect(s.getMeta('k')).toBeUndefined();
    s.publishItems('n', [item('after')], Infinity);
    expect(s.getItems('n', {}).count).toBe(21);
    s.close();
    // A store opened afresh sees the same: it was all in the database.
    const again = new PostgresStore(url);
    expect(again.getItems('n', { max: 100 }).items.map((i) => i.id)).toEqual([...acked, 'after']);
    again.close();
  });

  it('refuses to start on an unreachable server or a wrong password, with a message that names the server but not the password', async () => {
    const wrong = server.url.replace(encodeURIComponent(server.password), 'not-the-password');
    const e1 = failure(() => new PostgresStore(wrong));
    expect(e1?.message).toMatch(/cannot connect to PostgreSQL at postgres:\/\/voxnet:\*\*\*@127\.0\.0\.1:\d+\/voxnet: .*password authentication failed/);
    expect(e1?.message).not.toContain('not-the-password');
    const closed = `postgres://voxnet:${encodeURIComponent(server.password)}@127.0.0.1:1/voxnet`;
    const e2 = failure(() => new PostgresStore(closed));
    expect(e2 && isStorageUnavailable(e2)).toBe(true);
    expect(e2?.message).not.toContain(server.password);
  });

  it('migrates once when two brokers open a new database at the same time', async () => {
    const url = await server.createDatabase();
    // Two processes, each opening the store (the migrations run in its constructor).
    const open = () =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const code = `import { PostgresStore } from './broker-component/store/postgres.ts'; const s = new PostgresStore(process.env.URL); s.setMeta('opened-' + process.pid, '1'); s.close(); console.log('ok');`;
        const p = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { env: { ...process.env, URL: url }, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        p.stdout.on('data', (b: Buffer) => (out += b));
        p.stderr.on('data', (b: Buffer) => (out += b));
        p.on('exit', (c) => resolve({ code: c, out }));
      });
    const results = await Promise.all([open(), open()]);
    for (const r of results) expect(r, r.out).toMatchObject({ code: 0 });
    const database = url.slice(url.lastIndexOf('/') + 1);
    expect(server.psql('SELECT version FROM voxnet_schema', database).trim()).toBe('4');
    expect(server.psql('SELECT count(*) FROM voxnet_schema', database).trim()).toBe('1');
    expect(server.psql("SELECT count(*) FROM meta WHERE key LIKE 'opened-%'", database).trim()).toBe('2');
  });

  it('keeps every broker table in the one database, next to the schema version', async () => {
    const url = await server.createDatabase();
    new PostgresStore(url).close();
    const database = url.slice(url.lastIndexOf('/') + 1);
    const tables = server.psql("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'", database).trim();
    expect(tables.split(',')).toEqual(['affiliations', 'items', 'meta', 'nodes', 'policy_releases', 'subscriptions', 'thread_entries', 'thread_keys', 'voxnet_schema']);
  });

  it('redacts the password of a URL for logs', () => {
    expect(redactUrl('postgres://voxnet:s3cret@db.example.org:5432/voxnet')).toBe('postgres://voxnet:***@db.example.org:5432/voxnet');
    expect(redactUrl('postgresql://u:p%40ss@h/db?password=x&sslmode=require')).toBe('postgresql://u:***@h/db?password=***&sslmode=require');
    expect(redactUrl('postgres://h/db')).toBe('postgres://h/db');
  });
});
