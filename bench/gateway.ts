/**
 * The Kafka gateway's throughput and added latency, side by side with the direct
 * Kafka path in the same run, rounds alternating direction.
 *
 *   npx tsx bench/gateway.ts [--messages N] [--rate R] [--rounds K]
 *
 *   inbound  (Kafka → VOXnet): a producer sends N JSON messages at R msg/s; a plain
 *            kafkajs consumer on the topic (the reference, default settings) and a VOXnet
 *            subscriber (follower, in-memory state) on the node the gateway publishes to
 *            both timestamp each message. Added latency = VOXnet arrival − Kafka arrival of
 *            the same message; messages/s = N / (first send → last arrival) per path.
 *   outbound (VOXnet → Kafka): a publisher puts N items on a node (32 in flight); a VOXnet
 *            subscriber on the node (the reference) and a plain kafkajs consumer on the
 *            topic the gateway produces to (idempotent producer, acks=all). Added latency =
 *            Kafka arrival − VOXnet arrival.
 *
 * A real Kafka 4.1 (KRaft, one JVM) and Prosody + the VOXnet broker on loopback. The
 * figures in the README were taken on a shared 2-core machine.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { connectAgent, silentLogger } from '../agents/lib/index.ts';
import { ensureNode } from '../agents/lib/nodes.ts';
import { runKafkaGateway } from '../agents/gateway/kafka/gateway.ts';
import { JSON_NS } from '../agents/crossmatch/alert.ts';
import { startKafka } from '../test/helpers/kafka.ts';
import { startBrokerEnv, PUBSUB } from '../test/helpers/broker-env.ts';

const { values } = parseArgs({ options: { messages: { type: 'string' }, rate: { type: 'string' }, rounds: { type: 'string' } } });
const N = Number(values.messages ?? 3000);
const RATE = Number(values.rate ?? 1000);
const ROUNDS = Number(values.rounds ?? 3);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const work = mkdtempSync(join(tmpdir(), 'voxnet-bench-gw-'));
const kafka = await startKafka();
const env = await startBrokerEnv({}, 'prosody');
for (const u of ['gw', 'sub', 'pub']) env.prosody.addUser(u, 'svom.fr', u);
const conn = (u: string) => ({ jid: `${u}@svom.fr`, password: u, server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles });
const kc = new Kafka({ clientId: 'bench', brokers: [kafka.plaintext], logLevel: logLevel.NOTHING });
const pub = await connectAgent({ ...conn('pub'), name: 'pub' });
const sub = await connectAgent({ ...conn('sub'), name: 'sub' });

type Row = { round: number; dir: string; n: number; oursPerS: number; refPerS: number; addedP50: number; addedP99: number; lost: number };
const rows: Row[] = [];

async function inbound(round: number): Promise<void> {
  const topic = `bench.in.${round}`;
  const node = `bench/in/${round}`;
  await kafka.createTopic(topic);
  const gw = await runKafkaGateway({
    config: { gateway: `bench-in-${round}`, kafka: { brokers: [kafka.plaintext] }, from: 'earliest', inbound: [{ topics: [topic], node, format: 'json' }], outbound: [], dead_letter: { dir: join(work, 'dead') } },
    connection: conn('gw'), stateDir: join(work, `in-${round}`), log: silentLogger(),
  });
  const kafkaAt = new Map<number, number>();
  const voxAt = new Map<number, number>();
  const c = kc.consumer({ groupId: `ref-${round}` });
  await c.connect();
  await c.subscribe({ topics: [topic], fromBeginning: true });
  await c.run({ eachMessage: async ({ message }) => void kafkaAt.set(JSON.parse(message.value!.toString()).seq, performance.now()) });
  const f = await sub.follow(node, (it) => void voxAt.set(JSON.parse(it.payload!.text()).seq, performance.now()), { since: 'beginning' });
  await sleep(3000);
  const p = kc.producer();
  await p.connect();
  const t0 = performance.now();
  const batch = 10;
  for (let i = 0; i < N; i += batch) {
    const due = t0 + (i / RATE) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    await p.send({ topic, messages: Array.from({ length: Math.min(batch, N - i) }, (_, j) => ({ value: JSON.stringify({ seq: i + j }) })) });
  }
  const deadline = Date.now() + 120_000;
  while ((voxAt.size < N || kafkaAt.size < N) && Date.now() < deadline) await sleep(50);
  const added = [...voxAt].filter(([s]) => kafkaAt.has(s)).map(([s, t]) => t - kafkaAt.get(s)!);
  rows.push({
    round, dir: 'kafka→voxnet', n: N,
    oursPerS: (voxAt.size / (Math.max(...voxAt.values()) - t0)) * 1000,
    refPerS: (kafkaAt.size / (Math.max(...kafkaAt.values()) - t0)) * 1000,
    addedP50: pct(added, 50), addedP99: pct(added, 99), lost: N - voxAt.size,
  });
  await f.stop();
  await c.disconnect();
  await p.disconnect();
  await gw.stop();
}

async function outbound(round: number): Promise<void> {
  const topic = `bench.out.${round}`;
  const node = `bench/out/${round}`;
  await kafka.createTopic(topic);
  await ensureNode(pub, node, 'bench node');
  const gw = await runKafkaGateway({
    config: { gateway: `bench-out-${round}`, kafka: { brokers: [kafka.plaintext] }, inbound: [], outbound: [{ node, topic }], dead_letter: { dir: join(work, 'dead') } },
    connection: conn('gw'), stateDir: join(work, `out-${round}`), log: silentLogger(),
  });
  const kafkaAt = new Map<number, number>();
  const voxAt = new Map<number, number>();
  const c = kc.consumer({ groupId: `out-${round}` });
  await c.connect();
  await c.subscribe({ topics: [topic], fromBeginning: true });
  await c.run({ eachMessage: async ({ message }) => void kafkaAt.set(JSON.parse(message.value!.toString()).seq, performance.now()) });
  const f = await sub.follow(node, (it) => void voxAt.set(JSON.parse(it.payload!.text()).seq, performance.now()), { since: 'latest' });
  await sleep(3000);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < N) {
      const seq = next++;
      await pub.publish(node, `<json xmlns="${JSON_NS}">{"seq":${seq}}</json>`, { id: `m${seq}` });
    }
  }));
  const deadline = Date.now() + 180_000;
  while ((voxAt.size < N || kafkaAt.size < N) && Date.now() < deadline) await sleep(50);
  const added = [...kafkaAt].filter(([s]) => voxAt.has(s)).map(([s, t]) => t - voxAt.get(s)!);
  rows.push({
    round, dir: 'voxnet→kafka', n: N,
    oursPerS: (kafkaAt.size / (Math.max(...kafkaAt.values()) - t0)) * 1000,
    refPerS: (voxAt.size / (Math.max(...voxAt.values()) - t0)) * 1000,
    addedP50: pct(added, 50), addedP99: pct(added, 99), lost: N - kafkaAt.size,
  });
  await f.stop();
  await c.disconnect();
  await gw.stop();
}

for (let r = 0; r < ROUNDS; r++) {
  // Alternate which direction goes first.
  if (r % 2 === 0) {
    await inbound(r);
    await outbound(r);
  } else {
    await outbound(r);
    await inbound(r);
  }
  console.log(JSON.stringify(rows.slice(-2)));
}
console.log(`\nKafka gateway, ${N} messages per round, inbound offered at ${RATE} msg/s, ${ROUNDS} rounds`);
console.log('round  direction      ours msg/s  reference msg/s  ratio  added p50 ms  added p99 ms  lost');
for (const r of rows) {
  console.log(`${String(r.round).padEnd(6)} ${r.dir.padEnd(14)} ${r.oursPerS.toFixed(0).padStart(10)} ${r.refPerS.toFixed(0).padStart(16)} ${(r.oursPerS / r.refPerS).toFixed(2).padStart(6)} ${r.addedP50.toFixed(1).padStart(13)} ${r.addedP99.toFixed(1).padStart(13)} ${String(r.lost).padStart(5)}`);
}
await sub.stop();
await pub.stop();
await kafka.close();
await env.stop();
process.exit(0);
