/**
 * A real Apache Kafka 4.1 broker (KRaft, broker + controller in one JVM) on
 * loopback for tests and benchmarks, from the jars `test/peers/install-kafka.sh`
 * put in `.voxnet/peers/kafka/lib`. Listeners, each on a free port:
 *
 *   PLAINTEXT      no authentication (inter-broker too)
 *   SCRAM          SASL_PLAINTEXT, SCRAM-SHA-512 (users created at format time)
 *   SCRAMTLS       SASL_SSL, SCRAM-SHA-512, a self-signed certificate for 127.0.0.1 (`caFile`)
 *   OAUTH          SASL_PLAINTEXT, OAUTHBEARER validated against a JWKS URL
 *                  (OAuthBearerValidatorCallbackHandler), sessions re-authenticated at token expiry
 *   OAUTHTLS       SASL_SSL, the same OAUTHBEARER validation over TLS (GCN's set-up)
 *
 * The JVM takes seconds to start: start one broker per test file. `stop()` then
 * `start()` restarts it on the same ports and data (outage tests).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { freePort, waitForPort } from '../../broker-component/servers/net.ts';

export const KAFKA_LIB = resolve(import.meta.dirname, '../../.voxnet/peers/kafka/lib');

export function kafkaAvailable(): boolean {
  return existsSync(join(KAFKA_LIB, 'kafka_2.13-4.1.1.jar'));
}

export const KAFKA_MISSING = 'Kafka jars are not installed: run bash test/peers/install-kafka.sh (make test does)';

export type KafkaBroker = {
  plaintext: string;
  scram: string;
  scramTls: string;
  oauth?: string;
  /** OAUTHBEARER over TLS (SASL_SSL), with the `oauth` option. */
  oauthTls?: string;
  /** CA (the self-signed certificate itself) for the TLS listener. */
  caFile: string;
  dir: string;
  createTopic(name: string, partitions?: number): Promise<void>;
  /** Stop the JVM (SIGTERM, then SIGKILL after 20 s); `start()` brings it back on the same ports and data. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stop and remove the data. */
  close(): Promise<void>;
  log(): string;
};

export type KafkaOptions = {
  /** SCRAM-SHA-512 users: name → password. */
  scramUsers?: Record<string, string>;
  /** Add the OAUTHBEARER listener validating against this JWKS. */
  oauth?: { jwksUrl: string; issuer: string; audience: string };
};

function java(): string {
  return process.env.VOXNET_JAVA ?? 'java';
}

/** Run a Kafka tool; a failure throws with its output. */
function tool(jvm: string[], args: string[], timeout = 120_000): string {
  try {
    return execFileSync(java(), [...jvm, ...args], { encoding: 'utf8', stdio: 'pipe', timeout });
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${args[0]} failed: ${x.message}\n${x.stdout ?? ''}\n${x.stderr ?? ''}`);
  }
}

/**
 * Have the group coordinator ready (__consumer_offsets created and loaded) before
 * tests run: hop-client gives up on its first NOT_COORDINATOR instead of retrying.
 */
async function warmUpGroups(broker: string): Promise<void> {
  const admin = new Kafka({ clientId: 'warm-up', brokers: [broker], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    for (let i = 0; ; i++) {
      try {
        const { groups } = await admin.describeGroups(['voxnet-warm-up']);
        if (groups[0]) return;
      } catch (e) {
        if (i > 120) throw e;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    await admin.disconnect();
  }
}

export async function startKafka(opts: KafkaOptions = {}): Promise<KafkaBroker> {
  if (!kafkaAvailable()) throw new Error(KAFKA_MISSING);
  const dir = mkdtempSync(join(tmpdir(), 'voxnet-kafka-'));
  const ports: number[] = [];
  while (ports.length < 6) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const [plain, scram, scramTls, oauth, oauthTls, controller] = ports as [number, number, number, number, number, number];
  const cert = join(dir, 'broker.crt');
  const key = join(dir, 'broker.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  const pem = join(dir, 'keystore.pem');
  writeFileSync(pem, readFileSync(key, 'utf8') + readFileSync(cert, 'utf8'));
  const cp = `${KAFKA_LIB}/*`;
  const listeners = [`PLAINTEXT://127.0.0.1:${plain}`, `SCRAM://127.0.0.1:${scram}`, `SCRAMTLS://127.0.0.1:${scramTls}`];
  if (opts.oauth) listeners.push(`OAUTH://127.0.0.1:${oauth}`, `OAUTHTLS://127.0.0.1:${oauthTls}`);
  const props = [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controller}`,
    `listeners=${[...listeners, `CONTROLLER://127.0.0.1:${controller}`].join(',')}`,
    `advertised.listeners=${listeners.join(',')}`,
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SCRAM:SASL_PLAINTEXT,SCRAMTLS:SASL_SSL,OAUTH:SASL_PLAINTEXT,OAUTHTLS:SASL_SSL,CONTROLLER:PLAINTEXT',
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${join(dir, 'data')}`,
    'num.partitions=1',
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    'message.max.bytes=8388608',
    'listener.name.scram.sasl.enabled.mechanisms=SCRAM-SHA-512',
    'listener.name.scram.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.scramtls.sasl.enabled.mechanisms=SCRAM-SHA-512',
    'listener.name.scramtls.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.scramtls.ssl.keystore.type=PEM',
    `listener.name.scramtls.ssl.keystore.location=${pem}`,
  ];
  if (opts.oauth) {
    for (const l of ['oauth', 'oauthtls']) {
      props.push(
        `listener.name.${l}.sasl.enabled.mechanisms=OAUTHBEARER`,
        `listener.name.${l}.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;`,
        `listener.name.${l}.oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler`,
        `listener.name.${l}.oauthbearer.sasl.oauthbearer.jwks.endpoint.url=${opts.oauth.jwksUrl}`,
        `listener.name.${l}.oauthbearer.sasl.oauthbearer.expected.issuer=${opts.oauth.issuer}`,
        `listener.name.${l}.oauthbearer.sasl.oauthbearer.expected.audience=${opts.oauth.audience}`,
        `listener.name.${l}.oauthbearer.sasl.oauthbearer.clock.skew.seconds=0`,
        // A session lives as long as its token: a client that does not re-authenticate with a fresh one is cut off.
        `listener.name.${l}.oauthbearer.connections.max.reauth.ms=3600000`,
      );
    }
    props.push(
      'listener.name.oauthtls.ssl.keystore.type=PEM',
      `listener.name.oauthtls.ssl.keystore.location=${pem}`,
      'connections.max.reauth.ms=3600000',
    );
  }
  const propsFile = join(dir, 'server.properties');
  writeFileSync(propsFile, props.join('\n') + '\n');
  writeFileSync(join(dir, 'log4j.properties'), 'log4j.rootLogger=WARN, out\nlog4j.appender.out=org.apache.log4j.ConsoleAppender\nlog4j.appender.out.layout=org.apache.log4j.PatternLayout\nlog4j.appender.out.layout.ConversionPattern=%d %p %c{1} %m%n\n');
  const jvm = ['-Xms256m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', `-Dlog4j.configuration=file:${join(dir, 'log4j.properties')}`,
    `-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=${opts.oauth?.jwksUrl ?? ''}`, '-cp', cp];
  const clusterId = tool(jvm, ['kafka.tools.StorageTool', 'random-uuid']).trim().split('\n').pop()!;
  const scramArgs = Object.entries(opts.scramUsers ?? {}).flatMap(([u, p]) => ['--add-scram', `SCRAM-SHA-512=[name=${u},password=${p}]`]);
  tool(jvm, ['kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', propsFile, ...scramArgs]);

  let child: ChildProcess | undefined;
  let out = '';
  const start = async () => {
    child = spawn(java(), [...jvm, 'kafka.Kafka', propsFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (out = (out + d).slice(-20_000)));
    child.stderr!.on('data', (d) => (out = (out + d).slice(-20_000)));
    const exited = new Promise<never>((_, rej) => child!.once('exit', (c) => rej(new Error(`kafka exited (${c}):\n${out}`))));
    await Promise.race([waitForPort(plain, 120_000), exited]);
    await Promise.race([waitForPort(opts.oauth ? oauthTls : scramTls, 30_000), exited]);
    // The broker accepts connections before it has registered with its controller: wait until topics can be listed.
    for (let i = 0; ; i++) {
      try {
        tool(jvm, ['org.apache.kafka.tools.TopicCommand', '--bootstrap-server', `127.0.0.1:${plain}`, '--list'], 60_000);
        break;
      } catch (e) {
        if (i > 20) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 20_000);
    await gone;
    clearTimeout(t);
  };
  await start();
  await warmUpGroups(`127.0.0.1:${plain}`);
  return {
    plaintext: `127.0.0.1:${plain}`,
    scram: `127.0.0.1:${scram}`,
    scramTls: `127.0.0.1:${scramTls}`,
    oauth: opts.oauth ? `127.0.0.1:${oauth}` : undefined,
    oauthTls: opts.oauth ? `127.0.0.1:${oauthTls}` : undefined,
    caFile: cert,
    dir,
    async createTopic(name, partitions = 1) {
      tool(jvm, ['org.apache.kafka.tools.TopicCommand', '--bootstrap-server', `127.0.0.1:${plain}`, '--create', '--if-not-exists',
        '--topic', name, '--partitions', String(partitions), '--replication-factor', '1'], 60_000);
    },
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => out,
  };
}
