/**
 * The science-centre publisher against a real Prosody + broker: inbox files
 * (VOEvent XML, JSON burst descriptions) end up published and in done/, or in
 * failed/ with the reason; half-written files wait; a publisher killed with
 * SIGKILL and restarted loses no file and publishes nothing twice.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { xml } from '@xmpp/xml';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { NS, ps, errorOf } from './helpers/pubsub.ts';
import type { TestClient } from './helpers/xmpp.ts';
import { agentEnv, voxnet, type Proc } from './helpers/agents.ts';
import { connectAgent, publishVOEvent, itemIdFor, prepareVOEvent, ConfigError, loadConfigFile, type Agent } from '../agents/lib/index.ts';
import { Publisher, PUBLISHER_CONFIG_SCHEMA, type PublisherConfig } from '../agents/publisher/publisher.ts';
import { parse } from '../voevent/index.ts';
import { until } from './helpers/until.ts';

const FIX = join(import.meta.dirname, 'fixtures/voevents');
const SWIFT_GRB = join(FIX, 'fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml');
const SVOM_WAKEUP = join(FIX, 'gcn-notice-parser__svom_eclairs_319__sb26051101_eclairs-wakeup.xml');
const INVALID = join(FIX, 'voevent-parse__no_namespace_packet__EDGE-invalid-no-namespace.xml');

function variant(n: number, tag: string): string {
  return readFileSync(SWIFT_GRB, 'utf8').replace(/ivorn="[^"]+"/, `ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-${tag}${n}"`);
}

/** Notifications of `node` received by a plain client, per item id. */
function notified(c: TestClient, node: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const msg of c.messages) {
    const items = msg.getChild('event', NS.EVENT)?.getChild('items');
    if (items?.attrs.node !== node) continue;
    for (const it of items.getChildren('item')) m.set(it.attrs.id!, (m.get(it.attrs.id!) ?? 0) + 1);
  }
  return m;
}

describe('science-centre publisher', () => {
  let env: BrokerEnv;
  let tmp: string;
  let agent: Agent;
  let watcher: TestClient;
  const procs: Proc[] = [];

  function dirs(name: string) {
    const root = join(tmp, name);
    const inbox = join(root, 'inbox');
    mkdirSync(inbox, { recursive: true });
    return { root, inbox, done: join(inbox, 'done'), failed: join(inbox, 'failed') };
  }

  async function watch(node: string): Promise<void> {
    // The node exists once something was published; subscribe the plain client.
    const r = await watcher.iq('set', PUBSUB, ps(xml('subscribe', { node, jid: 'watcher@svom.fr' })));
    expect(errorOf(r)).toBeUndefined();
  }

  beforeAll(async () => {
    env = await startBrokerEnv();
    tmp = mkdtempSync(join(tmpdir(), 'voxnet-publisher-'));
    env.prosody.addUser('fsc', 'svom.fr', 'fsc');
    agent = await connectAgent({ jid: 'fsc@svom.fr', password: 'fsc', server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles, name: 'publisher' });
    watcher = await env.client('watcher');
  });
  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await agent?.stop();
    await env?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('publishes a valid packet and moves it to done/; an invalid one goes to failed/ with the reason', async () => {
    const d = dirs('basic');
    await publishVOEvent(agent, 'svom.fr/products', variant(0, 'b'));
    await watch('svom.fr/products');
    writeFileSync(join(d.inbox, 'wakeup.xml'), readFileSync(SVOM_WAKEUP));
    writeFileSync(join(d.inbox, 'broken.xml'), readFileSync(INVALID));
    writeFileSync(join(d.inbox, '.hidden.xml'), 'x');
    writeFileSync(join(d.inbox, 'incoming.xml.tmp'), 'x');
    const pub = new Publisher(agent, { node: 'svom.fr/products', inbox: d.inbox });
    const outcomes = await pub.scanOnce();
    expect(outcomes.map((o) => `${o.file} ${o.status}`).sort()).toEqual(['broken.xml failed', 'wakeup.xml published']);
    const id = itemIdFor('ivo://org.svom/fsc#sb26051101_eclairs-wakeup');
    expect(outcomes.find((o) => o.file === 'wakeup.xml')).toMatchObject({ status: 'published', id, alreadyPresent: false });
    expect(readdirSync(d.done)).toEqual(['wakeup.xml']);
    expect(readFileSync(join(d.done, 'wakeup.xml'))).toEqual(readFileSync(SVOM_WAKEUP));
    expect(readdirSync(d.failed).sort()).toEqual(['broken.xml', 'broken.xml.reason.txt']);
    const reason = readFileSync(join(d.failed, 'broken.xml.reason.txt'), 'utf8');
    expect(reason).toContain(`${join(d.inbox, 'broken.xml')}:1:1: /VOEvent: root <VOEvent> has no namespace`);
    // Files being written (dot files, .tmp) are left alone.
    expect(readdirSync(d.inbox).sort()).toEqual(['.hidden.xml', 'done', 'failed', 'incoming.xml.tmp']);
    const item = await agent.getItem('svom.fr/products', id);
    expect(item?.ivorn).toBe('ivo://org.svom/fsc#sb26051101_eclairs-wakeup');
    await until(() => notified(watcher, 'svom.fr/products').has(id), 5000, 'the notification');
  });

  it('builds a VOEvent from a JSON burst description; a bad description fails naming the key', async () => {
    const d = dirs('burst');
    const cfg: PublisherConfig = {
      node: 'svom.fr/products',
      inbox: d.inbox,
      burst: { ivorn_base: 'ivo://org.svom/fsc', author: { shortName: 'SVOM FSC', contactEmail: 'fsc@svom.fr' } },
    };
    writeFileSync(join(d.inbox, 'burst.json'), JSON.stringify({
      id: 'sb26051199_eclairs-wakeup',
      trigger_time: '2026-05-11T06:13:32.594',
      ra: 197.9295, dec: -33.8525, error_radius: 0.0398,
      instrument: 'ECLAIRs',
      params: { Packet_Type: 202, SNR: 8.25, Burst_Id: 'sb26051199' },
      importance: 0.9,
      citations: [{ ivorn: 'ivo://org.svom/fsc#sb26051199_grm-trigger', cite: 'followup' }],
    }));
    writeFileSync(join(d.inbox, 'bad.json'), JSON.stringify({ id: 'x', trigger_time: '2026-05-11T06:13:32', ra: 400, dec: 0, error_radius: 1, colour: 'red' }));
    const outcomes = await new Publisher(agent, cfg).scanOnce();
    expect(outcomes.map((o) => `${o.file} ${o.status}`).sort()).toEqual(['bad.json failed', 'burst.json published']);
    const reason = readFileSync(join(d.failed, 'bad.json.reason.txt'), 'utf8');
    expect(reason).toContain('bad.json: ra: must be < 360');
    expect(reason).toContain('bad.json: colour: is not a known key');
    expect(readdirSync(d.done).sort()).toEqual(['burst.json', 'burst.json.voevent.xml']);
    const id = itemIdFor('ivo://org.svom/fsc#sb26051199_eclairs-wakeup');
    const item = await agent.getItem('svom.fr/products', id);
    const ev = parse(item!.xml);
    expect(ev.ivorn).toBe('ivo://org.svom/fsc#sb26051199_eclairs-wakeup');
    expect(ev.whereWhen?.position).toMatchObject({ ra: 197.9295, dec: -33.8525, error: 0.0398 });
    expect(ev.whereWhen?.time?.iso).toBe('2026-05-11T06:13:32.594');
    expect(ev.what?.params.map((p) => [p.name, p.value])).toEqual([['Instrument', 'ECLAIRs'], ['Packet_Type', '202'], ['SNR', '8.25'], ['Burst_Id', 'sb26051199']]);
    expect(ev.citations?.eventIVORNs).toEqual([{ ivorn: 'ivo://org.svom/fsc#sb26051199_grm-trigger', cite: 'followup' }]);
    expect(ev.who?.author?.shortName).toBe('SVOM FSC');
    expect(readFileSync(join(d.done, 'burst.json.voevent.xml'), 'utf8')).toContain('sb26051199_eclairs-wakeup');
  });

  it('waits for a half-written file; fails a broken one only once it stopped changing', async () => {
    const d = dirs('partial');
    const pub = new Publisher(agent, { node: 'svom.fr/products', inbox: d.inbox, incomplete_timeout: '400ms' });
    const full = variant(1, 'half');
    writeFileSync(join(d.inbox, 'half.xml'), full.slice(0, Math.floor(full.length / 2)));
    writeFileSync(join(d.inbox, 'half.json'), '{"id": "sb1", "trigger_');
    let o = await pub.scanOnce();
    expect(o.map((x) => `${x.file} ${x.status}`).sort()).toEqual(['half.json waiting', 'half.xml waiting']);
    expect(readdirSync(d.inbox).sort()).toEqual(['done', 'failed', 'half.json', 'half.xml']);
    // The writer goes on with the XML, a little at a time; the JSON writer died.
    appendFileSync(join(d.inbox, 'half.xml'), full.slice(Math.floor(full.length / 2), full.length - 20));
    await new Promise((r) => setTimeout(r, 500));
    o = await pub.scanOnce();
    expect(o.find((x) => x.file === 'half.xml')?.status).toBe('waiting'); // it changed: still waiting
    expect(o.find((x) => x.file === 'half.json')?.status).toBe('failed'); // unchanged for 400 ms
    appendFileSync(join(d.inbox, 'half.xml'), full.slice(full.length - 20));
    o = await pub.scanOnce();
    expect(o).toMatchObject([{ file: 'half.xml', status: 'published', id: itemIdFor('ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-half1') }]);
    expect(readFileSync(join(d.failed, 'half.json.reason.txt'), 'utf8')).toMatch(/not valid JSON[\s\S]*unchanged for \d+ s/);
  });

  it('a packet already on the node (crash after publishing, before moving) is not published again', async () => {
    const d = dirs('again');
    const text = variant(2, 'again');
    const first = await publishVOEvent(agent, 'svom.fr/products', text);
    await until(() => notified(watcher, 'svom.fr/products').get(first.id) === 1, 5000, 'the first notification');
    writeFileSync(join(d.inbox, 'again.xml'), text);
    const o = await new Publisher(agent, { node: 'svom.fr/products', inbox: d.inbox }).scanOnce();
    expect(o).toMatchObject([{ file: 'again.xml', status: 'published', id: first.id, alreadyPresent: true }]);
    expect(readdirSync(d.done)).toEqual(['again.xml']);
    // A marker published after proves the notifications so far have arrived.
    const marker = await publishVOEvent(agent, 'svom.fr/products', variant(3, 'again'));
    await until(() => notified(watcher, 'svom.fr/products').has(marker.id), 5000, 'the marker');
    expect(notified(watcher, 'svom.fr/products').get(first.id)).toBe(1);
  });

  it('a packet the broker refuses goes to failed/ with the broker\'s reason', async () => {
    const d = dirs('refused');
    // A node someone else owns, where fsc may not publish.
    const owner = await env.client('owner');
    const r = await owner.iq('set', PUBSUB, ps(xml('create', { node: 'svom.fr/private' })));
    expect(errorOf(r)).toBeUndefined();
    writeFileSync(join(d.inbox, 'p.xml'), variant(4, 'refused'));
    const o = await new Publisher(agent, { node: 'svom.fr/private', inbox: d.inbox }).scanOnce();
    expect(o).toMatchObject([{ file: 'p.xml', status: 'failed' }]);
    expect(readFileSync(join(d.failed, 'p.xml.reason.txt'), 'utf8')).toContain('the broker refused the packet: forbidden');
  });

  it('configuration errors name the key', () => {
    const f = join(tmp, 'bad.yaml');
    writeFileSync(f, YAML.stringify({ inbox: 3, poll_interval: 'fast', xmpp: { jid: 'nobody' }, extra: true }));
    let err: unknown;
    try {
      loadConfigFile(f, PUBLISHER_CONFIG_SCHEMA);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const msg = (err as Error).message;
    // Each line: file:line:col of the key (or of its mapping when missing), the key, the problem.
    const lines = msg.split('\n');
    const at = (key: string) => YAML.stringify({ inbox: 3, poll_interval: 'fast', xmpp: { jid: 'nobody' }, extra: true }).split('\n').findIndex((l) => l.trimStart().startsWith(`${key}:`)) + 1;
    expect(lines).toContain(`${f}:1:1: node: is required`);
    expect(lines).toContain(`${f}:${at('inbox')}:8: inbox: must be string`);
    expect(lines).toContain(`${f}:${at('poll_interval')}:16: poll_interval: must be a duration such as 500ms, 90s, 5m, 12h, 1d (or a number of seconds)`);
    expect(lines).toContain(`${f}:${at('jid')}:8: xmpp.jid: must be a JID such as fsc@svom.fr`);
    expect(lines).toContain(`${f}:${at('extra')}:1: extra: is not a known key`);
  });

  it('voxnet agent publisher killed with SIGKILL mid-inbox and restarted: every file done, each packet published once', async () => {
    const d = dirs('crash');
    const node = 'svom.fr/crash';
    await publishVOEvent(agent, node, variant(0, 'crash-marker'));
    await watch(node);
    const N = 24;
    const ids: string[] = [];
    for (let i = 1; i <= N; i++) {
      const text = variant(i, 'crash');
      ids.push(prepareVOEvent(text).id);
      writeFileSync(join(d.inbox, `f${String(i).padStart(2, '0')}.xml`), text);
    }
    const cfgFile = join(d.root, 'publisher.yaml');
    writeFileSync(cfgFile, YAML.stringify({ node, inbox: d.inbox, poll_interval: '100ms' }));
    const e = agentEnv(env, 'fsc');
    const first = voxnet(['agent', 'publisher', '--config', cfgFile], e);
    procs.push(first);
    await first.waitLines(4, 30_000);
    await new Promise((r) => setTimeout(r, Math.random() * 60));
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    const doneAtKill = readdirSync(d.done).length;
    expect(doneAtKill).toBeLessThan(N);
    const second = voxnet(['agent', 'publisher', '--config', cfgFile], e);
    procs.push(second);
    await until(() => readdirSync(d.done).length === N, 30_000, 'every file in done/');
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(readdirSync(d.inbox).sort()).toEqual(['done', 'failed']);
    expect(readdirSync(d.failed)).toEqual([]);
    // Every packet is on the node once, and was notified once.
    const page = await agent.getItems(node, { max: 100, index: 0 });
    expect(page.items.map((i) => i.id).slice(1).sort()).toEqual([...ids].sort());
    const marker = await publishVOEvent(agent, node, variant(99, 'crash-marker'));
    await until(() => notified(watcher, node).has(marker.id), 5000, 'the marker');
    const counts = notified(watcher, node);
    for (const id of ids) expect(counts.get(id), id).toBe(1);
    // Publication followed the files' order.
    expect(page.items.map((i) => i.id).slice(1)).toEqual(ids);
    expect(existsSync(join(d.done, 'f01.xml'))).toBe(true);
  });
});
