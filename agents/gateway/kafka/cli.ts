/**
 * voxnet gateway kafka --config FILE        Kafka ⇄ VOXnet per the configuration
 * voxnet gateway gcn --client-id ID ...     GCN Kafka → VOXnet (OIDC client credentials)
 * voxnet gateway hop --url kafka://...      Hopskotch ⇄ VOXnet (SCRAM-SHA-512)
 */
import {
  CONNECTION_ARGS, CONNECTION_HELP, UsageError, connectionFrom, createLogger, defaultStateDir, parseCommandLine, type ConnectionOptions,
} from '../../lib/index.ts';
import { runCommand, stdio, untilSignal, type CliIO } from '../../lib/command.ts';
import { gcnConfig, hopConfig, loadKafkaGatewayConfig } from './config.ts';
import { runKafkaGateway, type KafkaGatewayConfig } from './gateway.ts';

const COMMON_HELP = `  --state-dir DIR       state (cursors, seen-store, default dead letters)   VOXNET_STATE_DIR
  --dead-letter DIR     dead letters as files in DIR (default STATE_DIR/gateway-NAME-dead-letters)
  --dead-letter-node N  dead letters as items on node N instead
  --name NAME           gateway name: origin marker, consumer group, state names (default: the kind)

${CONNECTION_HELP}`;

export const KAFKA_HELP = `usage: voxnet gateway kafka --config FILE [options]

Bridges Kafka topics to VOXnet nodes (inbound) and nodes to topics (outbound), see
the README, "Bridging to GCN, Hopskotch and the VOEvent network", and
config/gateway-kafka.example.yaml. Secrets may come from VOXNET_KAFKA_PASSWORD
(SCRAM) or VOXNET_KAFKA_CLIENT_SECRET (OAUTHBEARER).

options:
  --config FILE         configuration (YAML)
${COMMON_HELP}`;

export const GCN_HELP = `usage: voxnet gateway gcn --client-id ID --topic TOPIC[=NODE]... [options]

Reads GCN's Kafka (kafka.DOMAIN:9092, TLS, OAUTHBEARER with OIDC client credentials
from https://auth.DOMAIN/oauth2/token, the token renewed before it expires) and
publishes each notice to a node: gcn.classic.voevent.* and gcn.notices.svom.voevent.*
as VOEvents, gcn.notices.* as JSON checked against its $schema, igwn.gwalert as JSON
for the crossmatcher, gcn.heartbeat as a VOXnet heartbeat (--heartbeat-node).
Get a client id and secret at https://gcn.nasa.gov/quickstart.

options:
  --client-id ID        GCN client id                                   GCN_CLIENT_ID
  --client-secret S     GCN client secret                               GCN_CLIENT_SECRET
  --domain D            gcn.nasa.gov (default) or test.gcn.nasa.gov
  --topic T[=NODE]      a topic, optionally with its node (repeatable; default node PREFIX + topic)
  --node-prefix P       default node prefix (default gcn/)
  --heartbeat-node N    node for gcn.heartbeat (default PREFIX gcn.heartbeat)
  --from WHEN           earliest | latest (default) | ISO time (first start of the consumer group)
  --bootstrap HOST:PORT, --token-url URL, --tls-ca FILE, --no-tls
                        override the GCN endpoints (tests, private mirrors)
${COMMON_HELP}`;

export const HOP_HELP = `usage: voxnet gateway hop --url kafka://[USER@]HOST[:PORT]/TOPIC --node NODE [options]

Bridges a Hopskotch topic and a VOXnet node: messages read by their _format header
(voevent, json; others go to the dead letters), VOXnet items produced with _id,
_sender, _format (and _test for role=test packets).

options:
  --url URL             kafka://USER@kafka.scimma.org/TOPIC (topics may be comma-separated)
  --node NODE           the VOXnet node
  --direction D         in | out | both (default both)
  --username U          SCRAM-SHA-512 user (or in the URL); password in HOP_PASSWORD or --password-env VAR
  --no-auth             no SASL (a local broker)
  --tls / --tls-ca FILE TLS (system CAs / with this CA)
  --from WHEN           earliest | latest (default) | ISO time
${COMMON_HELP}`;

const COMMON_ARGS = {
  ...CONNECTION_ARGS,
  'state-dir': { type: 'string' },
  'dead-letter': { type: 'string' },
  'dead-letter-node': { type: 'string' },
  name: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Common = { values: Record<string, unknown>; stateDir: string };

function deadLetterOf(v: Record<string, unknown>): { dir?: string; node?: string } | undefined {
  if (v['dead-letter'] && v['dead-letter-node']) throw new UsageError('--dead-letter and --dead-letter-node: give one');
  if (typeof v['dead-letter-node'] === 'string') return { node: v['dead-letter-node'] };
  if (typeof v['dead-letter'] === 'string') return { dir: v['dead-letter'] };
  return undefined;
}

/** Run until SIGINT/SIGTERM; an unclean stop (an outbound item unacknowledged) exits at once without saving. */
async function serve(kind: string, cfg: KafkaGatewayConfig, conn: ConnectionOptions, c: Common, io: CliIO): Promise<number> {
  const log = createLogger(`gateway-${kind}`, c.values['log-level'] as string | undefined, { gateway: cfg.gateway });
  const sig = untilSignal();
  const gw = await runKafkaGateway({ config: cfg, connection: conn, stateDir: c.stateDir, log });
  io.err(`voxnet gateway ${kind}: running (${cfg.inbound.length} inbound, ${cfg.outbound.length} outbound routes)`);
  await sig.promise;
  const clean = await gw.stop();
  if (!clean) process.exit(1);
  return 0;
}

export async function kafkaCommand(argv: string[], io: CliIO = stdio): Promise<number> {
  return runCommand('gateway kafka', KAFKA_HELP, io, async () => {
    const { values } = parseCommandLine(argv, { ...COMMON_ARGS, config: { type: 'string' } }, false);
    if (values.help) return io.out(KAFKA_HELP), 0;
    if (!values.config) throw new UsageError('--config FILE is required');
    const stateDir = values['state-dir'] ?? defaultStateDir();
    const cfg = loadKafkaGatewayConfig(values.config, stateDir);
    if (values.name) cfg.gateway = values.name;
    cfg.dead_letter = deadLetterOf(values) ?? cfg.dead_letter;
    return serve('kafka', cfg, connectionFrom(values, process.env, cfg.xmpp ?? {}), { values, stateDir }, io);
  });
}

export async function gcnCommand(argv: string[], io: CliIO = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runCommand('gateway gcn', GCN_HELP, io, async () => {
    const { values } = parseCommandLine(argv, {
      ...COMMON_ARGS,
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      domain: { type: 'string' },
      topic: { type: 'string', multiple: true },
      'node-prefix': { type: 'string' },
      'heartbeat-node': { type: 'string' },
      from: { type: 'string' },
      bootstrap: { type: 'string' },
      'token-url': { type: 'string' },
      'tls-ca': { type: 'string', multiple: true },
      'no-tls': { type: 'boolean' },
    }, false);
    if (values.help) return io.out(GCN_HELP), 0;
    const clientId = values['client-id'] ?? env.GCN_CLIENT_ID;
    const clientSecret = values['client-secret'] ?? env.GCN_CLIENT_SECRET;
    if (!clientId) throw new UsageError('--client-id (or GCN_CLIENT_ID) is required: get one at https://gcn.nasa.gov/quickstart');
    if (!clientSecret) throw new UsageError('--client-secret (or GCN_CLIENT_SECRET) is required');
    const from = values.from ?? 'latest';
    if (!/^(earliest|latest)$/.test(from) && Number.isNaN(Date.parse(from))) throw new UsageError(`--from '${from}': earliest, latest or an ISO time`);
    const stateDir = values['state-dir'] ?? defaultStateDir();
    const cfg = gcnConfig({
      gateway: values.name ?? 'gcn',
      clientId,
      clientSecret,
      domain: values.domain ?? 'gcn.nasa.gov',
      topics: values.topic ?? [],
      from,
      nodePrefix: values['node-prefix'] ?? 'gcn/',
      heartbeatNode: values['heartbeat-node'],
      bootstrap: values.bootstrap,
      tokenUrl: values['token-url'],
      tlsCa: values['tls-ca'],
      noTls: values['no-tls'],
      deadLetter: deadLetterOf(values),
    }, stateDir);
    return serve('gcn', cfg, connectionFrom(values, env), { values, stateDir }, io);
  });
}

export async function hopCommand(argv: string[], io: CliIO = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runCommand('gateway hop', HOP_HELP, io, async () => {
    const { values } = parseCommandLine(argv, {
      ...COMMON_ARGS,
      url: { type: 'string' },
      node: { type: 'string' },
      direction: { type: 'string' },
      username: { type: 'string' },
      'password-env': { type: 'string' },
      'no-auth': { type: 'boolean' },
      tls: { type: 'boolean' },
      'tls-ca': { type: 'string', multiple: true },
      from: { type: 'string' },
    }, false);
    if (values.help) return io.out(HOP_HELP), 0;
    if (!values.url) throw new UsageError('--url kafka://HOST/TOPIC is required');
    if (!values.node) throw new UsageError('--node NODE is required');
    const direction = values.direction ?? 'both';
    if (direction !== 'in' && direction !== 'out' && direction !== 'both') throw new UsageError(`--direction '${direction}': in, out or both`);
    const stateDir = values['state-dir'] ?? defaultStateDir();
    const cfg = hopConfig({
      gateway: values.name ?? 'hop',
      url: values.url,
      node: values.node,
      direction,
      username: values.username,
      password: env[values['password-env'] ?? 'HOP_PASSWORD'],
      noAuth: !!values['no-auth'],
      tls: values['tls-ca'] ? { ca: values['tls-ca'] } : !!values.tls,
      from: values.from ?? 'latest',
      deadLetter: deadLetterOf(values),
    }, stateDir);
    return serve('hop', cfg, connectionFrom(values, env), { values, stateDir }, io);
  });
}
