/**
 * voxnet agent notify --config FILE     webhook and e-mail notifications per rule
 */
import { join } from 'node:path';
import {
  CONNECTION_ARGS, CONNECTION_HELP, ConfigError, durationSchema, UsageError, XMPP_CONFIG_SCHEMA, connectAgent, connectionFrom, createLogger,
  defaultStateDir, loadConfigFile, parseCommandLine, type ConnectionOptions,
} from '../lib/index.ts';
import { runCommand, stdio, untilSignal, type CliIO } from '../lib/command.ts';
import { parseDuration as parseDurationMs } from '../../common/duration.ts';
import { compiled, type Rule } from './rules.ts';
import { emailChannel, webhookChannel, type Channel, type Endpoint, type SmtpConfig } from './channels.ts';

export const NOTIFY_HELP = `usage: voxnet agent notify --config FILE [options]

Sends a notification for each alert that matches a rule: to webhooks taking
Slack-compatible JSON (Slack, Mattermost) and by e-mail (SMTP with TLS). Rules
select by node, role, importance and What/Param thresholds, with quiet hours
(notifications deferred or dropped). A retraction (a VOEvent citing with
cite="retraction", or an item withdrawn from its node) reaches every endpoint
that got the original. A failing endpoint is retried with backoff and never holds
back the others; the outbox is durable (a restart neither loses nor repeats).
See config/notify.example.yaml.

options:
  --config FILE        rules, endpoints, SMTP server (YAML)
  --since latest|beginning   where to start on a node without saved state (default latest)
  --state-dir DIR      follow state and the outbox (default state_dir, else $VOXNET_STATE_DIR)

${CONNECTION_HELP}`;

export type NotifyConfig = {
  xmpp?: Partial<ConnectionOptions>;
  web_url?: string;
  state_dir?: string;
  smtp?: SmtpConfig;
  retry?: { initial?: number | string; max?: number | string; give_up_after?: number | string };
  endpoints: Record<string, Endpoint>;
  rules: Rule[];
};

const THRESHOLD = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    min: { type: 'number' },
    max: { type: 'number' },
    equals: { type: ['string', 'number'] },
    in: { type: 'array', items: { type: ['string', 'number'] }, minItems: 1 },
  },
} as const;

const HHMM = { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'a time of day such as 22:00' } as const;
const QUIET_BOUNDS = { from: HHMM, to: HHMM };

export const NOTIFY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['endpoints', 'rules'],
  properties: {
    xmpp: XMPP_CONFIG_SCHEMA,
    web_url: { type: 'string', pattern: '^https?://', description: 'an http(s) URL' },
    state_dir: { type: 'string', minLength: 1 },
    smtp: {
      type: 'object',
      additionalProperties: false,
      required: ['host'],
      properties: {
        host: { type: 'string', minLength: 1 },
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        secure: { type: 'boolean' },
        user: { type: 'string' },
        password: { type: 'string' },
        ca: { type: 'array', items: { type: 'string', minLength: 1 } },
        from: { type: 'string', minLength: 3 },
      },
    },
    retry: {
      type: 'object',
      additionalProperties: false,
      properties: { initial: durationSchema(), max: durationSchema(), give_up_after: durationSchema() },
    },
    endpoints: {
      type: 'object',
      minProperties: 1,
      additionalProperties: {
        oneOf: [
          {
            type: 'object',
            additionalProperties: false,
            required: ['webhook'],
            properties: {
              webhook: { type: 'string', pattern: '^https?://', description: 'an http(s) URL' },
              format: { enum: ['slack', 'mattermost'] },
              username: { type: 'string' },
              channel: { type: 'string' },
              timeout_ms: { type: 'integer', minimum: 100 },
            },
          },
          {
            type: 'object',
            additionalProperties: false,
            required: ['email'],
            properties: {
              email: {
                type: 'object',
                additionalProperties: false,
                required: ['to'],
                properties: { to: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[^@\\s]+@[^@\\s]+$' } }, from: { type: 'string' } },
              },
            },
          },
        ],
      },
    },
    rules: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'nodes', 'to'],
        properties: {
          name: { type: 'string', minLength: 1 },
          nodes: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
          roles: { type: 'array', items: { enum: ['observation', 'prediction', 'utility', 'test', '*'] } },
          importance: { type: 'object', additionalProperties: false, minProperties: 1, properties: { min: { type: 'number' }, max: { type: 'number' } } },
          params: { type: 'object', additionalProperties: THRESHOLD },
          filter: { type: 'string', minLength: 1, description: 'an expression of the filter language (docs/filters.md)' },
          quiet_hours: {
            type: 'object',
            additionalProperties: false,
            required: Object.keys(QUIET_BOUNDS),
            properties: { ...QUIET_BOUNDS, timezone: { type: 'string', minLength: 1 }, then: { enum: ['defer', 'drop'] } },
          },
          to: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
        },
      },
    },
  },
} as const;

const duration = (v: number | string | undefined, what: string): number | undefined =>
  v === undefined ? undefined : parseDurationMs(v, { what });

/** Checks ajv cannot express: endpoint names, rule names, time zones, SMTP for e-mail. */
export function checkNotifyConfig(cfg: NotifyConfig, file: string): void {
  const problems: string[] = [];
  const names = new Set<string>();
  cfg.rules.forEach((r, i) => {
    if (names.has(r.name)) problems.push(`rules[${i}].name: '${r.name}' is used by another rule`);
    names.add(r.name);
    r.to.forEach((e, j) => {
      if (!cfg.endpoints[e]) problems.push(`rules[${i}].to[${j}]: no endpoint named '${e}' (endpoints: ${Object.keys(cfg.endpoints).join(', ')})`);
    });
    if (r.filter !== undefined) {
      try {
        compiled(r.filter);
      } catch (e) {
        problems.push(`rules[${i}].filter: ${(e as Error).message}`);
      }
    }
    const tz = r.quiet_hours?.timezone;
    if (tz) {
      try {
        new Intl.DateTimeFormat('en', { timeZone: tz });
      } catch {
        problems.push(`rules[${i}].quiet_hours.timezone: unknown time zone '${tz}'`);
      }
    }
  });
  for (const [name, ep] of Object.entries(cfg.endpoints)) if ('email' in ep && !cfg.smtp) problems.push(`endpoints.${name}: e-mail needs an smtp: block`);
  if (problems.length) throw new ConfigError(file, problems);
}

export function channelsFor(cfg: NotifyConfig): Record<string, Channel> {
  const out: Record<string, Channel> = {};
  for (const [name, ep] of Object.entries(cfg.endpoints)) out[name] = 'webhook' in ep ? webhookChannel(ep) : emailChannel(ep, cfg.smtp!);
  return out;
}

export async function notifyCommand(argv: string[], io: CliIO = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runCommand('agent notify', NOTIFY_HELP, io, async () => {
    const { values } = parseCommandLine(argv, {
      ...CONNECTION_ARGS,
      config: { type: 'string' },
      since: { type: 'string' },
      'state-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }, false);
    if (values.help) {
      io.out(NOTIFY_HELP);
      return 0;
    }
    if (!values.config) throw new UsageError('--config FILE is required');
    const cfg = loadConfigFile<NotifyConfig>(values.config, NOTIFY_SCHEMA);
    checkNotifyConfig(cfg, values.config);
    const since = (values.since ?? 'latest') as 'latest' | 'beginning';
    if (since !== 'latest' && since !== 'beginning') throw new UsageError('--since must be latest or beginning');
    const conn = connectionFrom(values, env, cfg.xmpp ?? {});
    const log = createLogger('notify', values['log-level'] ?? env.VOXNET_LOG_LEVEL);
    const stateDir = values['state-dir'] ?? cfg.state_dir ?? defaultStateDir(env);
    const { Outbox } = await import('./outbox.ts');
    const { runNotify } = await import('./run.ts');
    const agent = await connectAgent({ ...conn, name: 'notify', stateDir, log, waitForServer: true });
    const outbox = new Outbox(join(stateDir, `notify-${agent.bare}.sqlite`));
    const signal = untilSignal();
    const abort = new AbortController();
    void signal.promise.then(() => abort.abort());
    try {
      const handle = await runNotify({
        agent, log, rules: cfg.rules, channels: channelsFor(cfg), outbox, since, signal: abort.signal,
        alertUrl: cfg.web_url ?? env.VOXNET_WEB_URL,
        backoff: { initialMs: duration(cfg.retry?.initial, 'retry.initial') ?? 2000, maxMs: duration(cfg.retry?.max, 'retry.max') ?? 600_000 },
        giveUpMs: duration(cfg.retry?.give_up_after, 'retry.give_up_after'),
      });
      log.info({ rules: cfg.rules.length, endpoints: Object.keys(cfg.endpoints).length, outbox: outbox.counts() }, 'notify agent running');
      await signal.promise;
      await handle.stop();
      return 0;
    } finally {
      signal.cancel();
      await agent.stop();
      outbox.close();
    }
  });
}
