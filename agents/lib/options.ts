/**
 * Command-line and environment options shared by every agent command:
 * --jid, --password, --server, --service, --trust and their VOXNET_* variables,
 * plus durations ("500ms", "1s", "5m": common/duration.ts).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseDuration as parseDurationMs } from '../../common/duration.ts';

/** A command-line mistake: the command prints the message and its usage, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Where and as whom an agent connects. */
export type ConnectionOptions = {
  /** Bare (or full) JID of the agent's account. */
  jid: string;
  password: string;
  /** xmpp://host:port (STARTTLS) or xmpps://host:port; default xmpp://<JID domain>:5222. Several, comma-separated (the nodes of a cluster): tried in turn after a lost connection. */
  server?: string;
  /** JID of the publish-subscribe service; default pubsub.<JID domain>. */
  service?: string;
  /** Extra CA certificates (PEM files) to trust. */
  trust?: string[];
  /** Resource to bind; a random one when absent. */
  resource?: string;
  /** Serve Prometheus /metrics and /healthz on this port (0: any free port). */
  metricsPort?: number;
};

/** The `xmpp:` block every agent configuration may carry (see ConnectionOptions). */
export const XMPP_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    jid: { type: 'string', pattern: '^[^@/\\s]+@[^@/\\s]+(/.*)?$', description: 'a JID such as fsc@svom.fr' },
    password: { type: 'string' },
    server: {
      type: 'string',
      pattern: '^xmpps?://[^/:,\\s]+(:[0-9]+)?/?(\\s*,\\s*xmpps?://[^/:,\\s]+(:[0-9]+)?/?)*$',
      description: 'a server address such as xmpp://xmpp.svom.fr:5222, or several separated by commas (the nodes of a cluster)',
    },
    service: { type: 'string', minLength: 1 },
    trust: { type: 'array', items: { type: 'string', minLength: 1 } },
    resource: { type: 'string', minLength: 1 },
  },
} as const;

/** parseArgs options for the connection; spread them into a command's own. */
export const CONNECTION_ARGS = {
  jid: { type: 'string' },
  password: { type: 'string' },
  server: { type: 'string' },
  service: { type: 'string' },
  trust: { type: 'string', multiple: true },
  'log-level': { type: 'string' },
  'metrics-port': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

export const CONNECTION_HELP = `connection (each falls back to an environment variable):
  --jid JID             agent account                        VOXNET_AGENT_JID
  --password PW         its password                         VOXNET_AGENT_PASSWORD
  --server URL[,URL…]   xmpp://host:port (default: JID domain, port 5222); several: a cluster's nodes, tried in turn   VOXNET_AGENT_SERVER
  --service JID         publish-subscribe service (default pubsub.<domain>) VOXNET_PUBSUB
  --trust CAFILE        extra CA certificate to trust (repeatable; ':'-separated in VOXNET_TRUST)
  --log-level LEVEL     trace|debug|info|warn|error|silent   VOXNET_LOG_LEVEL
  --metrics-port PORT   serve Prometheus /metrics and /healthz on 127.0.0.1:PORT   VOXNET_METRICS_PORT`;

type Env = Record<string, string | undefined>;

/**
 * Merge the connection options: command line over environment over `base`
 * (e.g. the `xmpp` block of an agent's configuration file).
 */
export function connectionFrom(values: Record<string, unknown>, env: Env = process.env, base: Partial<ConnectionOptions> = {}): ConnectionOptions {
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const jid = str('jid') ?? env.VOXNET_AGENT_JID ?? base.jid;
  const password = str('password') ?? env.VOXNET_AGENT_PASSWORD ?? base.password;
  if (!jid) throw new UsageError('no agent JID: give --jid or set VOXNET_AGENT_JID');
  if (!/^[^@/\s]+@[^@/\s]+(\/.*)?$/.test(jid)) throw new UsageError(`--jid '${jid}' is not a JID of the form user@domain`);
  if (password === undefined) throw new UsageError('no password: give --password or set VOXNET_AGENT_PASSWORD');
  const server = str('server') ?? env.VOXNET_AGENT_SERVER ?? base.server;
  for (const one of server?.split(',').map((x) => x.trim()) ?? [])
    if (!/^xmpps?:\/\/[^/:\s]+(:\d+)?\/?$/.test(one)) throw new UsageError(`--server '${one}' is not of the form xmpp://host:port`);
  const service = str('service') ?? env.VOXNET_PUBSUB ?? base.service;
  const cliTrust = Array.isArray(values.trust) ? (values.trust as string[]) : [];
  const envTrust = env.VOXNET_TRUST ? env.VOXNET_TRUST.split(':').filter(Boolean) : [];
  const trust = [...(base.trust ?? []), ...envTrust, ...cliTrust];
  const metrics = str('metrics-port') ?? env.VOXNET_METRICS_PORT ?? (base.metricsPort !== undefined ? String(base.metricsPort) : undefined);
  if (metrics !== undefined && !/^\d{1,5}$/.test(metrics)) throw new UsageError(`--metrics-port '${metrics}' is not a port number`);
  return { jid, password, server, service, trust, resource: base.resource, metricsPort: metrics === undefined ? undefined : Number(metrics) };
}

/** A duration on the command line (common/duration.ts: "250ms", "1.5s", "5m", "1d"; a bare number is seconds), in ms. */
export function parseDuration(text: string, what = 'duration'): number {
  try {
    return parseDurationMs(text, { what });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** Where agents keep their state: VOXNET_STATE_DIR, else $XDG_STATE_HOME/voxnet, else ~/.local/state/voxnet. */
export function defaultStateDir(env: Env = process.env): string {
  if (env.VOXNET_STATE_DIR) return env.VOXNET_STATE_DIR;
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'voxnet');
}

/** parseArgs that turns its errors into UsageErrors. */
export function parseCommandLine<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}
