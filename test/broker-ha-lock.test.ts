/**
 * The service lock of active/standby brokers (broker-component/ha.ts) against a
 * real PostgreSQL: one holder per domain, a standby blocked until the holder's
 * session ends, fencing when the holder's lock connection dies, standbys that
 * ride out a PostgreSQL restart; and the configuration that turns it on.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { holdServiceLock, lockKey, LockWaitAborted, type ServiceLock } from '../broker-component/ha.ts';
import { loadBrokerConfig, ConfigError } from '../broker-component/config.ts';
import { startPostgres, postgresAvailable, POSTGRES_MISSING, type Postgres } from './helpers/postgres.ts';
import { untilValue } from './helpers/until.ts';

const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!postgresAvailable())(`service lock${postgresAvailable() ? '' : ` (skipped: ${POSTGRES_MISSING})`}`, () => {
  let server: Postgres;
  const held: ServiceLock[] = [];
  const hold = async (domain: string, signal?: AbortSignal) => {
    const l = await holdServiceLock({ url: server.url, domain, log, signal });
    held.push(l);
    return l;
  };
  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await Promise.all(held.map((l) => l.release()));
    await server?.close();
  });

  it('derives a stable 64-bit key per domain', () => {
    expect(lockKey('pubsub.svom.fr')).toBe(lockKey('pubsub.svom.fr'));
    expect(lockKey('pubsub.svom.fr')).not.toBe(lockKey('pubsub.svom.cn'));
    expect(BigInt(lockKey('pubsub.svom.fr'))).toBeLessThan(2n ** 63n);
  });

  it('lets one broker per domain hold it; a standby takes over as soon as the holder releases it', async () => {
    const a = await hold('one.svom.fr');
    let bHeld: ServiceLock | undefined;
    const b = hold('one.svom.fr').then((l) => (bHeld = l));
    const other = await hold('two.svom.fr'); // another domain is independent
    expect(other.key).not.toBe(a.key);
    await sleep(1500);
    expect(bHeld).toBeUndefined();
    const t0 = Date.now();
    await a.release();
    await b;
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(bHeld!.waitedMs).toBeGreaterThan(1000);
  });

  it('a standby takes over when the holder\'s session ends without a goodbye; the holder is told it lost the lock', async () => {
    const a = await hold('crash.svom.fr');
    const lost: string[] = [];
    a.onLost((why) => lost.push(why));
    const b = hold('crash.svom.fr');
    await sleep(500);
    // What PostgreSQL sees when a holder process dies: its backend goes away.
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'voxnet-broker % crash.svom.fr %' AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)`);
    await admin.end();
    await b;
    await untilValue(() => lost.length > 0, 10_000, 'the old holder to learn it lost the lock');
    expect(lost[0]).toMatch(/lock connection|lock check/);
  });

  it('a standby waits through a PostgreSQL restart and takes the lock once it is back', async () => {
    const a = await hold('restart.svom.fr');
    const lost: string[] = [];
    a.onLost((why) => lost.push(why));
    let bHeld: ServiceLock | undefined;
    const b = hold('restart.svom.fr').then((l) => (bHeld = l));
    await sleep(300);
    await server.kill();
    await untilValue(() => lost.length > 0, 10_000, 'the holder to fence itself');
    await sleep(500);
    expect(bHeld).toBeUndefined();
    await server.start();
    await untilValue(() => bHeld, 30_000, 'the standby to hold the lock after the restart');
    await b;
  });

  it('a standby stops waiting when asked to (the broker is being stopped)', async () => {
    await hold('abort.svom.fr');
    const ac = new AbortController();
    const waiting = hold('abort.svom.fr', ac.signal);
    await sleep(300);
    ac.abort();
    await expect(waiting).rejects.toBeInstanceOf(LockWaitAborted);
  });
});

describe('active/standby configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'voxnet-ha-cfg-'));
  const base = 'domain: pubsub.svom.fr\nsecret: s\ndata_dir: /tmp/x\n';
  const load = (text: string, env: NodeJS.ProcessEnv = {}) => {
    const f = join(dir, 'broker.yaml');
    writeFileSync(f, text);
    return loadBrokerConfig(f, env);
  };
  const err = (text: string, env: NodeJS.ProcessEnv = {}) => {
    try {
      load(text, env);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    return '';
  };

  it('takes one component port or a list (the nodes of a cluster), in the file or the environment', () => {
    const one = load(base + 'xmpp_url: xmpp://127.0.0.1:5347\n');
    expect(one.xmpp_urls).toEqual(['xmpp://127.0.0.1:5347']);
    expect(one.ha.lock).toBe(false);
    const two = load(base + 'xmpp_url: [xmpp://10.0.0.1:5347, xmpp://10.0.0.2:5347]\n');
    expect(two.xmpp_urls).toEqual(['xmpp://10.0.0.1:5347', 'xmpp://10.0.0.2:5347']);
    expect(two.xmpp_url).toBe('xmpp://10.0.0.1:5347');
    const env = load(base, { VOXNET_XMPP_URL: 'xmpp://a:1, xmpp://b:2' });
    expect(env.xmpp_urls).toEqual(['xmpp://a:1', 'xmpp://b:2']);
  });

  it('turns the lock on with ha.lock and a PostgreSQL URL, from the file or the environment', () => {
    const c = load(base + 'xmpp_url: xmpp://127.0.0.1:5347\nha: { lock: true, url: "postgres://u:p@db:5432/voxnet" }\n');
    expect(c.ha).toEqual({ lock: true, url: 'postgres://u:p@db:5432/voxnet' });
    const e = load(base + 'xmpp_url: xmpp://127.0.0.1:5347\n', { VOXNET_HA_LOCK: 'true', VOXNET_HA_URL: 'postgresql://db/voxnet' });
    expect(e.ha).toEqual({ lock: true, url: 'postgresql://db/voxnet' });
  });

  it('names the key and what is wrong', () => {
    expect(err(base + 'xmpp_url: [xmpp://a:1, http://b]\n')).toMatch(/broker\.yaml:\d+:\d+: xmpp_url\[1\]: must be a server's component port/);
    expect(err(base + 'xmpp_url: []\n')).toMatch(/xmpp_url: must NOT have fewer than 1 items/);
    expect(err(base + 'xmpp_url: xmpp://a:1\nha: { lock: true }\n')).toMatch(/broker\.yaml:\d+:\d+: ha\.lock: needs a PostgreSQL to hold the lock in: set storage\.driver: postgres with storage\.url, or ha\.url/);
    expect(err(base + 'xmpp_url: xmpp://a:1\nha: { lock: true, url: "mysql://x" }\n')).toMatch(/ha\.url: must be a PostgreSQL URL, postgres:\/\//);
    expect(err(base + 'xmpp_url: xmpp://a:1\nha: { lock: yes please }\n')).toMatch(/ha\.lock: must be boolean/);
  });
});
