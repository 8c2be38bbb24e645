/**
 * The access policy inside the broker, on a real Prosody: reconcile on start,
 * publish once → per-level items (redacted, embargoed), retract once → retracted
 * everywhere, embargoes that survive a restart, revocation on a policy change
 * (the JID is told: subscription none), a bad policy file refused while the old
 * one stays in force, SIGHUP, and one audit line per decision.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xml, type Element } from '@xmpp/xml';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { NS, ps, owner, errorOf, formFields, parseXml } from './helpers/pubsub.ts';
import type { TestClient } from './helpers/xmpp.ts';
import { startBroker } from '../broker-component/broker.ts';
import { isEmptyReport } from '../broker-component/policy/reconcile.ts';
import type { ReloadResult } from '../broker-component/policy/runtime.ts';
import { compile } from '../access-policy/compile.ts';
import { parsePolicy } from '../access-policy/load.ts';
import { ConfigError } from '../common/config.ts';
import { parseTree, validate, type XmlElement } from '../voevent/index.ts';

const MXT = readFileSync(new URL('./fixtures/voevents/gcn-notice-parser__svom_mxt_52__sb26051101_mxt-initial_qf4.xml', import.meta.url), 'utf8');
const EMBARGO_S = 3;

const P1 = `
version: 1
mission: SVOM
levels:
  - id: advocates
    members: { jids: [ba@svom.fr] }
  - id: collaboration
    members: { domains: [svom.fr], jids: [wei@svom.cn] }
  - id: community
    members: { jids: [comm@svom.cn] }
  - id: public
    public: true
products:
  - id: mxt
    title: MXT
    publishers: [fsc@svom.fr]
    levels:
      advocates: {}
      collaboration: {}
      community:
        redact: { groups: [Satellite_Info], position_precision_deg: 0.5 }
      public:
        embargo: ${EMBARGO_S}
        history: false
        redact: { groups: [Satellite_Info, Target_Info], position_precision_deg: 1 }
`;
// wei@svom.cn leaves the collaboration, newbie@svom.cn becomes a burst advocate, the community no longer receives MXT.
const P2 = P1.replace('members: { domains: [svom.fr], jids: [wei@svom.cn] }', 'members: { domains: [svom.fr] }')
  .replace('members: { jids: [ba@svom.fr] }', 'members: { jids: [ba@svom.fr, newbie@svom.cn] }')
  .replace(/      community:\n        redact: \{[^}]+\}\n/, '');
const BAD = P1.replace('levels:\n      advocates: {}', 'levels:\n      advocate: {}'); // unknown level

type Audit = { actor: string; op: string; node: string; decision: string; reason: string };

let env: BrokerEnv;
let dir: string;
let file: string;
let fsc: TestClient, ba: TestClient, wei: TestClient, comm: TestClient, anyone: TestClient, admin: TestClient;
const audits: Audit[] = [];

const items = (m: Element) => m.getChild('event', NS.EVENT)?.getChild('items');
const itemIn = (node: string, id: string) => (m: Element) => items(m)?.attrs.node === node && items(m)?.getChild('item')?.attrs.id === id;
const payloadOf = (m: Element) => items(m)!.getChild('item')!.getChildElements()[0]!.toString();
const publish = async (id: string) => {
  const r = await fsc.iq('set', PUBSUB, ps(xml('publish', { node: 'mxt/source' }, xml('item', { id }, await parseXml(MXT)))));
  expect(errorOf(r), r.toString()).toBeUndefined();
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nextReload = () => new Promise<ReloadResult>((res) => env.broker.policy!.once('reload', res));
const affiliations = async (node: string) => {
  const r = await admin.iq('get', PUBSUB, owner(xml('affiliations', { node })));
  expect(errorOf(r)).toBeUndefined();
  return Object.fromEntries(r.getChild('pubsub')!.getChild('affiliations')!.getChildren('affiliation').map((a) => [a.attrs.jid, a.attrs.affiliation]));
};
const subscriptionNone = (c: TestClient, node: string) => (m: Element) => {
  const s = m.getChild('pubsub', NS.PUBSUB)?.getChild('subscription');
  return s?.attrs.node === node && s.attrs.subscription === 'none' && s.attrs.jid === c.jid;
};

function el(x: XmlElement, ...path: string[]): XmlElement | undefined {
  let cur: XmlElement | undefined = x;
  for (const p of path) cur = cur?.children.find((c): c is XmlElement => typeof c !== 'string' && c.name === p);
  return cur;
}
const groups = (xmlText: string) => [...xmlText.matchAll(/<Group name="([^"]+)"/g)].map((m) => m[1]);
function coords(xmlText: string): number[] {
  const pos = el(parseTree(xmlText), 'WhereWhen', 'ObsDataLocation', 'ObservationLocation', 'AstroCoords', 'Position2D')!;
  return [el(pos, 'Value2', 'C1'), el(pos, 'Value2', 'C2'), el(pos, 'Error2Radius')].map((e) => Number(String(e!.children[0]).trim()));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'voxnet-policy-broker-'));
  file = join(dir, 'policy.yaml');
  writeFileSync(file, P1);
  env = await startBrokerEnv({ policy_file: file, admins: ['admin@svom.fr'] });
  // Audit lines are structured log records { audit: {...} } on the broker's logger (the same one across restarts).
  const log = env.broker.log as unknown as { info: (...a: unknown[]) => void };
  const info = log.info.bind(log);
  log.info = (obj: unknown, ...rest: unknown[]) => {
    if (obj && typeof obj === 'object' && 'audit' in obj) audits.push((obj as { audit: Audit }).audit);
    info(obj, ...rest);
  };
  [fsc, ba, wei, comm, anyone, admin] = await Promise.all([
    env.client('fsc'), env.client('ba'), env.client('wei', 'svom.cn'), env.client('comm', 'svom.cn'), env.client('anyone', 'svom.cn'), env.client('admin'),
  ]);
});
afterAll(async () => {
  await env?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('access policy in the broker', () => {
  it('reconciles on start: nodes, configurations and affiliations as compiled', async () => {
    const list = await admin.iq('get', PUBSUB, xml('query', { xmlns: NS.DISCO_ITEMS }));
    expect(list.getChild('query')!.getChildren('item').map((i) => i.attrs.node).sort()).toEqual(
      ['mxt/advocates', 'mxt/collaboration', 'mxt/community', 'mxt/public', 'mxt/source'],
    );
    expect(await affiliations('mxt/collaboration')).toEqual({
      [PUBSUB]: 'owner', 'ba@svom.fr': 'member', 'svom.fr': 'member', 'wei@svom.cn': 'member', 'fsc@svom.fr': 'member',
    });
    expect(await affiliations('mxt/source')).toEqual({ [PUBSUB]: 'owner', 'fsc@svom.fr': 'publisher' });
    const cfg = await admin.iq('get', PUBSUB, owner(xml('configure', { node: 'mxt/public' })));
    const f = formFields(cfg.getChild('pubsub')!.getChild('configure')!.getChild('x', 'jabber:x:data'));
    expect(f).toMatchObject({
      'pubsub#access_model': ['open'], 'voxnet#history': ['0'], 'pubsub#type': ['http://www.ivoa.net/xml/VOEvent/v2.0'], 'pubsub#title': ['SVOM MXT — public'],
    });
    // reconciling the same policy again changes nothing
    const again = env.broker.policy!.reload();
    expect(again.ok && again.report && isEmptyReport(again.report)).toBe(true);
  });

  it('publish once → each level gets its own item: full, redacted, embargoed', async () => {
    for (const [c, node] of [[ba, 'mxt/advocates'], [wei, 'mxt/collaboration'], [comm, 'mxt/community'], [anyone, 'mxt/public']] as const) {
      const r = await c.iq('set', PUBSUB, ps(xml('subscribe', { node, jid: c.jid })));
      expect(errorOf(r), `${c.jid} → ${node}`).toBeUndefined();
    }
    const t0 = Date.now();
    await publish('mxt-1');

    const full = payloadOf(await ba.waitMessage(itemIn('mxt/advocates', 'mxt-1')));
    expect(groups(full)).toEqual(groups(MXT));
    expect(coords(full)).toEqual(coords(MXT));
    expect(payloadOf(await wei.waitMessage(itemIn('mxt/collaboration', 'mxt-1')))).toBe(full);

    const community = payloadOf(await comm.waitMessage(itemIn('mxt/community', 'mxt-1')));
    expect(validate(community).errors).toEqual([]);
    expect(groups(community)).toEqual(['Svom_Identifiers', 'Detection_Info', 'Target_Info']);
    expect(community).not.toContain('Galactic_Lon');
    expect(coords(community)).toEqual([198, -34, 0.37]);

    // the public level waits for the embargo
    await sleep(EMBARGO_S * 1000 - 1000 - (Date.now() - t0));
    expect(anyone.messages.some(itemIn('mxt/public', 'mxt-1'))).toBe(false);
    const m = await anyone.waitMessage(itemIn('mxt/public', 'mxt-1'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(EMBARGO_S * 1000);
    const pub = payloadOf(m);
    expect(validate(pub).errors).toEqual([]);
    expect(groups(pub)).toEqual(['Svom_Identifiers', 'Detection_Info']);
    expect(coords(pub)).toEqual([198, -34, 0.8]); // 0.0108 + 1·√2/2, rounded up

    // history: the community may look back at its (redacted) item, the public may not
    const back = await comm.iq('get', PUBSUB, ps(xml('items', { node: 'mxt/community' })));
    expect(back.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id)).toEqual(['mxt-1']);
    const none = await anyone.iq('get', PUBSUB, ps(xml('items', { node: 'mxt/public' })));
    expect(errorOf(none)).toMatchObject({ condition: 'forbidden', type: 'auth' });
    expect(none.getChild('error')!.getChildText('text')).toMatch(/history/);

    for (const level of ['advocates', 'collaboration', 'community', 'public'])
      expect(audits.find((a) => a.op === 'release' && a.node === `mxt/${level}` && a.reason.startsWith('item mxt-1 '))).toMatchObject({ actor: 'fsc@svom.fr', decision: 'grant' });
    expect(audits).toContainEqual(expect.objectContaining({ actor: 'anyone@svom.cn', op: 'retrieve-items', node: 'mxt/public', decision: 'refuse', reason: 'history off' }));
  });

  it('retract once → retracted on every level, and the pending embargoed release is cancelled', async () => {
    await publish('mxt-2');
    await ba.waitMessage(itemIn('mxt/advocates', 'mxt-2'));
    expect(env.broker.policy!.queue.all().map((j) => `${j.itemId} → ${j.target}`)).toEqual(['mxt-2 → mxt/public']);
    const r = await fsc.iq('set', PUBSUB, ps(xml('retract', { node: 'mxt/source' }, xml('item', { id: 'mxt-2' }))));
    expect(errorOf(r)).toBeUndefined();
    await ba.waitMessage((m) => items(m)?.attrs.node === 'mxt/advocates' && items(m)?.getChild('retract')?.attrs.id === 'mxt-2');
    expect(env.broker.policy!.queue.all()).toEqual([]);
    await sleep(EMBARGO_S * 1000 + 500);
    expect(anyone.messages.some(itemIn('mxt/public', 'mxt-2'))).toBe(false);
    expect(() => env.broker.service.getItems({ jid: PUBSUB, bare: PUBSUB }, 'mxt/collaboration', { ids: ['mxt-2'] })).toThrow(/no such item/);
  });

  it('an embargo survives a broker restart (released on time), and one due while it was down runs at start', async () => {
    let t0 = Date.now();
    await publish('mxt-3');
    await env.restartBroker();
    expect(env.broker.policy!.queue.all().map((j) => j.itemId)).toEqual(['mxt-3']);
    await anyone.waitMessage(itemIn('mxt/public', 'mxt-3'));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(EMBARGO_S * 1000);

    t0 = Date.now();
    await publish('mxt-4');
    await env.broker.stop();
    await sleep(EMBARGO_S * 1000 + 1500);
    expect(anyone.messages.some(itemIn('mxt/public', 'mxt-4'))).toBe(false);
    await env.restartBroker();
    const m = await anyone.waitMessage(itemIn('mxt/public', 'mxt-4'), 5000);
    expect(validate(payloadOf(m)).errors).toEqual([]);
    expect(env.broker.policy!.queue.all()).toEqual([]);
    expect(audits.find((a) => a.op === 'release' && a.node === 'mxt/public' && a.reason.startsWith('item mxt-4 '))?.reason).toMatch(/late\)$/);
  });

  it('a policy change revokes at once: subscriptions removed, the JID told (subscription none), re-subscribing refused', async () => {
    const reloaded = nextReload();
    const tmp = join(dir, 'policy.yaml.new');
    writeFileSync(tmp, P2);
    renameSync(tmp, file); // as editors save
    const r = await reloaded;
    expect(r.ok).toBe(true);

    await wei.waitMessage(subscriptionNone(wei, 'mxt/collaboration'));
    // the community level no longer receives MXT: its node is retired, its subscribers told
    await comm.waitMessage(subscriptionNone(comm, 'mxt/community'));
    expect(await affiliations('mxt/community')).toEqual({ [PUBSUB]: 'owner' });
    expect(await affiliations('mxt/collaboration')).not.toHaveProperty('wei@svom.cn');

    const again = await wei.iq('set', PUBSUB, ps(xml('subscribe', { node: 'mxt/collaboration', jid: wei.jid })));
    expect(errorOf(again)).toMatchObject({ condition: 'not-allowed', pubsub: 'closed-node', type: 'cancel' });
    // others are untouched
    await publish('mxt-5');
    await ba.waitMessage(itemIn('mxt/advocates', 'mxt-5'));

    expect(P2).not.toBe(P1);
    expect(await affiliations('mxt/advocates')).toHaveProperty('newbie@svom.cn', 'member');
    expect(audits).toContainEqual({ actor: 'newbie@svom.cn', op: 'affiliation', node: 'mxt/advocates', decision: 'grant', reason: 'policy: member (level advocates, by JID)' });
    expect(audits).toContainEqual({ actor: 'wei@svom.cn', op: 'affiliation', node: 'mxt/collaboration', decision: 'revoke', reason: 'policy: member no longer granted' });
    expect(audits).toContainEqual(expect.objectContaining({ actor: 'wei@svom.cn', op: 'revoke', node: 'mxt/collaboration', decision: 'revoke' }));
    expect(audits).toContainEqual(expect.objectContaining({ actor: 'comm@svom.cn', op: 'revoke', node: 'mxt/community', decision: 'revoke' }));
    expect(audits).toContainEqual(expect.objectContaining({ actor: 'wei@svom.cn', op: 'subscribe', node: 'mxt/collaboration', decision: 'refuse', reason: 'not on the whitelist' }));
  });

  it('a bad policy file is refused with file:line and the policy in force stays', async () => {
    const before = await affiliations('mxt/advocates');
    const reloaded = nextReload();
    writeFileSync(file, BAD);
    const r = await reloaded;
    expect(r.ok).toBe(false);
    const line = BAD.split('\n').findIndex((l) => l.includes('advocate: {}')) + 1;
    expect(!r.ok && r.error).toBe(`${file}:${line}:7: products[0].levels.advocate: unknown level "advocate" (levels are advocates, collaboration, community, public)`);
    expect(await affiliations('mxt/advocates')).toEqual(before);
    expect(env.broker.policy!.state).toEqual(compile(parsePolicy(P2), { service: PUBSUB }));
    await publish('mxt-6');
    await ba.waitMessage(itemIn('mxt/advocates', 'mxt-6'));

    const garbage = nextReload();
    writeFileSync(file, 'version: 1\nlevels: [\n');
    expect(await garbage).toMatchObject({ ok: false, error: expect.stringMatching(new RegExp(`^${file}:3:1: `)) });
  });

  it('a broker restarted on a bad file enforces the policy last in force; with none it refuses to start', async () => {
    await env.restartBroker();
    expect(env.broker.policy!.state).toEqual(compile(parsePolicy(P2), { service: PUBSUB }));
    await publish('mxt-7');
    await ba.waitMessage(itemIn('mxt/advocates', 'mxt-7'));

    const fresh = mkdtempSync(join(tmpdir(), 'voxnet-policy-fresh-'));
    try {
      await expect(startBroker({ ...env.config, data_dir: fresh }, { log: env.broker.log })).rejects.toThrow(ConfigError);
      await expect(startBroker({ ...env.config, data_dir: fresh }, { log: env.broker.log })).rejects.toThrow(/policy\.yaml:3:1: /);
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  it('SIGHUP re-reads the file and undoes drift (an affiliation added by hand is removed)', async () => {
    writeFileSync(file, P2);
    await sleep(500); // the watcher sees the same text as in force: nothing to do
    const r = await admin.iq('set', PUBSUB, owner(xml('affiliations', { node: 'mxt/advocates' }, xml('affiliation', { jid: 'intruder@svom.cn', affiliation: 'member' }))));
    expect(errorOf(r)).toBeUndefined();
    expect(await affiliations('mxt/advocates')).toHaveProperty('intruder@svom.cn', 'member');
    const reloaded = nextReload();
    process.kill(process.pid, 'SIGHUP');
    const res = await reloaded;
    expect(res.ok && res.report?.affiliations).toEqual([{ node: 'mxt/advocates', jid: 'intruder@svom.cn', from: 'member', to: 'none' }]);
    expect(await affiliations('mxt/advocates')).not.toHaveProperty('intruder@svom.cn');
  });
});
