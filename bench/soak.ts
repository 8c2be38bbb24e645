/**
 * Soak: a long run at a realistic mix, with the access policy and the agents on.
 *
 *   ulimit -n 65536; npx tsx bench/soak.ts [--duration 1h] [--burst-every 5m] [--burst-size 50]
 *        [--subscribers 1000] [--gcn-every 20s] [--sample-every 10s] [--warmup 10m]
 *        [--latency-tolerance 2] [--window 10m] [--slope-limit 20] [--multicast] [--out FILE.json]
 *
 * One Prosody on loopback, the broker as its own process (`voxnet broker`, as
 * deployed) enforcing an access policy, and the agents as their own processes:
 *   - three heartbeat agents (`voxnet heartbeat`, 1 Hz) on three nodes;
 *   - a GCN-like stream: the publisher agent (`voxnet agent publisher`) watches an
 *     inbox where the bench drops a real VOEvent (test/fixtures/voevents, IVORN
 *     made unique) every --gcn-every; it publishes to the policy's `gcn/source`,
 *     the broker derives `gcn/collaboration` and `gcn/public`;
 *   - every --burst-every, a burst of --burst-size alerts (4 in flight) to the
 *     policy's `burst/source`, derived to `burst/collaboration`, which
 *     --subscribers raw-socket subscribers (bench/lib/raw-xmpp.ts) follow.
 * An observer (raw socket) follows the heartbeat nodes and gcn/collaboration.
 *
 * Recorded: RSS and CPU of the broker, Prosody and each agent every
 * --sample-every (/proc/PID/stat, /proc/PID/status); publish → delivery latency
 * p50/p99 per stream (heartbeats, the GCN-like stream, bursts) in the first and
 * the last --window of the run (default 10 min) and in between, and per burst;
 * items acknowledged versus delivered (per recipient).
 * Latency: bursts from the publish IQ sent by the bench to the delivery (marker
 * in the item id); heartbeats from the packet's Who/Date (written just before the
 * publish) to the delivery; the GCN stream from the file dropped in the inbox to
 * the delivery (includes the agent's inbox polling, 200 ms).
 *
 * Pass (printed, and the exit status): no acknowledged item lost by any of its
 * recipients, none delivered twice; memory flat after warm-up (least-squares slope
 * of RSS over time after --warmup at most --slope-limit MB/hour for every
 * process; the CI version records it only); latency at the end the same as at the
 * start: for each stream, p50 and p99 in the last window at most
 * --latency-tolerance × those of the first window (or within +50 ms / +200 ms);
 * bursts are compared by the bursts started in each window (the first and the last
 * burst when a window holds none).
 *
 * test/soak.test.ts runs the same code for two minutes (see there).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { startProsody } from '../broker-component/servers/prosody.ts';
import { componentUrlFor } from '../broker-component/servers/index.ts';
import { freePort } from '../broker-component/servers/net.ts';
import type { XmppServer } from '../broker-component/servers/types.ts';
import { parseDuration } from '../agents/lib/options.ts';
import { spawnBroker } from '../test/helpers/broker-process.ts';
import { agentEnv, voxnet, type Proc } from '../test/helpers/agents.ts';
import { MarkerScanner, RawClient, attrsOf, expectResult, payloadXml, waitService } from './lib/raw-xmpp.ts';
import { cpuSeconds, openFilesLimit, pidsUnder, rssMB } from './lib/proc.ts';
import { linearFit, percentile, pool, sleep } from './lib/stats.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..');
const PUBSUB = 'pubsub.svom.fr';
const SECRET = 'soak-secret';
const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const MARKER = 'sk~';
const HEARTBEATS = 3;
/** Real packets of the GCN-like stream, dropped in turn (each with a fresh IVORN). */
const GCN_FIXTURES = [
  'fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml',
  'gcn-notice-parser__fermi_gbm_flt_pos_8126__trig792135758.xml',
  'gcn-notice-parser__svom_eclairs_319__sb26051101_eclairs-wakeup.xml',
  'gcn-notice-parser__svom_mxt_52__sb26051101_mxt-initial_qf4.xml',
  'fink-mm__icecube_voevent_number_45412__AMON_ICECUBE_GOLD.xml',
  'gwcelery-fermi_grb_gcn.xml',
  'MS181101ab-2-Preliminary.xml',
  'gcn-notice-parser__svom_grm_353__sb26051101_grm-trigger.xml',
];
const BURST_PAYLOAD = 'gcn-notice-parser__svom_eclairs_320__sb26051101_slewing.xml';

const POLICY = `
version: 1
mission: SVOM
levels:
  - id: collaboration
    members: { domains: [svom.fr, svom.cn] }
  - id: public
    public: true
products:
  - id: burst
    title: Soak bursts
    publishers: [soakpub@svom.fr]
    levels:
      collaboration: {}
  - id: gcn
    title: GCN-like stream
    publishers: [gcnpub@svom.fr]
    levels:
      collaboration: {}
      public: {}
`;

export type SoakOptions = {
  durationS: number;
  burstEveryS: number;
  burstSize: number;
  subscribers: number;
  gcnEveryS: number;
  sampleEveryS: number;
  warmupS: number;
  /** Allowed ratio end/start of latency p50 and p99. */
  latencyTolerance: number;
  /** Latency is compared between the first and the last this many seconds of the run (default: 10 min, at most a quarter of the run). */
  windowS?: number;
  /** Allowed |RSS slope| after warm-up, MB/hour; undefined: recorded, not checked. */
  slopeLimitMBh?: number;
  /**
   * Allowed RSS growth of each process from the end of warm-up to the end of the run
   * (MB); undefined: not checked. A bound for short runs, where a slope means little
   * but a leak of every notification still shows.
   */
  rssGrowthLimitMB?: number;
  /** Absolute margins of the latency comparison (ms, default p50 50, p99 200): end ≤ max(tolerance × start, start + margin). */
  latencyMarginMs?: { p50: number; p99: number };
  inflight: number;
  /** Fan-out through the server's XEP-0033 service (mod_voxnet_multicast), as docs/deploy.md recommends; off: one stanza per subscriber. */
  multicast?: boolean;
  log?: (line: string) => void;
};

/** `recordedOnly`: measured and shown, not a pass criterion of this run. */
export type Check = { name: string; pass: boolean; detail: string; recordedOnly?: boolean };
export type LatencyRow = { stream: string; phase: string; n: number; p50: number; p99: number };
export type ProcessRow = { name: string; pids: number[]; rssStartMB: number; rssEndMB: number; rssMaxMB: number; slopeMBh: number; cpuPct: number; cpuSlopePctH: number };
export type Accounting = { stream: string; acknowledged: number; expected: number; delivered: number; lost: number; duplicates: number; unacknowledged: number; refused: number };
export type SoakResult = {
  pass: boolean;
  checks: Check[];
  accounting: Accounting[];
  latency: LatencyRow[];
  processes: ProcessRow[];
  /** rss and cpu by process; heapMB: the broker's V8 heap in use (its /metrics); load: the machine's 1-min load average. */
  samples: { t: number; rss: Record<string, number>; cpu: Record<string, number>; heapMB?: number; load: number }[];
  /** Least-squares slope of the broker's V8 heap in use after warm-up (MB/h): a JS-side leak shows here, not only in RSS. */
  brokerHeapSlopeMBh: number;
  /** The machine's 1-min load average over the run: mean and max (the machine may be shared). */
  load: { mean: number; max: number };
  options: SoakOptions;
  startedAt: string;
  wallS: number;
};

const nowUs = () => Math.round(performance.now() * 1000);
const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

/** The length of the first and last windows whose latencies are compared (s). */
export function windowOf(o: Pick<SoakOptions, 'windowS' | 'durationS'>): number {
  return o.windowS ?? Math.min(600, o.durationS / 4);
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e]!);
}

/** Splits a raw byte stream into complete <message/> stanzas (the observer's parser). */
class MessageSplitter {
  private buf = '';
  constructor(private readonly onMessage: (xml: string) => void) {}
  push(chunk: Buffer): void {
    this.buf += chunk.toString('utf8');
    for (;;) {
      const start = this.buf.indexOf('<message');
      if (start < 0) {
        this.buf = this.buf.slice(-16);
        return;
      }
      const end = this.buf.indexOf('</message>', start);
      if (end < 0) {
        this.buf = this.buf.slice(start);
        return;
      }
      this.onMessage(this.buf.slice(start, end + 10));
      this.buf = this.buf.slice(end + 10);
    }
  }
}

/** Deliveries of the bursts: one seen-flag per (burst item, subscriber). */
class BurstLedger {
  readonly sent: number[] = []; // per burst: publishes sent
  readonly acked: boolean[][] = [];
  readonly startedAt: number[] = []; // seconds into the run
  readonly seen: Uint8Array[] = [];
  readonly latencies: number[][] = [];
  readonly lastAtUs: number[] = [];
  readonly t0Us: number[] = [];
  duplicates = 0;
  stray = 0;
  constructor(readonly subscribers: number, readonly size: number) {}

  open(b: number, atS: number): void {
    this.sent[b] = 0;
    this.acked[b] = Array(this.size).fill(false);
    this.startedAt[b] = atS;
    this.seen[b] = new Uint8Array(this.subscribers * this.size);
    this.latencies[b] = [];
    this.lastAtUs[b] = 0;
    this.t0Us[b] = nowUs();
  }

  deliver(sub: number, b: number, seq: number, t0: number): void {
    const seen = this.seen[b];
    if (!seen || seq >= this.size) {
      this.stray++;
      return;
    }
    const k = seq * this.subscribers + sub;
    if (seen[k]) {
      this.duplicates++;
      return;
    }
    seen[k] = 1;
    const now = nowUs();
    this.latencies[b]!.push((now - t0) / 1000);
    this.lastAtUs[b] = now;
  }

  delivered(): number {
    return this.seen.reduce((s, a) => s + a.reduce((x, y) => x + y, 0), 0);
  }

  /** Acknowledged items times subscribers, minus what arrived. */
  missing(): { expected: number; lost: number; unacknowledged: number } {
    let expected = 0;
    let lost = 0;
    let unack = 0;
    this.seen.forEach((seen, b) => {
      for (let seq = 0; seq < this.size; seq++) {
        let got = 0;
        for (let s = 0; s < this.subscribers; s++) got += seen[seq * this.subscribers + s]!;
        if (this.acked[b]![seq]) {
          expected += this.subscribers;
          lost += this.subscribers - got;
        } else unack += got;
      }
    });
    return { expected, lost, unacknowledged: unack };
  }
}

/** Items of the observer's streams (heartbeats, GCN): acknowledged by the agents' output, delivered to the observer. */
class StreamLedger {
  readonly acks = new Map<string, number>(); // key → wall ms of the ack (or of the drop, GCN)
  readonly deliveries = new Map<string, { count: number; at: number; latency?: number }>();
  refused = 0;
  constructor(readonly name: string) {}
  ack(key: string, atMs: number): void {
    if (!this.acks.has(key)) this.acks.set(key, atMs);
  }
  deliver(key: string, atMs: number, latency?: number): void {
    const d = this.deliveries.get(key);
    if (d) d.count++;
    else this.deliveries.set(key, { count: 1, at: atMs, latency });
  }
  account(): Accounting {
    let lost = 0;
    let dup = 0;
    let delivered = 0;
    for (const key of this.acks.keys()) if (!this.deliveries.has(key)) lost++;
    let unack = 0;
    for (const [key, d] of this.deliveries) {
      delivered++;
      dup += d.count - 1;
      if (!this.acks.has(key)) unack++;
    }
    return { stream: this.name, acknowledged: this.acks.size, expected: this.acks.size, delivered, lost, duplicates: dup, unacknowledged: unack, refused: this.refused };
  }
}

function pubsubIq(to: string, inner: string): string {
  return `<iq type='set' id='ID' to='${to}'><pubsub xmlns='${NS_PUBSUB}'>${inner}</pubsub></iq>`;
}

function lat(stream: string, phase: string, xs: number[]): LatencyRow {
  const s = [...xs].sort((a, b) => a - b);
  return { stream, phase, n: s.length, p50: percentile(s, 50), p99: percentile(s, 99) };
}

/** The end is "the same" as the start: within `tol` × or a small absolute margin (ms). */
function sameLatency(first: LatencyRow, last: LatencyRow, tol: number, margin = { p50: 50, p99: 200 }): { pass: boolean; detail: string } {
  if (!first.n || !last.n) return { pass: false, detail: `no samples (first ${first.n}, last ${last.n})` };
  const ok50 = last.p50 <= Math.max(first.p50 * tol, first.p50 + margin.p50);
  const ok99 = last.p99 <= Math.max(first.p99 * tol, first.p99 + margin.p99);
  return {
    pass: ok50 && ok99,
    detail: `p50 ${first.p50.toFixed(1)} → ${last.p50.toFixed(1)} ms, p99 ${first.p99.toFixed(1)} → ${last.p99.toFixed(1)} ms (allowed ≤ ${tol}× or +${margin.p50}/+${margin.p99} ms)`,
  };
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  if (openFilesLimit() < o.subscribers + 200) throw new Error(`${o.subscribers} subscribers need more open files than the limit of ${openFilesLimit()}: run \`ulimit -n 65536\` first`);
  const workDir = mkdtempSync(join(tmpdir(), 'voxnet-soak-'));
  const procs: Proc[] = [];
  const clients: RawClient[] = [];
  let server: XmppServer | undefined;
  let broker: ChildProcess | undefined;
  const startedAt = new Date().toISOString();
  try {
    // ---------------------------------------------------------------- set-up
    const policyFile = join(workDir, 'policy.yaml');
    writeFileSync(policyFile, POLICY);
    server = await startProsody({
      dir: join(workDir, 'prosody'),
      components: [{ domain: PUBSUB, secret: SECRET }],
      multicast: o.multicast ? { domain: 'multicast.svom.fr', trusted: [PUBSUB] } : undefined,
      logLevel: 'warn',
    });
    const dataDir = join(workDir, 'broker');
    mkdirSync(dataDir);
    // The broker's /metrics gives its V8 heap in use beside its RSS (see the samples).
    const metricsPort = await freePort();
    broker = spawnBroker({ componentUrl: componentUrlFor(server, PUBSUB), domain: PUBSUB, secret: SECRET, dataDir, env: { VOXNET_POLICY_FILE: policyFile, VOXNET_METRICS_PORT: String(metricsPort) } });
    const brokerHeapMB = async (): Promise<number | undefined> => {
      try {
        const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
        const m = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
        return m ? Number(m[1]) / 2 ** 20 : undefined;
      } catch {
        return undefined;
      }
    };
    const brokerExited = new Promise<void>((r) => broker!.once('exit', () => r()));
    const login = async (user: string, domain = 'svom.fr') => {
      await server!.addUser(user, domain, user);
      const c = await RawClient.login({ host: '127.0.0.1', port: server!.c2sPort, user, domain, password: user, resource: 'soak' });
      clients.push(c);
      return c;
    };
    const pub = await login('soakpub');
    await waitService(pub, PUBSUB);
    log(`soak: Prosody ${pidsUnder(server.dir).join(',')}, broker ${broker.pid}; policy on (products burst, gcn); ${o.subscribers} subscribers (fan-out ${o.multicast ? 'through XEP-0033' : 'one stanza per subscriber'}), bursts of ${o.burstSize} every ${o.burstEveryS} s, GCN-like every ${o.gcnEveryS} s, ${HEARTBEATS} heartbeats at 1 Hz, ${o.durationS} s`);

    // Heartbeat nodes, created by the accounts that publish to them.
    const hbNodes = Array.from({ length: HEARTBEATS }, (_, i) => `soak/hb${i + 1}`);
    for (let i = 0; i < HEARTBEATS; i++) {
      const c = await login(`hb${i + 1}`);
      await expectResult(c.iq(pubsubIq(PUBSUB, `<create node='${hbNodes[i]}'/>`)), `create ${hbNodes[i]}`);
      c.close();
    }

    // The observer follows the heartbeats and the GCN stream.
    const hb = new StreamLedger('heartbeat');
    const gcn = new StreamLedger('gcn');
    const drops = new Map<string, number>(); // inbox file name → wall ms of the drop
    const gcnDelivered = new Map<string, number>(); // item id → wall ms of the delivery
    const observer = await login('observer');
    for (const node of [...hbNodes, 'gcn/collaboration']) await expectResult(observer.iq(pubsubIq(PUBSUB, `<subscribe node='${node}' jid='${observer.jid.replace(/\/.*/, '')}'/>`)), `subscribe the observer to ${node}`);
    observer.textMode = false;
    const splitter = new MessageSplitter((m) => {
      const at = Date.now();
      const items = /<items\b[^>]*>/.exec(m);
      if (!items) return;
      const node = unescapeXml(attrsOf(items[0]).node ?? '');
      for (const it of m.matchAll(/<item\s[^>]*>/g)) {
        const id = unescapeXml(attrsOf(it[0]).id ?? '');
        if (node === 'gcn/collaboration') {
          gcn.deliver(id, at);
          if (!gcnDelivered.has(id)) gcnDelivered.set(id, at);
        } else if (hbNodes.includes(node)) {
          const date = /<Date>([^<]+)<\/Date>/.exec(m)?.[1];
          hb.deliver(`${node} ${id}`, at, date ? at - Date.parse(date) : undefined);
        }
      }
    });
    observer.onRaw((chunk) => splitter.push(chunk));

    // Burst subscribers on both domains.
    const bursts = new BurstLedger(o.subscribers, o.burstSize);
    const t1 = Date.now();
    const subs: RawClient[] = [];
    await pool(Array.from({ length: o.subscribers }, (_, i) => i), 50, async (i) => {
      const c = await login(`sub${i}`, i % 2 ? 'svom.cn' : 'svom.fr');
      await expectResult(c.iq(pubsubIq(PUBSUB, `<subscribe node='burst/collaboration' jid='${c.jid.replace(/\/.*/, '')}'/>`), 120_000), `subscribe sub${i}`);
      c.textMode = false;
      const scan = new MarkerScanner(MARKER, (b, seq, t0) => bursts.deliver(i, b, seq, t0));
      c.onRaw((chunk) => scan.push(chunk));
      subs[i] = c;
    });
    log(`soak: ${o.subscribers} subscribers logged in and subscribed to burst/collaboration (${((Date.now() - t1) / 1000).toFixed(1)} s)`);

    // The agents, as their own processes.
    const hbProcs = hbNodes.map((node, i) => {
      const p = voxnet(['heartbeat', '--node', node, '--interval', '1s', '--ivorn-base', `ivo://svom.fr/soak/hb${i + 1}`], agentEnv({ prosody: server! }, `hb${i + 1}`));
      procs.push(p);
      return p;
    });
    const inbox = join(workDir, 'inbox');
    mkdirSync(inbox);
    const pubCfg = join(workDir, 'publisher.yaml');
    writeFileSync(pubCfg, `node: gcn/source\ninbox: ${JSON.stringify(inbox)}\npoll_interval: 200ms\nvalidator: fast\n`);
    await server.addUser('gcnpub', 'svom.fr', 'gcnpub');
    const publisher = voxnet(['agent', 'publisher', '--config', pubCfg], agentEnv({ prosody: server }, 'gcnpub'));
    procs.push(publisher);
    await Promise.all(hbProcs.map((p) => p.waitLines(1, 60_000)));

    // Acknowledgements from the agents' output, read as it comes.
    let hbRead = hbProcs.map(() => 0);
    let pubRead = 0;
    const readAcks = () => {
      hbProcs.forEach((p, i) => {
        for (; hbRead[i]! < p.lines.length; hbRead[i]!++) hb.ack(`${hbNodes[i]} ${p.lines[hbRead[i]!]!.trim()}`, Date.now());
      });
      for (; pubRead < publisher.lines.length; pubRead++) {
        const line = publisher.lines[pubRead]!;
        const m = /^(.*?): (?:published as|already published as) (.+)$/.exec(line);
        if (m) gcn.ack(m[2]!.trim(), drops.get(m[1]!.replace(/.*\//, '')) ?? Date.now());
        else if (/FAILED/.test(line)) {
          gcn.refused++;
          log(`soak: publisher refused a packet: ${line}`);
        }
      }
    };

    // ---------------------------------------------------------------- sampling
    const named: [string, () => number[]][] = [
      ['broker', () => [broker!.pid!]],
      ['prosody', () => pidsUnder(server!.dir)],
      ...hbProcs.map((p, i) => [`heartbeat${i + 1}`, () => [p.child.pid!]] as [string, () => number[]]),
      ['publisher', () => [publisher.child.pid!]],
    ];
    const pidsOf = new Map(named.map(([n, f]) => [n, f()]));
    const samples: SoakResult['samples'] = [];
    const t0 = Date.now();
    const tS = () => (Date.now() - t0) / 1000;
    let lastCpu = new Map([...pidsOf].map(([n, pids]) => [n, pids.reduce((s, p) => s + cpuSeconds(p), 0)]));
    let lastT = tS();
    const sample = async () => {
      const heapMB = await brokerHeapMB();
      const t = tS();
      const rss: Record<string, number> = {};
      const cpu: Record<string, number> = {};
      const now = new Map<string, number>();
      for (const [n, pids] of pidsOf) {
        rss[n] = pids.reduce((s, p) => s + rssMB(p), 0);
        now.set(n, pids.reduce((s, p) => s + cpuSeconds(p), 0));
        cpu[n] = (100 * (now.get(n)! - lastCpu.get(n)!)) / Math.max(0.001, t - lastT);
      }
      rss.bench = process.memoryUsage().rss / 2 ** 20;
      samples.push({ t, rss, cpu, heapMB, load: loadavg()[0]! });
      lastCpu = now;
      lastT = t;
    };
    await sample();
    const sampler = setInterval(() => void sample(), o.sampleEveryS * 1000);

    // ---------------------------------------------------------------- the run
    const gcnPayloads = GCN_FIXTURES.map((f) => readFileSync(join(repo, 'test/fixtures/voevents', f), 'utf8'));
    const burstPayload = payloadXml(join(repo, 'test/fixtures/voevents', BURST_PAYLOAD));
    let gcnN = 0;
    const dropGcn = () => {
      const k = gcnN++;
      const xml = gcnPayloads[k % gcnPayloads.length]!.replace(/\bivorn=(["'])([^"']+)\1/, (_, q: string, iv: string) => `ivorn=${q}${iv}-soak${k}${q}`);
      const name = `gcn-${String(k).padStart(5, '0')}.xml`;
      // Written aside and renamed: the agent never sees half a file.
      writeFileSync(join(workDir, name), xml);
      drops.set(name, Date.now());
      renameSync(join(workDir, name), join(inbox, name));
    };
    const runBurst = async (b: number) => {
      bursts.open(b, tS());
      let next = 0;
      await Promise.all(
        Array.from({ length: o.inflight }, async () => {
          for (let seq = next++; seq < o.burstSize; seq = next++) {
            const id = `${MARKER}${b}~${seq}~${nowUs()}~`;
            bursts.sent[b]!++;
            const r = await pub.iq(pubsubIq(PUBSUB, `<publish node='burst/source'><item id='${id}'>${burstPayload}</item></publish>`), 120_000).catch((e: Error) => ({ type: 'error', xml: e.message }));
            if (r.type === 'result') bursts.acked[b]![seq] = true;
            else log(`soak: burst ${b} publish ${seq} refused: ${/<text[^>]*>([^<]*)/.exec(r.xml)?.[1] ?? r.xml.slice(0, 300)}`);
          }
        }),
      );
    };
    const burstRuns: Promise<void>[] = [];
    let nextBurst = o.burstEveryS;
    let nextGcn = 0;
    let nextReport = 60;
    const end = o.durationS;
    for (let t = tS(); t < end; t = tS()) {
      if (broker.exitCode !== null) throw new Error(`the broker exited (${broker.exitCode})`);
      if (t >= nextGcn) {
        dropGcn();
        nextGcn += o.gcnEveryS;
      }
      if (t >= nextBurst) {
        const b = burstRuns.length;
        log(`soak: t=${t.toFixed(0)} s burst ${b}`);
        burstRuns.push(runBurst(b));
        nextBurst += o.burstEveryS;
      }
      if (t >= nextReport) {
        const s = samples[samples.length - 1]!;
        log(`soak: t=${t.toFixed(0)} s  heartbeats ${hb.acks.size}/${hb.deliveries.size}  gcn ${gcn.acks.size}/${gcn.deliveries.size}  rss MB ${Object.entries(s.rss).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}`);
        nextReport += 60;
      }
      readAcks();
      await sleep(100);
    }

    // ---------------------------------------------------------------- drain
    for (const p of hbProcs) p.child.kill('SIGTERM');
    await Promise.all(burstRuns);
    await Promise.all(hbProcs.map((p) => p.exited));
    const drainDeadline = Date.now() + 60_000;
    for (;;) {
      readAcks();
      const inboxBusy = drops.size > gcn.acks.size + gcn.refused;
      const { lost } = bursts.missing();
      const hbMissing = [...hb.acks.keys()].some((k) => !hb.deliveries.has(k));
      const gcnMissing = [...gcn.acks.keys()].some((k) => !gcn.deliveries.has(k));
      if ((!inboxBusy && lost === 0 && !hbMissing && !gcnMissing) || Date.now() > drainDeadline) break;
      await sleep(250);
    }
    await sleep(1000); // anything duplicated late shows up now
    readAcks();
    clearInterval(sampler);
    await sample();
    const wallS = tS();

    // ---------------------------------------------------------------- results
    for (const [id, at] of gcnDelivered) {
      const dropAt = gcn.acks.get(id);
      if (dropAt !== undefined) gcn.deliveries.get(id)!.latency = at - dropAt;
    }
    const b = bursts.missing();
    const accounting: Accounting[] = [
      { stream: `burst (×${o.subscribers})`, acknowledged: bursts.acked.flat().filter(Boolean).length, expected: b.expected, delivered: bursts.delivered(), lost: b.lost, duplicates: bursts.duplicates, unacknowledged: b.unacknowledged, refused: bursts.sent.reduce((s, n) => s + n, 0) - bursts.acked.flat().filter(Boolean).length },
      hb.account(),
      gcn.account(),
    ];
    if (drops.size > gcn.acks.size + gcn.refused) accounting[2]!.lost += drops.size - gcn.acks.size - gcn.refused; // dropped, never published

    const win = windowOf(o);
    const phaseOf = (t: number) => (t < win ? 'first' : t >= o.durationS - win ? 'last' : 'middle');
    const latency: LatencyRow[] = [];
    for (const [name, ledger, startOf] of [
      ['heartbeat', hb, (d: { at: number; latency?: number }) => (d.at - (d.latency ?? 0) - t0) / 1000],
      ['gcn', gcn, (d: { at: number; latency?: number }) => (d.at - (d.latency ?? 0) - t0) / 1000],
    ] as const) {
      const by = new Map<string, number[]>();
      for (const d of ledger.deliveries.values()) {
        if (d.latency === undefined) continue;
        const ph = phaseOf(startOf(d));
        by.set(ph, [...(by.get(ph) ?? []), d.latency]);
      }
      for (const ph of ['first', 'middle', 'last']) latency.push(lat(name, ph, by.get(ph) ?? []));
    }
    // Bursts: those started in the first and in the last window (the first and the last
    // burst when a window holds none, as in the short CI run), and each burst.
    const started = bursts.latencies.map((xs, i) => ({ xs, t: bursts.startedAt[i]! }));
    const firstBursts = started.filter((b) => b.t < win);
    const lastBursts = started.filter((b) => b.t >= o.durationS - win);
    if (started.length >= 2) {
      latency.push(lat('burst', 'first', (firstBursts.length ? firstBursts : started.slice(0, 1)).flatMap((b) => b.xs)));
      latency.push(lat('burst', 'last', (lastBursts.length && lastBursts.length < started.length ? lastBursts : started.slice(-1)).flatMap((b) => b.xs)));
    }
    started.forEach((b, i) => latency.push(lat('burst', `burst ${i} (t=${b.t.toFixed(0)} s)`, b.xs)));

    const processes: ProcessRow[] = [...pidsOf.keys(), 'bench'].map((n) => {
      const series = samples.filter((s) => s.rss[n] !== undefined && !Number.isNaN(s.rss[n]));
      const after = series.filter((s) => s.t >= o.warmupS);
      const fit = linearFit(after.map((s) => s.t / 3600), after.map((s) => s.rss[n]!));
      const cpus = samples.slice(1).map((s) => s.cpu[n]).filter((x): x is number => x !== undefined && Number.isFinite(x));
      const cpuAfter = after.filter((s) => Number.isFinite(s.cpu[n]));
      return {
        name: n,
        pids: pidsOf.get(n) ?? [process.pid],
        rssStartMB: series[0]?.rss[n] ?? NaN,
        rssEndMB: series[series.length - 1]?.rss[n] ?? NaN,
        rssMaxMB: Math.max(...series.map((s) => s.rss[n]!)),
        slopeMBh: fit.slope,
        cpuPct: cpus.length ? cpus.reduce((a, b) => a + b, 0) / cpus.length : NaN,
        cpuSlopePctH: linearFit(cpuAfter.map((s) => s.t / 3600), cpuAfter.map((s) => s.cpu[n]!)).slope,
      };
    });

    const checks: Check[] = [];
    const lost = accounting.reduce((s, a) => s + a.lost, 0);
    const dups = accounting.reduce((s, a) => s + a.duplicates, 0);
    checks.push({ name: 'no acknowledged item lost', pass: lost === 0, detail: accounting.map((a) => `${a.stream} ${a.lost}`).join(', ') });
    checks.push({ name: 'no item delivered twice', pass: dups === 0, detail: accounting.map((a) => `${a.stream} ${a.duplicates}`).join(', ') });
    checks.push({ name: 'every stream carried items', pass: accounting.every((a) => a.acknowledged > 0), detail: accounting.map((a) => `${a.stream} ${a.acknowledged}`).join(', ') });
    const row = (stream: string, phase: string) => latency.find((r) => r.stream === stream && r.phase === phase);
    for (const stream of ['heartbeat', 'gcn', 'burst']) {
      const first = row(stream, 'first');
      const last = row(stream, 'last');
      const name = `${stream} latency: last ${f(win / 60)} min as first`;
      if (first && last) checks.push({ name, ...sameLatency(first, last, o.latencyTolerance, o.latencyMarginMs) });
      else checks.push({ name, pass: false, detail: `${bursts.latencies.length} burst(s): need two` });
    }
    for (const p of processes) {
      if (p.name === 'bench') continue;
      const within = o.slopeLimitMBh === undefined || p.slopeMBh <= o.slopeLimitMBh;
      const detail = `${p.slopeMBh.toFixed(1)} MB/h after ${o.warmupS} s warm-up (RSS ${p.rssStartMB.toFixed(0)} → ${p.rssEndMB.toFixed(0)} MB)` + (o.slopeLimitMBh === undefined ? ' — recorded, not checked (run too short)' : ` (limit +${o.slopeLimitMBh} MB/h)`);
      checks.push({ name: `memory flat: ${p.name}`, pass: within, detail, recordedOnly: o.slopeLimitMBh === undefined });
      if (o.rssGrowthLimitMB !== undefined) {
        const series = samples.filter((s) => Number.isFinite(s.rss[p.name]));
        const atWarm = series.find((s) => s.t >= o.warmupS)?.rss[p.name];
        const growth = atWarm === undefined ? NaN : p.rssEndMB - atWarm;
        checks.push({ name: `memory bounded: ${p.name}`, pass: growth <= o.rssGrowthLimitMB, detail: `RSS ${f(atWarm ?? NaN, 0)} MB after warm-up → ${f(p.rssEndMB, 0)} MB at the end (limit +${o.rssGrowthLimitMB} MB)` });
      }
    }
    broker.kill('SIGTERM');
    await Promise.race([brokerExited, sleep(20_000)]);
    const heap = samples.filter((s) => s.t >= o.warmupS && s.heapMB !== undefined);
    const brokerHeapSlopeMBh = linearFit(heap.map((s) => s.t / 3600), heap.map((s) => s.heapMB!)).slope;
    const loads = samples.map((s) => s.load);
    const load = { mean: loads.reduce((a, b) => a + b, 0) / loads.length, max: Math.max(...loads) };
    return { pass: checks.every((c) => c.pass), checks, accounting, latency, processes, samples, brokerHeapSlopeMBh, load, options: o, startedAt, wallS };
  } finally {
    for (const c of clients) c.close();
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => Promise.race([p.exited, sleep(15_000)])));
    if (broker && broker.exitCode === null && broker.signalCode === null) {
      broker.kill('SIGTERM');
      await Promise.race([new Promise((r) => broker!.once('exit', r)), sleep(20_000)]);
      if (broker.exitCode === null && broker.signalCode === null) broker.kill('SIGKILL');
    }
    await server?.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ report


export function formatReport(r: SoakResult): string {
  const out: string[] = [];
  out.push(`soak ${r.startedAt}: ${f(r.wallS, 0)} s, ${r.options.subscribers} subscribers (${r.options.multicast ? "XEP-0033 fan-out" : "one stanza per subscriber"}), bursts of ${r.options.burstSize} every ${r.options.burstEveryS} s, GCN-like every ${r.options.gcnEveryS} s, 3 heartbeats at 1 Hz`);
  out.push('\nitems: acknowledged / expected deliveries / delivered / lost / duplicates / delivered unacknowledged / refused');
  for (const a of r.accounting) out.push(`  ${a.stream.padEnd(18)} ${a.acknowledged} / ${a.expected} / ${a.delivered} / ${a.lost} / ${a.duplicates} / ${a.unacknowledged} / ${a.refused}`);
  out.push(`\nlatency publish → delivery (ms); first / last = the first / last ${f(windowOf(r.options) / 60)} min`);
  for (const l of r.latency) out.push(`  ${l.stream.padEnd(10)} ${l.phase.padEnd(22)} n=${String(l.n).padEnd(7)} p50 ${f(l.p50).padStart(8)}  p99 ${f(l.p99).padStart(8)}`);
  out.push(`\nprocesses: RSS start → end (max) MB, RSS slope after ${f(r.options.warmupS, 0)} s warm-up MB/h, mean CPU %, CPU slope after warm-up %/h`);
  for (const p of r.processes) out.push(`  ${p.name.padEnd(11)} ${f(p.rssStartMB, 0).padStart(5)} → ${f(p.rssEndMB, 0).padStart(5)} (${f(p.rssMaxMB, 0)})  ${f(p.slopeMBh).padStart(7)} MB/h  ${f(p.cpuPct)} %  ${f(p.cpuSlopePctH)} %/h`);
  const heaps = r.samples.map((s) => s.heapMB).filter((x): x is number => x !== undefined);
  if (heaps.length) out.push(`  broker V8 heap in use ${f(heaps[0]!, 0)} → ${f(heaps.at(-1)!, 0)} MB (max ${f(Math.max(...heaps), 0)}), slope after warm-up ${f(r.brokerHeapSlopeMBh)} MB/h`);
  out.push(`  machine load average (1 min) mean ${f(r.load.mean)}, max ${f(r.load.max)} (2 cores, shared)`);
  out.push('\nchecks');
  for (const c of r.checks) out.push(`  ${c.recordedOnly ? 'INFO' : c.pass ? 'PASS' : 'FAIL'} ${c.name}: ${c.detail}`);
  out.push(`\n${r.pass ? 'PASS' : 'FAIL'}`);
  return out.join('\n');
}

async function main(): Promise<number> {
  const { values: a } = parseArgs({
    options: {
      duration: { type: 'string', default: '1h' },
      'burst-every': { type: 'string', default: '5m' },
      'burst-size': { type: 'string', default: '50' },
      subscribers: { type: 'string', default: '1000' },
      'gcn-every': { type: 'string', default: '20s' },
      'sample-every': { type: 'string', default: '10s' },
      warmup: { type: 'string' },
      'latency-tolerance': { type: 'string', default: '2' },
      window: { type: 'string' },
      'slope-limit': { type: 'string', default: '20' },
      inflight: { type: 'string', default: '4' },
      multicast: { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (a.help) {
    console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0]!.replace(/^\/\*\*|^ \* ?/gm, ''));
    return 0;
  }
  const s = (v: string, what: string) => parseDuration(v, what) / 1000;
  const durationS = s(a.duration!, '--duration');
  const o: SoakOptions = {
    durationS,
    burstEveryS: s(a['burst-every']!, '--burst-every'),
    burstSize: Number(a['burst-size']),
    subscribers: Number(a.subscribers),
    gcnEveryS: s(a['gcn-every']!, '--gcn-every'),
    sampleEveryS: s(a['sample-every']!, '--sample-every'),
    warmupS: a.warmup ? s(a.warmup, '--warmup') : Math.min(600, durationS / 6),
    latencyTolerance: Number(a['latency-tolerance']),
    windowS: a.window ? s(a.window, '--window') : undefined,
    slopeLimitMBh: Number(a['slope-limit']),
    inflight: Number(a.inflight),
    multicast: a.multicast,
  };
  for (const [k, v] of Object.entries(o)) if (typeof v === 'number' && !(v > 0)) throw new Error(`--${k}: must be a positive number`);
  process.chdir(repo);
  const r = await runSoak(o);
  console.log('\n' + formatReport(r));
  if (a.out) {
    writeFileSync(a.out, JSON.stringify(r, null, 2));
    console.log(`results written to ${a.out}`);
  }
  return r.pass ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(2);
    },
  );
}
