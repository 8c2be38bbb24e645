/**
 * The agent commands as people run them (`node bin/voxnet.js ...` child
 * processes) against a real Prosody + broker: publish, subscribe with catch-up
 * across a SIGKILL, heartbeat with a silence alarm, replay in time order.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xml } from '@xmpp/xml';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { NS, ps, errorOf } from './helpers/pubsub.ts';
import { agentEnv, voxnet, type Proc } from './helpers/agents.ts';
import { connectAgent, publishVOEvent, prepareVOEvent, itemIdFor, type Agent, type FollowedItem } from '../agents/lib/index.ts';
import { until } from './helpers/until.ts';

const FIX = join(import.meta.dirname, 'fixtures/voevents');
const SWIFT_GRB = join(FIX, 'fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml');
const INVALID = join(FIX, 'voevent-parse__no_namespace_packet__EDGE-invalid-no-namespace.xml');
const SVOM = [
  'gcn-notice-parser__svom_grm_353__sb26051101_grm-trigger.xml', // Who/Date 06:13:57
  'gcn-notice-parser__svom_eclairs_319__sb26051101_eclairs-wakeup.xml', // 06:14:19
  'gcn-notice-parser__svom_eclairs_320__sb26051101_slewing.xml', // 06:18:19
  'gcn-notice-parser__svom_mxt_52__sb26051101_mxt-initial_qf4.xml', // 06:19:48
];

function variant(n: number, tag: string): string {
  return readFileSync(SWIFT_GRB, 'utf8').replace(/ivorn="[^"]+"/, `ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-${tag}${n}"`);
}

describe('voxnet agent commands', () => {
  let env: BrokerEnv;
  let tmp: string;
  const procs: Proc[] = [];
  const agents: Agent[] = [];

  const run = (args: string[], e: NodeJS.ProcessEnv, input?: string) => {
    const p = voxnet(args, e, input);
    procs.push(p);
    return p;
  };

  async function agent(user: string): Promise<Agent> {
    env.prosody.addUser(user, 'svom.fr', user);
    const a = await connectAgent({ jid: `${user}@svom.fr`, password: user, server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles, name: user });
    agents.push(a);
    return a;
  }

  beforeAll(async () => {
    env = await startBrokerEnv();
    tmp = mkdtempSync(join(tmpdir(), 'voxnet-agents-cli-'));
  });
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(agents.map((a) => a.stop()));
    await env?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('publish prints the item id; a plain XMPP client gets the notification with a readable <body>', async () => {
    const person = await env.client('alice');
    // Create the node first so that alice can subscribe before the publication.
    await publishVOEvent(await agent('fsc'), 'svom.fr/grb', variant(0, 'p'));
    const sub = await person.iq('set', PUBSUB, ps(xml('subscribe', { node: 'svom.fr/grb', jid: 'alice@svom.fr' })));
    expect(errorOf(sub)).toBeUndefined();
    const p = run(['publish', '--node', 'svom.fr/grb', SWIFT_GRB], agentEnv(env, 'fsc'));
    expect(await p.exited).toBe(0);
    const id = itemIdFor('ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-182');
    expect(p.lines).toEqual([id]);
    const msg = await person.waitMessage((m) => m.getChild('event', NS.EVENT)?.getChild('items')?.getChild('item')?.attrs.id === id);
    expect(msg.attrs.type).toBe('headline');
    const body = msg.getChildText('body');
    expect(body).toContain('Swift/BAT 1118357');
    expect(body).toContain('ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-182');
    expect(body).toMatch(/RA 225\.0208 Dec -69\.4969/);
    // The payload sits in the item with its children in no namespace.
    const payload = msg.getChild('event', NS.EVENT)!.getChild('items')!.getChild('item')!.getChildElements()[0]!;
    // Prosody re-serializes namespaces: the root gets the VOEvent namespace as default, its children xmlns="".
    expect(payload.getNS()).toBe('http://www.ivoa.net/xml/VOEvent/v2.0');
    expect(payload.getChild('Who')!.attrs.xmlns).toBe('');

    // From stdin too.
    const p2 = run(['publish', '--node', 'svom.fr/grb', '-'], agentEnv(env, 'fsc'), variant(1, 'stdin'));
    expect(await p2.exited).toBe(0);
    expect(p2.lines).toEqual([itemIdFor('ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-stdin1')]);
  });

  it('publish refuses an invalid packet with file:line:col and the field, and publishes nothing', async () => {
    const count = async () => {
      const r = await (await env.client('counter')).iq('get', PUBSUB, ps(xml('items', { node: 'svom.fr/grb' }), xml('set', { xmlns: NS.RSM }, xml('max', {}, '0'))));
      return Number(r.getChild('pubsub')!.getChild('set', NS.RSM)!.getChildText('count'));
    };
    const before = await count();
    const p = run(['publish', '--node', 'svom.fr/grb', INVALID], agentEnv(env, 'fsc'));
    expect(await p.exited).toBe(1);
    expect(p.lines).toEqual([]);
    expect(p.stderr()).toContain(`${INVALID}:1:1: /VOEvent: root <VOEvent> has no namespace`);
    expect(p.stderr()).toContain('nothing published');
    // A field-level error: Who/Date that is not a date.
    const bad = readFileSync(SWIFT_GRB, 'utf8').replace(/<Date>[^<]+<\/Date>/, '<Date>yesterday</Date>');
    const p2 = run(['publish', '--node', 'svom.fr/grb', '-'], agentEnv(env, 'fsc'), bad);
    expect(await p2.exited).toBe(1);
    const line = bad.split('\n').findIndex((l) => l.includes('<Date>yesterday')) + 1;
    expect(p2.stderr()).toMatch(new RegExp(`<stdin>:${line}:\\d+: /VOEvent/Who/Date: `));
    expect(await count()).toBe(before);
    // Usage errors: status 2.
    const p3 = run(['publish', SWIFT_GRB], agentEnv(env, 'fsc'));
    expect(await p3.exited).toBe(2);
    expect(p3.stderr()).toContain('--node is required');
  });

  it('subscribe killed with SIGKILL mid-stream and restarted prints exactly the missed items', async () => {
    const pub = await agent('fsc2');
    const marker = await publishVOEvent(pub, 'stream', variant(0, 'marker'));
    const e = agentEnv(env, 'watcher', { VOXNET_STATE_DIR: join(tmp, 'state-kill') });
    const args = ['subscribe', 'stream', '--since', marker.id, '--format', 'summary'];
    const published: string[] = [];
    let stop = false;
    const publisher = (async () => {
      for (let i = 1; !stop; i++) {
        published.push((await publishVOEvent(pub, 'stream', variant(i, 's'))).id);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const first = run(args, e);
    await first.waitLines(10, 30_000);
    // Killed at a moment unrelated to its output (killing right upon reading a line would
    // always strike between printing and saving, the one instant no stdout writer survives).
    await new Promise((r) => setTimeout(r, 40 + Math.random() * 160));
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    const firstRun = [...first.lines];
    const atKill = published.length;
    // Items keep coming while it is dead.
    await new Promise((r) => setTimeout(r, 400));
    const atRestart = published.length;
    const second = run(args, e);
    await second.waitLines(atRestart - firstRun.length + 5, 30_000);
    stop = true;
    await publisher;
    const TOTAL = published.length;
    const idsOf = (lines: string[]) => lines.map((l) => l.split('\t')[0]!);
    await until(() => idsOf([...firstRun, ...second.lines]).length >= TOTAL, 30_000, 'all items printed');
    await new Promise((r) => setTimeout(r, 500)); // anything extra would show now
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    const all = idsOf([...firstRun, ...second.lines]);
    expect(new Set(all).size, `no item printed twice (first run ended with ${firstRun.at(-1)}, second began with ${second.lines[0]})`).toBe(all.length);
    expect(all).toEqual(published);
    expect(atRestart - atKill, 'items published while it was dead').toBeGreaterThan(5);
    expect(firstRun.length).toBeGreaterThanOrEqual(10);
    expect(second.lines.length).toBe(TOTAL - firstRun.length);
    expect(second.lines[0]).toMatch(/\tSwift\/BAT 1118357 \[observation\] ivo:\/\/nasa\.gsfc\.gcn\/SWIFT#BAT_GRB_Pos_1118357-s\d+ RA/);
  });

  it('subscribe --since ID restarted after ID was trimmed off the node resumes from its saved state', async () => {
    const pub = await agent('fsc7');
    // A node that keeps 3 items.
    const x0 = itemIdFor('ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-trim0');
    await pub.publish('trimmed', prepareVOEvent(variant(0, 'trim')).xml, { id: x0, publishOptions: { 'pubsub#max_items': '3' } });
    const e = agentEnv(env, 'trimwatcher', { VOXNET_STATE_DIR: join(tmp, 'state-trim') });
    const args = ['subscribe', 'trimmed', '--since', x0, '--count', '2'];
    const a = [(await publishVOEvent(pub, 'trimmed', variant(1, 'trim'))).id, (await publishVOEvent(pub, 'trimmed', variant(2, 'trim'))).id];
    const first = run(args, e);
    expect(await first.exited).toBe(0);
    expect(first.lines.map((l) => l.split('\t')[0])).toEqual(a);
    // One more item pushes x0 out of the node; the saved cursor (a[1]) is still there.
    const b = (await publishVOEvent(pub, 'trimmed', variant(3, 'trim'))).id;
    const second = run([...args.slice(0, -1), '1'], e);
    expect(await second.exited, second.stderr()).toBe(0);
    expect(second.lines.map((l) => l.split('\t')[0])).toEqual([b]);
    expect(second.stderr()).toContain(`item '${x0}' is no longer in the node; resuming from the saved state`);
    // Without a saved state there is nothing to resume from: the missing item is an error.
    const stateless = run([...args, '--no-state'], agentEnv(env, 'trimwatcher2'));
    expect(await stateless.exited).toBe(1);
    expect(stateless.stderr()).toContain(`no item '${x0}' in node trimmed`);
  });

  it('subscribe --format json and --count; xml prints the packet', async () => {
    const pub = await agent('fsc3');
    const m = await publishVOEvent(pub, 'fmt', variant(0, 'f'));
    const ids = [];
    for (let i = 1; i <= 3; i++) ids.push((await publishVOEvent(pub, 'fmt', variant(i, 'f'))).id);
    const j = run(['subscribe', 'fmt', '--since', m.id, '--format', 'json', '--count', '2', '--no-state'], agentEnv(env, 'jsonreader'));
    expect(await j.exited).toBe(0);
    const objs = j.lines.map((l) => JSON.parse(l));
    expect(objs.map((o) => o.id)).toEqual(ids.slice(0, 2));
    expect(objs[0]).toMatchObject({ type: 'item', node: 'fmt', ivorn: 'ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-f1', live: false, publisher: 'fsc3@svom.fr' });
    expect(objs[0].voevent.whereWhen.position.ra).toBeCloseTo(225.0208, 4);
    const x = run(['subscribe', 'fmt', '--since', ids[1]!, '--format', 'xml', '--count', '1', '--no-state'], agentEnv(env, 'xmlreader'));
    expect(await x.exited).toBe(0);
    const text = x.lines.join('\n');
    expect(prepareVOEvent(text).ivorn).toBe('ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-f3');
  });

  it('heartbeat every 200ms; subscribe --alarm-silence 2s raises an alarm when it stops and clears it when it resumes', async () => {
    const hbEnv = agentEnv(env, 'hb');
    const hb = run(['heartbeat', '--node', 'heartbeat', '--interval', '200ms'], hbEnv);
    await hb.waitLines(1);
    const sub = run(['subscribe', 'heartbeat', '--alarm-silence', '2s', '--format', 'json', '--no-state'], agentEnv(env, 'monitor'));
    await sub.waitLines(3);
    const items = sub.lines.map((l) => JSON.parse(l));
    expect(items.every((o) => o.type === 'item' && o.voevent.role === 'utility')).toBe(true);
    expect(items[0].voevent.what.params.map((p: { name: string }) => p.name)).toEqual(['sequence', 'interval', 'source']);
    expect(sub.lines.some((l) => l.includes('"alarm"'))).toBe(false);
    hb.child.kill('SIGTERM');
    expect(await hb.exited).toBe(0);
    const stoppedAt = Date.now();
    const alarm = JSON.parse(await sub.waitLine((l) => JSON.parse(l).type === 'alarm', 10_000));
    const delay = Date.now() - stoppedAt;
    // The last beat came at most one interval before the stop; the alarm comes 2 s after it.
    expect(delay).toBeGreaterThan(1500);
    expect(delay).toBeLessThan(6000);
    expect(alarm).toMatchObject({ type: 'alarm', node: 'heartbeat' });
    expect(alarm.silentForMs).toBeGreaterThanOrEqual(2000);
    expect(sub.stderr()).toContain('ALARM: no item on heartbeat');
    const hb2 = run(['heartbeat', '--node', 'heartbeat', '--interval', '200ms', '--count', '3'], hbEnv);
    await sub.waitLine((l) => JSON.parse(l).type === 'recovered', 10_000);
    expect(await hb2.exited).toBe(0);
    expect(hb2.lines).toHaveLength(3);
    sub.child.kill('SIGTERM');
    expect(await sub.exited).toBe(0);
  });

  it('replay publishes real packets in Who/Date order at N× speed, as role=test with --as-test', async () => {
    const dir = join(tmp, 'replay');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    // Names in the reverse of time order, plus an invalid packet that is skipped.
    SVOM.forEach((f, i) => copyFileSync(join(FIX, f), join(dir, `${String.fromCharCode(122 - i)}.xml`)));
    copyFileSync(INVALID, join(dir, 'broken.xml'));
    const watcher = await agent('drill-watcher');
    const got: FollowedItem[] = [];
    const times: number[] = [];
    const first = await publishVOEvent(await agent('drill'), 'drill', variant(0, 'd'));
    await watcher.follow('drill', (it) => void (got.push(it), times.push(Date.now())), { since: first.id });
    const p = run(['replay', dir, '--node', 'drill', '--speed', '1000', '--as-test'], agentEnv(env, 'drill'));
    expect(await p.exited).toBe(0);
    expect(p.stderr()).toContain('skipped: ');
    expect(p.stderr()).toContain('broken.xml:1:1');
    expect(p.lines).toHaveLength(4);
    await until(() => got.length === 4, 10_000, 'the replayed packets');
    const expected = ['sb26051101_grm-trigger', 'sb26051101_eclairs-wakeup', 'sb26051101_slewing', 'sb26051101_mxt-initial_qf4'];
    expect(got.map((g) => g.ivorn)).toEqual(expected.map((l) => `ivo://org.svom/fsc#${l}`));
    expect(got.every((g) => /role="test"/.test(g.xml))).toBe(true);
    // Gaps 22 s, 240 s and 89 s at 1000×: 22, 240 and 89 ms (notification jitter aside).
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(gaps[1]!).toBeGreaterThan(150);
    expect(gaps[1]!).toBeGreaterThan(gaps[0]!);
    expect(gaps[1]!).toBeGreaterThan(gaps[2]!);
    expect(times.at(-1)! - times[0]!).toBeGreaterThan(300);
  });
});
