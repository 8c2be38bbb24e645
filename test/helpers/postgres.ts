/**
 * A real PostgreSQL (Debian's `postgresql` package) for tests and benchmarks: a
 * fresh cluster (initdb) in a temporary directory, listening on a free loopback
 * port, its unix socket in the same directory. PostgreSQL refuses to run as root,
 * so when we are root initdb and pg_ctl run as Debian's `postgres` user (override
 * with VOXNET_PG_USER); otherwise as ourselves. The binaries are the newest
 * /usr/lib/postgresql/<version>/bin (override with VOXNET_PG_BIN).
 *
 * The cluster has one role `voxnet` with a password (connections over TCP use
 * SCRAM, as a deployment would; the unix socket trusts local users) and a database
 * `voxnet`; `createDatabase()` adds fresh ones (one per test).
 *
 * `stop()` is a clean shutdown, `kill()` a crash (SIGKILL of the postmaster and its
 * backends: what a power cut leaves), `start()` brings it back on the same port
 * and data, `close()` stops it and removes the directory.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../broker-component/servers/net.ts';

export type Postgres = {
  /** postgres://voxnet:<password>@127.0.0.1:<port>/voxnet */
  url: string;
  port: number;
  /** The directory holding the cluster (`data/`), its socket and its log. */
  dir: string;
  password: string;
  /** The URL of another database of this cluster. */
  urlOf(database: string): string;
  /** Create a fresh, empty database (owned by `voxnet`) and return its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Run SQL as the superuser through the unix socket (psql); returns psql's output. */
  psql(sql: string, database?: string): string;
  /** Clean shutdown (pg_ctl stop -m fast). */
  stop(): Promise<void>;
  /** Crash: SIGKILL the postmaster and every backend; waits until they are gone. */
  kill(): Promise<void>;
  /** Start again on the same port and data (after stop() or kill(): crash recovery runs). */
  start(): Promise<void>;
  /** Stop (or kill, if a clean stop fails) and remove the directory. */
  close(): Promise<void>;
  /** The server's log so far. */
  log(): string;
};

export type PostgresOptions = {
  /** Extra server settings (`-c name=value`), e.g. { fsync: 'off' } for a benchmark that does not test durability. */
  settings?: Record<string, string>;
};

/** The newest Debian PostgreSQL binaries, or undefined when none are installed. */
export function postgresBin(): string | undefined {
  if (process.env.VOXNET_PG_BIN) return process.env.VOXNET_PG_BIN;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? join(root, versions[0]!, 'bin') : undefined;
}

export function postgresAvailable(): boolean {
  return postgresBin() !== undefined;
}

export const POSTGRES_MISSING = 'PostgreSQL is not installed: apt-get install postgresql (make test does)';

const ROLE = 'voxnet';

/** The user the server runs as: ourselves, or `postgres` when we are root (PostgreSQL refuses root). */
function serverUser(): { name: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const name = process.env.VOXNET_PG_USER ?? 'postgres';
  const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  return { name, uid: id('-u'), gid: id('-g') };
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<Postgres> {
  const bin = postgresBin();
  if (!bin) throw new Error(POSTGRES_MISSING);
  const user = serverUser();
  const dir = mkdtempSync(join(tmpdir(), 'voxnet-pg-'));
  if (user) {
    chownSync(dir, user.uid, user.gid);
    // Every parent must let the server's user through.
    try {
      execFileSync('runuser', ['-u', user.name, '--', 'test', '-w', dir], { stdio: 'ignore' });
    } catch {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`the ${user.name} user cannot reach ${dir}: point TMPDIR at a directory every user can traverse (e.g. /tmp)`);
    }
  }
  chmodSync(dir, 0o700);
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const pwFile = join(dir, 'pw');
  writeFileSync(pwFile, password + '\n', { mode: 0o600 });
  if (user) chownSync(pwFile, user.uid, user.gid);

  /** Run a PostgreSQL program as the server's user; a failure throws with its output. */
  const run = (prog: string, args: string[], timeout = 120_000): string => {
    const [cmd, argv] = user ? ['runuser', ['-u', user.name, '--', join(bin, prog), ...args]] : [join(bin, prog), args];
    try {
      return execFileSync(cmd, argv, { encoding: 'utf8', stdio: 'pipe', timeout, cwd: dir });
    } catch (e) {
      const x = e as { stdout?: string; stderr?: string; message: string };
      let log = '';
      try {
        log = readFileSync(logFile, 'utf8').slice(-4000);
      } catch {}
      throw new Error(`${prog} failed: ${x.message}\n${x.stdout ?? ''}\n${x.stderr ?? ''}\n${log}`);
    }
  };

  run('initdb', ['-D', data, '-U', ROLE, `--pwfile=${pwFile}`, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync']);
  rmSync(pwFile);
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: dir,
    max_connections: '100',
    shared_buffers: '32MB',
    logging_collector: 'off',
    ...opts.settings,
  };
  const serverOpts = Object.entries(settings)
    .map(([k, v]) => `-c ${k}=${v}`)
    .join(' ');

  let pid: number | undefined;
  const postmasterPid = (): number | undefined => {
    try {
      return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return undefined;
    }
  };
  const start = async (): Promise<void> => {
    // -w: returns once the server accepts connections (crash recovery included).
    run('pg_ctl', ['start', '-w', '-t', '120', '-D', data, '-l', logFile, '-o', serverOpts], 180_000);
    pid = postmasterPid();
  };
  const alive = (p: number) => {
    try {
      process.kill(p, 0);
      return true;
    } catch {
      return false;
    }
  };
  /** The postmaster's children (backends, checkpointer, WAL writer...). */
  const childrenOf = (p: number): number[] =>
    readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          // Field 4 of /proc/<pid>/stat is the parent pid (after the parenthesised name).
          const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === p;
        } catch {
          return false;
        }
      })
      .map(Number);
  const kill = async (): Promise<void> => {
    const p = pid ?? postmasterPid();
    if (p === undefined || !alive(p)) return;
    const all = [p, ...childrenOf(p)];
    for (const q of all) {
      try {
        process.kill(q, 'SIGKILL');
      } catch {}
    }
    const deadline = Date.now() + 30_000;
    while (all.some(alive)) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL processes ${all.filter(alive).join(', ')} survived SIGKILL`);
      await new Promise((r) => setTimeout(r, 20));
    }
    pid = undefined;
  };
  const stop = async (): Promise<void> => {
    if (pid === undefined || !alive(pid)) return;
    run('pg_ctl', ['stop', '-w', '-t', '60', '-m', 'fast', '-D', data], 90_000);
    pid = undefined;
  };
  // A test process that dies without close() must not leave a server behind.
  const onExit = () => {
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {}
    }
  };
  process.once('exit', onExit);

  await start();
  const psql = (sql: string, database = ROLE): string =>
    run('psql', ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-h', dir, '-p', String(port), '-U', ROLE, '-d', database, '-c', sql]);
  const urlOf = (database: string) => `postgres://${ROLE}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  const url = urlOf(ROLE);
  run('createdb', ['-h', dir, '-p', String(port), '-U', ROLE, ROLE]);
  let made = 0;

  return {
    url,
    port,
    dir,
    password,
    urlOf,
    psql,
    async createDatabase(name) {
      const db = name ?? `t${process.pid}_${++made}_${Math.random().toString(36).slice(2, 8)}`;
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${pg.escapeIdentifier(db)}`);
      } finally {
        await c.end();
      }
      return urlOf(db);
    },
    stop,
    kill,
    start,
    async close() {
      try {
        await stop();
      } catch {
        await kill();
      }
      process.removeListener('exit', onExit);
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
  };
}
