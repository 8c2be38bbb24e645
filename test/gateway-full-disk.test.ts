/**
 * The gateways' state on a full disk (issue 20 §3), with the real peers: a real
 * Apache Kafka 4.1 broker, Comet (VTP) as a broker and as a subscriber, Prosody
 * and the VOXnet broker. Each gateway's state directory (seen-store, follower
 * state, VTP spool) and its dead-letter directory live on a small tmpfs that the
 * test fills to the last byte (test/helpers/small-fs.ts), the same technique as
 * test/broker-full-disk.test.ts. While it is full:
 *   - nothing is acknowledged upstream: no Kafka offset committed, no VTP ack
 *     sent to Comet, no follower cursor moved past an item not yet sent on;
 *   - nothing is half-written (no dead letter, no temporary file; the SQLite
 *     files pass integrity_check);
 *   - the gateway keeps running and logs one clear error.
 * Once the ballast is deleted the gateway resumes by itself, without a restart,
 * and every message appears exactly once on the node (and on the topic, and at
 * the Comet subscriber), each notified once.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kafka, logLevel } from 'kafkajs';
import { pino } from 'pino';
import { runKafkaGateway, type GatewayEvent } from '../agents/gateway/kafka/gateway.ts';
import { itemIdFor, publishVOEvent, type Agent } from '../agents/lib/index.ts';
import { startKafka, kafkaAvailable, KAFKA_MISSING, type KafkaBroker } from './helpers/kafka.ts';
import { cometMissing, cometSendVo, startVtpEnv, type VtpTestEnv } from './helpers/comet.ts';
import { mountSmallFs, type SmallFs } from './helpers/small-fs.ts';
import { PUBSUB } from './helpers/broker-env.ts';
import { NS, ps } from './helpers/pubsub.ts';
import { xml, type TestClient } from './helpers/xmpp.ts';
import { freePort } from '../broker-component/servers/net.ts';
import { until, untilValue } from './helpers/until.ts';

const SWIFT = readFileSync(join(import.meta.dirname, 'fixtures/voevents/fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml'), 'utf8');
const ivorn = (tag: string) => `ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-fd-${tag}`;
const variant = (tag: string) => SWIFT.replace(/ivorn="[^"]+"/, `ivorn="${ivorn(tag)}"`);
/** Schema-valid (Comet passes it on) but refused by our validator: a declination out of range. */
const invalid = (tag: string) => variant(tag).replace(/<C2>[^<]*<\/C2>/, '<C2>95.0</C2>');
/** kafkajs' session timeout in the gateway: the full disk lasts longer, to show the consumer keeps its partitions. */
const KAFKA_SESSION_MS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const fsOrSkip = mountSmallFs(16);
const missing = 'skip' in fsOrSkip ? fsOrSkip.skip : !kafkaAvailable() ? KAFKA_MISSING : cometMissing();

/** Every file below `dir` (relative paths), sorted. */
const tree = (dir: string): string[] => (readdirSync(dir, { recursive: true, withFileTypes: true }) as { name: string; parentPath: string; isFile(): boolean }[])
  .filter((d) => d.isFile())
  .map((d) => join(d.parentPath, d.name).slice(dir.length + 1))
  .sort();

/**
 * Empty a SQLite file's write-ahead log (checkpoint, truncate) before the disk is
 * filled: with no slack left in it, the gateway's next write needs new pages and fails.
 */
function checkpoint(file: string): void {
  const db = new Database(file);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

function integrity(file: string): string {
  const db = new Database(file, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

describe.skipIf(missing)(`gateways on a full disk${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const disk = fsOrSkip as SmallFs;
  let t: VtpTestEnv;
  let kafka: KafkaBroker;
  let watcher: TestClient;

  /** Item ids notified to the watcher on `node` (every notification, repeats included). */
  const notified = (node: string) => watcher.messages.flatMap((m) => {
    const items = m.getChild('event', NS.EVENT)?.getChild('items');
    return items?.attrs.node === node ? items.getChildren('item').map((i) => i.attrs.id!) : [];
  });
  const subscribe = async (node: string) => {
    const r = await watcher.iq('set', PUBSUB, ps(xml('subscribe', { node, jid: watcher.jid })));
    expect(r.attrs.type, r.toString()).toBe('result');
  };

  beforeAll(async () => {
    [t, kafka] = await Promise.all([startVtpEnv(), startKafka()]);
    for (const topic of ['fd.in', 'fd.out']) await kafka.createTopic(topic);
    watcher = await t.env.client('fdwatch');
  }, 240_000);

  afterAll(async () => {
    await t?.stop();
    await kafka?.close();
    if (!missing) disk.unmount();
  });

  it('Kafka gateway: nothing committed, published or produced past what its state holds while the disk is full; one error; resumes alone, each message once', async () => {
    const stateDir = join(disk.dir, 'kafka-state');
    const deadDir = join(disk.dir, 'kafka-dead');
    const logs: { level: number; msg: string; what?: string }[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void logs.push(JSON.parse(l)) });
    const events: GatewayEvent[] = [];
    const pub: Agent = await t.agent('fdpub');
    await publishVOEvent(pub, 'fd/out', variant('o0')); // the node exists; the follower starts after it
    t.env.prosody.addUser('fdkafka', 'svom.fr', 'fdkafka');
    const gw = await runKafkaGateway({
      config: {
        gateway: 'fd', kafka: { brokers: [kafka.plaintext] }, from: 'earliest',
        inbound: [{ topics: ['fd.in'], node: 'fd/in' }], outbound: [{ node: 'fd/out', topic: 'fd.out' }], dead_letter: { dir: deadDir },
      },
      connection: { jid: 'fdkafka@svom.fr', password: 'fdkafka', server: t.env.prosody.c2sUrl, service: PUBSUB, trust: t.env.prosody.certFiles },
      stateDir,
      log,
      onEvent: (e) => void events.push(e),
    });
    const client = new Kafka({ clientId: 'fd-test', brokers: [kafka.plaintext], logLevel: logLevel.NOTHING });
    const admin = client.admin();
    const producer = client.producer();
    const consumer = client.consumer({ groupId: 'fd-check' });
    await Promise.all([admin.connect(), producer.connect(), consumer.connect()]);
    const onTopic: string[] = [];
    await consumer.subscribe({ topics: ['fd.out'], fromBeginning: true });
    // The IVORNs produced on fd.out, in order.
    await consumer.run({ eachMessage: async ({ message }) => void onTopic.push(/ivorn="([^"]+)"/.exec(message.value!.toString())![1]!) });
    const committed = async () => (await admin.fetchOffsets({ groupId: 'voxnet-fd', topics: ['fd.in'] }))[0]!.partitions[0]!.offset;
    const onNode = async () => (await pub.getItems('fd/in', { max: 100 })).items.map((i) => i.id).sort();
    try {
      await subscribe('fd/in');
      // Before: a message each way goes through.
      await producer.send({ topic: 'fd.in', acks: -1, messages: [{ value: variant('k0'), headers: { _format: 'voevent' } }] });
      await publishVOEvent(pub, 'fd/out', variant('o1'));
      await untilValue(async () => (await committed()) === '1' && onTopic.length === 1, 60_000, 'the first message each way', 250);

      checkpoint(join(stateDir, 'gateway-seen.sqlite'));
      disk.fill();
      const hopId = Buffer.from('0f8fad5bd9cb469fa16570867728950e', 'hex');
      await producer.send({
        topic: 'fd.in', acks: -1, messages: [
          { value: variant('k1'), headers: { _format: 'voevent' } },
          { value: JSON.stringify({ n: 'hop' }), headers: { _format: 'json', _id: hopId } },
          { value: '<voe:VOEvent ivorn="ivo://x/y#broken"><Who>', headers: { _format: 'voevent' } },
        ],
      });
      const outIds: string[] = [];
      for (const tag of ['o2', 'o3']) outIds.push((await publishVOEvent(pub, 'fd/out', variant(tag))).id);
      // Held longer than kafkajs' session timeout: the consumer must keep its partitions (no redelivery after).
      await sleep(KAFKA_SESSION_MS + 5000);
      expect(await committed()).toBe('1');
      expect(await onNode()).toEqual([itemIdFor(ivorn('k0'))]);
      expect(existsSync(deadDir) ? readdirSync(deadDir) : []).toEqual([]);
      // Outbound: o2 was produced (Kafka acknowledged it) and waits for its mark in the seen-store, o3 waits
      // behind it; the follower's cursor on disk is still at o1.
      expect(onTopic).toEqual([ivorn('o1'), ivorn('o2')]);
      const outState = JSON.parse(readFileSync(join(stateDir, 'gateway-fd-out-fd_out.json'), 'utf8')) as { nodes: Record<string, { cursor?: string; ids: string[] }> };
      for (const id of outIds) expect(outState.nodes['fd/out']!.ids).not.toContain(id);
      // Nothing half-written: no temporary file, no dead letter.
      expect(tree(disk.dir).filter((f) => !/^kafka-state\/(gateway-seen\.sqlite(-wal|-shm)?|gateway-fd-(in|out)-[\w.@-]+\.json(\.lock)?)$/.test(f) && f !== 'ballast')).toEqual([]);
      // One clear error for the whole episode, and nothing else went wrong.
      const errors = logs.filter((l) => l.level >= 50);
      expect(errors.map((l) => l.msg)).toEqual([expect.stringMatching(/^disk full: (the seen-store|a dead letter) cannot be written; nothing is acknowledged upstream until it is/)]);
      expect(logs.filter((l) => /publish failed|produce failed|handler failed/.test(l.msg))).toEqual([]);

      disk.free();
      const freedAt = Date.now();
      await untilValue(async () => (await committed()) === '4', 60_000, 'the offset after the three messages', 250);
      await until(() => onTopic.length >= 3, 60_000, 'the three items on fd.out');
      console.info(`[gateway-full-disk] Kafka gateway: everything through ${Date.now() - freedAt} ms after space returned`);
      await sleep(2000); // a repeat would show by now
      expect(await onNode()).toEqual([itemIdFor(ivorn('k0')), itemIdFor(ivorn('k1')), 'hop-0f8fad5b-d9cb-469f-a165-70867728950e'].sort());
      const counts = new Map<string, number>();
      for (const id of notified('fd/in')) counts.set(id, (counts.get(id) ?? 0) + 1);
      expect([...counts.values()]).toEqual([1, 1, 1]);
      expect(events.filter((e) => e.kind === 'bridged-in')).toHaveLength(3);
      expect(onTopic).toEqual([ivorn('o1'), ivorn('o2'), ivorn('o3')]); // in order, none twice
      const letters = readdirSync(deadDir).map((f) => JSON.parse(readFileSync(join(deadDir, f), 'utf8')) as { reason: string; source: string });
      expect(letters).toHaveLength(1);
      expect(letters[0]!.reason).toMatch(/invalid VOEvent|not well-formed/);
      expect(logs.filter((l) => l.level >= 50)).toHaveLength(1);
      expect(logs.filter((l) => /^disk space is back/.test(l.msg))).toHaveLength(1);
      expect(integrity(join(stateDir, 'gateway-seen.sqlite'))).toBe('ok');
    } finally {
      disk.free();
      await consumer.disconnect();
      await Promise.all([admin.disconnect(), producer.disconnect()]);
      expect(await gw.stop()).toBe(true);
    }
  }, 240_000);

  it('VTP gateway: no ack to Comet and nothing spooled while the disk is full, iamalives still answered; one error; resumes alone, each event once', async () => {
    const state = join(disk.dir, 'vtp-state');
    const dead = join(disk.dir, 'vtp-dead');
    const comet = await t.comet({ broker: true, iamaliveSeconds: 1 });
    const pub = await t.agent('fdvpub');
    await publishVOEvent(pub, 'fdv/out', variant('o0')); // the node exists; our broker role starts after this item
    const port = await freePort();
    const gw = t.gateway('fd-vtp', {
      local_ivo: 'ivo://voxnet.test/vtp-fd',
      state_dir: state,
      dead_letter: { dir: dead },
      subscriber: { remotes: [{ host: '127.0.0.1', port: comet.broadcastPort }], node: 'fdv/in' },
      broker: { listen: { host: '127.0.0.1', port }, nodes: ['fdv/out'] },
    }, 'gwfd', 'info');
    await gw.waitLine((l) => l === `listening ${port}`, 30_000);
    await until(() => comet.log().includes('Authentication received'), 30_000, 'the gateway subscribed to Comet');
    const reader = await t.comet({ remote: port, save: true, localIvo: 'ivo://comet.test/fd-reader' });
    await until(() => gw.stderr().includes('"msg":"new VTP subscriber"'), 30_000, 'the Comet subscriber');
    const acks = () => (comet.log().match(/Ack received/g) ?? []).length;
    const saved = () => [...reader.saved().keys()].sort();
    const name = (tag: string) => ivorn(tag).replace(/\//g, '_').replace(/[^A-Za-z0-9_.]/g, '');
    const send = async (tag: string, text: string) => {
      const f = join(t.tmp, `fd-${tag}.xml`);
      writeFileSync(f, text);
      const r = await cometSendVo(f, comet.receivePort!);
      expect(r.code, r.output).toBe(0);
    };
    // Before: one event each way.
    await send('v0', variant('v0'));
    await gw.waitLine((l) => l === `in ${ivorn('v0')} delivered fdv/in ${itemIdFor(ivorn('v0'))}`, 30_000);
    await subscribe('fdv/in');
    await publishVOEvent(pub, 'fdv/out', variant('o1'));
    await until(() => saved().length === 1, 30_000, 'o1 at the Comet subscriber');
    await until(() => acks() === 1, 10_000, 'the ack of v0 at Comet');

    for (const f of readdirSync(state).filter((f) => f.endsWith('.sqlite'))) checkpoint(join(state, f));
    disk.fill();
    await send('v1', variant('v1'));
    await send('v2', invalid('v2'));
    for (const tag of ['o2', 'o3']) await publishVOEvent(pub, 'fdv/out', variant(tag));
    await sleep(6000); // six of Comet's 1 s iamalives
    expect(acks()).toBe(1);
    expect(comet.log()).not.toMatch(/Peer appears to be dead|not acknowledging events/);
    expect(gw.child.exitCode).toBe(null);
    expect(gw.lines.filter((l) => /^(in|out) /.test(l) && !l.includes('-v0') && !l.includes('-o1'))).toEqual([]);
    expect(saved()).toEqual([name('o1')]);
    expect((await pub.getItems('fdv/in', { max: 50 })).items.map((i) => i.id)).toEqual([itemIdFor(ivorn('v0'))]);
    // Nothing half-written: no dead letter, no temporary file.
    expect(tree(disk.dir).filter((f) => f.startsWith('vtp-dead/') || f.endsWith('.tmp'))).toEqual([]);
    const errors = gw.stderr().split('\n').filter((l) => l.includes('"level":50'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/"msg":"disk full: (the seen-store|the VTP spool[^"]*|a dead letter) cannot be written; nothing is acknowledged upstream until it is/);

    disk.free();
    const freedAt = Date.now();
    await gw.waitLine((l) => l.startsWith(`in ${ivorn('v2')} dead-letter invalid VOEvent`), 30_000);
    await until(() => acks() === 3, 30_000, 'the acks of v1 and v2 at Comet');
    await until(() => saved().length === 3, 30_000, 'o2 and o3 at the Comet subscriber');
    console.info(`[gateway-full-disk] VTP gateway: everything through ${Date.now() - freedAt} ms after space returned`);
    await sleep(2000); // a repeat would show by now
    expect(gw.lines.filter((l) => l.startsWith('in '))).toEqual([
      `in ${ivorn('v0')} delivered fdv/in ${itemIdFor(ivorn('v0'))}`,
      `in ${ivorn('v1')} delivered fdv/in ${itemIdFor(ivorn('v1'))}`,
      expect.stringMatching(new RegExp(`^in ${ivorn('v2').replace(/[.#/]/g, '\\$&')} dead-letter invalid VOEvent: .*Dec 95\\.0`)),
    ]);
    expect(gw.lines.filter((l) => l.startsWith('out '))).toEqual(['o1', 'o2', 'o3'].map((tag) => `out ${ivorn(tag)} spooled`));
    expect(saved()).toEqual(['o1', 'o2', 'o3'].map(name).sort());
    expect((reader.log().match(/Event accepted; sending ACK/g) ?? []).length).toBe(3);
    expect(notified('fdv/in')).toEqual([itemIdFor(ivorn('v1'))]);
    expect(readdirSync(dead)).toHaveLength(1);
    expect(gw.stderr().split('\n').filter((l) => l.includes('"level":50'))).toHaveLength(1);
    expect(gw.stderr()).toContain('disk space is back');
    for (const f of readdirSync(state).filter((f) => f.endsWith('.sqlite'))) expect(integrity(join(state, f)), f).toBe('ok');
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toBe(0);
  }, 180_000);
});
