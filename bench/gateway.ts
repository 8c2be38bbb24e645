/**
 * The Kafka gateway's throughput and added latency, side by side with the direct
 * path in the same run, over several rounds alternating which direction goes first.
 *
 *   npx tsx bench/gateway.ts [--rounds 3] [--messages 3000] [--high 2000] [--rates 200,1000] [--publish batched|single] [--compare DIR]
 *
 * --compare DIR runs, in each round, the gateway of another checkout too (e.g. `git archive
 * <commit> | tar -x -C DIR` and a node_modules link), alternating which goes first.
 *
 * Every process as deployed: a real Kafka 4.1 (KRaft, one JVM, its defaults), Prosody,
 * the VOXnet broker as its own process (`voxnet broker` with its defaults: SQLite WAL,
 * synchronous=FULL, ack_after dispatch), the gateway as its own process (`voxnet gateway
 * kafka --config`, its defaults: 8 publish requests in flight, 64 items per request,
 * outbound batches of up to 256 items, idempotent producer with acks=all). This process
 * produces, publishes and receives: a plain kafkajs consumer (default settings) and a
 * VOXnet subscriber (the agents' follower).
 *
 *   kafka→voxnet  a producer sends Hopskotch-style JSON messages (_id, _format headers:
 *                 the gateway writes its seen-store for each). The direct path is the plain
 *                 consumer on the topic; the gateway path is a subscriber on the node.
 *   voxnet→kafka  a publisher puts items (ids hop-<uuid>: a seen-store key each) on a node:
 *                 what is due every 5 ms in one publish request (--publish single: one item
 *                 per request, up to 64 in flight; then the broker's one disk sync per
 *                 request bounds both paths). The direct path is a VOXnet subscriber on the
 *                 node; the gateway path is the plain consumer on the topic it produces to.
 *
 * Phases per direction, each timed from the same send timestamps for both paths:
 *   sustained     N messages offered at --high msg/s (above the 1,000 target);
 *                 messages/s per path = N / (first send → last arrival).
 *   latency-R     N messages offered at a fixed R msg/s; per message, added latency =
 *                 gateway-path arrival − direct-path arrival (the send time cancels):
 *                 its p50/p99, and each path's own p50/p99 from the send.
 * Each row also gives the load average and the CPU milliseconds per message spent by the
 * gateway, the broker, Prosody and Kafka (VOXNET_BENCH_PROFILE=DIR: CPU profiles of the
 * broker and gateway processes).
 *
 * Figures (docs/gateways.md, "Performance"; raw output in bench/gateway-results.md): on the
 * shared 2-core machine at load average 17–44, 3 rounds with --compare against the gateway
 * before batching: Kafka → VOXnet 769–1,230 msg/s at 2,000 offered, 0.64× the plain consumer
 * (before 87–103 msg/s, 0.05×), 0.96–1.00× at 200 and 1,000 msg/s offered in two rounds of
 * three; VOXnet → Kafka 0.97–1.00× the plain subscriber in every phase, up to 1,206 msg/s
 * (before 58–114 msg/s, 0.08×); no message lost. Added latency p50 21–107 ms in the better
 * rounds, when the direct paths' own p99 reached seconds (the machine, not the gateway).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { connectAgent, silentLogger, type Agent } from '../agents/lib/index.ts';
import { ensureNode } from '../agents/lib/nodes.ts';
import { JSON_NS } from '../agents/crossmatch/alert.ts';
import { startKafka } from '../test/helpers/kafka.ts';
import { startProsody, componentUrlFor } from '../broker-component/servers/index.ts';
import { waitServing } from '../test/helpers/broker-process.ts';
import { median, percentile } from './lib/stats.ts';
import { isTransient } from '../common/xmpp/iq-errors.ts';
import { cpuSeconds, pidsUnder } from './lib/proc.ts';

const { values } = parseArgs({ options: { messages: { type: 'string' }, rates: { type: 'string' }, high: { type: 'string' }, rounds: { type: 'string' }, publish: { type: 'string' }, compare: { type: 'string' } } });
const N = Number(values.messages ?? 3000);
const HIGH = Number(values.high ?? 2000);
const RATES = (values.rates ?? '200,1000').split(',').map(Number);
/** Outbound source: 'batched' (what is due in a 5 ms tick in one publish request) or 'single' (one item per request). */
const PUBLISH = values.publish ?? 'batched';
const ROUNDS = Number(values.rounds ?? 3);
const PUBSUB = 'pubsub.svom.fr';
const SECRET = 'bench-secret';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => percentile([...xs].sort((a, b) => a - b), p);

const work = mkdtempSync(join(tmpdir(), 'voxnet-bench-gw-'));
const kafka = await startKafka();
const server = await startProsody({ dir: join(work, 'prosody'), components: [{ domain: PUBSUB, secret: SECRET }], logLevel: 'warn' });
mkdirSync(join(work, 'broker'));
// VOXNET_BENCH_PROFILE=DIR: CPU profiles of the broker and the gateways (node --cpu-prof) into DIR.
const PROFILE = process.env.VOXNET_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.VOXNET_BENCH_PROFILE}`] : [];
/** `voxnet ARGS` as its own process (stderr kept). */
function run(args: string[], env: NodeJS.ProcessEnv, root = '.'): { child: ChildProcess; stderr: () => string; exited: Promise<unknown> } {
  const child = spawn(process.execPath, [...PROFILE, join(root, 'bin/voxnet.js'), ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  return { child, stderr: () => err, exited: new Promise((r) => child.once('exit', r)) };
}
// The broker as `voxnet broker` runs it by default (storage synchronous=FULL, ack_after dispatch).
const broker = run(['broker'], {
  VOXNET_XMPP_URL: componentUrlFor(server, PUBSUB), VOXNET_DOMAIN: PUBSUB, VOXNET_SECRET: SECRET,
  VOXNET_DATA_DIR: join(work, 'broker'), VOXNET_CREATE_NODES: 'svom.fr', VOXNET_LOG_LEVEL: 'error',
}).child;
for (const u of ['gw', 'sub', 'pub']) await server.addUser(u, 'svom.fr', u);
const conn = (u: string) => ({ jid: `${u}@svom.fr`, password: u, server: server.c2sUrl, service: PUBSUB, trust: server.certFiles });
const kc = new Kafka({ clientId: 'bench', brokers: [kafka.plaintext], logLevel: logLevel.NOTHING });
const pub = await connectAgent({ ...conn('pub'), name: 'pub', waitForServer: true });
await waitServing(async () => (await pub.getItems('bench/none').then(() => true, (e: Error) => !/service-unavailable|remote-server|timeout/i.test(e.message))));
const sub = await connectAgent({ ...conn('sub'), name: 'sub' });
const producer = kc.producer();
await producer.connect();

type Phase = 'sustained' | `latency-${number}`;
type Row = {
  round: number; gw: string; dir: string; phase: Phase; offered: number; n: number;
  gwPerS: number; directPerS: number; addedP50: number; addedP99: number;
  directP50: number; directP99: number; gwP50: number; gwP99: number; lost: number; load: number;
  /** CPU ms per message spent by the gateway, the broker, Prosody and Kafka during the phase. */
  cpu: { gateway: number; broker: number; prosody: number; kafka: number };
};
const rows: Row[] = [];
const PHASES: Phase[] = ['sustained', ...RATES.map((r) => `latency-${r}` as const)];
const rateOf = (p: Phase) => (p === 'sustained' ? HIGH : Number(p.slice('latency-'.length)));

/** Send `n` messages at `rate` per second in ticks of 5 ms; `send(seqs)` sends one tick's messages. */
async function offer(n: number, rate: number, sentAt: Map<number, number>, send: (seqs: number[]) => Promise<void>): Promise<number> {
  const t0 = performance.now();
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < n; ) {
    const due = t0 + (i / rate) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    // Everything due by now goes in this tick.
    const upTo = Math.min(n, Math.max(i + 1, Math.floor(((performance.now() - t0) / 1000) * rate) + 1));
    const seqs = Array.from({ length: upTo - i }, (_, k) => i + k);
    const now = performance.now();
    for (const s of seqs) sentAt.set(s, now);
    const p = send(seqs).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 64) await Promise.race(inFlight);
    i = upTo;
  }
  await Promise.all(inFlight);
  return t0;
}

function summarize(round: number, dir: string, phase: Phase, offered: number, t0: number, sentAt: Map<number, number>, direct: Map<number, number>, gw: Map<number, number>): Row {
  const added = [...gw].filter(([s]) => direct.has(s)).map(([s, t]) => t - direct.get(s)!);
  const from = (m: Map<number, number>) => [...m].map(([s, t]) => t - sentAt.get(s)!);
  const rate = (m: Map<number, number>) => (m.size / (Math.max(...m.values()) - t0)) * 1000;
  return {
    round, gw: '', dir, phase, offered, n: N,
    gwPerS: rate(gw), directPerS: rate(direct),
    addedP50: pct(added, 50), addedP99: pct(added, 99),
    directP50: pct(from(direct), 50), directP99: pct(from(direct), 99),
    gwP50: pct(from(gw), 50), gwP99: pct(from(gw), 99),
    lost: N - gw.size, load: loadavg()[0]!, cpu: { gateway: NaN, broker: NaN, prosody: NaN, kafka: NaN },
  };
}

/** CPU seconds used so far by the gateway, the broker, Prosody and Kafka. */
let gatewayPid = 0;
function cpuNow(): { gateway: number; broker: number; prosody: number; kafka: number } {
  const sum = (pids: number[]) => pids.reduce((a, p) => a + cpuSeconds(p), 0);
  return { gateway: cpuSeconds(gatewayPid), broker: cpuSeconds(broker.pid!), prosody: sum(pidsUnder(server.dir)), kafka: sum(pidsUnder(kafka.dir)) };
}
function cpuPerMessage(before: ReturnType<typeof cpuNow>): Row['cpu'] {
  const after = cpuNow();
  const per = (k: keyof Row['cpu']) => ((after[k] - before[k]) * 1000) / N;
  return { gateway: per('gateway'), broker: per('broker'), prosody: per('prosody'), kafka: per('kafka') };
}

async function arrived(maps: Map<number, number>[], timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (maps.some((m) => m.size < N) && Date.now() < deadline) await sleep(50);
}

function startGateway(round: number, root: string): ReturnType<typeof run> {
  const dir = join(work, `gw-${round}`);
  mkdirSync(dir);
  const cfg = join(dir, 'gateway.yaml');
  writeFileSync(cfg, [
    `gateway: bench-${round}`,
    `kafka: { brokers: ["${kafka.plaintext}"] }`,
    'from: earliest',
    'inbound:',
    ...PHASES.map((p) => `  - { topics: [bench.in.${round}.${p}], node: bench/in/${round}/${p}, format: json }`),
    'outbound:',
    ...PHASES.map((p) => `  - { node: bench/out/${round}/${p}, topic: bench.out.${round}.${p} }`),
    `dead_letter: { dir: ${join(dir, 'dead')} }`,
    '',
  ].join('\n'));
  return run(['gateway', 'kafka', '--config', cfg, '--state-dir', join(dir, 'state')], {
    VOXNET_AGENT_JID: 'gw@svom.fr', VOXNET_AGENT_PASSWORD: 'gw', VOXNET_AGENT_SERVER: server.c2sUrl,
    VOXNET_PUBSUB: PUBSUB, VOXNET_TRUST: server.certFiles.join(':'), VOXNET_LOG_LEVEL: 'warn',
  }, root);
}

async function inbound(round: number, phase: Phase, rate: number): Promise<void> {
  const topic = `bench.in.${round}.${phase}`;
  const node = `bench/in/${round}/${phase}`;
  const sentAt = new Map<number, number>();
  const direct = new Map<number, number>();
  const gw = new Map<number, number>();
  const c = kc.consumer({ groupId: `ref-in-${round}-${phase}` });
  await c.connect();
  await c.subscribe({ topics: [topic], fromBeginning: true });
  await c.run({ eachMessage: async ({ message }) => void direct.set(JSON.parse(message.value!.toString()).seq, performance.now()) });
  const f = await sub.follow(node, (it) => void gw.set(JSON.parse(it.payload!.text()).seq, performance.now()), { since: 'beginning' });
  await sleep(3000); // the consumer group settles
  const cpu0 = cpuNow();
  const t0 = await offer(N, rate, sentAt, async (seqs) => {
    await producer.send({
      topic,
      messages: seqs.map((seq) => ({ value: JSON.stringify({ seq, sent: 'bench' }), headers: { _id: Buffer.from(randomUUID().replace(/-/g, ''), 'hex'), _format: 'json' } })),
    });
  });
  await arrived([direct, gw]);
  rows.push({ ...summarize(round, 'kafka→voxnet', phase, rate, t0, sentAt, direct, gw), cpu: cpuPerMessage(cpu0) });
  await f.stop();
  await c.disconnect();
}

async function outbound(round: number, phase: Phase, rate: number): Promise<void> {
  const topic = `bench.out.${round}.${phase}`;
  const node = `bench/out/${round}/${phase}`;
  const sentAt = new Map<number, number>();
  const direct = new Map<number, number>();
  const gw = new Map<number, number>();
  const c = kc.consumer({ groupId: `ref-out-${round}-${phase}` });
  await c.connect();
  await c.subscribe({ topics: [topic], fromBeginning: true });
  await c.run({ eachMessage: async ({ message }) => void gw.set(JSON.parse(message.value!.toString()).seq, performance.now()) });
  const f = await sub.follow(node, (it) => void direct.set(JSON.parse(it.payload!.text()).seq, performance.now()), { since: 'latest' });
  await sleep(3000);
  const cpu0 = cpuNow();
  const t0 = await offer(N, rate, sentAt, async (seqs) => {
    const items = seqs.map((seq) => ({ id: `hop-${randomUUID()}`, payload: `<json xmlns="${JSON_NS}">{"seq":${seq}}</json>` }));
    // A publisher retries what timed out (the broker is the bound here: same id, same item).
    const retrying = async <T>(f: () => Promise<T>): Promise<T> => {
      for (;;) {
        try {
          return await f();
        } catch (e) {
          if (!isTransient(e)) throw e;
        }
      }
    };
    if (PUBLISH === 'single') await Promise.all(items.map((it) => retrying(() => pub.publish(node, it.payload, { id: it.id }))));
    else await retrying(() => pub.publishItems(node, items));
  });
  await arrived([direct, gw]);
  rows.push({ ...summarize(round, 'voxnet→kafka', phase, rate, t0, sentAt, direct, gw), cpu: cpuPerMessage(cpu0) });
  await f.stop();
  await c.disconnect();
}

async function prepare(round: number, agent: Agent): Promise<void> {
  for (const p of PHASES) {
    await kafka.createTopic(`bench.in.${round}.${p}`);
    await kafka.createTopic(`bench.out.${round}.${p}`);
    await ensureNode(agent, `bench/out/${round}/${p}`, 'bench node', silentLogger());
  }
}

const header = 'round  gateway   direction     phase         offered  gateway msg/s  direct msg/s  ratio  added p50  added p99  direct p50/p99  gateway p50/p99  lost  load  CPU ms/msg gw/broker/prosody/kafka';
const line = (r: Row) =>
  `${String(r.round).padEnd(6)} ${r.gw.padEnd(9)} ${r.dir.padEnd(13)} ${r.phase.padEnd(13)} ${String(r.offered).padStart(7)} ${r.gwPerS.toFixed(0).padStart(14)} ${r.directPerS.toFixed(0).padStart(13)} ${(r.gwPerS / r.directPerS).toFixed(2).padStart(6)} ${r.addedP50.toFixed(1).padStart(10)} ${r.addedP99.toFixed(1).padStart(10)} ${`${r.directP50.toFixed(1)}/${r.directP99.toFixed(1)}`.padStart(15)} ${`${r.gwP50.toFixed(1)}/${r.gwP99.toFixed(1)}`.padStart(16)} ${String(r.lost).padStart(5)} ${r.load.toFixed(2).padStart(5)}  ${[r.cpu.gateway, r.cpu.broker, r.cpu.prosody, r.cpu.kafka].map((x) => x.toFixed(2)).join('/')}`;

try {
  // --compare DIR: each round also runs the gateway of another checkout (e.g. the code before a
  // change), alternating which goes first; rows say which ('this' or 'compared').
  const gateways = [{ label: 'this', root: '.' }, ...(values.compare ? [{ label: 'compared', root: values.compare }] : [])];
  let slot = 0;
  for (let r = 0; r < ROUNDS; r++) {
    for (const gwDef of r % 2 ? [...gateways].reverse() : gateways) {
      const k = slot++;
      const first = rows.length;
      await prepare(k, pub);
      const g = startGateway(k, gwDef.root);
      gatewayPid = g.child.pid!;
      for (const deadline = Date.now() + 120_000; !/running/.test(g.stderr()); await sleep(100))
        if (Date.now() > deadline || g.child.exitCode !== null) throw new Error(`the gateway did not start:\n${g.stderr()}`);
      const dirs = [
        async () => {
          for (const p of PHASES) await inbound(k, p, rateOf(p));
        },
        async () => {
          for (const p of PHASES) await outbound(k, p, rateOf(p));
        },
      ];
      // Alternate which direction goes first.
      if (r % 2) dirs.reverse();
      for (const d of dirs) await d();
      g.child.kill('SIGTERM');
      await g.exited;
      for (const row of rows.slice(first)) {
        row.round = r;
        row.gw = gwDef.label;
        console.log(line(row));
      }
    }
  }
  console.log(`\nKafka gateway: ${N} messages per phase, sustained phase offered at ${HIGH} msg/s, latency phases at ${RATES.join(', ')} msg/s, ${ROUNDS} rounds; outbound source publishes ${PUBLISH === 'single' ? 'one item per request' : "what is due every 5 ms in one request"}; broker storage synchronous=FULL (default); load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(header);
  for (const r of rows) console.log(line(r));
  console.log('\nmedians over the rounds                   gateway msg/s  direct msg/s  ratio  added p50  added p99');
  for (const gwDef of gateways)
    for (const dir of ['kafka→voxnet', 'voxnet→kafka'])
      for (const p of PHASES) {
        const rs = rows.filter((r) => r.gw === gwDef.label && r.dir === dir && r.phase === p);
        const m = (f: (r: Row) => number) => median(rs.map(f));
        console.log(`${gwDef.label.padEnd(9)} ${dir.padEnd(13)} ${p.padEnd(17)} ${m((r) => r.gwPerS).toFixed(0).padStart(14)} ${m((r) => r.directPerS).toFixed(0).padStart(13)} ${m((r) => r.gwPerS / r.directPerS).toFixed(2).padStart(6)} ${m((r) => r.addedP50).toFixed(1).padStart(10)} ${m((r) => r.addedP99).toFixed(1).padStart(10)}`);
    }
} finally {
  await producer.disconnect().catch(() => {});
  await sub.stop();
  await pub.stop();
  broker.kill('SIGTERM');
  await kafka.close();
  await server.stop();
}
process.exit(0);
