/**
 * The Kafka gateway against a real Apache Kafka 4.1 broker (KRaft) and real peers:
 * hop-client publishing and subscribing (Hopskotch conventions), SCRAM-SHA-512 over
 * TLS, dead letters, two gateways pointing at each other, SIGKILL mid-stream, and
 * the Kafka broker away for a while. One Kafka and one Prosody + VOXnet broker for
 * the whole file (the JVM is slow to start).
 */
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { connectAgent, publishVOEvent, silentLogger, type Agent, type PubsubItem } from '../agents/lib/index.ts';
import { runKafkaGateway, type GatewayEvent, type KafkaGatewayConfig } from '../agents/gateway/kafka/gateway.ts';
import { JSON_NS } from '../agents/crossmatch/alert.ts';
import { ensureNode } from '../agents/lib/nodes.ts';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { agentEnv, voxnet, type Proc } from './helpers/agents.ts';
import { startKafka, kafkaAvailable, KAFKA_MISSING, type KafkaBroker } from './helpers/kafka.ts';
import { HOP, PYTHON, kafkaPeersAvailable, KAFKA_PEERS_MISSING, run, collect } from './helpers/kafka-peers.ts';
import { until } from './helpers/until.ts';

const FIX = join(import.meta.dirname, 'fixtures');
const VOE = (f: string) => join(FIX, 'voevents', f);
const SWIFT = VOE('fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml');
const SWIFT_IVORN = 'ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-182';
const MB = 1024 * 1024;
const ready = kafkaAvailable() && kafkaPeersAvailable();
if (!ready) console.warn(`gateway-kafka tests skipped: ${!kafkaAvailable() ? KAFKA_MISSING : KAFKA_PEERS_MISSING}`);

describe.skipIf(!ready)('Kafka gateway with a real Kafka broker and hop-client', () => {
  let kafka: KafkaBroker;
  let env: BrokerEnv;
  let work: string;
  let watcher: Agent;
  const procs: Proc[] = [];

  const connection = (user: string) => {
    env.prosody.addUser(user, 'svom.fr', user);
    return { jid: `${user}@svom.fr`, password: user, server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles };
  };
  const items = async (node: string): Promise<PubsubItem[]> => (await watcher.getItems(node, { max: 1000 })).items;
  /** Poll a node until it holds `n` items (or the time is up); returns what it holds. */
  async function itemsWhen(node: string, n: number, timeoutMs = 60_000): Promise<PubsubItem[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = await items(node).catch(() => []);
      if (got.length >= n || Date.now() > deadline) return got;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const client = (brokers = kafka.plaintext) => new Kafka({ clientId: 'test', brokers: [brokers], logLevel: logLevel.NOTHING });
  async function produce(topic: string, messages: { value: string | Buffer; headers?: Record<string, string | Buffer> }[]) {
    const p = client().producer();
    await p.connect();
    await p.send({ topic, acks: -1, messages });
    await p.disconnect();
  }
  function gateway(args: string[], user: string): Proc {
    const p = voxnet(['gateway', ...args], agentEnv(env, user, { VOXNET_STATE_DIR: join(work, `state-${user}`) }));
    procs.push(p);
    return p;
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'voxnet-gw-kafka-'));
    [kafka, env] = await Promise.all([
      startKafka({ scramUsers: { alice: 'alice-secret' } }),
      startBrokerEnv({ default_node_config: { max_payload_size: 4 * MB } }, 'prosody', {
        prosodyExtra: [`c2s_stanza_size_limit = ${8 * MB}`, `component_stanza_size_limit = ${8 * MB}`].join('\n'),
      }),
    ]);
    for (const t of ['hop.in', 'hop.out', 'scram.in', 'dl.in', 'loop.t', 'kill.in', 'outage.in', 'outage.out']) await kafka.createTopic(t);
    watcher = await connectAgent({ ...connection('watcher'), name: 'watcher' });
  }, 240_000);

  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await watcher?.stop();
    await kafka?.close();
    await env?.stop();
  });

  it('hop publish of a VOEvent and a JSON message arrives on the mapped node with the right payload', async () => {
    const g = gateway(['hop', '--url', `kafka://${kafka.plaintext}/hop.in`, '--node', 'hop/in', '--direction', 'in', '--no-auth', '--from', 'earliest'], 'gw-hop-in');
    await until(() => /running/.test(g.stderr()), 60_000, `the gateway to run\n${g.stderr()}`);
    await run(HOP, ['publish', '--no-auth', '-f', 'VOEVENT', `kafka://${kafka.plaintext}/hop.in`, SWIFT]);
    const jsonFile = join(work, 'note.json');
    writeFileSync(jsonFile, JSON.stringify({ instrument: 'hop-test', ra: 12.5, dec: -3 }));
    await run(HOP, ['publish', '--no-auth', '-f', 'JSON', `kafka://${kafka.plaintext}/hop.in`, jsonFile]);
    const got = await itemsWhen('hop/in', 2);
    expect(got).toHaveLength(2);
    const voe = got.find((i) => i.ivorn)!;
    expect(voe.ivorn).toBe(SWIFT_IVORN);
    expect(voe.id).toMatch(/^BAT_GRB_Pos_1118357-182-/);
    const json = got.find((i) => !i.ivorn)!;
    expect(json.payload?.name).toBe('json');
    expect(json.payload?.attrs.xmlns).toBe(JSON_NS);
    expect(JSON.parse(json.payload!.text())).toEqual({ instrument: 'hop-test', ra: 12.5, dec: -3 });
    // The hop _id (a UUID) is the item id: a replay of the same message lands on the same item.
    expect(json.id).toMatch(/^hop-[0-9a-f]{8}-[0-9a-f]{4}-/);
    g.child.kill('SIGTERM');
    expect(await g.exited).toBe(0);
  }, 180_000);

  it('a VOXnet publish is printed by hop subscribe with _format voevent and the same IVORN', async () => {
    const pub = await connectAgent({ ...connection('fsc'), name: 'fsc' });
    await ensureNode(pub, 'hop/out', 'the outbound node');
    const g = gateway(['hop', '--url', `kafka://${kafka.plaintext}/hop.out`, '--node', 'hop/out', '--direction', 'out', '--no-auth'], 'gw-hop-out');
    await until(() => /running/.test(g.stderr()), 60_000, `the gateway to run\n${g.stderr()}`);
    const sub = collect(HOP, ['subscribe', '--no-auth', '-s', 'EARLIEST', '-j', `kafka://${kafka.plaintext}/hop.out`]);
    try {
      await publishVOEvent(pub, 'hop/out', readFileSync(SWIFT));
      await until(() => sub.out().includes(`ivorn="${SWIFT_IVORN}"`), 90_000, 'hop subscribe to print the packet').catch((e: Error) => {
        throw new Error(`${e.message}\nstdout: ${sub.out()}\nstderr: ${sub.err()}\ngateway: ${g.stderr()}`);
      });
    } finally {
      sub.stop();
      await pub.stop();
    }
    // hop-client's own reader: the message is read as its VOEvent model (the _format header said voevent).
    const read = JSON.parse(await run(PYTHON, [join(import.meta.dirname, 'peers/hop-read.py'), `kafka://${kafka.plaintext}/hop.out`, '1'])) as { model: string; ivorn: string; headers: Record<string, string> }[];
    expect(read[0]).toMatchObject({ model: 'VOEvent', ivorn: SWIFT_IVORN, headers: { _format: 'voevent', _sender: 'gw-hop-out@svom.fr' } });
    // The headers as Hopskotch defines them.
    const c = client().consumer({ groupId: 'check-headers' });
    await c.connect();
    await c.subscribe({ topics: ['hop.out'], fromBeginning: true });
    const seen: Record<string, Buffer>[] = [];
    await c.run({ eachMessage: async ({ message }) => void seen.push(message.headers as Record<string, Buffer>) });
    await until(() => seen.length >= 1, 30_000, 'the message');
    await c.disconnect();
    expect(seen[0]!._format!.toString()).toBe('voevent');
    expect(seen[0]!._id!.length).toBe(16);
    expect(seen[0]!._sender!.toString()).toBe('gw-hop-out@svom.fr');
    expect(seen[0]!._test).toBeUndefined();
    g.child.kill('SIGTERM');
    expect(await g.exited).toBe(0);
  }, 180_000);
});
