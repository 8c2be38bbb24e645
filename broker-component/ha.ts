/**
 * Active/standby brokers for one service domain (docs/scaling.md): every broker
 * process of the domain asks PostgreSQL for the domain's advisory lock on a
 * connection of its own; the one that holds it serves (loads the state from the
 * store and connects as the component), the others wait blocked in
 * `pg_advisory_lock`, so a standby takes over as soon as PostgreSQL sees the
 * holder's session end (a killed process's socket closes at once).
 *
 * Fencing: the holder checks its lock connection every second; when it errors,
 * ends, or a check gets no answer within a few seconds, the holder has to assume
 * the lock is gone and must stop serving at once (`onLost`: the broker process
 * exits) so that two actives never serve together. The lock session asks the
 * server to probe it with TCP keepalives (idle 5 s, then 3 probes 2 s apart) and to
 * give up on unacknowledged writes after 10 s: PostgreSQL releases a silent
 * holder's lock after about 11 s, well after that holder fenced itself (3 s).
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import type { Logger } from 'pino';
import { backoffDelay } from '../common/backoff.ts';

export type ServiceLockOptions = {
  /** postgres://… of the database holding the lock (the store's). */
  url: string;
  /** The service domain: the lock key derives from it. */
  domain: string;
  log: Logger;
  /** Between two checks of the held lock's connection; default 1000 ms. */
  checkEveryMs?: number;
  /** A check unanswered for this long means the lock is lost; default 3000 ms. */
  checkTimeoutMs?: number;
  /** Stop waiting (standby shutting down). */
  signal?: AbortSignal;
};

export type ServiceLock = {
  /** The advisory lock key (bigint, as text). */
  key: string;
  /** How long this process waited as a standby before holding the lock (ms). */
  waitedMs: number;
  /** Called once when the lock can no longer be trusted to be held (the caller must stop serving). */
  onLost(fn: (why: string) => void): void;
  /** Unlock and close the connection (a clean stop: a standby takes over at once). */
  release(): Promise<void>;
};

export class LockWaitAborted extends Error {}

/** The domain's lock key: 64 bits of SHA-256, as PostgreSQL's signed bigint. */
export function lockKey(domain: string): string {
  return createHash('sha256').update(`voxnet-broker:${domain}`).digest().readBigInt64BE(0).toString();
}

/** Per-session settings of the lock connection: the server notices a vanished holder within ~11 s. */
const SESSION_SETTINGS = ['SET tcp_keepalives_idle = 5', 'SET tcp_keepalives_interval = 2', 'SET tcp_keepalives_count = 3', 'SET tcp_user_timeout = 10000'];

/** Who holds a domain's lock now (for the standby's log line), from pg_locks and pg_stat_activity. */
async function holderOf(client: pg.Client, key: string): Promise<string | undefined> {
  const k = BigInt.asUintN(64, BigInt(key));
  const r = await client.query(
    `SELECT a.application_name, host(a.client_addr) AS addr, a.pid, a.backend_start
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1`,
    [String(k >> 32n), String(k & 0xffffffffn)],
  );
  const h = r.rows[0] as { application_name: string; addr: string | null; pid: number } | undefined;
  return h ? `${h.application_name || 'a session'} from ${h.addr ?? 'the local socket'} (backend pid ${h.pid})` : undefined;
}

/**
 * Wait until this process holds the domain's lock (retrying through PostgreSQL
 * outages), then watch it. Rejects with LockWaitAborted when `signal` aborts.
 */
export async function holdServiceLock(o: ServiceLockOptions): Promise<ServiceLock> {
  const key = lockKey(o.domain);
  const t0 = Date.now();
  // PostgreSQL keeps 63 bytes of it: the pid first, then the domain and host.
  const me = `voxnet-broker pid=${process.pid} ${o.domain} ${hostname()}`;
  let attempt = 0;
  for (;;) {
    if (o.signal?.aborted) throw new LockWaitAborted('stopped while waiting for the service lock');
    const client = new pg.Client({ connectionString: o.url, application_name: me.slice(0, 63), keepAlive: true, keepAliveInitialDelayMillis: 2000 });
    // An 'error' event with no listener would crash the process; each phase handles its own.
    let failure: Error | undefined;
    client.on('error', (err) => (failure ??= err));
    const abort = () => void client.end().catch(() => undefined);
    o.signal?.addEventListener('abort', abort, { once: true });
    try {
      await client.connect();
      for (const s of SESSION_SETTINGS) await client.query(s);
      const got = (await client.query('SELECT pg_try_advisory_lock($1::bigint) AS got', [key])).rows[0].got as boolean;
      if (!got) {
        const holder = await holderOf(client, key).catch(() => undefined);
        o.log.info({ lock: key, holder }, `standby: another broker of ${o.domain} is active${holder ? ` (${holder})` : ''}; waiting for its lock`);
        await client.query('SELECT pg_advisory_lock($1::bigint)', [key]);
      }
      o.signal?.removeEventListener('abort', abort);
      if (failure) throw failure;
      const waitedMs = Date.now() - t0;
      o.log.info({ lock: key, waitedMs }, `holding the service lock of ${o.domain}: this broker is active`);
      return watch(client, key, waitedMs, o);
    } catch (err) {
      o.signal?.removeEventListener('abort', abort);
      await client.end().catch(() => undefined);
      if (o.signal?.aborted) throw new LockWaitAborted('stopped while waiting for the service lock');
      const delay = backoffDelay(attempt++, { initialMs: 200, maxMs: 5000 });
      o.log.warn({ err: (err as Error).message, retryInMs: delay }, 'service lock: PostgreSQL not reachable; trying again');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** The held lock: checked every second; lost on error, end, or a check without answer. */
function watch(client: pg.Client, key: string, waitedMs: number, o: ServiceLockOptions): ServiceLock {
  const every = o.checkEveryMs ?? 1000;
  const limit = o.checkTimeoutMs ?? 3000;
  const handlers: ((why: string) => void)[] = [];
  let lostWhy: string | undefined;
  let released = false;
  let lastAnswer = Date.now();
  let inFlight = false;
  const lose = (why: string) => {
    if (lostWhy !== undefined || released) return;
    lostWhy = why;
    clearInterval(timer);
    for (const h of handlers) h(why);
    void client.end().catch(() => undefined);
  };
  client.removeAllListeners('error');
  client.on('error', (err) => lose(`lock connection error: ${err.message}`));
  client.on('end', () => lose('lock connection closed'));
  const timer = setInterval(() => {
    if (Date.now() - lastAnswer > limit) return lose(`lock connection silent for ${Date.now() - lastAnswer} ms`);
    if (inFlight) return;
    inFlight = true;
    client.query('SELECT 1').then(
      () => {
        inFlight = false;
        lastAnswer = Date.now();
      },
      (err: Error) => lose(`lock check failed: ${err.message}`),
    );
  }, every);
  return {
    key,
    waitedMs,
    onLost(fn) {
      if (lostWhy !== undefined) fn(lostWhy);
      else handlers.push(fn);
    },
    async release() {
      if (released || lostWhy !== undefined) return;
      released = true;
      clearInterval(timer);
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [key]).catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}
