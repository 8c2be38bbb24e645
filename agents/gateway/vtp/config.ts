/**
 * `voxnet gateway vtp --config FILE`: YAML, validated with ajv (errors name the
 * key). Either role or both; environment variables override a few keys.
 *
 *   local_ivo: ivo://voxnet.example/vtp      our IVO in Transport messages
 *   network: vtp:voevent-network             the place loops are judged by (what came from it never goes back)
 *   state_dir: /var/lib/voxnet               follower state, spool, seen-store
 *   max_message: 1048576                     bytes; a longer frame is dead-lettered
 *   dead_letter: { dir: /var/lib/voxnet/dead } or { node: vtp/dead-letter }
 *   subscriber:                              VTP → VOXnet
 *     remotes: [{ host: voevent.4pisky.org, port: 8099, tls: false }]
 *     filters: ["//Param[@name='Packet_Type' and @value='61']"]
 *     routes: [{ ivorn_prefix: ivo://nasa.gsfc.gcn/SWIFT, node: gcn/swift }, { role: test, skip: true }, { node: vtp/all }]
 *     invalid: ack | nak
 *   receiver:                                authors (comet-sendvo) → VOXnet
 *     listen: { host: 0.0.0.0, port: 8098 }
 *     allow: [192.0.2.0/24]
 *     routes: [...] or node: NODE
 *   broker:                                  VOXnet → VTP
 *     listen: { host: 0.0.0.0, port: 8099 }
 *     nodes: [svom.fr/grb]
 *     since: latest | beginning | ITEM-ID
 *     iamalive: 60s
 *     allow: [127.0.0.0/8, 192.0.2.0/24]
 *     max_subscribers: 1000
 *     max_event: 99999                       bytes; larger events are not sent (Comet's frame limit)
 *     window: 64                             events awaiting acks per subscriber
 *     tls: { cert: server.pem, key: server.key }
 *     keep: { events: 10000, age: 168h }
 *   xmpp: { jid, password, server, service, trust }
 */
import { durationSchema, XMPP_CONFIG_SCHEMA, checkConfig, ConfigError, loadConfigFile } from '../../lib/index.ts';
import { parseDuration } from '../../../common/duration.ts';
import { allowList } from './broker.ts';
import { checkXPath } from './filter.ts';
import type { Route } from './routes.ts';

type Duration = number | string;

export type VtpConfig = {
  local_ivo: string;
  network: string;
  state_dir?: string;
  max_message: number;
  dead_letter?: { dir?: string; node?: string };
  log_level?: string;
  subscriber?: {
    remotes: { host: string; port: number; tls?: boolean | { ca?: string[]; servername?: string } }[];
    filters: string[];
    routes?: Route[];
    node?: string;
    invalid: 'ack' | 'nak';
    alive_timeout?: Duration;
  };
  receiver?: {
    listen: { host: string; port: number };
    allow: string[];
    routes?: Route[];
    node?: string;
    timeout?: Duration;
  };
  broker?: {
    listen: { host: string; port: number };
    nodes: string[];
    since: string;
    iamalive: Duration;
    allow: string[];
    max_subscribers: number;
    max_event: number;
    window: number;
    tls?: { cert: string; key: string; ca?: string[] };
    keep: { events: number; age?: Duration };
  };
  xmpp?: Record<string, unknown>;
};

const IVO = { type: 'string', pattern: '^ivo://[^\\s#]+(#[^\\s]*)?$', description: 'an IVOA identifier such as ivo://voxnet.example/vtp' };

/** Where received events go: the first matching route (routes.ts). */
const ROUTES_SCHEMA = {
  type: 'array',
  items: {
    type: 'object', additionalProperties: false,
    oneOf: [{ required: ['node'] }, { required: ['skip'] }],
    description: 'a route with a node, or skip: true',
    properties: { node: { type: 'string', minLength: 1 }, skip: { const: true }, ivorn_prefix: { type: 'string', minLength: 1 }, role: { enum: ['observation', 'prediction', 'utility', 'test'] } },
  },
} as const;

export const VTP_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['local_ivo'],
  properties: {
    local_ivo: IVO,
    network: { type: 'string', minLength: 1, default: 'vtp:voevent-network', description: 'the VOEvent network as one place of the loop rules' },
    state_dir: { type: 'string', minLength: 1 },
    max_message: { type: 'integer', minimum: 1024, maximum: 1 << 20, default: 1 << 20, description: 'bytes, at most 1 MiB (the VOEvent validator\'s limit)' },
    log_level: { type: 'string' },
    dead_letter: { type: 'object', additionalProperties: false, properties: { dir: { type: 'string', minLength: 1 }, node: { type: 'string', minLength: 1 } } },
    subscriber: {
      type: 'object',
      additionalProperties: false,
      required: ['remotes'],
      properties: {
        remotes: {
          type: 'array', minItems: 1,
          items: {
            type: 'object', additionalProperties: false, required: ['host', 'port'],
            properties: {
              host: { type: 'string', minLength: 1 },
              port: { type: 'integer', minimum: 1, maximum: 65535 },
              tls: { anyOf: [{ type: 'boolean' }, { type: 'object', additionalProperties: false, properties: { ca: { type: 'array', items: { type: 'string' } }, servername: { type: 'string' } } }] },
            },
          },
        },
        filters: { type: 'array', items: { type: 'string', minLength: 1 }, default: [] },
        routes: ROUTES_SCHEMA,
        node: { type: 'string', minLength: 1, description: 'one node for every event (instead of routes)' },
        invalid: { enum: ['ack', 'nak'], default: 'ack' },
        alive_timeout: durationSchema(),
      },
    },
    receiver: {
      type: 'object',
      additionalProperties: false,
      properties: {
        listen: {
          type: 'object', additionalProperties: false, default: {},
          properties: { host: { type: 'string', default: '0.0.0.0' }, port: { type: 'integer', minimum: 0, maximum: 65535, default: 8098 } },
        },
        allow: { type: 'array', items: { type: 'string' }, default: ['0.0.0.0/0', '::/0'] },
        routes: ROUTES_SCHEMA,
        node: { type: 'string', minLength: 1, description: 'one node for every event (instead of routes)' },
        timeout: durationSchema(),
      },
    },
    broker: {
      type: 'object',
      additionalProperties: false,
      required: ['nodes'],
      properties: {
        listen: {
          type: 'object', additionalProperties: false, default: {},
          properties: { host: { type: 'string', default: '0.0.0.0' }, port: { type: 'integer', minimum: 0, maximum: 65535, default: 8099 } },
        },
        nodes: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
        since: { type: 'string', default: 'latest' },
        iamalive: { ...durationSchema(), default: 60 },
        allow: { type: 'array', items: { type: 'string' }, default: ['0.0.0.0/0', '::/0'] },
        max_subscribers: { type: 'integer', minimum: 1, default: 1000 },
        max_event: { type: 'integer', minimum: 1024, maximum: 1 << 20, default: 99999, description: 'bytes; larger events are not sent (Comet drops a connection that sends more than 99,999)' },
        window: { type: 'integer', minimum: 1, maximum: 10000, default: 64, description: 'events sent and not yet acknowledged, per subscriber' },
        tls: { type: 'object', additionalProperties: false, required: ['cert', 'key'], properties: { cert: { type: 'string' }, key: { type: 'string' }, ca: { type: 'array', items: { type: 'string' } } } },
        keep: {
          type: 'object', additionalProperties: false, default: {},
          properties: { events: { type: 'integer', minimum: 1, default: 10000 }, age: durationSchema() },
        },
      },
    },
    xmpp: XMPP_CONFIG_SCHEMA,
  },
} as const;

export function durationMs(d: Duration | undefined, fallback: number): number {
  return d === undefined ? fallback : parseDuration(d);
}

/** Checks ajv cannot express: routes or a node, valid filters and networks. */
function crossCheck(cfg: VtpConfig, file: string): VtpConfig {
  const problems: string[] = [];
  if (cfg.subscriber) {
    if (!cfg.subscriber.routes?.length && !cfg.subscriber.node) problems.push('subscriber: needs routes or node');
    if (cfg.subscriber.routes?.length && cfg.subscriber.node) problems.push('subscriber: give routes or node, not both');
    cfg.subscriber.filters.forEach((f, i) => {
      const p = checkXPath(f);
      if (p) problems.push(`subscriber.filters[${i}]: not valid XPath (${p})`);
    });
  }
  if (cfg.receiver) {
    if (!cfg.receiver.routes?.length && !cfg.receiver.node) problems.push('receiver: needs routes or node');
    if (cfg.receiver.routes?.length && cfg.receiver.node) problems.push('receiver: give routes or node, not both');
    cfg.receiver.allow.forEach((c, i) => {
      try {
        allowList([c]);
      } catch (e) {
        problems.push(`receiver.allow[${i}]: ${(e as Error).message}`);
      }
    });
  }
  if (cfg.broker) {
    cfg.broker.allow.forEach((c, i) => {
      try {
        allowList([c]);
      } catch (e) {
        problems.push(`broker.allow[${i}]: ${(e as Error).message}`);
      }
    });
  }
  if (!cfg.subscriber && !cfg.broker && !cfg.receiver) problems.push('(top level): needs a subscriber, receiver or broker section');
  if (problems.length) throw new ConfigError(file, problems);
  return cfg;
}

/** Read and check a configuration file; VOXNET_VTP_PORT overrides broker.listen.port, VOXNET_VTP_REMOTE (host:port) the subscriber's remotes. */
export function loadVtpConfig(file: string, env: NodeJS.ProcessEnv = process.env): VtpConfig {
  const cfg = loadConfigFile<VtpConfig>(file, VTP_CONFIG_SCHEMA);
  if (env.VOXNET_VTP_PORT && cfg.broker) cfg.broker.listen.port = Number(env.VOXNET_VTP_PORT);
  if (env.VOXNET_VTP_REMOTE && cfg.subscriber) {
    const m = /^([^:]+):(\d+)$/.exec(env.VOXNET_VTP_REMOTE);
    if (!m) throw new ConfigError('VOXNET_VTP_REMOTE', [`'${env.VOXNET_VTP_REMOTE}' is not host:port`]);
    cfg.subscriber.remotes = [{ host: m[1]!, port: Number(m[2]) }];
  }
  return crossCheck(cfg, file);
}

/** The same checks on data (tests). */
export function checkVtpConfig(data: unknown, source = '<config>'): VtpConfig {
  return crossCheck(checkConfig<VtpConfig>(data, VTP_CONFIG_SCHEMA, source), source);
}
