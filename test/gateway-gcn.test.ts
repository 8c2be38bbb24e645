/**
 * `voxnet gateway gcn` against a GCN-shaped set-up on loopback: a real Kafka 4.1
 * broker whose OAUTHBEARER listener validates JWTs against a local OIDC token
 * endpoint's JWKS (Kafka's OAuthBearerValidatorCallbackHandler), a GCN-shaped
 * producer (confluent-kafka with OIDC client credentials, as gcn-kafka configures
 * it) replaying real notices, over plain TCP and over TLS (SASL_SSL, as GCN runs
 * it), and a consumer that must keep receiving across several token lifetimes.
 * Also: dead letters on a node, and `--from` a time with topic patterns.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { connectAgent, silentLogger, type Agent, type PubsubItem } from '../agents/lib/index.ts';
import { runKafkaGateway, type GatewayEvent } from '../agents/gateway/kafka/gateway.ts';
import { gcnConfig } from '../agents/gateway/kafka/config.ts';
import { JSON_NS } from '../agents/crossmatch/alert.ts';
import { DEAD_LETTER_NS } from '../agents/gateway/lib/index.ts';
import { parse } from '../voevent/index.ts';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { agentEnv, voxnet, type Proc } from './helpers/agents.ts';
import { startKafka, kafkaAvailable, KAFKA_MISSING, type KafkaBroker } from './helpers/kafka.ts';
import { startOidc, type Oidc } from './helpers/oidc.ts';
import { PYTHON, kafkaPeersAvailable, KAFKA_PEERS_MISSING, run } from './helpers/kafka-peers.ts';
import { until } from './helpers/until.ts';

const FIX = join(import.meta.dirname, 'fixtures');
const MB = 1024 * 1024;
const ready = kafkaAvailable() && kafkaPeersAvailable();
if (!ready) console.warn(`gateway-gcn tests skipped: ${!kafkaAvailable() ? KAFKA_MISSING : KAFKA_PEERS_MISSING}`);

const TOPICS = {
  swift: 'gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK',
  svom: 'gcn.notices.svom.voevent.eclairs',
  ep: 'gcn.notices.einstein_probe.wxt.alert',
  icecube: 'gcn.notices.icecube.lvk_nu_track_search',
  gw: 'igwn.gwalert',
  heartbeat: 'gcn.heartbeat',
  refresh: 'voxnet.refresh.test', // not gcn.notices.*: those must carry a $schema
  from: 'voxnet.from.test',
  tls: 'gcn.notices.einstein_probe.wxt.alert.tls-test', // read as GCN JSON (gcn.notices.*), a topic of its own
  big: 'voxnet.big.test',
  patternA: 'voxnet.frompat.a',
  patternB: 'voxnet.frompat.b',
};

describe.skipIf(!ready)('GCN gateway: OIDC client credentials, real notices, heartbeat', () => {
  let kafka: KafkaBroker;
  let oidc: Oidc;
  let env: BrokerEnv;
  let work: string;
  let watcher: Agent;
  const procs: Proc[] = [];
  const CLIENT = 'voxnet-test-client';
  const SECRET = 'voxnet-test-secret';

  const items = async (node: string): Promise<PubsubItem[]> => (await watcher.getItems(node, { max: 1000 }).catch(() => ({ items: [] }))).items;
  async function itemsWhen(node: string, n: number, timeoutMs = 90_000): Promise<PubsubItem[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = await items(node);
      if (got.length >= n || Date.now() > deadline) return got;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const replay = (pairs: string[]) => run(PYTHON, [join(import.meta.dirname, 'peers/gcn-replay.py'), kafka.oauth!, oidc.tokenUrl, CLIENT, SECRET, ...pairs], { timeoutMs: 120_000 });
  /** The same GCN-shaped producer over TLS (SASL_SSL), trusting the test broker's certificate. */
  const replayTls = (pairs: string[]) => run(PYTHON, [join(import.meta.dirname, 'peers/gcn-replay.py'), kafka.oauthTls!, oidc.tokenUrl, CLIENT, SECRET, ...pairs], { timeoutMs: 120_000, env: { ...process.env, GCN_REPLAY_CA: kafka.caFile } });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'voxnet-gw-gcn-'));
    // Tokens live 12 s: the refresh test below spans more than three lifetimes.
    oidc = await startOidc({ clients: { [CLIENT]: SECRET }, lifetimeS: 12 });
    [kafka, env] = await Promise.all([
      startKafka({ oauth: { jwksUrl: oidc.jwksUrl, issuer: oidc.issuer, audience: oidc.audience } }),
      startBrokerEnv({ default_node_config: { max_payload_size: 4 * MB } }, 'prosody', {
        prosodyExtra: [`c2s_stanza_size_limit = ${8 * MB}`, `component_stanza_size_limit = ${8 * MB}`].join('\n'),
      }),
    ]);
    for (const t of Object.values(TOPICS)) await kafka.createTopic(t);
    env.prosody.addUser('watcher', 'svom.fr', 'watcher');
    watcher = await connectAgent({ jid: 'watcher@svom.fr', password: 'watcher', server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles, name: 'watcher' });
  }, 240_000);

  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await watcher?.stop();
    await kafka?.close();
    await oidc?.stop();
    await env?.stop();
  });

  it('replays real GCN notices: VOEvents, Unified Schema JSON, igwn.gwalert for the crossmatcher, heartbeat as a VOXnet heartbeat', async () => {
    const voe = (f: string) => join(FIX, 'voevents', f);
    const json = (f: string) => join(FIX, 'gcn-json', f);
    await replay([
      `${TOPICS.swift}=${voe('fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml')}`,
      `${TOPICS.svom}=${voe('gcn-notice-parser__svom_eclairs_303__sb26030408_eclairs-wakeup.xml')}`,
      `${TOPICS.ep}=${json('skyportal-EP240508.json')}`,
      `${TOPICS.icecube}=${json('gcn-schema__icecube_lvk_nu_track_search.example.json')}`,
      `${TOPICS.gw}=${json('MS181101ab-preliminary.json')}`,
    ]);
    const p = new Kafka({ brokers: [kafka.plaintext], logLevel: logLevel.NOTHING }).producer();
    await p.connect();
    await p.send({ topic: TOPICS.heartbeat, messages: [0, 1, 2].map((i) => ({ value: JSON.stringify({ alert_datetime: new Date(Date.UTC(2026, 11, 6, 4, 0, i)).toISOString() }) })) });
    await p.disconnect();

    const args = ['gateway', 'gcn', '--client-id', CLIENT, '--bootstrap', kafka.oauth!, '--token-url', oidc.tokenUrl, '--no-tls', '--from', 'earliest',
      ...[TOPICS.swift, TOPICS.svom, TOPICS.ep, TOPICS.icecube, TOPICS.gw, TOPICS.heartbeat].flatMap((t) => ['--topic', t]), '--heartbeat-node', 'gcn/heartbeat'];
    const g = voxnet(args, agentEnv(env, 'gw-gcn', { GCN_CLIENT_SECRET: SECRET, VOXNET_STATE_DIR: join(work, 'state-gcn') }));
    procs.push(g);
    const [swift] = await itemsWhen(`gcn/${TOPICS.swift}`, 1);
    expect(swift?.ivorn).toBe('ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-182');
    expect((await itemsWhen(`gcn/${TOPICS.svom}`, 1))[0]?.ivorn).toBe('ivo://org.svom/fsc#sb26030408_eclairs-wakeup');
    for (const [topic, file] of [[TOPICS.ep, 'skyportal-EP240508.json'], [TOPICS.icecube, 'gcn-schema__icecube_lvk_nu_track_search.example.json']] as const) {
      const [it] = await itemsWhen(`gcn/${topic}`, 1);
      expect(it?.payload?.name).toBe('json');
      expect(it?.payload?.attrs.xmlns).toBe(JSON_NS);
      expect(JSON.parse(it!.payload!.text())).toEqual(JSON.parse(readFileSync(join(FIX, 'gcn-json', file), 'utf8')));
    }
    // igwn.gwalert (about 1 MB with its base64 sky map) in the container the crossmatcher reads.
    const [gw] = await itemsWhen(`gcn/${TOPICS.gw}`, 1);
    const { alertOfItem } = await import('../agents/crossmatch/alert.ts');
    const alert = alertOfItem(gw!);
    expect(JSON.stringify(alert.info)).toContain('MS181101ab');
    // Heartbeats: utility VOEvents the silence alarm can watch.
    const beats = await itemsWhen('gcn/heartbeat', 3);
    expect(beats).toHaveLength(3);
    for (const b of beats) expect(parse(b.xml).role).toBe('utility');
    expect(oidc.issued()).toBeGreaterThanOrEqual(2); // the producer's token and ours
    g.child.kill('SIGTERM');
    expect(await g.exited).toBe(0);
  }, 240_000);

  it("GCN's heartbeat on its VOXnet node drives the existing silence alarm: quiet while it beats, an alarm when it stops, recovered when it resumes", async () => {
    const g = voxnet(['gateway', 'gcn', '--client-id', CLIENT, '--bootstrap', kafka.oauth!, '--token-url', oidc.tokenUrl, '--no-tls',
      '--topic', TOPICS.heartbeat, '--heartbeat-node', 'gcn/hb-alarm', '--name', 'gcn-hb'],
    agentEnv(env, 'gw-gcn-hb', { GCN_CLIENT_SECRET: SECRET, VOXNET_STATE_DIR: join(work, 'state-gcn-hb') }));
    procs.push(g);
    await until(() => /running/.test(g.stderr()), 60_000, `the gateway to run\n${g.stderr()}`);
    const sub = voxnet(['subscribe', 'gcn/hb-alarm', '--alarm-silence', '5s', '--format', 'json', '--no-state'], agentEnv(env, 'hb-monitor'));
    procs.push(sub);
    const p = new Kafka({ brokers: [kafka.plaintext], logLevel: logLevel.NOTHING }).producer();
    await p.connect();
    const beat = () => p.send({ topic: TOPICS.heartbeat, messages: [{ value: JSON.stringify({ alert_datetime: new Date().toISOString() }) }] });
    const types = () => sub.lines.map((l) => JSON.parse(l).type as string);
    // GCN beats about once a second.
    let beating: NodeJS.Timeout | undefined = setInterval(() => void beat().catch(() => {}), 1000);
    try {
      await sub.waitLine((l) => JSON.parse(l).type === 'item', 60_000);
      // Once beats arrive, no alarm while they go on (the consumer may join its group after the first few).
      const first = types().indexOf('item');
      await new Promise((r) => setTimeout(r, 8000));
      const meanwhile = types().slice(first + 1);
      expect(meanwhile.filter((t) => t === 'item').length).toBeGreaterThanOrEqual(4);
      expect(meanwhile).not.toContain('alarm');
      clearInterval(beating);
      beating = undefined;
      const n = sub.lines.length;
      const alarm = JSON.parse(await sub.waitLine((l) => sub.lines.indexOf(l) >= n && JSON.parse(l).type === 'alarm', 30_000));
      expect(alarm).toMatchObject({ type: 'alarm', node: 'gcn/hb-alarm' });
      expect(alarm.silentForMs).toBeGreaterThanOrEqual(5000);
      const m = sub.lines.length;
      for (let i = 0; i < 3; i++) await beat();
      await sub.waitLine((l) => sub.lines.indexOf(l) >= m && JSON.parse(l).type === 'recovered', 30_000);
    } finally {
      clearInterval(beating);
      await p.disconnect();
      sub.child.kill('SIGTERM');
      g.child.kill('SIGTERM');
    }
    expect(await g.exited).toBe(0);
  }, 180_000);

  it('keeps receiving across several token lifetimes (the token is renewed before it expires)', async () => {
    const events: GatewayEvent[] = [];
    env.prosody.addUser('gw-refresh', 'svom.fr', 'gw-refresh');
    const cfg = gcnConfig({
      gateway: 'refresh', clientId: CLIENT, clientSecret: SECRET, domain: 'gcn.test', topics: [`${TOPICS.refresh}=gcn/refresh`], from: 'earliest',
      nodePrefix: 'gcn/', bootstrap: kafka.oauth, tokenUrl: oidc.tokenUrl, noTls: true,
    }, work);
    const gw = await runKafkaGateway({
      config: cfg,
      connection: { jid: 'gw-refresh@svom.fr', password: 'gw-refresh', server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles },
      stateDir: join(work, 'state-refresh'),
      log: silentLogger(),
      onEvent: (e) => void events.push(e),
    });
    const p = new Kafka({ brokers: [kafka.plaintext], logLevel: logLevel.NOTHING }).producer();
    await p.connect();
    const N = 20;
    const started = Date.now();
    try {
      for (let i = 0; i < N; i++) {
        await p.send({ topic: TOPICS.refresh, messages: [{ value: JSON.stringify({ seq: i }), headers: { _format: 'json' } }] });
        await new Promise((r) => setTimeout(r, 2000)); // 40 s: more than three 12 s token lifetimes
      }
      const got = await itemsWhen('gcn/refresh', N, 60_000);
      expect(got.map((i) => JSON.parse(i.payload!.text()).seq).sort((a, b) => a - b)).toEqual([...Array(N).keys()]);
      const tokens = events.filter((e) => e.kind === 'token');
      expect(Date.now() - started).toBeGreaterThan(3 * 12_000);
      expect(tokens.length).toBeGreaterThanOrEqual(3);
    } finally {
      await p.disconnect();
      await gw.stop();
    }
  }, 240_000);

  it('--from an ISO time starts a new consumer group at the Kafka offsets for that time', async () => {
    const p = new Kafka({ brokers: [kafka.plaintext], logLevel: logLevel.NOTHING }).producer();
    await p.connect();
    await p.send({ topic: TOPICS.from, messages: [{ value: JSON.stringify({ when: 'before' }) }] });
    await new Promise((r) => setTimeout(r, 1500));
    const from = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1500));
    await p.send({ topic: TOPICS.from, messages: [{ value: JSON.stringify({ when: 'after' }) }] });
    await p.disconnect();
    env.prosody.addUser('gw-from', 'svom.fr', 'gw-from');
    const cfg = gcnConfig({
      gateway: 'from', clientId: CLIENT, clientSecret: SECRET, domain: 'gcn.test', topics: [`${TOPICS.from}=gcn/from`], from,
      nodePrefix: 'gcn/', bootstrap: kafka.oauth, tokenUrl: oidc.tokenUrl, noTls: true,
    }, work);
    const gw = await runKafkaGateway({
      config: cfg,
      connection: { jid: 'gw-from@svom.fr', password: 'gw-from', server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles },
      stateDir: join(work, 'state-from'),
      log: silentLogger(),
    });
    try {
      const got = await itemsWhen('gcn/from', 1);
      await new Promise((r) => setTimeout(r, 3000));
      expect((await items('gcn/from')).map((i) => JSON.parse(i.payload!.text()).when)).toEqual(['after']);
      expect(got).toHaveLength(1);
    } finally {
      await gw.stop();
    }
  }, 180_000);

  it('OAUTHBEARER over TLS (SASL_SSL), as GCN runs it: confluent-kafka replays over TLS, `voxnet gateway gcn --tls-ca` reads; a schema-invalid notice becomes an item on the dead-letter node with its reason', async () => {
    const ep = JSON.parse(readFileSync(join(FIX, 'gcn-json/skyportal-EP240508.json'), 'utf8')) as Record<string, unknown>;
    const bad = join(work, 'ep-bad.json');
    writeFileSync(bad, JSON.stringify({ ...ep, ra: 'north' }));
    await replayTls([`${TOPICS.tls}=${join(FIX, 'gcn-json/skyportal-EP240508.json')}`, `${TOPICS.tls}=${bad}`]);
    const issuedBefore = oidc.issued();
    const g = voxnet(['gateway', 'gcn', '--client-id', CLIENT, '--bootstrap', kafka.oauthTls!, '--token-url', oidc.tokenUrl, '--tls-ca', kafka.caFile,
      '--from', 'earliest', '--topic', `${TOPICS.tls}=gcn/tls`, '--dead-letter-node', 'gcn/dead-letters', '--name', 'gcn-tls'],
    agentEnv(env, 'gw-gcn-tls', { GCN_CLIENT_SECRET: SECRET, VOXNET_STATE_DIR: join(work, 'state-gcn-tls') }));
    procs.push(g);
    const [notice] = await itemsWhen('gcn/tls', 1);
    expect(JSON.parse(notice!.payload!.text())).toEqual(ep);
    // The dead letter, read back from the node as any subscriber would: the reason, where it came from, the bytes.
    const [letter] = await itemsWhen('gcn/dead-letters', 1);
    const dl = letter!.payload!;
    expect(dl.name).toBe('dead-letter');
    expect(dl.attrs.xmlns).toBe(DEAD_LETTER_NS);
    expect(dl.attrs.reason).toMatch(/schema gcn\/notices\/einstein_probe\/wxt\/alert.schema.json: ra: must be number/);
    expect(dl.attrs.source).toBe(`kafka://${kafka.oauthTls}/${TOPICS.tls}/0/1`);
    expect(JSON.parse(dl.getChild('payload')!.text())).toEqual({ ...ep, ra: 'north' });
    await new Promise((r) => setTimeout(r, 2000));
    expect(await items('gcn/tls')).toHaveLength(1);
    expect(await items('gcn/dead-letters')).toHaveLength(1);
    expect(oidc.issued()).toBeGreaterThan(issuedBefore); // the gateway's own token, over TLS
    g.child.kill('SIGTERM');
    expect(await g.exited).toBe(0);
  }, 240_000);

  it('--from an ISO time works with a topic pattern: every topic the pattern matches starts at the offsets for that time', async () => {
    const p = new Kafka({ brokers: [kafka.plaintext], logLevel: logLevel.NOTHING }).producer();
    await p.connect();
    const both = (when: string) => p.sendBatch({ topicMessages: [TOPICS.patternA, TOPICS.patternB].map((topic) => ({ topic, messages: [{ value: JSON.stringify({ topic, when }), headers: { _format: 'json' } }] })) });
    await both('before');
    await new Promise((r) => setTimeout(r, 1500));
    const from = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1500));
    await both('after');
    await p.disconnect();
    env.prosody.addUser('gw-frompat', 'svom.fr', 'gw-frompat');
    const gw = await runKafkaGateway({
      config: {
        gateway: 'frompat', kafka: { brokers: [kafka.plaintext] }, from,
        inbound: [{ pattern: '^voxnet\\.frompat\\.', node: 'gcn/frompat' }], outbound: [], dead_letter: { dir: join(work, 'frompat-dead') },
      },
      connection: { jid: 'gw-frompat@svom.fr', password: 'gw-frompat', server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles },
      stateDir: join(work, 'state-frompat'),
      log: silentLogger(),
    });
    try {
      await itemsWhen('gcn/frompat', 2);
      await new Promise((r) => setTimeout(r, 3000));
      const got = (await items('gcn/frompat')).map((i) => JSON.parse(i.payload!.text()) as { topic: string; when: string });
      expect(got.map((m) => `${m.topic} ${m.when}`).sort()).toEqual([`${TOPICS.patternA} after`, `${TOPICS.patternB} after`]);
    } finally {
      await gw.stop();
    }
  }, 180_000);

  it('a message of nearly 4 MiB (GCN sends up to about that) arrives whole; one over the limit goes to the dead letters', async () => {
    const p = new Kafka({ brokers: [kafka.plaintext], logLevel: logLevel.NOTHING }).producer();
    await p.connect();
    const big = (n: number) => JSON.stringify({ id: n, pad: 'x'.repeat(n) });
    // One request each (Kafka's limit, 8 MiB here as on GCN's brokers, is per record batch).
    for (const n of [3.9 * MB, 4.1 * MB]) await p.send({ topic: TOPICS.big, acks: -1, messages: [{ value: big(n), headers: { _format: 'json' } }] });
    await p.disconnect();
    env.prosody.addUser('gw-big', 'svom.fr', 'gw-big');
    const dead = join(work, 'big-dead');
    const gw = await runKafkaGateway({
      config: { gateway: 'big', kafka: { brokers: [kafka.plaintext] }, from: 'earliest', inbound: [{ topics: [TOPICS.big], node: 'gcn/big' }], outbound: [], dead_letter: { dir: dead } },
      connection: { jid: 'gw-big@svom.fr', password: 'gw-big', server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles },
      stateDir: join(work, 'state-big'),
      log: silentLogger(),
    });
    try {
      const [item] = await itemsWhen('gcn/big', 1);
      expect(item!.payload!.text()).toBe(big(3.9 * MB));
      await until(() => existsSync(dead) && readdirSync(dead).length === 1, 60_000, 'the dead letter of the oversized message');
      const letter = JSON.parse(readFileSync(join(dead, readdirSync(dead)[0]!), 'utf8')) as { reason: string; bytes: number };
      expect(letter.reason).toMatch(/over the limit of 4194304 bytes/);
      expect(letter.bytes).toBe(big(4.1 * MB).length);
      expect(await items('gcn/big')).toHaveLength(1);
    } finally {
      await gw.stop();
    }
  }, 180_000);
});
