/**
 * The notification agent (`voxnet agent notify`): rules (node, role, importance,
 * parameter thresholds, quiet hours), a Slack/Mattermost-compatible webhook on a
 * local HTTP server, e-mail through a local SMTP server (smtp-server) that
 * requires STARTTLS, retractions to everyone who got the original, a failing
 * endpoint retried with backoff while the others go on, and a restart that
 * neither loses nor repeats — all against a real Prosody + broker.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { until } from './helpers/until.ts';
import { agentEnv, voxnet } from './helpers/agents.ts';
import { makeCert } from '../broker-component/servers/certs.ts';
import { connectAgent, publishVOEvent, ensureNode, AgentState, type Agent } from '../agents/lib/index.ts';
import { alertOf, type Alert } from '../agents/lib/alert.ts';
import { matches, quietUntil, isQuiet, type Rule } from '../agents/notify/rules.ts';
import { Outbox } from '../agents/notify/outbox.ts';
import { runNotify, type NotifyHandle } from '../agents/notify/run.ts';
import { noticeOf, webhookBody } from '../agents/notify/channels.ts';
import { channelsFor, checkNotifyConfig, NOTIFY_SCHEMA, type NotifyConfig } from '../agents/notify/cli.ts';
import { checkConfig, ConfigError, createLogger, loadConfigFile, silentLogger } from '../agents/lib/index.ts';
import { ROOMS_SCHEMA, type RoomsConfig } from '../agents/rooms/cli.ts';

const fixture = (f: string) => readFileSync(new URL(`./fixtures/voevents/${f}`, import.meta.url), 'utf8');
const WAKEUP = fixture('gcn-notice-parser__svom_eclairs_303__sb26030408_eclairs-wakeup.xml'); // SNR 8.68
const RETRACTION = fixture('gcn-notice-parser__svom_eclairs_304__sb26030408_retraction.xml'); // retracts WAKEUP
const BRIGHT = fixture('gcn-notice-parser__svom_eclairs_319__sb26051101_eclairs-wakeup.xml'); // SNR 55.22

const alert = (over: Partial<Alert> = {}): Alert => ({ ...alertOf({ node: 'n', id: 'i', xml: WAKEUP, ivorn: 'ivo://org.svom/fsc#sb26030408_eclairs-wakeup' }), ...over });

describe('notification rules (pure)', () => {
  const base: Rule = { name: 'r', nodes: ['n'], to: ['x'] };
  it('node, role (observation by default), importance and What/Param thresholds', () => {
    expect(matches(base, alert())).toBe(true);
    expect(matches(base, alert({ node: 'other' }))).toBe(false);
    expect(matches(base, alert({ role: 'test' }))).toBe(false);
    expect(matches({ ...base, roles: ['test'] }, alert({ role: 'test' }))).toBe(true);
    expect(matches({ ...base, roles: ['*'] }, alert({ role: 'utility' }))).toBe(true);
    expect(matches({ ...base, importance: { min: 0.5 } }, alert())).toBe(false); // no importance in the packet
    expect(matches({ ...base, importance: { min: 0.5 } }, alert({ importance: 0.7 }))).toBe(true);
    expect(matches({ ...base, importance: { min: 0.5, max: 0.6 } }, alert({ importance: 0.7 }))).toBe(false);
    expect(matches({ ...base, params: { SNR: { min: 8 } } }, alert())).toBe(true);
    expect(matches({ ...base, params: { SNR: { min: 9 } } }, alert())).toBe(false);
    expect(matches({ ...base, params: { Instrument: { equals: 'ECLAIRs' }, Notice_Level: { in: ['N1e', 'N2e'] } } }, alert())).toBe(true);
    expect(matches({ ...base, params: { No_Such_Param: { min: 0 } } }, alert())).toBe(false);
  });
  it('a rule may hold an expression of the filter language, as subscriptions do', () => {
    // WAKEUP: SVOM sb26030408 at RA 64.3 Dec +41.1 (± 0.05); BRIGHT: sb26051101 at RA 197.9 Dec -33.9.
    const bright = { ...alertOf({ node: 'n', id: 'b', xml: BRIGHT, ivorn: 'ivo://org.svom/fsc#sb26051101_eclairs-wakeup' }) };
    const rule = { ...base, filter: 'param.SNR > 20 and inside(cone(197.9, -33.9, 1))' };
    expect(matches(rule, bright)).toBe(true);
    expect(matches(rule, alert())).toBe(false);
    expect(matches({ ...base, filter: 'mission = "svom" and relation = "followup"' }, alert())).toBe(true);
    const cfg = { endpoints: { hook: { webhook: 'http://h' } }, rules: [{ name: 'a', nodes: ['n'], to: ['hook'], filter: 'param.SNR >' }] } as NotifyConfig;
    expect(() => checkNotifyConfig(cfg, 'notify.yaml')).toThrow(/rules\[0\]\.filter: filter error at column 12: expected a value/);
  });
  it('quiet hours across midnight, in a time zone, end at the right minute', () => {
    const q = { from: '22:00', to: '07:00', timezone: 'Europe/Paris' };
    // 2026-01-10 21:30 UTC = 22:30 in Paris (CET): quiet until 07:00 Paris = 06:00 UTC.
    expect(isQuiet(q, new Date('2026-01-10T21:30:00Z'))).toBe(true);
    expect(quietUntil(q, new Date('2026-01-10T21:30:00Z'))?.toISOString()).toBe('2026-01-11T06:00:00.000Z');
    expect(quietUntil(q, new Date('2026-01-10T12:00:00Z'))).toBeUndefined();
    expect(quietUntil({ from: '09:00', to: '17:00' }, new Date('2026-07-01T16:59:00Z'))?.toISOString()).toBe('2026-07-01T17:00:00.000Z');
  });
  it('the webhook body is Slack incoming-webhook JSON (Mattermost links in Markdown)', () => {
    const n = noticeOf(alert(), 'https://web.example/');
    const slack = webhookBody(n, { webhook: 'http://x' });
    expect(slack.text).toMatch(/^SVOM\/ECLAIRs .* — <https:\/\/web\.example\/#\/alert\/n\/i\|open>$/);
    const att = (slack.attachments as Record<string, unknown>[])[0]!;
    expect(att.title_link).toBe('https://web.example/#/alert/n/i');
    expect((att.fields as { title: string }[]).map((f) => f.title)).toEqual(expect.arrayContaining(['Node', 'Role', 'Time', 'Position']));
    expect(webhookBody(n, { webhook: 'http://x', format: 'mattermost' }).text).toContain('[open](https://web.example/#/alert/n/i)');
  });
  it('the example configurations are valid', () => {
    const cfg = loadConfigFile<NotifyConfig>('config/notify.example.yaml', NOTIFY_SCHEMA);
    expect(() => checkNotifyConfig(cfg, 'config/notify.example.yaml')).not.toThrow();
    expect(cfg.rules.map((r) => r.name)).toContain('bright-bursts-at-night');
    expect(loadConfigFile<RoomsConfig>('config/rooms.example.yaml', ROOMS_SCHEMA).muc).toBe('conference.svom.fr');
  });
  it('voxnet agent notify refuses a broken configuration, naming the file and the key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxnet-notify-cfg-'));
    const file = join(dir, 'notify.yaml');
    writeFileSync(file, 'endpoints:\n  hook: { webhook: "ftp://nope" }\nrules:\n  - { name: a, nodes: [n], to: [hook] }\n');
    const r = spawnSync(process.execPath, ['bin/voxnet.js', 'agent', 'notify', '--config', file], { encoding: 'utf8', env: { ...process.env, VOXNET_AGENT_JID: 'n@svom.fr', VOXNET_AGENT_PASSWORD: 'x' } });
    rmSync(dir, { recursive: true, force: true });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^voxnet agent notify: invalid configuration\n.*notify\.yaml:2:\d+: endpoints\.hook/);
  });
  it('configuration errors name the key', () => {
    const cfg = { endpoints: { hook: { webhook: 'http://h' } }, rules: [{ name: 'a', nodes: ['n'], to: ['hook', 'nope'], quiet_hours: { from: '25:00', to: '07:00' } }] };
    expect(() => checkConfig(structuredClone(cfg), NOTIFY_SCHEMA, 'notify.yaml')).toThrow(/rules\[0\]\.quiet_hours\.from: must be a time of day/);
    const ok = { ...cfg, rules: [{ name: 'a', nodes: ['n'], to: ['hook', 'nope'] }] };
    expect(() => checkNotifyConfig(checkConfig<NotifyConfig>(ok, NOTIFY_SCHEMA, 'notify.yaml'), 'notify.yaml')).toThrow(ConfigError);
    expect(() => checkNotifyConfig(ok as NotifyConfig, 'notify.yaml')).toThrow(/rules\[0\]\.to\[1\]: no endpoint named 'nope'/);
  });
});

/** A header of a raw message, unfolded and with RFC 2047 encoded words decoded. */
function header(raw: string, name: string): string | undefined {
  const m = new RegExp(`^${name}: (.*(?:\r?\n[ \t].*)*)`, 'im').exec(raw);
  if (!m) return undefined;
  return m[1]!.replace(/\r?\n[ \t]/g, ' ').replace(/=\?utf-8\?([QB])\?([^?]*)\?=\s*/gi, (_, enc: string, text: string) =>
    enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8')
      : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'));
}

type Hook = { path: string; body: Record<string, unknown>; key: string; at: number };
type Mail = { raw: string; secure: boolean; user?: string };

describe('notify agent against a real broker, an HTTP server and an SMTP server with STARTTLS', () => {
  let env: BrokerEnv;
  let dir: string;
  let http: Server;
  let smtp: SMTPServer;
  let alice: Agent;
  let agent: Agent;
  let handle: NotifyHandle;
  let outbox: Outbox;
  let cfg: NotifyConfig;
  const hooks: Hook[] = [];
  const mails: Mail[] = [];
  let flakyFailures = 2;
  let goodDown = false;
  const NODE = 'alerts/svom';

  const start = async () => {
    agent = await connectAgent({
      jid: 'notify@svom.fr', password: 'notify', server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles, name: 'notify',
      state: new AgentState(join(dir, 'follow.json')),
    });
    outbox = new Outbox(join(dir, 'outbox.sqlite'));
    handle = await runNotify({ agent, log: process.env.VOXNET_TEST_LOG ? createLogger('notify', process.env.VOXNET_TEST_LOG) : silentLogger(), rules: cfg.rules, channels: channelsFor(cfg), outbox, alertUrl: 'https://web.example/', backoff: { initialMs: 300, maxMs: 1000 } });
  };
  const stop = async () => {
    await handle.stop();
    await agent.stop();
    outbox.close();
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'voxnet-notify-'));
    env = await startBrokerEnv();
    env.prosody.addUser('alice', 'svom.fr', 'alice');
    env.prosody.addUser('notify', 'svom.fr', 'notify');
    http = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const fail = (req.url === '/flaky' && flakyFailures-- > 0) || (req.url === '/good' && goodDown);
        if (!fail) hooks.push({ path: req.url!, body: JSON.parse(body), key: String(req.headers['idempotency-key']), at: Date.now() });
        res.writeHead(fail ? 503 : 200, { 'content-type': 'text/plain' }).end(fail ? 'busy' : 'ok');
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const { cert, key } = makeCert(dir, 'localhost');
    smtp = new SMTPServer({
      secure: false,
      key: readFileSync(key),
      cert: readFileSync(cert),
      authMethods: ['PLAIN', 'LOGIN'],
      // No authentication before STARTTLS (the default refuses it too).
      onAuth(auth, session, cb) {
        if (!session.secure) return cb(new Error('TLS first'));
        cb(auth.username === 'voxnet' && auth.password === 'mail-pw' ? null : new Error('bad login'), { user: auth.username });
      },
      onData(stream, session, cb) {
        let raw = '';
        stream.on('data', (d) => (raw += d));
        stream.on('end', () => {
          mails.push({ raw, secure: session.secure, user: session.user as string | undefined });
          cb();
        });
      },
      logger: false,
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
    const hookUrl = (p: string) => `http://127.0.0.1:${(http.address() as AddressInfo).port}${p}`;
    cfg = checkConfig<NotifyConfig>({
      smtp: { host: 'localhost', port: (smtp.server.address() as AddressInfo).port, user: 'voxnet', password: 'mail-pw', ca: [cert], from: 'voxnet@svom.fr' },
      endpoints: {
        good: { webhook: hookUrl('/good') },
        flaky: { webhook: hookUrl('/flaky'), format: 'mattermost' },
        quiet: { webhook: hookUrl('/quiet') },
        bright: { webhook: hookUrl('/bright') },
        duty: { email: { to: ['duty@svom.fr'] } },
      },
      rules: [
        { name: 'svom', nodes: [NODE], params: { SNR: { min: 8 } }, to: ['good', 'duty'] },
        { name: 'everything', nodes: [NODE], roles: ['*'], to: ['flaky'] },
        { name: 'bright', nodes: [NODE], params: { SNR: { min: 50 } }, to: ['bright'] },
        { name: 'night', nodes: [NODE], roles: ['*'], quiet_hours: { from: '00:00', to: '23:59' }, to: ['quiet'] },
        { name: 'tests-only', nodes: [NODE], roles: ['test'], to: ['bright'] },
      ],
    }, NOTIFY_SCHEMA, 'test');
    checkNotifyConfig(cfg, 'test');
    alice = await connectAgent({ jid: 'alice@svom.fr', password: 'alice', server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles, name: 'alice' });
    await ensureNode(alice, NODE, 'the test node');
    await start();
  }, 60_000);

  afterAll(async () => {
    await stop().catch(() => {});
    await alice?.stop();
    await env?.stop();
    http?.close();
    smtp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an alert reaches the webhook and the mailbox at once, over STARTTLS; the failing endpoint is retried with backoff without holding them back', async () => {
    await publishVOEvent(alice, NODE, WAKEUP);
    await until(() => hooks.some((h) => h.path === '/good') && mails.length === 1, 30_000, 'webhook and mail');
    const good = hooks.find((h) => h.path === '/good')!;
    expect(String(good.body.text)).toContain('ivo://org.svom/fsc#sb26030408_eclairs-wakeup');
    expect(String(good.body.text)).toContain('<https://web.example/#/alert/alerts%2Fsvom/');
    expect(mails[0]!.secure).toBe(true);
    expect(mails[0]!.user).toBe('voxnet');
    expect(header(mails[0]!.raw, 'Subject')).toMatch(/^\[VOXnet\] SVOM\/ECLAIRs sb26030408 \[observation\]/);
    expect(mails[0]!.raw).toContain('To: duty@svom.fr');
    // The flaky endpoint failed twice (503) and got it on the third attempt, after the others.
    await until(() => hooks.some((h) => h.path === '/flaky'), 30_000, 'flaky endpoint');
    const flaky = hooks.find((h) => h.path === '/flaky')!;
    expect(flakyFailures).toBeLessThan(0);
    expect(flaky.at).toBeGreaterThan(good.at);
    expect(String(flaky.body.text)).toContain('[open](https://web.example/'); // Mattermost link
    // SNR 8.68 < 50: not for 'bright'; quiet hours hold 'quiet' back (deferred, stored).
    expect(hooks.filter((h) => h.path === '/bright')).toHaveLength(0);
    expect(hooks.filter((h) => h.path === '/quiet')).toHaveLength(0);
    const deferred = outbox.pending().filter((r) => r.endpoint === 'quiet');
    expect(deferred).toHaveLength(1);
    expect(deferred[0]!.due).toBeGreaterThan(Date.now());
  }, 60_000);

  it('a retraction reaches every endpoint that got the original (the e-mail answers the original)', async () => {
    const before = hooks.length;
    await publishVOEvent(alice, NODE, RETRACTION);
    await until(() => hooks.filter((h) => h.path === '/good').length === 2 && mails.length === 2 && hooks.filter((h) => h.path === '/flaky').length === 2, 30_000, 'retractions')
      .catch((e) => { throw new Error(`${(e as Error).message}: hooks ${JSON.stringify(hooks.map((h) => h.path))}, ${mails.length} mails, outbox ${JSON.stringify(outbox.pending())}`); });
    const r = hooks.filter((h) => h.path === '/good')[1]!;
    expect(String(r.body.text)).toMatch(/RETRACTED: SVOM\/ECLAIRs .*sb26030408_eclairs-wakeup/);
    const origId = /^Message-ID: (<[^>]+>)/im.exec(mails[0]!.raw)![1]!;
    expect(header(mails[1]!.raw, 'Subject')).toMatch(/^\[VOXnet\] RETRACTED: SVOM\/ECLAIRs/);
    expect(header(mails[1]!.raw, 'In-Reply-To')).toBe(origId);
    // The quiet endpoint never got the original: its pending alert is cancelled, and it gets no retraction.
    expect(outbox.pending().filter((p) => p.endpoint === 'quiet' && p.ivorn === 'ivo://org.svom/fsc#sb26030408_eclairs-wakeup')).toHaveLength(0);
    expect(hooks.length - before).toBe(2);
  }, 60_000);

  it('a restart loses nothing and repeats nothing: alerts published while down and notifications not yet accepted are delivered once', async () => {
    goodDown = true;
    await publishVOEvent(alice, NODE, BRIGHT);
    await until(() => hooks.some((h) => h.path === '/bright'), 30_000, 'bright');
    await until(() => outbox.pending().some((r) => r.endpoint === 'good' && r.attempts > 0), 30_000, 'a failed attempt at good');
    await stop();
    // While the agent is down: the good endpoint comes back, another packet is published (a test one).
    goodDown = false;
    const drill = BRIGHT.replace('role="observation"', 'role="test"').replace('sb26051101_eclairs-wakeup"', 'sb26051101_eclairs-wakeup-drill"');
    await publishVOEvent(alice, NODE, drill);
    await start();
    await until(() => hooks.filter((h) => h.path === '/good').length === 3, 30_000, 'good gets the bright alert after the restart');
    await until(() => hooks.filter((h) => h.path === '/bright').length === 2, 30_000, 'the drill, caught up after the restart');
    await until(() => mails.length === 3, 30_000, 'the bright alert by mail');
    await new Promise((r) => setTimeout(r, 1500));
    await handle.idle();
    const keys = hooks.map((h) => h.key);
    expect(new Set(keys).size).toBe(keys.length); // nothing twice
    expect(hooks.filter((h) => h.path === '/good')).toHaveLength(3);
    expect(hooks.filter((h) => h.path === '/bright').map((h) => String(h.body.text))).toEqual([
      expect.stringContaining('[observation]'), expect.stringContaining('[test]'),
    ]);
    expect(mails).toHaveLength(3);
  }, 90_000);
});

describe('voxnet agent notify killed with SIGKILL', () => {
  let env: BrokerEnv;
  let dir: string;
  let http: Server;
  let alice: Agent;
  const got: { key: string; text: string }[] = [];
  let hang = true;
  let hungKey = '';
  const NODE = 'alerts/kill';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'voxnet-notify-kill-'));
    env = await startBrokerEnv();
    await env.prosody.addUser('alice', 'svom.fr', 'alice');
    http = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        // The first request never gets an answer: the agent dies with it in flight.
        if (hang) {
          hang = false;
          hungKey = String(req.headers['idempotency-key']);
          return;
        }
        got.push({ key: String(req.headers['idempotency-key']), text: String(JSON.parse(body).text) });
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    writeFileSync(join(dir, 'notify.yaml'), `endpoints:\n  hook: { webhook: "http://127.0.0.1:${(http.address() as AddressInfo).port}/hook", timeout_ms: 60000 }\nrules:\n  - { name: all, nodes: [${NODE}], to: [hook] }\n`);
    alice = await connectAgent({ jid: 'alice@svom.fr', password: 'alice', server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles, name: 'alice' });
    await ensureNode(alice, NODE, 'the test node');
  }, 60_000);

  afterAll(async () => {
    await alice?.stop();
    await env?.stop();
    http?.closeAllConnections();
    http?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loses nothing: the notification in flight is sent again with the same Idempotency-Key, what was published meanwhile once', async () => {
    const start = () => voxnet(['agent', 'notify', '--config', join(dir, 'notify.yaml'), '--state-dir', join(dir, 'state')], agentEnv(env, 'notifier', { VOXNET_LOG_LEVEL: 'info' }));
    const first = start();
    await until(() => /notify agent running/.test(first.stderr()), 30_000, 'the agent running');
    await publishVOEvent(alice, NODE, WAKEUP);
    await until(() => !hang, 30_000, 'the first request in flight');
    first.child.kill('SIGKILL');
    await first.exited;
    await publishVOEvent(alice, NODE, BRIGHT);
    const second = start();
    try {
      await until(() => got.length >= 2, 60_000, 'both notifications after the restart');
      await new Promise((r) => setTimeout(r, 1000));
      expect(got.map((g) => g.text)).toEqual([expect.stringContaining('sb26030408'), expect.stringContaining('sb26051101')]);
      expect(new Set(got.map((g) => g.key)).size).toBe(2);
      expect(got[0]!.key).toBe(hungKey); // the same notification, recognisably
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 120_000);
});
