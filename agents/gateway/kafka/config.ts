/**
 * The Kafka gateway's configuration: YAML (ajv-checked, errors name the key) plus
 * environment for secrets; and the presets that build one from a few flags:
 * GCN (`voxnet gateway gcn`) and Hopskotch (`voxnet gateway hop`).
 */
import { XMPP_CONFIG_SCHEMA, durationSchema, loadConfigFile, UsageError, type ConnectionOptions } from '../../lib/index.ts';
import { parseDuration } from '../../../common/duration.ts';
import { KAFKA_SETTINGS_SCHEMA } from './client.ts';
import { FORMATS, DEFAULT_MAX_MESSAGE_BYTES, type RouteFormat } from './decode.ts';
import type { InboundRoute, KafkaGatewayConfig, OutboundRoute } from './gateway.ts';

const FROM_SCHEMA = {
  type: 'string',
  description: 'earliest, latest or an ISO 8601 time such as 2026-12-01T00:00:00Z',
  pattern: '^(earliest|latest|\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d(:\\d\\d(\\.\\d+)?)?(Z|[+-]\\d\\d:\\d\\d))$',
} as const;

export const KAFKA_GATEWAY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['gateway', 'kafka'],
  properties: {
    gateway: { type: 'string', pattern: '^[A-Za-z0-9._-]+$', description: 'a name of letters, digits, . _ -' },
    kafka: KAFKA_SETTINGS_SCHEMA,
    xmpp: XMPP_CONFIG_SCHEMA,
    group: { type: 'string', minLength: 1 },
    from: FROM_SCHEMA,
    inbound: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['node'],
        anyOf: [{ required: ['topics'] }, { required: ['pattern'] }],
        properties: {
          topics: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
          pattern: { type: 'string', minLength: 1 },
          node: { type: 'string', minLength: 1 },
          format: { enum: [...FORMATS] },
        },
      },
    },
    outbound: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['node', 'topic'],
        properties: { node: { type: 'string', minLength: 1 }, topic: { type: 'string', minLength: 1 }, since: { type: 'string' } },
      },
    },
    dead_letter: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
      properties: { dir: { type: 'string', minLength: 1 }, node: { type: 'string', minLength: 1 } },
    },
    seen_store: { type: 'string', minLength: 1 },
    seen_ttl: durationSchema(),
    own_origins: { type: 'array', items: { type: 'string' } },
    sender: { type: 'string' },
    max_message_bytes: { type: 'integer', minimum: 1024, default: DEFAULT_MAX_MESSAGE_BYTES },
    max_in_flight: { type: 'integer', minimum: 1, maximum: 1024 },
    max_batch: { type: 'integer', minimum: 1, maximum: 1024 },
  },
} as const;

type FileConfig = Omit<KafkaGatewayConfig, 'seen_ttl_ms' | 'dead_letter'> & {
  xmpp?: Partial<ConnectionOptions>;
  seen_ttl?: number | string;
  dead_letter?: { dir?: string; node?: string };
};

export function normaliseKafkaConfig(raw: FileConfig, stateDir: string): KafkaGatewayConfig & { xmpp?: Partial<ConnectionOptions> } {
  for (const r of raw.inbound ?? []) if (r.pattern) new RegExp(r.pattern);
  const ttl = raw.seen_ttl === undefined ? undefined : parseDuration(raw.seen_ttl, { what: 'seen_ttl' });
  const { seen_ttl: _drop, ...rest } = raw;
  return { ...rest, seen_ttl_ms: ttl, dead_letter: raw.dead_letter ?? { dir: `${stateDir}/gateway-${raw.gateway}-dead-letters` } };
}

export function loadKafkaGatewayConfig(file: string, stateDir: string): KafkaGatewayConfig & { xmpp?: Partial<ConnectionOptions> } {
  return normaliseKafkaConfig(loadConfigFile<FileConfig>(file, KAFKA_GATEWAY_SCHEMA), stateDir);
}

// ------------------------------------------------------------------ GCN preset

/** How GCN topics are read, by name (https://gcn.nasa.gov/docs/client). */
export function gcnFormatOf(topic: string): RouteFormat {
  if (topic === 'gcn.heartbeat') return 'heartbeat';
  if (topic === 'igwn.gwalert') return 'gwalert';
  if (topic.startsWith('gcn.classic.voevent.') || topic.startsWith('gcn.notices.svom.voevent.')) return 'voevent';
  if (topic.startsWith('gcn.notices.')) return 'gcn-json';
  return 'auto';
}

export type GcnPreset = {
  clientId: string;
  clientSecret?: string;
  domain: string;
  /** Topics, each optionally `TOPIC=NODE`. */
  topics: string[];
  from: string;
  nodePrefix: string;
  heartbeatNode?: string;
  /** Overrides for GCN-like test set-ups: bootstrap host:port, token URL, TLS CA or no TLS. */
  bootstrap?: string;
  tokenUrl?: string;
  tlsCa?: string[];
  noTls?: boolean;
  deadLetter?: { dir?: string; node?: string };
  gateway: string;
};

/** The node a GCN topic goes to: `<prefix><topic>` unless given (`TOPIC=NODE`); the heartbeat to its own node. */
export function gcnConfig(p: GcnPreset, stateDir: string): KafkaGatewayConfig {
  if (!p.topics.length) throw new UsageError('give at least one --topic (e.g. gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK, igwn.gwalert, gcn.heartbeat)');
  const inbound: InboundRoute[] = p.topics.map((t) => {
    const [topic, node] = t.split('=', 2) as [string, string | undefined];
    const format = gcnFormatOf(topic);
    return { topics: [topic], node: node ?? (format === 'heartbeat' && p.heartbeatNode ? p.heartbeatNode : `${p.nodePrefix}${topic}`), format };
  });
  return {
    gateway: p.gateway,
    kafka: {
      brokers: [p.bootstrap ?? `kafka.${p.domain}:9092`],
      client_id: `voxnet-${p.gateway}`,
      tls: p.noTls ? false : p.tlsCa ? { ca: p.tlsCa } : true,
      sasl: { mechanism: 'oauthbearer', token_url: p.tokenUrl ?? `https://auth.${p.domain}/oauth2/token`, client_id: p.clientId, client_secret: p.clientSecret },
    },
    // GCN requires the consumer group to start with the client id.
    group: `${p.clientId}-voxnet-${p.gateway}`,
    from: p.from,
    inbound,
    outbound: [],
    dead_letter: p.deadLetter ?? { dir: `${stateDir}/gateway-${p.gateway}-dead-letters` },
    max_message_bytes: 8 * 1024 * 1024,
  };
}

// ------------------------------------------------------------------ Hopskotch preset

/** `kafka://[user@]host[:port]/topic[,topic]` → brokers, topics (hop-client's URL form). */
export function parseHopUrl(url: string): { brokers: string[]; topics: string[]; username?: string } {
  const m = /^kafka:\/\/(?:([^@/]+)@)?([^/]+)\/([^/?#]+)$/.exec(url.trim());
  if (!m) throw new UsageError(`'${url}' is not a Hopskotch URL like kafka://kafka.scimma.org/topic`);
  const brokers = m[2]!.split(',').map((b) => (b.includes(':') ? b : `${b}:9092`));
  return { brokers, topics: m[3]!.split(','), username: m[1] };
}

export type HopPreset = {
  url: string;
  node: string;
  direction: 'in' | 'out' | 'both';
  username?: string;
  password?: string;
  noAuth: boolean;
  tls: boolean | { ca: string[] };
  from: string;
  gateway: string;
  deadLetter?: { dir?: string; node?: string };
};

export function hopConfig(p: HopPreset, stateDir: string): KafkaGatewayConfig {
  const u = parseHopUrl(p.url);
  const username = p.username ?? u.username;
  if (!p.noAuth && !username) throw new UsageError('Hopskotch needs a username (kafka://USER@host/topic or --username; password in HOP_PASSWORD), or --no-auth');
  const inbound: InboundRoute[] = p.direction !== 'out' ? [{ topics: u.topics, node: p.node, format: 'auto' }] : [];
  const outbound: OutboundRoute[] = p.direction !== 'in' ? u.topics.map((t) => ({ node: p.node, topic: t })) : [];
  return {
    gateway: p.gateway,
    kafka: {
      brokers: u.brokers,
      client_id: `voxnet-${p.gateway}`,
      tls: p.tls,
      sasl: p.noAuth ? undefined : { mechanism: 'scram-sha-512', username: username!, password: p.password },
    },
    group: `${username ?? 'voxnet'}-voxnet-${p.gateway}`,
    from: p.from,
    inbound,
    outbound,
    dead_letter: p.deadLetter ?? { dir: `${stateDir}/gateway-${p.gateway}-dead-letters` },
  };
}
