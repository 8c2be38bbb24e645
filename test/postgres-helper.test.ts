import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { startPostgres, postgresAvailable, POSTGRES_MISSING, type Postgres } from './helpers/postgres.ts';

async function query(url: string, sql: string, args: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await c.query(sql, args);
  } finally {
    await c.end();
  }
}

describe.skipIf(!postgresAvailable())(`test PostgreSQL${postgresAvailable() ? '' : ` (skipped: ${POSTGRES_MISSING})`}`, () => {
  let server: Postgres;
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => server?.close());

  it('accepts the voxnet role with its password over TCP, and refuses a wrong one', async () => {
    const r = await query(server.url, 'SELECT current_user AS u, current_database() AS d');
    expect(r.rows[0]).toEqual({ u: 'voxnet', d: 'voxnet' });
    const wrong = server.url.replace(encodeURIComponent(server.password), 'wrong');
    await expect(query(wrong, 'SELECT 1')).rejects.toThrow(/password authentication failed/);
  });

  it('creates fresh databases, and keeps committed rows across a crash (SIGKILL) and a clean restart', async () => {
    const url = await server.createDatabase();
    expect(url).not.toBe(server.url);
    await query(url, 'CREATE TABLE t (n integer)');
    await query(url, 'INSERT INTO t VALUES (1), (2)');
    await server.kill();
    await expect(query(url, 'SELECT 1')).rejects.toThrow();
    await server.start();
    expect((await query(url, 'SELECT count(*)::int AS n FROM t')).rows[0].n).toBe(2);
    await server.stop();
    await server.start();
    expect(server.psql('SELECT count(*) FROM t', url.slice(url.lastIndexOf('/') + 1)).trim()).toBe('2');
  });

  it('removes its directory on close', async () => {
    const other = await startPostgres();
    expect(existsSync(other.dir)).toBe(true);
    await other.close();
    expect(existsSync(other.dir)).toBe(false);
    await expect(query(other.url, 'SELECT 1')).rejects.toThrow();
  });
});
