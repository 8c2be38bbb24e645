/**
 * Broker configuration: one YAML file validated with ajv, every key overridable
 * by an environment variable VOXNET_<KEY> (nested keys joined with "_", e.g.
 * storage.synchronous → VOXNET_STORAGE_SYNCHRONOUS; lists are comma-separated).
 * With no file, the four variables VOXNET_XMPP_URL, VOXNET_DOMAIN, VOXNET_SECRET
 * and VOXNET_DATA_DIR are enough (with PostgreSQL storage, VOXNET_STORAGE_DRIVER=postgres
 * and VOXNET_STORAGE_URL instead of VOXNET_DATA_DIR).
 */
import { ConfigError, checkConfig, createAjv, parseYaml, readConfigText, type ExplainError } from '../common/config.ts';
import { parseBoolean } from '../common/boolean.ts';

export { ConfigError };

export type BrokerConfig = {
  /** The server's component port: the first of `xmpp_urls`. */
  xmpp_url: string;
  /** Every component port the broker may use (the nodes of an ejabberd cluster), in order of preference; the link fails over between them. */
  xmpp_urls: string[];
  domain: string;
  secret: string;
  /** The SQLite database's directory (storage.driver sqlite). */
  data_dir?: string;
  admins: string[];
  create_nodes: string[];
  log_level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  notification_type: 'headline' | 'normal' | 'chat';
  storage: { driver: 'sqlite' | 'postgres'; synchronous: 'full' | 'normal'; url?: string };
  multicast: string;
  multicast_batch: number;
  ack_after: 'dispatch' | 'store';
  policy_file?: string;
  default_node_config: Record<string, string | number | boolean>;
  max_items_page: number;
  validate_voevents: boolean;
  /** Serve /metrics and /healthz on this port (unset: no endpoint; 0: any free port). */
  metrics_port?: number;
  metrics_host: string;
  /** Active/standby (broker-component/ha.ts): serve only while holding the domain's PostgreSQL advisory lock. */
  ha: { lock: boolean; url?: string };
};

const XMPP_URL = '^xmpp://[^/]+:[0-9]+/?$';

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['xmpp_url', 'domain', 'secret'],
  properties: {
    xmpp_url: {
      type: ['string', 'array'],
      pattern: XMPP_URL,
      minItems: 1,
      items: { type: 'string', pattern: XMPP_URL, description: "a server's component port, e.g. xmpp://127.0.0.1:5347" },
      description: "the server's component port, e.g. xmpp://127.0.0.1:5347, or a list of them (the nodes of an ejabberd cluster: the link fails over between them)",
    },
    domain: { type: 'string', minLength: 1, pattern: '^[^@/\\s]+$', description: 'JID of the component, e.g. pubsub.svom.fr' },
    secret: { type: 'string', minLength: 1, description: 'component secret shared with the server' },
    data_dir: { type: 'string', minLength: 1, description: 'directory of the SQLite database (storage driver sqlite)' },
    admins: { type: 'array', items: { type: 'string', minLength: 1 }, default: [], description: 'bare JIDs or domains that own every node' },
    create_nodes: { type: 'array', items: { type: 'string', minLength: 1 }, default: [], description: 'bare JIDs or domains allowed to create nodes ("*" for anyone)' },
    log_level: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'], default: 'info' },
    notification_type: { enum: ['headline', 'normal', 'chat'], default: 'headline' },
    storage: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        driver: { enum: ['sqlite', 'postgres'], default: 'sqlite', description: 'sqlite (embedded, in data_dir) or postgres (a PostgreSQL server at url)' },
        synchronous: { enum: ['full', 'normal'], default: 'full' },
        url: { type: 'string', pattern: '^postgres(ql)?://', description: 'a PostgreSQL connection URL, postgres://user:password@host:port/database' },
      },
    },
    multicast: { type: 'string', default: 'auto', description: '"auto" (discover XEP-0033 on the server), "off", or the multicast service JID' },
    multicast_batch: { type: 'integer', minimum: 1, default: 1000, description: 'most recipients in one multicast stanza (stanzas also stay under 480 KiB)' },
    ack_after: {
      enum: ['dispatch', 'store'],
      default: 'dispatch',
      description: '"dispatch": acknowledge a publish once stored and its notifications routed by the server (paces publishers to the delivery rate); "store": as soon as stored',
    },
    policy_file: { type: 'string', description: 'access policy YAML to enforce' },
    default_node_config: { type: 'object', default: {}, additionalProperties: { type: ['string', 'number', 'boolean'] } },
    max_items_page: { type: 'integer', minimum: 1, default: 500 },
    metrics_port: { type: 'integer', minimum: 0, maximum: 65535, description: 'serve Prometheus /metrics and /healthz on this port (unset: none)' },
    metrics_host: { type: 'string', minLength: 1, default: '127.0.0.1', description: 'address of the metrics endpoint' },
    validate_voevents: { type: 'boolean', default: true, description: 'refuse invalid VOEvents on nodes whose type is the VOEvent namespace' },
    ha: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        lock: {
          type: 'boolean',
          default: false,
          description: 'active/standby: serve only while holding the PostgreSQL advisory lock of the domain; other brokers of the domain wait as standbys. The holder exits when it loses the lock (PostgreSQL down or unreachable): run it under a supervisor that restarts it',
        },
        url: { type: 'string', pattern: '^postgres(ql)?://', description: 'a PostgreSQL URL, postgres://…: the database that holds the lock (default: storage.url)' },
      },
    },
  },
} as const;

const validate = createAjv({ coerceTypes: false }).compile(schema);

/** The environment variables the broker reads, key path → variable name. */
export function envVariables(): { key: string; variable: string; description?: string }[] {
  const out: { key: string; variable: string; description?: string }[] = [];
  for (const [k, v] of Object.entries(schema.properties)) {
    const prop = v as { properties?: Record<string, unknown>; description?: string };
    if (prop.properties && k !== 'default_node_config') {
      for (const sub of Object.keys(prop.properties)) out.push({ key: `${k}.${sub}`, variable: `VOXNET_${k}_${sub}`.toUpperCase() });
    } else out.push({ key: k, variable: `VOXNET_${k}`.toUpperCase(), description: prop.description });
  }
  return out;
}

type PropSchema = { type?: string | readonly string[]; properties?: Record<string, PropSchema> };

function coerce(key: string, raw: string): unknown {
  const [top, sub] = key.split('.') as [string, string | undefined];
  const parent = (schema.properties as Record<string, PropSchema>)[top];
  const prop = sub ? parent?.properties?.[sub] : parent;
  const types = typeof prop?.type === 'string' ? [prop.type] : (prop?.type ?? []);
  if (types.includes('array') && (!types.includes('string') || raw.includes(','))) return raw.split(',').map((s) => s.trim()).filter(Boolean);
  if (prop?.type === 'integer') return /^-?\d+$/.test(raw) ? Number(raw) : raw;
  if (prop?.type === 'boolean') return parseBoolean(raw) ?? raw;
  if (key === 'default_node_config') {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  return raw;
}

/** A missing key can also come from its environment variable: say so. */
const explain: ExplainError = (e, path) =>
  e.keyword === 'required' ? { path: [...path, String(e.params.missingProperty)], message: `is required (or set VOXNET_${String(e.params.missingProperty).toUpperCase()})` } : undefined;

export function loadBrokerConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): BrokerConfig {
  let data: Record<string, unknown> = {};
  const source = file ?? 'environment';
  let locate: ReturnType<typeof parseYaml>['locate'] | undefined;
  if (file) {
    const parsed = parseYaml(readConfigText(file), file);
    const v = parsed.data;
    if (v !== null && v !== undefined && (typeof v !== 'object' || Array.isArray(v))) throw new ConfigError(file, ['the configuration must be a mapping of keys']);
    data = (v ?? {}) as Record<string, unknown>;
    locate = parsed.locate;
  }
  for (const { key, variable } of envVariables()) {
    const raw = env[variable];
    if (raw === undefined || raw === '') continue;
    const [top, sub] = key.split('.') as [string, string | undefined];
    if (sub) {
      const obj = (data[top] ?? {}) as Record<string, unknown>;
      obj[sub] = coerce(key, raw);
      data[top] = obj;
    } else data[top] = coerce(key, raw);
  }
  // Positions point into the file; a value from the environment has none (the key still names it).
  const cfg = checkConfig<BrokerConfig>(data, validate, source, { locate, explain });
  checkStorage(cfg, source, locate);
  return withHa(cfg, source, locate);
}

/**
 * The derived keys: `xmpp_urls` (always a list, `xmpp_url` its first), and the
 * lock of active/standby, which needs a PostgreSQL: the store's, or ha.url.
 */
function withHa(cfg: BrokerConfig, source: string, locate: ReturnType<typeof parseYaml>['locate'] | undefined): BrokerConfig {
  const urls = cfg.xmpp_url as string | string[];
  cfg.xmpp_urls = Array.isArray(urls) ? urls : [urls];
  cfg.xmpp_url = cfg.xmpp_urls[0]!;
  const postgres = cfg.storage.driver === 'postgres' ? cfg.storage.url : undefined;
  cfg.ha.url ??= postgres;
  if (cfg.ha.lock && !cfg.ha.url) {
    const path = ['ha', 'lock'];
    throw new ConfigError(source, [{ path, message: 'needs a PostgreSQL to hold the lock in: set storage.driver: postgres with storage.url, or ha.url', ...locate?.(path) }]);
  }
  return cfg;
}

/** What the storage driver needs: a data_dir for SQLite, a URL for PostgreSQL (and the URL only there). */
function checkStorage(cfg: BrokerConfig, source: string, locate: ReturnType<typeof parseYaml>['locate'] | undefined): void {
  const problem = (path: string[], message: string, atKey = false) => ({ path, message, ...locate?.(path, atKey) });
  const { driver, url } = cfg.storage;
  if (driver === 'sqlite' && cfg.data_dir === undefined) throw new ConfigError(source, [problem(['data_dir'], 'is required with the sqlite storage driver (or set VOXNET_DATA_DIR)')]);
  if (driver === 'postgres' && url === undefined) throw new ConfigError(source, [problem(['storage', 'url'], 'is required with the postgres storage driver (or set VOXNET_STORAGE_URL)')]);
  if (driver === 'sqlite' && url !== undefined) throw new ConfigError(source, [problem(['storage', 'url'], 'is only for the postgres driver: set storage.driver to postgres, or remove the URL', true)]);
}
