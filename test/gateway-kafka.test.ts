/**
 * The Kafka gateway against a real Apache Kafka 4.1 broker (KRaft) and real peers:
 * hop-client publishing and subscribing (Hopskotch conventions), SCRAM-SHA-512 over
 * TLS, dead letters, two gateways pointing at each other, SIGKILL mid-stream, and
 * the Kafka broker away for a while. One Kafka and one Prosody + VOXnet broker for
 * the whole file (the JVM is slow to start).
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
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
    for (const t of ['hop.in', 'hop.out', 'scram.in', 'hop.scram', 'dl.in', 'loop.t', 'kill.in', 'outage.in', 'outage.out']) await kafka.createTopic(t);
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
    // A role=test packet goes out with _test (hop-client drops those unless asked for test messages).
    const pub2 = await connectAgent({ ...connection('fsc'), name: 'fsc' });
    await publishVOEvent(pub2, 'hop/out', readFileSync(VOE('gcn-notice-parser__swift_bat_grb_pos_test_9264.xml')));
    await pub2.stop();
    // The headers as Hopskotch defines them.
    const c = client().consumer({ groupId: 'check-headers' });
    await c.connect();
    await c.subscribe({ topics: ['hop.out'], fromBeginning: true });
    const seen: Record<string, Buffer>[] = [];
    await c.run({ eachMessage: async ({ message }) => void seen.push(message.headers as Record<string, Buffer>) });
    await until(() => seen.length >= 2, 60_000, 'the two messages');
    await c.disconnect();
    expect(seen[0]!._format!.toString()).toBe('voevent');
    expect(seen[0]!._id!.length).toBe(16);
    expect(seen[0]!._sender!.toString()).toBe('gw-hop-out@svom.fr');
    expect(seen[0]!._test).toBeUndefined();
    expect(seen[1]!._test!.toString()).toBe('true');
    expect(Buffer.compare(seen[0]!._id!, seen[1]!._id!)).not.toBe(0);
    g.child.kill('SIGTERM');
    expect(await g.exited).toBe(0);
  }, 180_000);

  /** A gateway in this process (faster to start than the command; the command is tested above and below). */
  async function inProcess(user: string, cfg: Partial<KafkaGatewayConfig> & { gateway: string }, events: GatewayEvent[] = [], stateDir = join(work, `state-${user}`)) {
    return runKafkaGateway({
      config: { kafka: { brokers: [kafka.plaintext] }, inbound: [], outbound: [], dead_letter: { dir: join(stateDir, 'dead') }, from: 'earliest', ...cfg },
      connection: connection(user),
      stateDir,
      log: process.env.VOXNET_TEST_LOG ? (await import('../agents/lib/index.ts')).createLogger(user, 'debug') : silentLogger(),
      onEvent: (e) => void events.push(e),
    });
  }

  it('reads through SCRAM-SHA-512 over TLS, and a wrong password is refused', async () => {
    const tlsSasl = { brokers: [kafka.scramTls], tls: { ca: [kafka.caFile] }, sasl: { mechanism: 'scram-sha-512' as const, username: 'alice', password: 'alice-secret' } };
    const gw = await inProcess('gw-scram', { gateway: 'scram', kafka: tlsSasl, inbound: [{ topics: ['scram.in'], node: 'scram/in' }] });
    try {
      await produce('scram.in', [{ value: readFileSync(SWIFT), headers: { _format: 'voevent' } }]);
      const got = await itemsWhen('scram/in', 1);
      expect(got.map((i) => i.ivorn)).toEqual([SWIFT_IVORN]);
    } finally {
      await gw.stop();
    }
    await expect(inProcess('gw-scram-bad', { gateway: 'scram-bad', kafka: { ...tlsSasl, sasl: { ...tlsSasl.sasl, password: 'wrong' } }, inbound: [{ topics: ['scram.in'], node: 'scram/in' }] }))
      .rejects.toThrow(/SASL|authentication|credentials/i);
  }, 180_000);

  it('voxnet gateway hop over SCRAM-SHA-512 and TLS, both ways, against hop-client authenticating the same way', async () => {
    // hop-client's own credentials file (hop auth), as Hopskotch users keep it.
    const conf = join(work, 'hop-config');
    mkdirSync(join(conf, 'hop'), { recursive: true });
    writeFileSync(join(conf, 'hop', 'auth.toml'), `[[auth]]\nusername = "alice"\npassword = "alice-secret"\nprotocol = "SASL_SSL"\nmechanism = "SCRAM-SHA-512"\nssl_ca_location = "${kafka.caFile}"\n`, { mode: 0o600 });
    const hopEnv = { ...process.env, XDG_CONFIG_HOME: conf };
    const url = `kafka://${kafka.scramTls}/hop.scram`;
    const g = voxnet(['gateway', 'hop', '--url', `kafka://alice@${kafka.scramTls}/hop.scram`, '--node', 'hop/scram', '--tls-ca', kafka.caFile, '--from', 'earliest', '--name', 'hop-scram'],
      agentEnv(env, 'gw-hop-scram', { VOXNET_STATE_DIR: join(work, 'state-gw-hop-scram'), HOP_PASSWORD: 'alice-secret' }));
    procs.push(g);
    await until(() => /running/.test(g.stderr()), 60_000, `the gateway to run\n${g.stderr()}`);
    // In: hop publish, authenticated → the node.
    await run(HOP, ['publish', '-f', 'VOEVENT', url, SWIFT], { env: hopEnv });
    expect((await itemsWhen('hop/scram', 1)).map((i) => i.ivorn)).toEqual([SWIFT_IVORN]);
    // Out: a VOXnet publish on the node (by the gateway's account, which owns the node it created) → hop subscribe, authenticated.
    const pub = await connectAgent({ ...connection('gw-hop-scram'), name: 'gw-hop-scram-pub', resource: 'test-publisher' });
    const sub = collect(HOP, ['subscribe', '-s', 'EARLIEST', '-j', url], hopEnv);
    try {
      const SVOM_IVORN = 'ivo://org.svom/fsc#sb26030408_eclairs-wakeup';
      await publishVOEvent(pub, 'hop/scram', readFileSync(VOE('gcn-notice-parser__svom_eclairs_303__sb26030408_eclairs-wakeup.xml')));
      await until(() => sub.out().includes(`ivorn="${SVOM_IVORN}"`), 90_000, 'hop subscribe to print the VOXnet packet').catch((e: Error) => {
        throw new Error(`${e.message}\nstdout: ${sub.out()}\nstderr: ${sub.err()}\ngateway: ${g.stderr()}`);
      });
      await new Promise((r) => setTimeout(r, 2000));
      // The topic holds each once: hop's packet was not sent back, VOXnet's not bridged in again.
      expect(sub.out().split(`ivorn="${SWIFT_IVORN}"`).length - 1).toBe(1);
      expect(sub.out().split(`ivorn="${SVOM_IVORN}"`).length - 1).toBe(1);
      expect((await items('hop/scram')).map((i) => i.ivorn).sort()).toEqual([SWIFT_IVORN, SVOM_IVORN].sort());
    } finally {
      sub.stop();
      await pub.stop();
    }
    g.child.kill('SIGTERM');
    expect(await g.exited).toBe(0);
  }, 180_000);

  it('sends malformed input to the dead letters with the reason and goes on', async () => {
    const dead = join(work, 'dead-letters');
    const gw = await inProcess('gw-dl', { gateway: 'dl', inbound: [{ topics: ['dl.in'], node: 'dl/in' }], dead_letter: { dir: dead }, max_message_bytes: 10_000 });
    try {
      const ep = JSON.parse(readFileSync(join(FIX, 'gcn-json/skyportal-EP240508.json'), 'utf8')) as Record<string, unknown>;
      await produce('dl.in', [
        { value: '<voe:VOEvent ivorn="ivo://x/y#z"><Who>', headers: { _format: 'voevent' } },
        { value: JSON.stringify({ ...ep, ra: 'north' }) },
        { value: JSON.stringify({ pad: 'x'.repeat(12_000) }), headers: { _format: 'json' } },
        { value: 'AAAA', headers: { _format: 'avro' } },
        { value: readFileSync(SWIFT), headers: { _format: 'voevent' } },
        { value: JSON.stringify(ep) },
      ]);
      const got = await itemsWhen('dl/in', 2);
      expect(got.map((i) => i.ivorn ?? JSON.parse(i.payload!.text()).id?.[0] ?? 'json').sort()).toEqual([SWIFT_IVORN, 'json'].sort());
      await until(() => readdirSync(dead).length >= 4, 30_000, 'four dead letters');
      const letters = readdirSync(dead).map((f) => JSON.parse(readFileSync(join(dead, f), 'utf8')) as { reason: string; source: string; headers: Record<string, string> });
      const reasons = letters.map((l) => l.reason).join('\n');
      expect(reasons).toMatch(/invalid VOEvent/);
      expect(reasons).toMatch(/schema gcn\/notices\/einstein_probe\/wxt\/alert.schema.json: ra: must be number/);
      expect(reasons).toMatch(/over the limit of 10000 bytes/);
      expect(reasons).toMatch(/unknown _format 'avro'/);
      expect(letters.every((l) => /^kafka:\/\/127.0.0.1:\d+\/dl.in\/0\/\d+$/.test(l.source))).toBe(true);
    } finally {
      await gw.stop();
    }
  }, 180_000);

  it('two gateways pointing at each other bridge each event once and never loop', async () => {
    const evA: GatewayEvent[] = [];
    const evB: GatewayEvent[] = [];
    const a = await inProcess('gw-loop-a', { gateway: 'loop-a', inbound: [{ topics: ['loop.t'], node: 'loop/a' }], outbound: [{ node: 'loop/a', topic: 'loop.t' }] }, evA);
    const b = await inProcess('gw-loop-b', { gateway: 'loop-b', inbound: [{ topics: ['loop.t'], node: 'loop/b' }], outbound: [{ node: 'loop/b', topic: 'loop.t' }] }, evB);
    try {
      // Each gateway created (and owns) its inbound node: publish there as the site's publisher would.
      await publishVOEvent(a.agents[0]!, 'loop/a', readFileSync(SWIFT));
      await b.agents[0]!.publish('loop/b', `<json xmlns="${JSON_NS}">{"from":"b"}</json>`, { id: 'from-b' });
      const onA = await itemsWhen('loop/a', 2);
      const onB = await itemsWhen('loop/b', 2);
      await new Promise((r) => setTimeout(r, 5000)); // time for a loop to show, if there were one
      if (process.env.GW_DEBUG) console.log(JSON.stringify({ evA, evB, onA: onA.map((i) => i.id), onB: onB.map((i) => i.id) }, null, 1));
      expect((await items('loop/a')).length).toBe(2);
      expect((await items('loop/b')).length).toBe(2);
      expect(onA.map((i) => i.ivorn ?? 'json').sort()).toEqual([SWIFT_IVORN, 'json'].sort());
      expect(onB.map((i) => i.ivorn ?? 'json').sort()).toEqual([SWIFT_IVORN, 'json'].sort());
      const all = [...evA, ...evB];
      expect(all.filter((e) => e.kind === 'bridged-out')).toHaveLength(2);
      expect(all.filter((e) => e.kind === 'bridged-in')).toHaveLength(2);
      // Each side skips its own message on the topic, and does not send back what came from it.
      expect(all.filter((e) => e.kind === 'skipped-in').map((e) => (e as { reason: string }).reason)).toEqual(['own-origin-marker', 'own-origin-marker']);
      expect(all.filter((e) => e.kind === 'skipped-out').map((e) => (e as { reason: string }).reason)).toEqual(['came-from-there', 'came-from-there']);
    } finally {
      await a.stop();
      await b.stop();
    }
  }, 180_000);

  it('SIGKILL mid-stream, restart: every message appears exactly once on the node', async () => {
    const N = 300;
    const args = ['hop', '--url', `kafka://${kafka.plaintext}/kill.in`, '--node', 'kill/in', '--direction', 'in', '--no-auth', '--from', 'earliest', '--name', 'kill'];
    const messages = Array.from({ length: N }, (_, i) => ({ value: JSON.stringify({ seq: i }), headers: i % 2 ? ({ _format: 'json' } as Record<string, string | Buffer>) : { _format: 'json', _id: Buffer.from(`${i}`.padStart(32, 'a').slice(0, 32), 'hex') } }));
    let g = gateway(args, 'gw-kill');
    // A paced stream (about 5 s), so that the kill falls mid-stream however fast the gateway:
    // produced all at once, the 300 could all be on the node before the first poll.
    const producing = (async () => {
      for (let i = 0; i < N; i += 2) {
        await produce('kill.in', messages.slice(i, i + 2));
        await new Promise((r) => setTimeout(r, 30));
      }
    })();
    // Kill as soon as some, not all, are on the node.
    for (let n = 0; n < 5; ) {
      n = (await items('kill/in').catch(() => [])).length;
      await new Promise((r) => setTimeout(r, 50));
    }
    g.child.kill('SIGKILL');
    await g.exited;
    const before = (await items('kill/in')).length;
    await producing;
    g = gateway(args, 'gw-kill');
    const got = await itemsWhen('kill/in', N, 120_000);
    await new Promise((r) => setTimeout(r, 2000));
    const final = await items('kill/in');
    expect(before).toBeLessThan(N);
    expect(final.length).toBe(N);
    expect(new Set(final.map((i) => JSON.parse(i.payload!.text()).seq)).size).toBe(N);
    expect(got.length).toBe(N);
    g.child.kill('SIGTERM');
    expect(await g.exited).toBe(0);
  }, 240_000);

  it('Kafka away for 30 s: the gateway waits and resumes, nothing lost', async () => {
    const pub = await connectAgent({ ...connection('fsc3'), name: 'fsc3' });
    await ensureNode(pub, 'outage/out', 'the outbound node');
    const ev: GatewayEvent[] = [];
    const gw = await inProcess('gw-outage', { gateway: 'outage', inbound: [{ topics: ['outage.in'], node: 'outage/in' }], outbound: [{ node: 'outage/out', topic: 'outage.out' }] }, ev);
    try {
      await produce('outage.in', Array.from({ length: 5 }, (_, i) => ({ value: JSON.stringify({ before: i }) })));
      await itemsWhen('outage/in', 5);
      await kafka.stop();
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) ids.push((await pub.publish('outage/out', `<json xmlns="${JSON_NS}">{"during":${i}}</json>`, { id: `during-${i}` })));
      await new Promise((r) => setTimeout(r, 30_000));
      await kafka.start();
      await produce('outage.in', Array.from({ length: 5 }, (_, i) => ({ value: JSON.stringify({ after: i }) })));
      expect((await itemsWhen('outage/in', 10, 120_000)).length).toBe(10);
      await until(() => ev.filter((e) => e.kind === 'bridged-out').length >= 10, 120_000, 'the 10 items produced after the outage');
      const c = client().consumer({ groupId: 'check-outage' });
      await c.connect();
      await c.subscribe({ topics: ['outage.out'], fromBeginning: true });
      const seen: string[] = [];
      await c.run({ eachMessage: async ({ message }) => void seen.push(message.value!.toString()) });
      await until(() => seen.length >= 10, 60_000, 'the messages on outage.out');
      await new Promise((r) => setTimeout(r, 1000));
      await c.disconnect();
      expect(new Set(seen).size).toBe(10);
      expect(seen.length).toBe(10); // the idempotent producer wrote no duplicate
    } finally {
      await gw.stop();
      await pub.stop();
    }
  }, 300_000);
});
