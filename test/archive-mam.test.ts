/**
 * Archive queries (XEP-0313 on pubsub nodes) against a real Prosody + broker:
 * slixmpp's xep_0313 plugin (an independent client) by time range, publisher,
 * IVORN, newest N and RSM paging; our own `voxnet history` and `voxnet subscribe
 * --since TIME / --last N`; the same access decisions as item retrieval; age
 * retention. The slixmpp part is skipped only when /usr/bin/python3 cannot import
 * slixmpp (apt-get install -y python3-slixmpp).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { xml } from '@xmpp/xml';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { NS, ps, owner, errorOf, nodeConfig, formFields } from './helpers/pubsub.ts';
import { agentEnv, voxnet } from './helpers/agents.ts';
import { runHeartbeat } from '../agents/heartbeat/heartbeat.ts';
import { compile } from '../access-policy/compile.ts';
import { parsePolicy } from '../access-policy/load.ts';
import { connectAgent, publishVOEvent, itemIdFor, XmppIqError, type Agent } from '../agents/lib/index.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./interop/slixmpp_mam.py', import.meta.url));
const SWIFT = join(import.meta.dirname, 'fixtures/voevents/fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml');
const VOEVENT_NS = 'http://www.ivoa.net/xml/VOEvent/v2.0';
const NODE = 'archive/grb';
const QUIET = 'archive/quiet';

const slixmpp = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import slixmpp.plugins.xep_0313'], { timeout: 20_000 }).status === 0;
if (!slixmpp) console.warn(`archive-mam: slixmpp part skipped — ${PYTHON} cannot import slixmpp (apt-get install -y python3-slixmpp)`);

const ivornOf = (tag: string) => `ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-${tag}`;
const packet = (tag: string) => readFileSync(SWIFT, 'utf8').replace(/ivorn="[^"]+"/, `ivorn="${ivornOf(tag)}"`);
const idOf = (tag: string) => itemIdFor(ivornOf(tag));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type QueryResult = { name: string; ok: boolean; ids?: string[]; stamps?: string[]; result_ids?: string[]; fin?: Record<string, string>; error?: { condition: string; text?: string } };

function runSlixmpp(env: BrokerEnv, user: string, queries: object[]): Promise<QueryResult[]> {
  return new Promise((resolve, reject) => {
    const args = [SCRIPT, '--jid', `${user}@svom.cn`, '--password', user, '--host', '127.0.0.1', '--port', String(env.prosody.c2sPort),
      '--service', PUBSUB, '--node', NODE, ...env.prosody.certFiles.flatMap((c) => ['--ca', c]), '--queries', JSON.stringify(queries)];
    const p = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    const t = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('error', reject);
    p.on('exit', (code) => {
      clearTimeout(t);
      const lines = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as QueryResult);
      if (code !== 0) reject(new Error(`slixmpp_mam.py exited ${code}\n${out}\n${err.split('\n').slice(-20).join('\n')}`));
      else resolve(lines);
    });
  });
}

describe('archive queries (XEP-0313 on pubsub nodes)', () => {
  let env: BrokerEnv;
  let alice: Agent;
  let carol: Agent;
  const times: Record<string, number> = {};
  const A = ['a1', 'a2', 'a3'];
  const B = ['b1', 'b2', 'b3'];
  const C = ['c1', 'c2', 'c3'];

  beforeAll(async () => {
    env = await startBrokerEnv();
    for (const u of ['alice', 'carol']) env.prosody.addUser(u, 'svom.fr', u);
    env.prosody.addUser('slixbob', 'svom.cn', 'slixbob');
    const mk = (u: string) => connectAgent({ jid: `${u}@svom.fr`, password: u, server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles, name: u });
    alice = await mk('alice');
    carol = await mk('carol');
    const create = await alice.iq('set', ps(xml('create', { node: NODE }), xml('configure', {}, nodeConfig({ 'pubsub#type': VOEVENT_NS, 'pubsub#max_items': 'max' }))));
    expect(errorOf(create)).toBeUndefined();
    await alice.iq('set', owner(xml('affiliations', { node: NODE }, xml('affiliation', { jid: 'carol@svom.fr', affiliation: 'publisher' }))));
    // Three batches a good second apart: A and C by alice, B by carol.
    for (const [batch, who] of [[A, alice], [B, carol], [C, alice]] as const) {
      times[`${batch[0]}-start`] = Date.now();
      for (const tag of batch) await publishVOEvent(who, NODE, packet(tag));
      times[`${batch[0]}-end`] = Date.now();
      await sleep(1100);
    }
    // A node whose subscribers get live items only (voxnet#history off).
    await alice.iq('set', ps(xml('create', { node: QUIET }), xml('configure', {}, nodeConfig({ 'voxnet#history': '0' }))));
  }, 120_000);
  afterAll(async () => {
    await alice?.stop();
    await carol?.stop();
    await env?.stop();
  });

  const iso = (t: number) => new Date(t).toISOString();

  it('is advertised in disco#info, and the query form lists its fields', async () => {
    const bob = await env.client('bob', 'svom.cn');
    const info = await bob.iq('get', PUBSUB, xml('query', { xmlns: NS.DISCO_INFO }));
    const features = info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var);
    expect(features).toContain('urn:xmpp:mam:2');
    const form = await bob.iq('get', PUBSUB, xml('query', { xmlns: 'urn:xmpp:mam:2', node: NODE }));
    expect(Object.keys(formFields(form.getChild('query')!.getChild('x', NS.DATA)))).toEqual(
      expect.arrayContaining(['start', 'end', 'with', 'before-id', 'after-id', 'ids', 'voxnet#ivorn']));
  });

  it.skipIf(!slixmpp)('answers slixmpp xep_0313: time range, publisher, IVORN, newest N, RSM paging, refusals', async () => {
    const results = await runSlixmpp(env, 'slixbob', [
      { name: 'all-pages', iterate: true, max: 4 },
      { name: 'time-range', start: iso(times['b1-start']! - 400), end: iso(times['b1-end']! + 400), max: 50 },
      { name: 'with', with: 'carol@svom.fr', max: 50 },
      { name: 'ivorn', ivorn: ivornOf('a2'), max: 50 },
      { name: 'newest-2', newest: true, max: 2 },
      { name: 'after', after: idOf('a3'), max: 3 },
      { name: 'history-off', node: QUIET, max: 5 },
      { name: 'bad-start', start: 'yesterday', max: 5 },
      { name: 'missing-cursor', after: 'no-such-item', max: 5 },
    ]);
    const by = Object.fromEntries(results.map((r) => [r.name, r]));
    const ids = (tags: string[]) => tags.map(idOf);
    expect(by['all-pages']).toMatchObject({ ok: true, ids: ids([...A, ...B, ...C]) });
    expect(by['time-range']).toMatchObject({ ok: true, ids: ids(B), fin: { complete: 'true', count: '3' } });
    expect(by['with']).toMatchObject({ ok: true, ids: ids(B) });
    expect(by['ivorn']).toMatchObject({ ok: true, ids: ids(['a2']) });
    expect(by['newest-2']).toMatchObject({ ok: true, ids: ids(['c2', 'c3']), fin: { count: '9', first_index: '7', first: idOf('c2'), last: idOf('c3') } });
    expect(by['after']).toMatchObject({ ok: true, ids: ids(B), fin: { first: idOf('b1'), last: idOf('b3') } });
    expect(by['after']!.fin!.complete).not.toBe('true');
    // Each result names the archive id (the item id) and the time the item was stored.
    expect(by['time-range']!.result_ids).toEqual(ids(B));
    for (const s of by['time-range']!.stamps!) expect(Date.parse(s)).toBeGreaterThanOrEqual(times['b1-start']! - 1000);
    expect(by['history-off']).toMatchObject({ ok: false, error: { condition: 'forbidden' } });
    expect(by['bad-start']).toMatchObject({ ok: false, error: { condition: 'bad-request' } });
    expect(by['missing-cursor']).toMatchObject({ ok: false, error: { condition: 'item-not-found' } });
  }, 150_000);

  it('refuses a node the asker may not read, as retrieving items does (whitelist: closed-node)', async () => {
    await alice.iq('set', ps(xml('create', { node: 'archive/closed' }), xml('configure', {}, nodeConfig({ 'pubsub#access_model': 'whitelist' }))));
    env.prosody.addUser('dave', 'svom.fr', 'dave');
    const dave = await connectAgent({ jid: 'dave@svom.fr', password: 'dave', server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles, name: 'dave' });
    try {
      const err = await dave.archive('archive/closed', {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(XmppIqError);
      expect(err).toMatchObject({ condition: 'not-allowed' });
      expect(await alice.archive('archive/closed', {})).toMatchObject({ items: [], complete: true });
    } finally {
      await dave.stop();
    }
  });

  it('voxnet history: --last, --ivorn, --since/--until, --with, as summary and JSON', async () => {
    const e = agentEnv(env, 'erin');
    const last = voxnet(['history', NODE, '--last', '2', '--format', 'json'], e);
    expect(await last.exited, last.stderr()).toBe(0);
    const rows = last.lines.map((l) => JSON.parse(l) as { id: string; ivorn: string; published: string; publisher: string });
    expect(rows.map((r) => r.id)).toEqual([idOf('c2'), idOf('c3')]);
    expect(rows[1]).toMatchObject({ ivorn: ivornOf('c3'), publisher: 'alice@svom.fr' });
    expect(Date.parse(rows[1]!.published)).toBeGreaterThan(Date.parse(rows[0]!.published) - 1);

    const one = voxnet(['history', NODE, '--ivorn', ivornOf('b2')], e);
    expect(await one.exited, one.stderr()).toBe(0);
    expect(one.lines).toHaveLength(1);
    expect(one.lines[0]).toContain(idOf('b2'));

    const range = voxnet(['history', NODE, '--since', iso(times['b1-start']! - 400), '--until', iso(times['b1-end']! + 400), '--format', 'json'], e);
    expect(await range.exited, range.stderr()).toBe(0);
    expect(range.lines.map((l) => JSON.parse(l).id)).toEqual(B.map(idOf));

    const withCarol = voxnet(['history', NODE, '--with', 'carol@svom.fr', '--last', '1', '--format', 'json'], e);
    expect(await withCarol.exited, withCarol.stderr()).toBe(0);
    expect(withCarol.lines.map((l) => JSON.parse(l).id)).toEqual([idOf('b3')]);

    const bad = voxnet(['history', NODE, '--since', '2026-12-06T04:00:00'], e);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(/--since: give a time zone/);
  }, 90_000);

  it('voxnet subscribe --last N and --since TIME start from the archive', async () => {
    const e = agentEnv(env, 'frank');
    const last = voxnet(['subscribe', NODE, '--last', '3', '--count', '3', '--no-state', '--format', 'json'], e);
    expect(await last.exited, last.stderr()).toBe(0);
    expect(last.lines.map((l) => JSON.parse(l).id)).toEqual(C.map(idOf));

    const since = voxnet(['subscribe', NODE, '--since', iso(times['b1-start']! - 400), '--count', '4', '--no-state', '--format', 'json'], e);
    expect(await since.exited, since.stderr()).toBe(0);
    expect(since.lines.map((l) => JSON.parse(l).id)).toEqual([...B, 'c1'].map(idOf));
  }, 90_000);

  it('keeps items per node by age (voxnet#max_age), in the node configuration form', async () => {
    const node = 'archive/heartbeat';
    await alice.iq('set', ps(xml('create', { node }), xml('configure', {}, nodeConfig({ 'voxnet#max_age': '2' }))));
    const cfg = await alice.iq('get', owner(xml('configure', { node })));
    expect(formFields(cfg.getChild('pubsub')!.getChild('configure')!.getChild('x', NS.DATA))['voxnet#max_age']).toEqual(['2']);
    await alice.publish(node, xml('beat', { xmlns: 'urn:example:beat' }), { id: 'old' });
    await sleep(2500);
    await alice.publish(node, xml('beat', { xmlns: 'urn:example:beat' }), { id: 'new' });
    env.broker.service.expireItems();
    expect((await alice.archive(node, {})).items.map((i) => i.id)).toEqual(['new']);
    const refused = await alice.iq('set', owner(xml('configure', { node }, nodeConfig({ 'voxnet#max_age': 'a week' })))).catch((e: XmppIqError) => e);
    expect(refused).toMatchObject({ condition: 'not-acceptable' });
  }, 60_000);

  it('gives heartbeat nodes a short retention (a day) and policy products a permanent archive', async () => {
    const run = runHeartbeat(alice, { node: 'archive/hb', intervalMs: 1000, count: 1 });
    await run.done;
    const cfg = await alice.iq('get', owner(xml('configure', { node: 'archive/hb' })));
    const fields = formFields(cfg.getChild('pubsub')!.getChild('configure')!.getChild('x', NS.DATA));
    expect(fields['voxnet#max_age']).toEqual(['86400']);
    // A node that exists with another retention keeps it, and beats still go out.
    await alice.iq('set', owner(xml('configure', { node: 'archive/hb' }, nodeConfig({ 'voxnet#max_age': '600' }))));
    const beats: { id?: string; error?: Error }[] = [];
    await runHeartbeat(alice, { node: 'archive/hb', intervalMs: 1000, count: 1, onBeat: (b) => beats.push(b) }).done;
    expect(beats[0]!.error).toBeUndefined();
    expect(env.broker.service.nodeConfig('archive/hb')!.max_age).toBe(600);

    const policy = compile(parsePolicy(`version: 1\nlevels: [{ id: public, public: true }]\nproducts:\n  - { id: grb, publishers: [fsc@svom.fr], levels: { public: {} } }\n  - { id: hb, publishers: [fsc@svom.fr], max_items: 100, max_age: 6h, levels: { public: {} } }\n`));
    const grb = policy.nodes.find((n) => n.id === 'grb/public')!;
    const hb = policy.nodes.find((n) => n.id === 'hb/public')!;
    expect(grb.config).toMatchObject({ max_items: Infinity, max_age: 0 });
    expect(hb.config).toMatchObject({ max_items: 100, max_age: 21_600 });
  });
});
