/**
 * A VOXnet service past one machine, with real processes (issue 19), shared by
 * `test/broker-cluster.test.ts` (short, in CI) and `bench/cluster.ts`: a
 * PostgreSQL (test/helpers/postgres.ts), an ejabberd cluster of one or more nodes
 * (ejabberd-cluster.ts), one or more broker processes of one service domain
 * (`voxnet broker`, active/standby on the domain's advisory lock, each given
 * every node's component port), N subscribers on raw sockets spread over the
 * nodes (bench/lib/raw-xmpp.ts) and a publisher.
 *
 * Every item id is a marker `vxc~RUN~SEQ~MS~` (run, sequence number, send time):
 * subscribers count the markers in the bytes they receive, live, per subscriber
 * and sequence number, so a delivery twice shows, and a catch-up (RSM paging
 * of the node's items, as a subscriber does after a reconnection) adds what
 * they missed apart from what came live.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEjabberdCluster, type EjabberdCluster } from '../../broker-component/servers/ejabberd-cluster.ts';
import { lockKey } from '../../broker-component/ha.ts';
import { spawnBroker } from '../../test/helpers/broker-process.ts';
import { startPostgres, type Postgres } from '../../test/helpers/postgres.ts';
import { MarkerScanner, RawClient, escapeXml, expectResult } from './raw-xmpp.ts';
import { percentile, pool, sleep } from './stats.ts';
import { pidsUnder } from './proc.ts';

export const SERVICE = 'pubsub.svom.fr';
const SECRET = 'cluster-secret';
const MULTICAST = 'multicast.svom.fr';
const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_RSM = 'http://jabber.org/protocol/rsm';
const PAYLOAD = `<entry xmlns='http://www.w3.org/2005/Atom'><title>cluster test alert</title><summary>${'x'.repeat(400)}</summary></entry>`;

export type ClusterWorldOptions = {
  /** ejabberd nodes (default 2). */
  nodes?: number;
  /** Broker processes of the one service domain (default 2: active + standby). */
  brokers?: number;
  subscribers: number;
  /** Where the brokers keep their state: the shared PostgreSQL (default), or one SQLite directory shared on this machine. */
  store?: 'postgres' | 'sqlite';
  /** An existing PostgreSQL to use (a database of its own is created); else one is started. */
  postgres?: Postgres;
  /** Broker log level (default warn). */
  brokerLog?: string;
  log?: (s: string) => void;
};

export type Sub = {
  user: string;
  /** Index of the node it is connected to now. */
  node: number;
  client: RawClient;
  /** Live deliveries per `run~seq` key. */
  live: Map<string, number>;
  /** Items found by a catch-up and not delivered live. */
  caught: Set<string>;
};

export type BrokerProc = { index: number; urls: string[]; proc: ChildProcess; exited: Promise<number | null> };

export type ClusterWorld = {
  pg: Postgres;
  cluster: EjabberdCluster;
  brokers: BrokerProc[];
  subs: Sub[];
  pub: RawClient;
  /** Every delivery's latency (ms from the first send of the publish), per run. */
  latencies: Map<number, number[]>;
  /** Live deliveries per run. */
  delivered: Map<number, number>;
  /** When the last live delivery of a run arrived (Date.now()). */
  lastAt: Map<number, number>;
  /** The broker processes' and the ejabberd nodes' pids (CPU accounting). */
  pids(): { brokers: number[]; servers: number[] };
  /** (Re)start broker `i` (a standby while another holds the lock). */
  startBroker(i: number): BrokerProc;
  /** SIGKILL broker `i`; resolves once it is gone. */
  killBroker(i: number): Promise<void>;
  /** The index of the broker holding the service lock now (undefined: none). */
  activeBroker(): Promise<number | undefined>;
  /** The indexes of the brokers waiting for the service lock (standing by). */
  standbyBrokers(): Promise<number[]>;
  /** Wait until broker `i` stands by (started and blocked on the lock). */
  waitStandby(i: number, timeoutMs?: number): Promise<void>;
  /** Wait until the service answers a ping (a broker is active and connected); resolves with the time it took. */
  waitServing(timeoutMs?: number): Promise<number>;
  createNode(node: string): Promise<void>;
  subscribeAll(node: string): Promise<void>;
  /** Publish items SEQ 0..n-1 of `run` with `inflight` in flight, retrying each until it is known to be stored; resolves with the acknowledged (or found stored) sequence numbers. */
  publish(node: string, run: number, n: number, inflight?: number, gapMs?: number): Promise<number[]>;
  /** The sequence numbers of `run` stored on the node. */
  stored(node: string, run: number): Promise<number[]>;
  /** Every item id on the node, oldest first. */
  storedIds(node: string): Promise<string[]>;
  /** Move a subscriber to another node (new connection, initial presence). */
  reconnect(sub: Sub, node: number): Promise<void>;
  /** A subscriber pages through the node's items (RSM) and records those of `run` it did not get live. */
  catchUp(sub: Sub, node: string, run: number): Promise<void>;
  /** Every subscriber catches up (50 at a time). */
  catchUpAll(node: string, run: number): Promise<void>;
  stop(): Promise<void>;
};

const key = (run: number, seq: number) => `${run}~${seq}`;
const idOf = (run: number, seq: number, ms: number) => `vxc~${run}~${seq}~${ms}~`;

export async function startClusterWorld(o: ClusterWorldOptions): Promise<ClusterWorld> {
  const log = o.log ?? (() => undefined);
  const nNodes = o.nodes ?? 2;
  const nBrokers = o.brokers ?? 2;
  const dir = mkdtempSync(join(tmpdir(), 'voxnet-clusterworld-'));
  const cleanups: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pgServer = o.postgres ?? (await startPostgres());
    if (!o.postgres) cleanups.push(() => pgServer.close());
    const dbUrl = await pgServer.createDatabase();
    const t0 = Date.now();
    const cluster = await startEjabberdCluster({
      nodes: nNodes,
      components: [{ domain: SERVICE, secret: SECRET }],
      multicast: { domain: MULTICAST, trusted: [SERVICE] },
    });
    cleanups.push(() => cluster.stop());
    log(`ejabberd cluster of ${nNodes} node(s) up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const urlsOf = (i: number) => Array.from({ length: nNodes }, (_, k) => cluster.nodes[(i + k) % nNodes]!.componentUrls[SERVICE]!);
    const storeEnv: Record<string, string> =
      (o.store ?? 'postgres') === 'postgres' ? { VOXNET_STORAGE_DRIVER: 'postgres', VOXNET_STORAGE_URL: dbUrl } : {};
    const dataDir = join(dir, 'broker');
    const brokers: BrokerProc[] = [];
    const startBroker = (i: number): BrokerProc => {
      // Broker i prefers node i (its list starts there) and fails over to the others.
      const urls = urlsOf(i);
      const proc = spawnBroker({
        componentUrl: urls.join(','),
        domain: SERVICE,
        secret: SECRET,
        dataDir,
        env: { VOXNET_HA_LOCK: nBrokers > 1 || storeEnv.VOXNET_STORAGE_DRIVER ? 'true' : 'false', VOXNET_HA_URL: dbUrl, VOXNET_LOG_LEVEL: o.brokerLog ?? 'warn', VOXNET_STORAGE_SYNCHRONOUS: 'full', ...storeEnv },
      });
      const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
      const b = { index: i, urls, proc, exited };
      brokers[i] = b;
      return b;
    };
    cleanups.push(async () => {
      for (const b of brokers) if (b && b.proc.exitCode === null && b.proc.signalCode === null) b.proc.kill('SIGKILL');
      await Promise.all(brokers.map((b) => b?.exited));
    });
    const killBroker = async (i: number) => {
      const b = brokers[i]!;
      if (b.proc.exitCode === null && b.proc.signalCode === null) b.proc.kill('SIGKILL');
      await b.exited;
    };
    const admin = new pg.Client({ connectionString: dbUrl });
    await admin.connect();
    cleanups.push(() => admin.end());
    /** Brokers by their lock session: granted (active) or waiting (standby). */
    const lockSessions = async (granted: boolean) => {
      const k = BigInt.asUintN(64, BigInt(lockKey(SERVICE)));
      const r = await admin.query(
        `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND l.granted = $3 AND l.classid = $1 AND l.objid = $2`,
        [String(k >> 32n), String(k & 0xffffffffn), granted],
      );
      return (r.rows as { application_name: string }[])
        .map((row) => Number(/^voxnet-broker pid=(\d+) /.exec(row.application_name)?.[1]))
        .map((pid) => brokers.findIndex((b) => b?.proc.pid === pid && b.proc.exitCode === null))
        .filter((i) => i >= 0);
    };
    const activeBroker = async () => (await lockSessions(true))[0];
    const standbyBrokers = () => lockSessions(false);
    const waitStandby = async (i: number, timeoutMs = 60_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!(await standbyBrokers()).includes(i)) {
        if (Date.now() > deadline) throw new Error(`broker ${i} is not standing by after ${timeoutMs} ms`);
        await sleep(100);
      }
    };

    // Accounts through node 1 (Mnesia replicates them), made durable by nothing more: nodes are stopped cleanly here.
    const users = Array.from({ length: o.subscribers }, (_, i) => ({ user: `s${i}`, host: 'svom.fr', password: `pw${i}` }));
    await cluster.nodes[0]!.addUsers([{ user: 'publisher', host: 'svom.fr', password: 'pw-pub' }, ...users], 16);
    const login = async (user: string, password: string, node: number, resource = 'bench') => {
      const c = await RawClient.login({ host: '127.0.0.1', port: cluster.nodes[node]!.c2sPort, user, domain: 'svom.fr', password, resource, timeoutMs: 60_000 });
      // The server handles a client's stanzas in order: once this ping is answered, the
      // initial presence was handled and the session receives what is sent to the bare JID.
      await expectResult(c.iq(`<iq type='get' id='ID' to='svom.fr'><ping xmlns='urn:xmpp:ping'/></iq>`, 30_000), `ping from ${user}`);
      return c;
    };
    const pub = await login('publisher', 'pw-pub', 0, 'pub');
    cleanups.push(async () => pub.close());

    const latencies = new Map<number, number[]>();
    const delivered = new Map<number, number>();
    const lastAt = new Map<number, number>();
    const epoch = Date.now();
    const attach = (s: Sub) => {
      const scanner = new MarkerScanner('vxc~', (run, seq, ms) => {
        const k = key(run, seq);
        s.live.set(k, (s.live.get(k) ?? 0) + 1);
        delivered.set(run, (delivered.get(run) ?? 0) + 1);
        lastAt.set(run, Date.now());
        let l = latencies.get(run);
        if (!l) latencies.set(run, (l = []));
        l.push(Date.now() - epoch - ms);
      });
      s.client.onRaw((chunk) => scanner.push(chunk));
      s.client.textMode = false;
    };
    const subs: Sub[] = [];
    const t1 = Date.now();
    await pool(users, 50, async (u, i) => {
      subs[i] = { user: u.user, node: i % nNodes, client: await login(u.user, u.password, i % nNodes), live: new Map(), caught: new Set() };
    });
    cleanups.push(async () => subs.forEach((s) => s.client.close()));
    log(`${o.subscribers} subscribers logged in over ${nNodes} node(s) in ${((Date.now() - t1) / 1000).toFixed(1)} s`);

    const ping = () => pub.iq(`<iq type='get' id='ID' to='${SERVICE}'><ping xmlns='urn:xmpp:ping'/></iq>`, 2000).then((r) => r.type === 'result', () => false);
    // A ping every 25 ms, without waiting for the previous one: one sent into a
    // connection that is already dead stays unanswered, and must not hide the moment
    // the next one is answered.
    const waitServing = (timeoutMs = 60_000) =>
      new Promise<number>((resolve, reject) => {
        const start = Date.now();
        let done = false;
        const tick = setInterval(() => {
          if (done) return;
          if (Date.now() - start > timeoutMs) {
            done = true;
            clearInterval(tick);
            reject(new Error(`${SERVICE} did not answer within ${timeoutMs} ms`));
            return;
          }
          void ping().then((ok) => {
            if (ok && !done) {
              done = true;
              clearInterval(tick);
              resolve(Date.now() - start);
            }
          });
        }, 25);
      });

    for (let i = 0; i < nBrokers; i++) {
      startBroker(i);
      // The first one becomes active; the others find the lock held and stand by.
      if (i === 0) await waitServing(90_000);
      else await waitStandby(i);
    }

    const itemsPage = async (client: RawClient, node: string, after: string | undefined) => {
      const set = `<set xmlns='${NS_RSM}'><max>100</max>${after ? `<after>${escapeXml(after)}</after>` : '<index>0</index>'}</set>`;
      const xml = await expectResult(client.iq(`<iq type='get' id='ID' to='${SERVICE}'><pubsub xmlns='${NS_PUBSUB}'><items node='${escapeXml(node)}'/>${set}</pubsub></iq>`, 30_000), `items of ${node}`);
      return [...xml.matchAll(/<item\b[^>]*?\bid=(?:'([^']*)'|"([^"]*)")/g)].map((m) => m[1] ?? m[2]!);
    };
    const allIds = async (client: RawClient, node: string) => {
      const out: string[] = [];
      let after: string | undefined;
      for (;;) {
        const ids = await itemsPage(client, node, after);
        out.push(...ids);
        if (ids.length < 100) return out;
        after = ids.at(-1);
      }
    };
    const seqsOf = (ids: string[], run: number) =>
      ids.map((id) => /^vxc~(\d+)~(\d+)~/.exec(id)).filter((m): m is RegExpExecArray => !!m && Number(m[1]) === run).map((m) => Number(m[2]));

    const w: ClusterWorld = {
      pg: pgServer,
      cluster,
      brokers,
      subs,
      pub,
      latencies,
      delivered,
      lastAt,
      pids: () => ({
        brokers: brokers.filter((b) => b && b.proc.exitCode === null && b.proc.signalCode === null).map((b) => b.proc.pid!),
        servers: pidsUnder(cluster.dir),
      }),
      startBroker,
      killBroker,
      activeBroker,
      standbyBrokers,
      waitStandby,
      waitServing,
      async createNode(node) {
        const field = (v: string, val: string) => `<field var='${v}'><value>${escapeXml(val)}</value></field>`;
        await expectResult(
          pub.iq(
            `<iq type='set' id='ID' to='${SERVICE}'><pubsub xmlns='${NS_PUBSUB}'><create node='${escapeXml(node)}'/><configure><x xmlns='jabber:x:data' type='submit'>` +
              `${field('FORM_TYPE', 'http://jabber.org/protocol/pubsub#node_config')}${field('pubsub#max_items', 'max')}${field('voxnet#body_summary', '0')}</x></configure></pubsub></iq>`,
            30_000,
          ),
          `create ${node}`,
        );
      },
      async subscribeAll(node) {
        await pool(subs, 50, async (s) => {
          s.client.textMode = true;
          await expectResult(s.client.iq(`<iq type='set' id='ID' to='${SERVICE}'><pubsub xmlns='${NS_PUBSUB}'><subscribe node='${escapeXml(node)}' jid='${s.user}@svom.fr'/></pubsub></iq>`, 30_000), `subscribe ${s.user}`);
          attach(s);
        });
      },
      async publish(node, run, n, inflight = 4, gapMs = 0) {
        const acked: number[] = [];
        let next = 0;
        const deadline = Date.now() + 180_000;
        const worker = async () => {
          while (next < n) {
            const seq = next++;
            const id = idOf(run, seq, Date.now() - epoch);
            const item = `<item id='${id}'>${PAYLOAD}</item>`;
            // A careful publisher: a publish without an answer may or may not have been stored;
            // it asks for the item before sending it again, so it is never notified twice.
            for (let attempt = 0; Date.now() < deadline; attempt++) {
              if (attempt > 0) {
                const found = await pub
                  .iq(`<iq type='get' id='ID' to='${SERVICE}'><pubsub xmlns='${NS_PUBSUB}'><items node='${escapeXml(node)}'><item id='${id}'/></items></pubsub></iq>`, 5000)
                  .catch(() => undefined);
                if (!found || found.type !== 'result' && !/item-not-found/.test(found.xml)) {
                  await sleep(100);
                  continue;
                }
                if (found.type === 'result' && found.xml.includes(id)) {
                  acked.push(seq);
                  break;
                }
              }
              const r = await pub.iq(`<iq type='set' id='ID' to='${SERVICE}'><pubsub xmlns='${NS_PUBSUB}'><publish node='${escapeXml(node)}'>${item}</publish></pubsub></iq>`, 5000).catch(() => undefined);
              if (r?.type === 'result') {
                acked.push(seq);
                break;
              }
              await sleep(100);
            }
            if (gapMs) await sleep(gapMs);
          }
        };
        await Promise.all(Array.from({ length: inflight }, worker));
        return acked.sort((a, b) => a - b);
      },
      storedIds: (node) => allIds(pub, node),
      async stored(node, run) {
        return seqsOf(await allIds(pub, node), run).sort((a, b) => a - b);
      },
      async reconnect(s, node) {
        s.client.close();
        s.client = await login(s.user, `pw${s.user.slice(1)}`, node);
        s.node = node;
        attach(s);
      },
      async catchUp(s, node, run) {
        s.client.onRaw(undefined);
        s.client.textMode = true;
        try {
          for (const seq of seqsOf(await allIds(s.client, node), run)) if (!s.live.has(key(run, seq))) s.caught.add(key(run, seq));
        } finally {
          attach(s);
        }
      },
      catchUpAll: (node, run) => pool(subs, 50, (s) => w.catchUp(s, node, run)),
      stop: stopAll,
    };
    return w;
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** What a run of items did at the subscribers: lost and duplicated deliveries, latency. */
export type RunAccount = { stored: number; acked: number; notStored: number[]; missing: string[]; duplicated: string[]; live: number; caught: number; p50: number; p99: number };

export function account(w: ClusterWorld, run: number, acked: number[], stored: number[]): RunAccount {
  const storedSet = new Set(stored);
  const a: RunAccount = { stored: stored.length, acked: acked.length, notStored: acked.filter((s) => !storedSet.has(s)), missing: [], duplicated: [], live: 0, caught: 0, p50: NaN, p99: NaN };
  for (const s of w.subs) {
    for (const seq of stored) {
      const k = key(run, seq);
      const n = s.live.get(k) ?? 0;
      if (n > 1) a.duplicated.push(`${s.user}:${seq} (${n}×)`);
      if (n) a.live++;
      else if (s.caught.has(k)) a.caught++;
      else a.missing.push(`${s.user}:${seq}`);
    }
  }
  const l = (w.latencies.get(run) ?? []).slice().sort((x, y) => x - y);
  a.p50 = percentile(l, 50);
  a.p99 = percentile(l, 99);
  return a;
}

/** Wait until every subscriber got `count` items of `run` live, or `ms` passed. */
export async function settle(w: ClusterWorld, run: number, count: number, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && (w.delivered.get(run) ?? 0) < count * w.subs.length) await sleep(100);
  await sleep(300); // a late duplicate would show now
}
