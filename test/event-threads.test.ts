/**
 * Event threads kept by the broker, against a real Prosody: alerts published in
 * any order (a retraction before the alerts it retracts; updates superseding
 * earlier notices; a VOEvent and a GCN JSON notice of one superevent) make one
 * thread whose state `voxnet event` prints; the thread shows only alerts of nodes
 * the asker may read; it survives a broker restart.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { xml } from '@xmpp/xml';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { NS, ps, nodeConfig } from './helpers/pubsub.ts';
import { agentEnv, voxnet } from './helpers/agents.ts';
import { connectAgent, publishVOEvent, XmppIqError, type Agent } from '../agents/lib/index.ts';
import { queryEventThread, type EventThread } from '../agents/event/cli.ts';
import { existsSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./interop/slixmpp_event.py', import.meta.url));
const slixmpp = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import slixmpp.plugins.xep_0050'], { timeout: 20_000 }).status === 0;
if (!slixmpp) console.warn(`event-threads: slixmpp part skipped — ${PYTHON} cannot import slixmpp (apt-get install -y python3-slixmpp)`);

const VOEVENT_NS = 'http://www.ivoa.net/xml/VOEvent/v2.0';
const fixture = (f: string) => readFileSync(new URL(`./fixtures/voevents/${f}`, import.meta.url), 'utf8');
const gcnJson = (f: string) => readFileSync(new URL(`./fixtures/gcn-json/${f}`, import.meta.url), 'utf8');
const LVK = (s: string) => `ivo://gwnet/LVC#MS181101ab-${s}`;

describe('event threads kept by the broker', () => {
  let env: BrokerEnv;
  let alice: Agent;
  let bob: Agent;
  beforeAll(async () => {
    env = await startBrokerEnv();
    for (const [u, d] of [['alice', 'svom.fr'], ['bob', 'svom.cn']] as const) env.prosody.addUser(u, d, u);
    const mk = (u: string, d: string) => connectAgent({ jid: `${u}@${d}`, password: u, server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles, name: u });
    alice = await mk('alice', 'svom.fr');
    bob = await mk('bob', 'svom.cn');
    await alice.iq('set', ps(xml('create', { node: 'gw' }), xml('configure', {}, nodeConfig({ 'pubsub#type': VOEVENT_NS }))));
    await alice.iq('set', ps(xml('create', { node: 'gw-json' })));
    await alice.iq('set', ps(xml('create', { node: 'svom-closed' }), xml('configure', {}, nodeConfig({ 'pubsub#type': VOEVENT_NS, 'pubsub#access_model': 'whitelist' }))));
    // The retraction first, then the notices it retracts, each superseding the one before.
    for (const s of ['5-Retraction', '1-EarlyWarning', '2-Preliminary', '3-Initial', '4-Update']) await publishVOEvent(alice, 'gw', fixture(`MS181101ab-${s}.xml`));
    // A GCN JSON notice of the same superevent, in an XEP-0335 <json/> element.
    await alice.publish('gw-json', xml('json', { xmlns: 'urn:xmpp:json:0' }, gcnJson('MS181101ab-retraction.json')), { id: 'MS181101ab-retraction-json' });
    await publishVOEvent(alice, 'svom-closed', fixture('gcn-notice-parser__svom_eclairs_303__sb26030408_eclairs-wakeup.xml'));
  }, 120_000);
  afterAll(async () => {
    await alice?.stop();
    await bob?.stop();
    await env?.stop();
  });

  const check = (t: EventThread) => {
    expect(t.state).toMatchObject({ retracted: true, retractedBy: LVK('5-Retraction'), eventIds: ['lvk:MS181101ab'] });
    expect(t.state.latest!.ivorn).toBe(LVK('4-Update'));
    expect(t.state.localisation).toMatchObject({ kind: 'skymap', from: LVK('4-Update') });
    expect(t.state.superseded.sort()).toEqual([LVK('1-EarlyWarning'), LVK('2-Preliminary'), LVK('3-Initial')].sort());
    // Five VOEvents and the JSON notice, in publication order.
    expect(t.state.entries.map((e) => e.ivorn ?? `${e.node}/${e.item}`)).toEqual([
      LVK('5-Retraction'), LVK('1-EarlyWarning'), LVK('2-Preliminary'), LVK('3-Initial'), LVK('4-Update'), 'gw-json/MS181101ab-retraction-json',
    ]);
  };

  it('links alerts published in any order into one thread, with its current state', async () => {
    check(await queryEventThread(bob, 'lvk:MS181101ab'));
    const byIvorn = await queryEventThread(bob, LVK('2-Preliminary'));
    const byBareId = await queryEventThread(bob, 'MS181101ab');
    expect(byIvorn.thread).toBe(byBareId.thread);
    check(byIvorn);
  });

  it('shows a thread only through nodes the asker may read', async () => {
    const err = await queryEventThread(bob, 'svom:sb26030408').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XmppIqError);
    expect(err).toMatchObject({ condition: 'item-not-found' });
    const own = await queryEventThread(alice, 'svom:sb26030408');
    expect(own.state.entries).toHaveLength(1);
  });

  it('is an ad-hoc command listed in disco, with a form for people', async () => {
    const items = await bob.iq('get', xml('query', { xmlns: NS.DISCO_ITEMS, node: 'http://jabber.org/protocol/commands' }));
    expect(items.getChild('query')!.getChildren('item').map((i) => i.attrs.node)).toContain('urn:voxnet:event');
    const ask = await bob.iq('set', xml('command', { xmlns: 'http://jabber.org/protocol/commands', node: 'urn:voxnet:event', action: 'execute' }));
    const cmd = ask.getChild('command')!;
    expect(cmd.attrs.status).toBe('executing');
    const done = await bob.iq('set', xml('command', { xmlns: 'http://jabber.org/protocol/commands', node: 'urn:voxnet:event', sessionid: cmd.attrs.sessionid },
      xml('x', { xmlns: NS.DATA, type: 'submit' }, xml('field', { var: 'ref' }, xml('value', {}, LVK('4-Update'))))));
    const form = done.getChild('command')!.getChild('x', NS.DATA)!;
    const field = (v: string) => form.getChildren('field').find((f) => f.attrs.var === v)?.getChildText('value');
    expect(field('retracted')).toBe('1');
    expect(field('latest')).toBe(LVK('4-Update'));
    expect(form.getChildren('item')).toHaveLength(6);
  });

  it.skipIf(!slixmpp)('slixmpp xep_0050 finds and runs the event command (an independent client)', async () => {
    await env.prosody.addUser('slixev', 'svom.cn', 'slixev');
    // Asynchronously: the broker runs in this process and must answer meanwhile.
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(PYTHON, [SCRIPT, '--jid', 'slixev@svom.cn', '--password', 'slixev', '--port', String(env.prosody.c2sPort), '--service', PUBSUB,
        '--ref', 'lvk:MS181101ab', ...env.prosody.certFiles.flatMap((c) => ['--ca', c])]);
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
      p.on('exit', (status) => (clearTimeout(t), resolve({ status, stdout, stderr })));
    });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.commands).toContain('urn:voxnet:event');
    expect(out.asked).toEqual(['ref']);
    expect(out.status).toBe('completed');
    expect(out.fields).toMatchObject({ retracted: ['1'], retracted_by: [LVK('5-Retraction')], latest: [LVK('4-Update')], event: ['lvk:MS181101ab'] });
    expect(out.items.map((i: { ivorn: string; relation: string }) => `${i.relation} ${i.ivorn}`)).toEqual([
      `retraction ${LVK('5-Retraction')}`, `initial ${LVK('1-EarlyWarning')}`, `supersedes ${LVK('2-Preliminary')}`,
      `supersedes ${LVK('3-Initial')}`, `supersedes ${LVK('4-Update')}`, 'retraction ',
    ]);
  }, 90_000);

  it('voxnet event prints the thread; it survives a broker restart', async () => {
    await env.restartBroker();
    const e = agentEnv(env, 'carol');
    const p = voxnet(['event', 'lvk:MS181101ab'], e);
    expect(await p.exited, p.stderr()).toBe(0);
    expect(p.lines[0]).toMatch(/event lvk:MS181101ab\s+RETRACTED by ivo:\/\/gwnet\/LVC#MS181101ab-5-Retraction/);
    expect(p.lines[1]).toContain(LVK('4-Update'));
    expect(p.lines.filter((l) => l.includes('(superseded)'))).toHaveLength(3);
    const missing = voxnet(['event', 'lvk:S000000xx'], e);
    expect(await missing.exited).toBe(1);
    expect(missing.stderr()).toMatch(/item-not-found|no event thread/);
  }, 60_000);
});
