/**
 * Fan-out benchmark: our broker component against the server's own pubsub.
 *
 *   npx tsx bench/fanout.ts [--subscribers 100,1000] [--publishes 100] [--inflight 4]
 *                           [--rounds 2] [--singles 5] [--targets ours,prosody]
 *                           [--prosody-storage internal|auto|sql|memory]
 *                           [--max-items 1000|default] [--profile] [--keep] [--out FILE.json]
 *
 * Nodes are created with pubsub#max_items 1000 on every target (--max-items default:
 * each service's own default, e.g. for Prosody's internal storage, whose cost grows with
 * the items kept).
 *
 * One server per kind (Prosody, and ejabberd when an ejabberd target is chosen)
 * on loopback, with every selected target attached: our broker as a separate
 * process (`node bin/voxnet.js broker`, configured by VOXNET_* variables, as in
 * production; the server's pubsub runs in the server process, so this is the
 * fair comparison), and the server's own pubsub. N subscribers log in on raw
 * TCP connections (bench/lib/raw-xmpp.ts) and subscribe to one node per N on
 * every target; a publisher publishes M times a real VOEvent (~5 KB, from
 * bench/fixtures) with K publishes in flight. The item id carries a marker with
 * the send time; subscribers find it in the bytes they receive, so the bench
 * parses nothing while measuring.
 *
 * Per target, N and round it measures: deliveries/s (N×M deliveries over the
 * time from the first publish to the last delivery), publish-to-delivery
 * latency (p50, p99, max over every delivery), the publish round trip, and
 * the time for one alert to reach all N subscribers (single publishes on an
 * idle system, median of --singles). Targets run alternately (ours, theirs,
 * ours, theirs...) and the summary gives the ratio ours/theirs.
 *
 * Targets (--targets, in run order within a round; see TARGETS below):
 *   ours              our broker on Prosody, one stanza per subscriber
 *   prosody           Prosody's mod_pubsub (Component "pubsub")
 *   ours-mc           our broker on Prosody, fan-out through XEP-0033 (mod_voxnet_multicast,
 *                     each notification serialized once: multicast_serialize_once, the default)
 *   ours-mc-legacy    the same through a second mod_voxnet_multicast component with
 *                     multicast_serialize_once = false (each copy routed and serialized by Prosody)
 *   ours-ejabberd     our broker on ejabberd
 *   ours-mc-ejabberd  our broker on ejabberd, fan-out through ejabberd's mod_multicast of each
 *                     recipient domain (multicast: auto)
 *   ours-mc1-ejabberd the same through one mod_multicast for every recipient
 *   ours-fan-ejabberd our broker on ejabberd, fan-out through VOXnet's mod_voxnet_fanout
 *                     (config/ejabberd-modules/: encodes each notification once). It runs
 *                     beside mod_multicast as fanout-HOST, outside the hosts' disco#items so
 *                     that ours-mc-ejabberd still discovers mod_multicast; named explicitly
 *                     (it serves every local domain)
 *   ejabberd          ejabberd's mod_pubsub
 *
 * Storage: our broker keeps items in SQLite (synchronous=normal: WAL, no fsync per
 * publish; BENCH_BROKER_SYNC=full for the production default). Prosody's
 * mod_pubsub runs in its default configuration by default: `internal`, Prosody's
 * default file storage (--prosody-storage internal). Other choices, for
 * experiments: `sql` (mod_storage_sql on SQLite; needs Debian's lua-dbi-sqlite3),
 * `memory` (items not persisted), `auto` (sql when LuaDBI is installed, else memory).
 *
 * Notifications: our nodes add a one-line <body> summary (for chat clients),
 * which the servers' pubsub does not; BENCH_NO_BODY=1 creates our nodes without
 * it (voxnet#body_summary=0) to compare identical payloads.
 *
 * Profiles: --profile writes the CPU profiles of each broker process (one file
 * per thread; the main thread's is the largest) to bench/results/profiles/.
 *
 * File descriptors: every subscriber holds one socket in this process and one
 * in the server, so N=1000 needs `ulimit -n` above ~1100 (Debian's default soft
 * limit is 1024): run `ulimit -n 65536` in the shell first. The bench checks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { startProsody } from '../broker-component/servers/prosody.ts';
import { startEjabberd, ejabberdAvailable } from '../broker-component/servers/ejabberd.ts';
import { componentUrlFor } from '../broker-component/servers/index.ts';
import type { XmppServer } from '../broker-component/servers/types.ts';
import { MarkerScanner, RawClient, escapeXml, expectResult, payloadXml, waitService } from './lib/raw-xmpp.ts';
import { cpuSeconds, machineBusySeconds, openFilesLimit, pidsUnder } from './lib/proc.ts';
import { median, percentile, pool, sleep } from './lib/stats.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');

const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_NODE_CONFIG = 'http://jabber.org/protocol/pubsub#node_config';
import { VOEVENT_NS } from '../common/ns.ts';
const MARKER = 'vxb~';
const SECRET = 'bench-secret';
const PUBLISHER = { user: 'benchpub', host: 'svom.fr' };

// ------------------------------------------------------------------ targets

type ServerKind = 'prosody' | 'ejabberd';

/** What a target needs from its server's configuration. */
type ServerNeeds = {
  components?: string[];
  internalPubsub?: string[];
  multicast?: { domain: string; trusted: string[] };
  /** ejabberd: mod_voxnet_fanout on every virtual host (fanout-HOST), trusting these senders. */
  fanout?: { trusted: string[] };
  /** More Prosody configuration (e.g. a component of its own), appended to the global section. */
  prosodyConfig?: string;
};

type TargetContext = { server: XmppServer; workDir: string; profileDir?: string };
type RunningTarget = { pids: number[]; stop(): Promise<void> };

type Target = {
  name: string;
  server: ServerKind;
  /** JID of the pubsub service the subscribers and the publisher talk to. */
  service: string;
  /** The target this one is compared with (ratio ours/theirs). */
  baseline?: string;
  needs: ServerNeeds;
  /** Start whatever runs outside the server (our broker); nothing for the server's own pubsub. */
  setup(ctx: TargetContext): Promise<RunningTarget>;
};

const TARGETS: Target[] = [
  {
    name: 'ours',
    server: 'prosody',
    service: 'pubsub.svom.fr',
    baseline: 'prosody',
    needs: { components: ['pubsub.svom.fr'] },
    setup: (ctx) => startBrokerProcess(ctx, 'pubsub.svom.fr', 'off'),
  },
  { name: 'prosody', server: 'prosody', service: 'ppubsub.svom.fr', needs: { internalPubsub: ['ppubsub.svom.fr'] }, setup: noSetup },
  {
    name: 'ours-mc',
    server: 'prosody',
    service: 'pubsub-mc.svom.fr',
    baseline: 'prosody',
    needs: { components: ['pubsub-mc.svom.fr'], multicast: { domain: 'multicast.svom.fr', trusted: ['pubsub-mc.svom.fr'] } },
    setup: (ctx) => startBrokerProcess(ctx, 'pubsub-mc.svom.fr', 'multicast.svom.fr'),
  },
  {
    // The module before issue 22: every copy routed and serialized by Prosody.
    name: 'ours-mc-legacy',
    server: 'prosody',
    service: 'pubsub-mcl.svom.fr',
    baseline: 'prosody',
    needs: {
      components: ['pubsub-mcl.svom.fr'],
      prosodyConfig: `Component "multicast-legacy.svom.fr" "voxnet_multicast"\n  multicast_trusted_senders = { "pubsub-mcl.svom.fr" }\n  multicast_serialize_once = false`,
    },
    setup: (ctx) => startBrokerProcess(ctx, 'pubsub-mcl.svom.fr', 'multicast-legacy.svom.fr'),
  },
  {
    name: 'ours-ejabberd',
    server: 'ejabberd',
    service: 'pubsub.svom.fr',
    baseline: 'ejabberd',
    needs: { components: ['pubsub.svom.fr'] },
    setup: (ctx) => startBrokerProcess(ctx, 'pubsub.svom.fr', 'off'),
  },
  {
    // multicast: auto, as deployed: each domain's recipients go to that domain's
    // mod_multicast (one Erlang process per virtual host).
    name: 'ours-mc-ejabberd',
    server: 'ejabberd',
    service: 'pubsub-mc.svom.fr',
    baseline: 'ejabberd',
    needs: { components: ['pubsub-mc.svom.fr'], multicast: { domain: 'multicast.svom.fr', trusted: ['pubsub-mc.svom.fr', 'pubsub-mc1.svom.fr'] } },
    setup: (ctx) => startBrokerProcess(ctx, 'pubsub-mc.svom.fr', 'auto'),
  },
  {
    // One multicast service for every recipient (the service named explicitly).
    name: 'ours-mc1-ejabberd',
    server: 'ejabberd',
    service: 'pubsub-mc1.svom.fr',
    baseline: 'ejabberd',
    needs: { components: ['pubsub-mc1.svom.fr'], multicast: { domain: 'multicast.svom.fr', trusted: ['pubsub-mc.svom.fr', 'pubsub-mc1.svom.fr'] } },
    setup: (ctx) => startBrokerProcess(ctx, 'pubsub-mc1.svom.fr', 'multicast.svom.fr'),
  },
  {
    name: 'ours-fan-ejabberd',
    server: 'ejabberd',
    service: 'pubsub-fan.svom.fr',
    baseline: 'ejabberd',
    needs: { components: ['pubsub-fan.svom.fr'], fanout: { trusted: ['pubsub-fan.svom.fr'] } },
    setup: (ctx) => startBrokerProcess(ctx, 'pubsub-fan.svom.fr', 'fanout-svom.fr'),
  },
  { name: 'ejabberd', server: 'ejabberd', service: 'ppubsub.svom.fr', needs: { internalPubsub: ['ppubsub.svom.fr'] }, setup: noSetup },
];

async function noSetup(): Promise<RunningTarget> {
  return { pids: [], stop: async () => {} };
}

/** Our broker as its own process, configured through the environment like a deployment. */
async function startBrokerProcess(ctx: TargetContext, domain: string, multicast: string): Promise<RunningTarget> {
  const dataDir = join(ctx.workDir, `broker-${domain}`);
  mkdirSync(dataDir, { recursive: true });
  // One directory per broker: node writes a profile per thread (the main one is the largest).
  const nodeArgs = ctx.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(ctx.profileDir, `broker-${domain}-${Date.now()}`)}`] : [];
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, join(repo, 'bin/voxnet.js'), 'broker'], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      VOXNET_XMPP_URL: componentUrlFor(ctx.server, domain),
      VOXNET_DOMAIN: domain,
      VOXNET_SECRET: SECRET,
      VOXNET_DATA_DIR: dataDir,
      VOXNET_CREATE_NODES: 'svom.fr',
      VOXNET_LOG_LEVEL: 'warn',
      VOXNET_MULTICAST: multicast,
      // Prosody's file storage does not fsync either.
      VOXNET_STORAGE_SYNCHRONOUS: process.env.BENCH_BROKER_SYNC ?? 'normal',
    },
  });
  const tag = `[broker ${domain}] `;
  for (const s of [child.stdout!, child.stderr!]) s.on('data', (d) => process.stderr.write(tag + String(d).trimEnd().replace(/\n/g, '\n' + tag) + '\n'));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    pids: [child.pid!],
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      // The broker may need up to ~15 s (its link's stream-close timeout) when the server closes at the same time.
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    },
  };
}

// ------------------------------------------------------------------ options

const { values: args } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '100,1000' },
    publishes: { type: 'string', default: '100' },
    inflight: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '2' },
    singles: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '20' },
    targets: { type: 'string', default: 'ours,prosody' },
    payload: { type: 'string', default: join(here, 'fixtures/fink-mm__fermi_voevent_number_2842__LAT_Monitor.xml') },
    profile: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    'prosody-storage': { type: 'string', default: 'internal' },
    'max-items': { type: 'string', default: '1000' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*|^ \* ?/gm, ''));
  process.exit(0);
}
const Ns = args.subscribers!.split(',').map((s) => Number(s.trim()));
const M = Number(args.publishes);
const K = Number(args.inflight);
const ROUNDS = Number(args.rounds);
const SINGLES = Number(args.singles);
const WARMUP = Number(args.warmup);
const selected = args.targets!.split(',').map((s) => s.trim()).filter(Boolean);
for (const n of [...Ns, M, K, ROUNDS]) if (!Number.isInteger(n) || n < 1) throw new Error(`bad numeric option: ${n}`);
const unknown = selected.filter((t) => !TARGETS.some((x) => x.name === t));
if (unknown.length) throw new Error(`unknown target(s) ${unknown.join(', ')}; known: ${TARGETS.map((t) => t.name).join(', ')}`);
const targets = selected.map((name) => TARGETS.find((t) => t.name === name)!);
const maxN = Math.max(...Ns);

// ------------------------------------------------------------------ helpers

const nowUs = () => Math.round(performance.now() * 1000);

// ------------------------------------------------------------------ delivery accounting

/** Deliveries of one measured run, fed by every subscriber's marker scanner. */
class Run {
  static next = 1;
  static live = new Map<number, Run>();
  readonly id = Run.next++;
  readonly counts: Uint32Array;
  readonly lastAt: Float64Array;
  readonly latencies: Float64Array;
  nLat = 0;
  total = 0;
  extra = 0;
  lastDeliveryUs = 0;
  private waiters: { count: number; res: () => void }[] = [];
  private seqWaiters = new Map<number, () => void>();

  constructor(
    readonly subscribers: number,
    readonly publishes: number,
  ) {
    this.counts = new Uint32Array(publishes);
    this.lastAt = new Float64Array(publishes);
    this.latencies = new Float64Array(subscribers * publishes);
    Run.live.set(this.id, this);
  }

  marker(seq: number, t0: number): string {
    return `${MARKER}${this.id}~${seq}~${t0}~`;
  }

  deliver(seq: number, t0: number, now: number): void {
    if (seq >= this.publishes) return;
    if (this.counts[seq]! >= this.subscribers) {
      this.extra++;
      return;
    }
    this.counts[seq]!++;
    this.lastAt[seq] = now;
    this.latencies[this.nLat++] = (now - t0) / 1000;
    this.total++;
    this.lastDeliveryUs = now;
    if (this.counts[seq] === this.subscribers) this.seqWaiters.get(seq)?.();
    for (const w of this.waiters) if (this.total >= w.count) w.res();
  }

  /**
   * Resolves when `count` deliveries arrived, or when none arrived for idleMs
   * (the rest is lost or stuck), so that a slow target's backlog is never
   * still draining while the next run is measured.
   */
  waitTotal(count: number, idleMs: number): Promise<void> {
    return new Promise((res) => {
      let seen = -1;
      const check = () => {
        if (this.total >= count || this.total === seen) {
          clearInterval(timer);
          res();
        }
        seen = this.total;
      };
      const timer = setInterval(check, idleMs);
      const w = { count, res: () => {
        clearInterval(timer);
        res();
      } };
      if (this.total >= count) w.res();
      else this.waiters.push(w);
    });
  }

  waitSeq(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.counts[seq] === this.subscribers) return Promise.resolve(true);
    return new Promise((res) => {
      const t = setTimeout(() => {
        this.seqWaiters.delete(seq);
        res(false);
      }, timeoutMs);
      this.seqWaiters.set(seq, () => {
        clearTimeout(t);
        this.seqWaiters.delete(seq);
        res(true);
      });
    });
  }

  close(): void {
    Run.live.delete(this.id);
  }
}

function onMarker(runId: number, seq: number, t0: number): void {
  Run.live.get(runId)?.deliver(seq, t0, nowUs());
}

// ------------------------------------------------------------------ protocol

/** `ours`: a node of our broker (the server's own pubsub knows no voxnet# fields). */
function createNodeXml(service: string, node: string, ours: boolean): string {
  const field = (v: string, val: string) => `<field var='${v}'><value>${escapeXml(val)}</value></field>`;
  return (
    `<iq type='set' id='ID' to='${service}'><pubsub xmlns='${NS_PUBSUB}'><create node='${escapeXml(node)}'/><configure>` +
    `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${NS_NODE_CONFIG}</value></field>` +
    field('pubsub#title', `fan-out benchmark ${node}`) +
    (args['max-items'] === 'default' ? '' : field('pubsub#max_items', args['max-items']!)) +
    field('pubsub#type', PAYLOAD_TYPE) +
    (process.env.BENCH_NO_BODY && ours ? field('voxnet#body_summary', '0') : '') +
    `</x></configure></pubsub></iq>`
  );
}

// ------------------------------------------------------------------ measurement

type Result = {
  target: string;
  server: ServerKind;
  n: number;
  round: number;
  publishes: number;
  inflight: number;
  delivered: number;
  expected: number;
  extra: number;
  wallS: number;
  deliveriesPerS: number;
  p50: number;
  p99: number;
  max: number;
  ackP50: number;
  allN: number;
  allNMin: number;
  singlesLost: number;
  cpu: Record<string, number>;
  /** Server CPU time per delivery (µs) over the throughput run. */
  serverUsPerDelivery?: number;
};

type Env = { server: XmppServer; pub: RawClient; subs: RawClient[]; serverPids: number[]; running: Map<string, RunningTarget> };

async function throughput(env: Env, t: Target, node: string, n: number, m: number) {
  const run = new Run(n, m);
  const payload = PAYLOAD;
  const acks: number[] = [];
  let next = 0;
  const cpuPids: [string, number[]][] = [
    ['server', env.serverPids],
    ['broker', env.running.get(t.name)?.pids ?? []],
  ];
  const cpu0 = cpuPids.map(([, pids]) => pids.reduce((s, p) => s + cpuSeconds(p), 0));
  const bench0 = process.cpuUsage();
  const busy0 = machineBusySeconds();
  const start = nowUs();
  const worker = async () => {
    while (next < m) {
      const seq = next++;
      const t0 = nowUs();
      const xml = `<iq type='set' id='ID' to='${t.service}'><pubsub xmlns='${NS_PUBSUB}'><publish node='${node}'><item id='${run.marker(seq, t0)}'>${payload}</item></publish></pubsub></iq>`;
      await expectResult(env.pub.iq(xml, 120_000), `publish ${seq} to ${t.name}`);
      acks.push((nowUs() - t0) / 1000);
    }
  };
  await Promise.all(Array.from({ length: Math.min(K, m) }, worker));
  await run.waitTotal(n * m, 20_000);
  const end = run.total ? run.lastDeliveryUs : nowUs();
  const wallS = (end - start) / 1e6;
  const cpu: Record<string, number> = {};
  let ours = 0;
  cpuPids.forEach(([name, pids], i) => {
    if (!pids.length) return;
    const used = pids.reduce((s, p) => s + cpuSeconds(p), 0) - cpu0[i]!;
    ours += used;
    cpu[name] = used / wallS;
  });
  const b = process.cpuUsage(bench0);
  ours += (b.user + b.system) / 1e6;
  cpu.bench = (b.user + b.system) / 1e6 / wallS;
  // Whatever else ran on the machine meanwhile (other jobs sharing the cores).
  cpu.other = Math.max(0, machineBusySeconds() - busy0 - ours) / wallS;
  const lat = run.latencies.slice(0, run.nLat).sort();
  run.close();
  return {
    delivered: run.total,
    expected: n * m,
    extra: run.extra,
    wallS,
    deliveriesPerS: run.total / wallS,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    max: lat.length ? lat[lat.length - 1]! : NaN,
    ackP50: median(acks),
    cpu,
    serverUsPerDelivery: run.total && cpu.server !== undefined ? (cpu.server * wallS * 1e6) / run.total : NaN,
  };
}

/** Single publishes on an idle system: time until the last of the N subscribers has the alert. */
async function singles(env: Env, t: Target, node: string, n: number, count: number) {
  const run = new Run(n, count);
  const times: number[] = [];
  let lost = 0;
  for (let seq = 0; seq < count; seq++) {
    await sleep(300);
    const t0 = nowUs();
    const xml = `<iq type='set' id='ID' to='${t.service}'><pubsub xmlns='${NS_PUBSUB}'><publish node='${node}'><item id='${run.marker(seq, t0)}'>${PAYLOAD}</item></publish></pubsub></iq>`;
    const all = run.waitSeq(seq, 30_000);
    await expectResult(env.pub.iq(xml, 60_000), `single publish to ${t.name}`);
    if (await all) times.push((run.lastAt[seq]! - t0) / 1000);
    else lost += n - run.counts[seq]!;
  }
  run.close();
  return { allN: median(times), allNMin: times.length ? Math.min(...times) : NaN, lost };
}

// ------------------------------------------------------------------ main

const PAYLOAD = payloadXml(args.payload!);
/** pubsub#type of the nodes: the VOEvent namespace for VOEvents (our broker then validates every publish). */
const PAYLOAD_TYPE = /^<([\w.-]+:)?VOEvent\b/.test(PAYLOAD) ? VOEVENT_NS : (/^<[^>]*\sxmlns=["']([^"']*)["']/.exec(PAYLOAD)?.[1] ?? '');

function luaDbiSqliteInstalled(): boolean {
  if (!existsSync('/usr/share/lua/5.4/DBI.lua')) return false;
  try {
    return readdirSync('/usr/lib').some((d) => existsSync(join('/usr/lib', d, 'lua/5.4/dbd/sqlite3.so')));
  } catch {
    return false;
  }
}

/** Global Prosody configuration routing mod_pubsub's stores (pubsub_nodes, pubsub_data) to a storage driver. */
function prosodyPubsubStorage(): { kind: string; lines: string } {
  let kind = args['prosody-storage']!;
  if (kind === 'auto') kind = luaDbiSqliteInstalled() ? 'sql' : 'memory';
  switch (kind) {
    case 'internal':
      return { kind, lines: '' };
    case 'memory':
      return { kind, lines: `storage = { pubsub_nodes = "memory", pubsub_data = "memory" }\ndefault_storage = "internal"` };
    case 'sql':
      if (!luaDbiSqliteInstalled()) throw new Error('--prosody-storage sql needs LuaDBI for SQLite (apt-get install lua-dbi-sqlite3)');
      return {
        kind,
        lines: `storage = { pubsub_nodes = "sql", pubsub_data = "sql" }\ndefault_storage = "internal"\nsql = { driver = "SQLite3", database = "pubsub.sqlite" }`,
      };
    default:
      throw new Error(`--prosody-storage must be internal, auto, sql or memory, not ${kind}`);
  }
}

async function startServerFor(kind: ServerKind, ts: Target[], workDir: string): Promise<XmppServer> {
  const components = [...new Set(ts.flatMap((t) => t.needs.components ?? []))].map((domain) => ({ domain, secret: SECRET }));
  const internalPubsub = [...new Set(ts.flatMap((t) => t.needs.internalPubsub ?? []))];
  const mcs = ts.map((t) => t.needs.multicast).filter((x): x is NonNullable<ServerNeeds['multicast']> => !!x);
  const multicast = mcs.length ? { domain: mcs[0]!.domain, trusted: [...new Set(mcs.flatMap((m) => m.trusted))] } : undefined;
  const prosodyConfig = [...new Set(ts.map((t) => t.needs.prosodyConfig).filter(Boolean))].join('\n');
  if (kind === 'prosody') {
    return startProsody({
      dir: join(workDir, 'prosody'),
      components,
      internalPubsub,
      multicast,
      logLevel: 'warn',
      // Prosody's mod_pubsub lets only admins create nodes; "admins" is merged with the component's own list.
      // BENCH_PROSODY_EXTRA: more global configuration lines, for experiments (e.g. a profiling module).
      extra: `admins = { ${JSON.stringify(`${PUBLISHER.user}@${PUBLISHER.host}`)} }\n${prosodyPubsubStorage().lines}\n${process.env.BENCH_PROSODY_EXTRA ?? ''}\n${prosodyConfig}`,
    });
  }
  if (!ejabberdAvailable()) throw new Error('ejabberd is not installed (apt-get install ejabberd)');
  const fanoutTrusted = [...new Set(ts.flatMap((t) => t.needs.fanout?.trusted ?? []))];
  // Alongside mod_multicast (multicast.HOST), so that before and after run on one server.
  const modules = fanoutTrusted.length
    ? { mod_voxnet_fanout: { host: 'fanout-@HOST@', access: [{ allow: [{ server: fanoutTrusted }] }], max_addresses: 10_000 } }
    : undefined;
  return startEjabberd({ dir: join(workDir, 'ejabberd'), components, internalPubsub, multicast, modules, logLevel: 'warn' }) as Promise<XmppServer>;
}

/** Cleanups of what is running (broker processes, servers), newest first; run on SIGINT/SIGTERM too. */
const cleanups: (() => Promise<void>)[] = [];
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    console.error(`bench: ${sig}, stopping the servers and brokers`);
    void (async () => {
      for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
      process.exit(130);
    })();
  });
}

async function main(): Promise<void> {
  const limit = openFilesLimit();
  if (limit < maxN + 200) {
    console.error(`bench: ${maxN} subscribers need more file descriptors than the limit of ${limit}: run \`ulimit -n 65536\` first`);
    process.exit(2);
  }
  const workDir = mkdtempSync(join(tmpdir(), 'voxnet-fanout-'));
  const profileDir = args.profile ? resolve(repo, 'bench/results/profiles') : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const results: Result[] = [];
  const kinds = [...new Set(targets.map((t) => t.server))];
  console.log(`fan-out benchmark: N=${Ns.join(',')} M=${M} K=${K} rounds=${ROUNDS} singles=${SINGLES} targets=${selected.join(',')} payload=${Buffer.byteLength(PAYLOAD)} B` +
      (kinds.includes('prosody') ? ` prosody-pubsub-storage=${prosodyPubsubStorage().kind}` : '') + ` broker-sqlite-sync=${process.env.BENCH_BROKER_SYNC ?? 'normal'} load-average=${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  try {
    for (const kind of kinds) {
      // One server at a time: an idle Erlang VM or Prosody would still take CPU from the other.
      const ts = targets.filter((t) => t.server === kind);
      const server = await startServerFor(kind, ts, workDir);
      cleanups.push(() => server.stop());
      const running = new Map<string, RunningTarget>();
      const subs: RawClient[] = [];
      let pub: RawClient | undefined;
      try {
        for (const t of ts) {
          const r = await t.setup({ server, workDir, profileDir });
          cleanups.push(() => r.stop());
          running.set(t.name, r);
        }
        const users = Array.from({ length: maxN }, (_, i) => ({ user: `sub${i}`, host: i % 2 ? 'svom.cn' : 'svom.fr', password: `pw${i}` }));
        const t0 = Date.now();
        await server.addUser(PUBLISHER.user, PUBLISHER.host, 'benchpub');
        const ej = server as unknown as { addUsers?: (u: typeof users, c?: number) => Promise<void> };
        if (ej.addUsers) await ej.addUsers(users, 16);
        else for (const u of users) await server.addUser(u.user, u.host, u.password);
        pub = await RawClient.login({ host: '127.0.0.1', port: server.c2sPort, user: PUBLISHER.user, domain: PUBLISHER.host, password: 'benchpub', resource: 'pub' });
        for (const t of ts) await waitService(pub, t.service);
        await pool(users, 50, async (u, i) => {
          subs[i] = await RawClient.login({ host: '127.0.0.1', port: server.c2sPort, user: u.user, domain: u.host, password: u.password, resource: 'bench' });
        });
        const pids = pidsUnder(server.dir);
        console.log(`${kind}: ${maxN} subscribers logged in (${((Date.now() - t0) / 1000).toFixed(1)} s); server pid(s) ${pids.join(',')}`);
        const env: Env = { server, pub, subs, serverPids: pids, running };

        // One node per N on every target, subscribed by the first N subscribers.
        for (const n of Ns) {
          for (const t of ts) {
            const node = `fanout-n${n}`;
            await expectResult(pub.iq(createNodeXml(t.service, node, !t.needs.internalPubsub)), `create ${node} on ${t.name}`);
            await pool(subs.slice(0, n), 100, async (s) => {
              const bare = s.jid.replace(/\/.*$/, '');
              await expectResult(s.iq(`<iq type='set' id='ID' to='${t.service}'><pubsub xmlns='${NS_PUBSUB}'><subscribe node='${node}' jid='${bare}'/></pubsub></iq>`), `subscribe ${bare} to ${node} on ${t.name}`);
            });
          }
        }
        // From now on subscribers only count markers.
        for (const s of subs) {
          const scanner = new MarkerScanner(MARKER, onMarker);
          s.onRaw((chunk) => scanner.push(chunk));
          s.textMode = false;
        }
        for (const n of Ns) {
          const node = `fanout-n${n}`;
          for (const t of ts) {
            const w = await throughput(env, t, node, n, Math.min(WARMUP, M));
            console.log(`  warm-up ${t.name} N=${n}: ${w.delivered}/${w.expected} delivered, ${w.deliveriesPerS.toFixed(0)}/s`);
          }
          for (let round = 1; round <= ROUNDS; round++) {
            for (const t of ts) {
              const tp = await throughput(env, t, node, n, M);
              await sleep(500);
              const sg = await singles(env, t, node, n, SINGLES);
              const r: Result = { target: t.name, server: kind, n, round, publishes: M, inflight: K, ...tp, allN: sg.allN, allNMin: sg.allNMin, singlesLost: sg.lost };
              results.push(r);
              console.log(row(r));
              await sleep(500);
            }
          }
        }
      } finally {
        for (const s of subs) s?.close();
        pub?.close();
        await sleep(300);
        if (!interrupted) {
          cleanups.length = 0;
          for (const r of running.values()) await r.stop();
          await server.stop();
        }
      }
    }
  } finally {
    if (args.keep) console.log(`work directory kept: ${workDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  }

  printSummary(results);
  printServerCpu(results);
  if (args.out) {
    writeFileSync(args.out, JSON.stringify({ date: new Date().toISOString(), options: { Ns, M, K, ROUNDS, SINGLES, targets: selected }, results }, null, 2));
    console.log(`results written to ${args.out}`);
  }
  if (profileDir) console.log(`broker CPU profiles in ${profileDir}`);
}

// ------------------------------------------------------------------ report

const HEADER = `${'target'.padEnd(17)}${'N'.padStart(6)}${'rnd'.padStart(4)}${'deliv/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'max ms'.padStart(9)}${'ack ms'.padStart(8)}${'allN ms'.padStart(9)}${'lost'.padStart(6)}  cpu % server/broker/bench/other`;
let headerPrinted = false;

function f(x: number, d = 1): string {
  return Number.isNaN(x) ? '-' : x.toFixed(d);
}

function row(r: Result): string {
  const lost = r.expected - r.delivered + r.singlesLost;
  const cpu = ['server', 'broker', 'bench', 'other'].map((k) => (r.cpu[k] === undefined ? '-' : (r.cpu[k]! * 100).toFixed(0))).join('/');
  const line = `${r.target.padEnd(17)}${String(r.n).padStart(6)}${String(r.round).padStart(4)}${f(r.deliveriesPerS, 0).padStart(10)}${f(r.p50).padStart(9)}${f(r.p99).padStart(9)}${f(r.max).padStart(9)}${f(r.ackP50).padStart(8)}${f(r.allN).padStart(9)}${String(lost).padStart(6)}  ${cpu}${r.extra ? `  (${r.extra} duplicates)` : ''}  server ${f(r.serverUsPerDelivery ?? NaN, 0)} µs/delivery`;
  if (!headerPrinted) {
    headerPrinted = true;
    return HEADER + '\n' + line;
  }
  return line;
}

function printSummary(results: Result[]): void {
  console.log('\nsummary (median over rounds; deliv/s higher is better, times lower is better)');
  console.log(`${'target'.padEnd(17)}${'N'.padStart(6)}${'deliv/s'.padStart(10)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'max ms'.padStart(9)}${'allN ms'.padStart(9)}`);
  const agg = new Map<string, { target: string; n: number; dps: number; p50: number; p99: number; max: number; allN: number }>();
  for (const n of Ns) {
    for (const t of targets) {
      const rs = results.filter((r) => r.target === t.name && r.n === n);
      if (!rs.length) continue;
      const a = {
        target: t.name,
        n,
        dps: median(rs.map((r) => r.deliveriesPerS)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        max: median(rs.map((r) => r.max)),
        allN: median(rs.map((r) => r.allN)),
      };
      agg.set(`${t.name}/${n}`, a);
      console.log(`${a.target.padEnd(17)}${String(n).padStart(6)}${f(a.dps, 0).padStart(10)}${f(a.p50).padStart(9)}${f(a.p99).padStart(9)}${f(a.max).padStart(9)}${f(a.allN).padStart(9)}`);
    }
  }
  console.log('\nratio ours/theirs (deliv/s: >1 means ours is faster; times: <1 means ours is faster)');
  for (const n of Ns) {
    for (const t of targets) {
      if (!t.baseline) continue;
      const a = agg.get(`${t.name}/${n}`);
      const b = agg.get(`${t.baseline}/${n}`);
      if (!a || !b) continue;
      console.log(`${`${t.name}/${t.baseline}`.padEnd(26)} N=${String(n).padEnd(6)} deliv/s ${f(a.dps / b.dps, 2)}  p50 ${f(a.p50 / b.p50, 2)}  p99 ${f(a.p99 / b.p99, 2)}  max ${f(a.max / b.max, 2)}  allN ${f(a.allN / b.allN, 2)}`);
    }
  }
}

/** Server CPU per delivery (server CPU seconds / deliveries of the throughput run), median over rounds. */
function printServerCpu(results: Result[]): void {
  const rows = targets.flatMap((t) =>
    Ns.map((n) => {
      const us = results.filter((r) => r.target === t.name && r.n === n && r.cpu.server !== undefined && r.delivered > 0).map((r) => (r.cpu.server! * r.wallS * 1e6) / r.delivered);
      return us.length ? `${t.name.padEnd(17)}${String(n).padStart(6)}${f(median(us), 1).padStart(10)}   rounds: ${us.map((u) => u.toFixed(0)).join(', ')}` : '';
    }),
  ).filter(Boolean);
  if (rows.length) console.log(`\nserver CPU µs per delivery (median; lower is better)\n${rows.join('\n')}`);
  console.log(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (${cpus().length} cores)`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  },
);
