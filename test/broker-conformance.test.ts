/**
 * XEP-0060 conformance beyond the basics (issue 13), against the broker on a real
 * Prosody: RSM paging that continues, multi-subscribe, the publication scenarios
 * of transient and notification-only nodes, pubsub#node_type, collections
 * (XEP-0248), subscription options, the access models offered, and the refusal
 * of unusable item ids (issue 20). Each test was written to fail on the broker
 * before the change it covers.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { xml, type Element } from '@xmpp/xml';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { readFileSync } from 'node:fs';
import { NS, ps, owner, entry, errorOf, nodeConfig, form, formFields, parseXml } from './helpers/pubsub.ts';
import type { TestClient } from './helpers/xmpp.ts';
import { connectAgent, type Agent, type FollowedItem } from '../agents/lib/index.ts';

const SUB_OPTIONS = 'http://jabber.org/protocol/pubsub#subscribe_options';
const SHIM = 'http://jabber.org/protocol/shim';

let env: BrokerEnv;
let alice: TestClient; // alice@svom.fr — creates and owns nodes
let bob: TestClient; // bob@svom.cn — subscriber on another domain
let carol: TestClient; // carol@svom.fr
let n = 0;
const fresh = (p = 'cf') => `${p}-${++n}`;

async function create(c: TestClient, node: string, config?: Record<string, string | string[]>): Promise<void> {
  const children = [xml('create', { node })];
  if (config) children.push(xml('configure', {}, form('http://jabber.org/protocol/pubsub#node_config', config)));
  const r = await c.iq('set', PUBSUB, ps(...children));
  expect(errorOf(r), `create ${node}`).toBeUndefined();
}
const publish = (c: TestClient, node: string, id: string | undefined, text = 'payload') =>
  c.iq('set', PUBSUB, ps(xml('publish', { node }, xml('item', { id }, entry(text)))));
const subscribe = (c: TestClient, node: string, jid = c.jid.split('/')[0]!, ...extra: Element[]) =>
  c.iq('set', PUBSUB, ps(xml('subscribe', { node, jid }), ...extra));
const subidOf = (r: Element) => r.getChild('pubsub')!.getChild('subscription')!.attrs.subid as string;
const itemIds = (r: Element) => r.getChild('pubsub', NS.PUBSUB)!.getChild('items')!.getChildren('item').map((i) => i.attrs.id);
const rsmOf = (r: Element) => {
  const set = r.getChild('pubsub', NS.PUBSUB)!.getChild('set', NS.RSM);
  return set && { first: set.getChildText('first'), index: set.getChild('first')?.attrs.index, last: set.getChildText('last'), count: set.getChildText('count') };
};
const rsm = (...kids: Element[]) => xml('set', { xmlns: NS.RSM }, ...kids);
const page = (c: TestClient, node: string, attrs: Record<string, string>, ...kids: Element[]) =>
  c.iq('get', PUBSUB, ps(xml('items', { node, ...attrs }), rsm(...kids)));
const bare = (c: TestClient) => c.jid.split('/')[0]!;
const eventItems = (m: Element) => m.getChild('event', NS.EVENT)?.getChild('items');
const isItemOf = (node: string, id?: string) => (m: Element) =>
  eventItems(m)?.attrs.node === node && (id === undefined || eventItems(m)!.getChildren('item').some((i) => i.attrs.id === id));
const shim = (m: Element, name: string) =>
  (m.getChild('headers', SHIM)?.getChildren('header') ?? []).filter((h) => h.attrs.name === name).map((h) => h.text());

/** Publish a marker on a node the client follows and wait for it: everything routed before it has arrived. */
async function flush(c: TestClient, marker: string): Promise<void> {
  const id = `m-${++n}`;
  expect((await publish(alice, marker, id)).attrs.type).toBe('result');
  await c.waitMessage(isItemOf(marker, id));
}

beforeAll(async () => {
  env = await startBrokerEnv();
  [alice, bob, carol] = await Promise.all([env.client('alice'), env.client('bob', 'svom.cn'), env.client('carol')]);
});
afterAll(async () => env?.stop());

describe('RSM paging (XEP-0059 over XEP-0060 §6.5)', () => {
  let node: string;
  const ids = Array.from({ length: 25 }, (_, i) => `p${String(i + 1).padStart(2, '0')}`);
  beforeAll(async () => {
    node = fresh('rsm');
    await create(alice, node);
    for (const id of ids) expect((await publish(alice, node, id)).attrs.type).toBe('result');
  });

  it('a request with only <max> returns the first page, and <after> = <last> continues to the end', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    for (let round = 0; round < 5; round++) {
      const r = await page(bob, node, {}, xml('max', {}, '10'), ...(after ? [xml('after', {}, after)] : []));
      expect(errorOf(r)).toBeUndefined();
      const got = itemIds(r);
      const set = rsmOf(r)!;
      expect(set.count).toBe('25');
      if (got.length === 0) break;
      expect(set.first).toBe(got[0]);
      expect(set.index).toBe(String(seen.length));
      expect(set.last).toBe(got.at(-1));
      seen.push(...got);
      after = set.last!;
    }
    expect(seen).toEqual(ids);
  });

  it('<before/> gives the last page (the newest), <before> = <first> pages back to the start', async () => {
    const seen: string[] = [];
    let before = '';
    for (let round = 0; round < 5 && seen.length < 25; round++) {
      const r = await page(bob, node, {}, xml('max', {}, '10'), xml('before', {}, before));
      const got = itemIds(r);
      seen.unshift(...got);
      expect(rsmOf(r)!.index).toBe(String(25 - seen.length));
      before = rsmOf(r)!.first!;
    }
    expect(seen).toEqual(ids);
  });

  it('<index> jumps into the result set; max_items restricts the set to the newest items, which RSM then pages', async () => {
    expect(itemIds(await page(bob, node, {}, xml('max', {}, '3'), xml('index', {}, '20')))).toEqual(['p21', 'p22', 'p23']);
    const r = await page(bob, node, { max_items: '5' }, xml('max', {}, '2'));
    expect(itemIds(r)).toEqual(['p21', 'p22']);
    expect(rsmOf(r)).toMatchObject({ count: '5', index: '0' });
    expect(itemIds(await page(bob, node, { max_items: '5' }, xml('max', {}, '2'), xml('after', {}, 'p22')))).toEqual(['p23', 'p24']);
    // Without RSM, max_items is the newest items (§6.5.7), as before.
    expect(itemIds(await bob.iq('get', PUBSUB, ps(xml('items', { node, max_items: '3' }))))).toEqual(['p23', 'p24', 'p25']);
  });

  it("keeps the agents' catch-up working: a follower whose cursor is an old item receives everything after it, in order", async () => {
    env.prosody.addUser('rsmagent', 'svom.fr', 'rsmagent');
    const agent: Agent = await connectAgent({
      jid: 'rsmagent@svom.fr', password: 'rsmagent', server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles,
      name: 'rsm-catchup', backoff: { initialMs: 100, maxMs: 1000 },
    });
    try {
      const got: string[] = [];
      const f = await agent.follow(node, (it: FollowedItem) => void got.push(it.id), { since: 'p07', pageSize: 4 });
      expect(got).toEqual(ids.slice(7));
      // A second follow of the same node by the same account does not add a subscription.
      await f.stop();
      await agent.follow(node, () => {}, { since: 'p24' });
      const own = await alice.iq('get', PUBSUB, owner(xml('subscriptions', { node })));
      const agentSubs = own.getChild('pubsub')!.getChild('subscriptions')!.getChildren('subscription').filter((s) => s.attrs.jid === 'rsmagent@svom.fr');
      expect(agentSubs).toHaveLength(1);
    } finally {
      await agent.stop();
    }
  });

  it('advertises http://jabber.org/protocol/pubsub#rsm', async () => {
    const r = await bob.iq('get', PUBSUB, xml('query', { xmlns: NS.DISCO_INFO }));
    const features = r.getChild('query')!.getChildren('feature').map((f) => f.attrs.var);
    expect(features).toContain(`${NS.PUBSUB}#rsm`);
  });
});

describe('multi-subscribe (XEP-0060 §6.1.6, §6.2.3.3)', () => {
  it('each subscribe makes its own subscription; notifications carry every SubID; unsubscribing needs the subid', async () => {
    const node = fresh('multi');
    await create(alice, node);
    const s1 = subidOf(await subscribe(bob, node));
    const s2 = subidOf(await subscribe(bob, node));
    expect(s1).toBeTruthy();
    expect(s2).not.toBe(s1);
    const mine = await bob.iq('get', PUBSUB, ps(xml('subscriptions', { node })));
    expect(mine.getChild('pubsub')!.getChild('subscriptions')!.getChildren('subscription').map((s) => s.attrs.subid).sort()).toEqual([s1, s2].sort());
    await publish(alice, node, 'both');
    const m = await bob.waitMessage(isItemOf(node, 'both'));
    expect(shim(m, 'SubID').sort()).toEqual([s1, s2].sort());
    expect(errorOf(await bob.iq('set', PUBSUB, ps(xml('unsubscribe', { node, jid: bare(bob) })))))
      .toMatchObject({ condition: 'bad-request', pubsub: 'subid-required' });
    expect((await bob.iq('set', PUBSUB, ps(xml('unsubscribe', { node, jid: bare(bob), subid: s1 })))).attrs.type).toBe('result');
    expect((await bob.iq('set', PUBSUB, ps(xml('unsubscribe', { node, jid: bare(bob) })))).attrs.type).toBe('result');
    expect(errorOf(await bob.iq('set', PUBSUB, ps(xml('unsubscribe', { node, jid: bare(bob) })))))
      .toMatchObject({ condition: 'unexpected-request', pubsub: 'not-subscribed' });
  });

  it('limits the subscriptions of one JID to a node (not-allowed + too-many-subscriptions)', async () => {
    const node = fresh('multi');
    await create(alice, node);
    let last: Element | undefined;
    for (let i = 0; i < 40; i++) {
      last = await subscribe(carol, node);
      if (last.attrs.type === 'error') break;
    }
    expect(errorOf(last!)).toMatchObject({ condition: 'not-allowed', pubsub: 'too-many-subscriptions' });
  });
});

describe('publication scenarios (XEP-0060 §7.1, transient and notification-only nodes)', () => {
  // Rows: node kind (persist_items, deliver_payloads); columns: no <item/>, an empty <item/>, an item with a payload.
  // ok = published and notified; otherwise the bad-request application condition.
  // prettier-ignore
  const TABLE: [string, string, string, [string, string, string]][] = [
    ['persistent, payload',       '1', '1', ['item-required', 'payload-required', 'ok']],
    ['persistent, notification',  '1', '0', ['item-required', 'ok',               'ok']],
    ['transient, payload',        '0', '1', ['item-required', 'payload-required', 'ok']],
    ['transient, notification',   '0', '0', ['ok',            'item-forbidden',   'item-forbidden']],
  ];
  for (const [kind, persist, payloads, expected] of TABLE) {
    it(`${kind}: ${expected.join(' / ')}`, async () => {
      const node = fresh('pub');
      await create(alice, node, { 'pubsub#persist_items': persist, 'pubsub#deliver_payloads': payloads });
      await subscribe(bob, node);
      const shapes = [
        () => xml('publish', { node }),
        () => xml('publish', { node }, xml('item', { id: `${node}-empty` })),
        () => xml('publish', { node }, xml('item', { id: `${node}-full` }, entry('with payload'))),
      ];
      for (let i = 0; i < 3; i++) {
        const before = bob.messages.length;
        const r = await alice.iq('set', PUBSUB, ps(shapes[i]!()));
        if (expected[i] === 'ok') {
          expect(errorOf(r), `${kind} shape ${i}`).toBeUndefined();
          const m = await bob.waitMessage((x) => bob.messages.indexOf(x) >= before && eventItems(x)?.attrs.node === node);
          const items = eventItems(m)!.getChildren('item');
          if (i === 0) expect(items).toHaveLength(0); // transient notification: an empty <items/>
          else expect(items[0]!.getChildElements().length, 'payload delivered only when deliver_payloads').toBe(payloads === '1' && i === 2 ? 1 : 0);
        } else {
          expect(errorOf(r), `${kind} shape ${i}`).toMatchObject({ condition: 'bad-request', pubsub: expected[i] });
        }
      }
    });
  }
});

describe('node configuration form', () => {
  it('has pubsub#node_type (leaf), fixed after creation; offers exactly the access models it supports', async () => {
    const node = fresh();
    await create(alice, node);
    const r = await alice.iq('get', PUBSUB, owner(xml('configure', { node })));
    const x = r.getChild('pubsub', NS.OWNER)!.getChild('configure')!.getChild('x', NS.DATA)!;
    expect(formFields(x)['pubsub#node_type']).toEqual(['leaf']);
    const access = x.getChildren('field').find((f) => f.attrs.var === 'pubsub#access_model')!;
    const offered = access.getChildren('option').map((o) => o.getChildText('value'));
    expect(offered.sort()).toEqual(['authorize', 'open', 'whitelist']);
    const disco = await bob.iq('get', PUBSUB, xml('query', { xmlns: NS.DISCO_INFO }));
    const advertised = disco.getChild('query')!.getChildren('feature').map((f) => f.attrs.var!).filter((v) => v.startsWith(`${NS.PUBSUB}#access-`));
    expect(advertised.map((v) => v.slice(`${NS.PUBSUB}#access-`.length)).sort()).toEqual(offered.sort());
    // Submitting the form back unchanged (as Smack does) works; changing the type does not.
    expect((await alice.iq('set', PUBSUB, owner(xml('configure', { node }, nodeConfig({ 'pubsub#node_type': 'leaf' }))))).attrs.type).toBe('result');
    expect(errorOf(await alice.iq('set', PUBSUB, owner(xml('configure', { node }, nodeConfig({ 'pubsub#node_type': 'collection' }))))))
      .toMatchObject({ condition: 'not-acceptable', pubsub: 'invalid-options' });
  });
});

describe('collections (XEP-0248)', () => {
  it("a collection's subscriber receives its leaves' items with the Collection header, decided per leaf", async () => {
    const mission = fresh('mission');
    const open = `${mission}/public`;
    const pi = `${mission}/pi`;
    await create(alice, mission, { 'pubsub#node_type': 'collection' });
    await create(alice, open, { 'pubsub#collection': mission });
    await create(alice, pi, { 'pubsub#collection': mission, 'pubsub#access_model': 'whitelist' });
    const marker = fresh('marker');
    await create(alice, marker);
    await subscribe(bob, marker);
    expect(subidOf(await subscribe(bob, mission))).toBeTruthy();

    // The collection's configuration and disco#items list its children.
    const cfg = await alice.iq('get', PUBSUB, owner(xml('configure', { node: mission })));
    const f = formFields(cfg.getChild('pubsub', NS.OWNER)!.getChild('configure')!.getChild('x', NS.DATA));
    expect(f['pubsub#node_type']).toEqual(['collection']);
    expect(f['pubsub#children']!.sort()).toEqual([pi, open].sort());
    const items = await bob.iq('get', PUBSUB, xml('query', { xmlns: NS.DISCO_ITEMS, node: mission }));
    expect(items.getChild('query')!.getChildren('item').map((i) => i.attrs.node)).toEqual([open]); // the whitelist leaf is hidden from bob
    const info = await bob.iq('get', PUBSUB, xml('query', { xmlns: NS.DISCO_INFO, node: mission }));
    expect(info.getChild('query')!.getChild('identity')!.attrs.type).toBe('collection');

    await publish(alice, pi, 'secret-1');
    await publish(alice, open, 'public-1');
    const m = await bob.waitMessage(isItemOf(open, 'public-1'));
    expect(shim(m, 'Collection')).toEqual([mission]);
    await flush(bob, marker);
    expect(bob.messages.some(isItemOf(pi)), 'a whitelist leaf reached a non-member through its collection').toBe(false);

    // On the whitelist, bob receives the PI leaf through the same subscription.
    expect((await alice.iq('set', PUBSUB, owner(xml('affiliations', { node: pi }, xml('affiliation', { jid: bare(bob), affiliation: 'member' }))))).attrs.type).toBe('result');
    await publish(alice, pi, 'secret-2');
    expect(shim(await bob.waitMessage(isItemOf(pi, 'secret-2')), 'Collection')).toEqual([mission]);
  });

  it('subscription depth: a nested leaf reaches depth "all" subscribers, not depth 1; type "nodes" hears of new children', async () => {
    const top = fresh('top');
    const mid = `${top}/mid`;
    await create(alice, top, { 'pubsub#node_type': 'collection' });
    await create(alice, mid, { 'pubsub#node_type': 'collection', 'pubsub#collection': top });
    const opts = (fields: Record<string, string>) => xml('options', {}, form(SUB_OPTIONS, fields));
    await subscribe(bob, top, bare(bob), opts({ 'pubsub#subscription_depth': 'all' }));
    await subscribe(carol, top, bare(carol));
    await subscribe(carol, mid, bare(carol), opts({ 'pubsub#subscription_type': 'nodes' }));
    const leaf = `${mid}/leaf`;
    await create(alice, leaf, { 'pubsub#collection': mid });
    const assoc = await carol.waitMessage((m) => m.getChild('event', NS.EVENT)?.getChild('collection')?.attrs.node === mid);
    expect(assoc.getChild('event', NS.EVENT)!.getChild('collection')!.getChild('associate')!.attrs.node).toBe(leaf);
    await publish(alice, leaf, 'deep');
    expect(shim(await bob.waitMessage(isItemOf(leaf, 'deep')), 'Collection')).toEqual([top]);
    const marker = fresh('marker');
    await create(alice, marker);
    await subscribe(carol, marker);
    await flush(carol, marker);
    expect(carol.messages.some(isItemOf(leaf)), 'depth 1 and type nodes must not receive items two levels down').toBe(false);
  });

  it('refuses publishing to a collection, a leaf as collection, cycles, and children by a non-owner', async () => {
    const c = fresh('coll');
    const leaf = fresh('leaf');
    await create(alice, c, { 'pubsub#node_type': 'collection' });
    await create(alice, leaf);
    expect(errorOf(await publish(alice, c, 'x'))).toMatchObject({ condition: 'feature-not-implemented', pubsub: 'unsupported' });
    expect(errorOf(await alice.iq('set', PUBSUB, ps(xml('create', { node: fresh() }), xml('configure', {}, nodeConfig({ 'pubsub#collection': leaf }))))))
      .toMatchObject({ condition: 'not-acceptable', pubsub: 'invalid-options' });
    const inner = `${c}/inner`;
    await create(alice, inner, { 'pubsub#node_type': 'collection', 'pubsub#collection': c });
    expect(errorOf(await alice.iq('set', PUBSUB, owner(xml('configure', { node: c }, nodeConfig({ 'pubsub#collection': inner }))))))
      .toMatchObject({ condition: 'not-acceptable', pubsub: 'invalid-options' });
    // The owner sets children through pubsub#children; carol (no affiliation) may not attach her node.
    const setChildren = await alice.iq('set', PUBSUB, owner(xml('configure', { node: c }, form('http://jabber.org/protocol/pubsub#node_config', { 'pubsub#children': [inner, leaf] }))));
    expect(errorOf(setChildren)).toBeUndefined();
    const cfg = await alice.iq('get', PUBSUB, owner(xml('configure', { node: leaf })));
    expect(formFields(cfg.getChild('pubsub', NS.OWNER)!.getChild('configure')!.getChild('x', NS.DATA))['pubsub#collection']).toEqual([c]);
    const hers = fresh('carol');
    await create(carol, hers);
    expect(errorOf(await carol.iq('set', PUBSUB, owner(xml('configure', { node: hers }, nodeConfig({ 'pubsub#collection': c }))))))
      .toMatchObject({ condition: 'forbidden' });
  });
});

describe('subscription options (XEP-0060 §6.3, §6.4)', () => {
  const optionsOf = async (c: TestClient, node: string, subid?: string) => {
    const r = await c.iq('get', PUBSUB, ps(xml('options', { node, jid: bare(c), subid })));
    return { reply: r, fields: formFields(r.getChild('pubsub')?.getChild('options')?.getChild('x', NS.DATA)) };
  };
  const setOptions = (c: TestClient, node: string, fields: Record<string, string>, subid?: string) =>
    c.iq('set', PUBSUB, ps(xml('options', { node, jid: bare(c), subid }, form(SUB_OPTIONS, fields))));

  it('retrieves the default options of the service and of a node', async () => {
    const node = fresh();
    await create(alice, node);
    for (const attrs of [{}, { node }]) {
      const r = await bob.iq('get', PUBSUB, ps(xml('default', attrs)));
      const f = formFields(r.getChild('pubsub')!.getChild('default')!.getChild('x', NS.DATA));
      expect(f).toMatchObject({ FORM_TYPE: [SUB_OPTIONS], 'pubsub#deliver': ['1'], 'pubsub#include_body': ['1'], 'pubsub#subscription_type': ['items'], 'pubsub#expire': [''] });
    }
    expect(errorOf(await bob.iq('get', PUBSUB, ps(xml('default', { node: 'no-such-node' }))))).toMatchObject({ condition: 'item-not-found' });
  });

  it('reads and sets options per subscription; deliver=0 silences one subscription; options survive a broker restart', async () => {
    const node = fresh('opts');
    const marker = fresh('marker');
    await create(alice, node);
    await create(alice, marker);
    await subscribe(bob, marker);
    const subid = subidOf(await subscribe(bob, node));
    expect((await optionsOf(bob, node)).fields['pubsub#deliver']).toEqual(['1']);
    expect((await setOptions(bob, node, { 'pubsub#deliver': '0' })).attrs.type).toBe('result');
    expect((await optionsOf(bob, node)).fields['pubsub#deliver']).toEqual(['0']);
    await publish(alice, node, 'silenced');
    await flush(bob, marker);
    expect(bob.messages.some(isItemOf(node, 'silenced'))).toBe(false);

    await env.restartBroker();
    for (let i = 0; i < 100 && (await bob.iq('get', PUBSUB, xml('ping', { xmlns: 'urn:xmpp:ping' }))).attrs.type !== 'result'; i++) await new Promise((r) => setTimeout(r, 200));
    const after = await optionsOf(bob, node, subid);
    expect(after.fields['pubsub#deliver']).toEqual(['0']);
    expect((await setOptions(bob, node, { 'pubsub#deliver': '1' }, subid)).attrs.type).toBe('result');
    await publish(alice, node, 'heard');
    await bob.waitMessage(isItemOf(node, 'heard'));
  });

  it('subscribe-and-configure: options given with the subscribe apply to that subscription only', async () => {
    const node = fresh('opts');
    const marker = fresh('marker');
    await create(alice, node);
    await create(alice, marker);
    await subscribe(carol, marker);
    const r = await subscribe(carol, node, bare(carol), xml('options', {}, form(SUB_OPTIONS, { 'pubsub#deliver': 'false' })));
    expect(errorOf(r)).toBeUndefined();
    const quiet = subidOf(r);
    expect(formFields(r.getChild('pubsub')!.getChild('options')?.getChild('x', NS.DATA))['pubsub#deliver']).toEqual(['0']);
    const loud = subidOf(await subscribe(carol, node));
    await publish(alice, node, 'once');
    const m = await carol.waitMessage(isItemOf(node, 'once'));
    // Only the delivering subscription is named (a single one: no SubID header needed).
    expect(shim(m, 'SubID')).toEqual([]);
    expect(loud).not.toBe(quiet);
  });

  it('include_body=0: the subscriber gets the VOEvent without the readable <body>, others keep it', async () => {
    const node = fresh('voe');
    await create(alice, node, { 'pubsub#type': 'http://www.ivoa.net/xml/VOEvent/v2.0' });
    await subscribe(bob, node, bare(bob), xml('options', {}, form(SUB_OPTIONS, { 'pubsub#include_body': '0' })));
    await subscribe(carol, node);
    const voe = await parseXml(readFileSync(new URL('./fixtures/voevents/fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml', import.meta.url), 'utf8'));
    expect(errorOf(await alice.iq('set', PUBSUB, ps(xml('publish', { node }, xml('item', { id: 'grb' }, voe)))))).toBeUndefined();
    const toCarol = await carol.waitMessage(isItemOf(node, 'grb'));
    const toBob = await bob.waitMessage(isItemOf(node, 'grb'));
    expect(toCarol.getChildText('body')).toContain('1118357');
    expect(toBob.getChild('body')).toBeUndefined();
    expect(eventItems(toBob)!.getChild('item')!.getChildElements()[0]!.name).toMatch(/VOEvent$/);
  });

  it('expire: a subscription past its expiry time receives nothing and is removed', async () => {
    const node = fresh('exp');
    const marker = fresh('marker');
    await create(alice, node);
    await create(alice, marker);
    await subscribe(bob, marker);
    const soon = new Date(Date.now() + 1500).toISOString();
    const subid = subidOf(await subscribe(bob, node, bare(bob), xml('options', {}, form(SUB_OPTIONS, { 'pubsub#expire': soon }))));
    await new Promise((r) => setTimeout(r, 2000));
    await publish(alice, node, 'late');
    await flush(bob, marker);
    expect(bob.messages.some(isItemOf(node, 'late'))).toBe(false);
    expect(errorOf((await optionsOf(bob, node, subid)).reply)).toMatchObject({ condition: 'unexpected-request', pubsub: 'not-subscribed' });
    expect(errorOf(await subscribe(bob, node, bare(bob), xml('options', {}, form(SUB_OPTIONS, { 'pubsub#expire': '2001-01-01T00:00:00Z' })))))
      .toMatchObject({ condition: 'bad-request', pubsub: 'invalid-options' });
  });

  it('refuses with the errors of §6.3.4 and §6.3.5', async () => {
    const node = fresh('opts');
    await create(alice, node);
    expect(errorOf((await optionsOf(bob, node)).reply)).toMatchObject({ condition: 'unexpected-request', pubsub: 'not-subscribed' });
    await subscribe(bob, node);
    expect(errorOf(await bob.iq('get', PUBSUB, ps(xml('options', { node, jid: bare(carol) }))))).toMatchObject({ condition: 'forbidden' });
    expect(errorOf(await setOptions(bob, node, { 'pubsub#deliver': 'perhaps' }))).toMatchObject({ condition: 'bad-request', pubsub: 'invalid-options' });
    expect(errorOf(await setOptions(bob, node, { 'pubsub#colour': 'blue' }))).toMatchObject({ condition: 'bad-request', pubsub: 'invalid-options' });
    expect(errorOf(await setOptions(bob, node, { 'pubsub#subscription_type': 'nodes' }))).toMatchObject({ condition: 'bad-request', pubsub: 'invalid-options' });
    expect(errorOf((await optionsOf(bob, node, 'no-such-subid')).reply)).toMatchObject({ condition: 'not-acceptable', pubsub: 'invalid-subid' });
    await subscribe(bob, node);
    expect(errorOf((await optionsOf(bob, node)).reply)).toMatchObject({ condition: 'bad-request', pubsub: 'subid-required' });
  });
});

describe('item ids (issue 20)', () => {
  it('refuses item ids over 1023 bytes and with control characters (DEL, C1) with bad-request and a clear text', async () => {
    const node = fresh('ids');
    await create(alice, node);
    expect((await publish(alice, node, 'é'.repeat(511) + 'x')).attrs.type).toBe('result'); // 1023 bytes
    for (const id of ['x'.repeat(3000), 'é'.repeat(512), 'bad\u007fid', 'bad\u0085id', 'bad\u009fid']) {
      const r = await publish(alice, node, id);
      expect(errorOf(r), JSON.stringify(id.slice(0, 20))).toMatchObject({ condition: 'bad-request' });
      expect(r.getChild('error')!.getChildText('text', NS.STANZAS)).toMatch(/item id: it (is \d+ bytes long|contains the control character U\+00)/);
    }
    const stored = itemIds(await alice.iq('get', PUBSUB, ps(xml('items', { node }))));
    expect(stored).toEqual(['é'.repeat(511) + 'x']);
  });
});
