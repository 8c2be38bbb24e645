/**
 * The terminal (issues 16.4 and 21.4): readable log lines on a TTY and JSON
 * otherwise; the live feed `make up` prints; CLI errors that come first and once —
 * no JSON warning line before them, and an untrusted TLS certificate reported once
 * with the fix (--trust) instead of retried forever.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { xml } from '@xmpp/xml';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { agentEnv, voxnet } from './helpers/agents.ts';
import { ps } from './helpers/pubsub.ts';
import { formatRecord, wantsPretty } from '../common/log-format.ts';
import { FeedPrinter, feedLine } from '../bin/feed.ts';

describe('readable logs and the live feed (pure)', () => {
  it('a pino record becomes one line: time, level, name, message, fields; a stack goes below', () => {
    const rec = { level: 40, time: Date.parse('2026-12-06T04:20:01Z'), pid: 1, hostname: 'h', agent: 'rooms', room: 'r@muc', err: 'Error: x\n    at f', msg: 'relay failed' };
    expect(formatRecord(rec, false)).toBe('04:20:01 WARN  rooms relay failed room=r@muc\n    Error: x\n        at f');
    expect(formatRecord(rec, true)).toContain('\x1b[33mWARN ');
    expect(wantsPretty(2, { VOXNET_LOG_FORMAT: 'json' })).toBe(false);
    expect(wantsPretty(2, { VOXNET_LOG_FORMAT: 'pretty' })).toBe(true);
  });

  it('the feed keeps alerts, releases (one line per item), agent actions and warnings; the rest stays in the log files', () => {
    const t = Date.parse('2026-12-06T04:20:01Z');
    const out: string[] = [];
    const feed = new FeedPrinter((l) => out.push(l), { service: PUBSUB, hide: (r) => r.node === 'svom/heartbeat' });
    const release = (level: string, how: string) => ({ level: 30, time: t, audit: { actor: 'alice@svom.fr', op: 'release', node: `svom/eclairs/${level}`, decision: 'grant', reason: `item X1 to level ${level} at once, ${how}` } });
    const lines = [
      { level: 30, time: t, feed: 'publish', node: 'svom/eclairs/source', items: ['X1'], publisher: 'alice@svom.fr', msg: 'published' },
      { level: 30, time: t, feed: 'publish', node: 'svom/eclairs/pi', items: ['X1'], publisher: PUBSUB, msg: 'published' },
      release('pi', 'unchanged'),
      release('community', 'without groups Satellite_Info'),
      { level: 30, time: t, feed: 'publish', node: 'svom/heartbeat', items: ['H'], publisher: 'alice@svom.fr', msg: 'published' },
      { level: 30, time: t, audit: { actor: 'bob@svom.cn', op: 'subscribe', node: 'n', decision: 'grant' }, msg: 'grant subscribe' },
      { level: 30, time: t, agent: 'notify', feed: 'notify', msg: 'notification sent to duty' },
      { level: 30, time: t, agent: 'telescope', msg: 'alert triggered', node: 'n', id: 'X1' },
      { level: 30, time: t, agent: 'rooms', msg: 'online' },
      { level: 50, time: t, agent: 'rooms', msg: 'cannot set up the room', room: 'r' },
    ];
    for (const l of lines) feed.jsonLine(JSON.stringify(l), 'broker');
    feed.jsonLine('TypeError: not JSON at all', 'rooms');
    feed.flush();
    expect(out).toEqual([
      '04:20:01 alert     svom/eclairs/source X1 by alice@svom.fr',
      '04:20:01 notify    notification sent to duty',
      '04:20:01 telescope alert triggered node=n id=X1',
      '04:20:01 ERROR rooms cannot set up the room room=r',
      expect.stringMatching(/^\d\d:\d\d:\d\d rooms     TypeError: not JSON at all$/),
      '04:20:01 release   X1 → pi, community (redacted)',
    ]);
    expect(feedLine({ level: 30, msg: 'policy applied' }, 'broker')).toBeUndefined();
  });
});

describe('CLI errors on a real server', () => {
  let env: BrokerEnv;
  beforeAll(async () => {
    env = await startBrokerEnv();
    const owner = await env.client('alice');
    await owner.iq('set', PUBSUB, ps(xml('create', { node: 'closed' }), xml('configure', {}, xml('x', { xmlns: 'jabber:x:data', type: 'submit' },
      xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, 'http://jabber.org/protocol/pubsub#node_config')),
      xml('field', { var: 'pubsub#access_model' }, xml('value', {}, 'whitelist'))))));
  }, 60_000);
  afterAll(async () => env?.stop());

  it('a refused subscription prints its error first, with no JSON warning before it', async () => {
    const p = voxnet(['subscribe', 'closed', '--no-state'], agentEnv(env, 'outsider', { VOXNET_LOG_LEVEL: 'info' }));
    expect(await p.exited).toBe(1);
    const errLines = p.stderr().trim().split('\n');
    const firstNonLog = errLines.findIndex((l) => !l.startsWith('{'));
    expect(errLines[firstNonLog]).toMatch(/^voxnet subscribe: .*(forbidden|closed-node|not-authorized)/);
    // Whatever was logged before the error is information, not a warning.
    for (const l of errLines.slice(0, firstNonLog)) expect(JSON.parse(l).level).toBeLessThan(40);
  }, 60_000);

  it('an untrusted certificate is reported once, with the fix, and the command ends', async () => {
    const envNoTrust = { ...agentEnv(env, 'reader'), VOXNET_TRUST: '' };
    const p = voxnet(['subscribe', 'closed', '--no-state'], envNoTrust);
    const code = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r('still running'), 30_000))]);
    p.child.kill('SIGKILL');
    expect(code).toBe(1);
    const err = p.stderr().trim();
    expect(err.split('\n')).toHaveLength(1);
    expect(err).toMatch(/^voxnet subscribe: cannot connect to xmpp:\/\/127\.0\.0\.1:\d+ as reader@svom\.fr: the server's TLS certificate is not trusted \(self[- ]signed certificate\): trust the server's certificate or its CA with --trust FILE/);
  }, 60_000);
});
