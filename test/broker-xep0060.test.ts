/**
 * XEP-0060 use cases against the broker on a real Prosody: every success and every
 * refusal a client can meet, with the exact error the specification prescribes.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { xml, type Element } from '@xmpp/xml';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { NS, ps, owner, entry, errorOf, nodeConfig, form, formFields } from './helpers/pubsub.ts';
import type { TestClient } from './helpers/xmpp.ts';

let env: BrokerEnv;
let alice: TestClient; // alice@svom.fr — node owner
let carol: TestClient; // carol@svom.fr — another local user
let bob: TestClient; // bob@svom.cn — remote domain
let n = 0;
const fresh = (p = 'node') => `${p}-${++n}`;

async function create(c: TestClient, node: string, config?: Record<string, string>): Promise<Element> {
  const children = [xml('create', { node })];
  if (config) children.push(xml('configure', {}, nodeConfig(config)));
  const r = await c.iq('set', PUBSUB, ps(...children));
  expect(errorOf(r), `create ${node}`).toBeUndefined();
  return r;
}
const publish = (c: TestClient, node: string, id: string | undefined, text = 'payload') =>
  c.iq('set', PUBSUB, ps(xml('publish', { node }, xml('item', { id }, entry(text)))));
const subscribe = (c: TestClient, node: string, jid = c.jid) => c.iq('set', PUBSUB, ps(xml('subscribe', { node, jid })));
const items = (c: TestClient, node: string, attrs: Record<string, string> = {}, ...kids: Element[]) =>
  c.iq('get', PUBSUB, ps(xml('items', { node, ...attrs }, ...kids)));
const itemIds = (r: Element) => r.getChild('pubsub', NS.PUBSUB)!.getChild('items')!.getChildren('item').map((i) => i.attrs.id);
const setAffs = (c: TestClient, node: string, affs: Record<string, string>) =>
  c.iq('set', PUBSUB, owner(xml('affiliations', { node }, ...Object.entries(affs).map(([jid, affiliation]) => xml('affiliation', { jid, affiliation })))));
const bare = (c: TestClient) => c.jid.split('/')[0]!;
const eventOf = (m: Element) => m.getChild('event', NS.EVENT);

beforeAll(async () => {
  env = await startBrokerEnv();
  [alice, carol, bob] = await Promise.all([env.client('alice'), env.client('carol'), env.client('bob', 'svom.cn')]);
});
afterAll(async () => env?.stop());

describe('discovery', () => {
  it('disco#info names a pubsub service and exactly the implemented features', async () => {
    const r = await bob.iq('get', PUBSUB, xml('query', { xmlns: NS.DISCO_INFO }));
    const q = r.getChild('query', NS.DISCO_INFO)!;
    const id = q.getChild('identity')!;
    expect(id.attrs).toMatchObject({ category: 'pubsub', type: 'service' });
    const features = q.getChildren('feature').map((f) => f.attrs.var);
    for (const f of ['publish', 'subscribe', 'retrieve-items', 'create-nodes', 'instant-nodes', 'access-authorize', 'access-whitelist', 'publish-options', 'multi-items', 'get-pending', 'last-published'])
      expect(features).toContain(`${NS.PUBSUB}#${f}`);
    for (const f of ['access-presence', 'access-roster', 'presence-notifications', 'presence-subscribe', 'filtered-notifications'])
      expect(features).not.toContain(`${NS.PUBSUB}#${f}`);
    expect(features).toContain(NS.RSM);
  });

  it('disco#items lists nodes, hiding whitelist nodes from non-members', async () => {
    const open = fresh('open');
    const secret = fresh('secret');
    await create(alice, open, { 'pubsub#title': 'Open node' });
    await create(alice, secret, { 'pubsub#access_model': 'whitelist' });
    const list = async (c: TestClient) =>
      (await c.iq('get', PUBSUB, xml('query', { xmlns: NS.DISCO_ITEMS }))).getChild('query')!.getChildren('item').map((i) => i.attrs.node);
    expect(await list(bob)).toContain(open);
    expect(await list(bob)).not.toContain(secret);
    expect(await list(alice)).toContain(secret);
  });

  it('disco#info on a node returns the meta-data form', async () => {
    const node = fresh();
    await create(alice, node, { 'pubsub#title': 'SVOM ECLAIRs alerts', 'pubsub#type': 'http://www.ivoa.net/xml/VOEvent/v2.0' });
    const r = await bob.iq('get', PUBSUB, xml('query', { xmlns: NS.DISCO_INFO, node }));
    const q = r.getChild('query')!;
    expect(q.getChild('identity')!.attrs).toMatchObject({ category: 'pubsub', type: 'leaf' });
    const f = formFields(q.getChild('x', NS.DATA));
    expect(f.FORM_TYPE).toEqual(['http://jabber.org/protocol/pubsub#meta-data']);
    expect(f['pubsub#title']).toEqual(['SVOM ECLAIRs alerts']);
    expect(f['pubsub#type']).toEqual(['http://www.ivoa.net/xml/VOEvent/v2.0']);
    expect(f['pubsub#owner']).toEqual([bare(alice)]);
    expect(f['pubsub#access_model']).toEqual(['open']);
  });

  it('disco#info on a missing node is item-not-found', async () => {
    const r = await bob.iq('get', PUBSUB, xml('query', { xmlns: NS.DISCO_INFO, node: 'no-such-node' }));
    expect(errorOf(r)).toMatchObject({ condition: 'item-not-found', type: 'cancel' });
  });
});

describe('owner: create, configure, delete, purge', () => {
  it('creates an instant node and returns its generated id', async () => {
    const r = await alice.iq('set', PUBSUB, ps(xml('create')));
    const node = r.getChild('pubsub')!.getChild('create')!.attrs.node;
    expect(node).toMatch(/.+/);
    const info = await alice.iq('get', PUBSUB, xml('query', { xmlns: NS.DISCO_INFO, node }));
    expect(info.attrs.type).toBe('result');
  });

  it('creates with a configure form, and refuses a second node of the same id with conflict', async () => {
    const node = fresh();
    await create(alice, node, { 'pubsub#max_items': '5', 'pubsub#access_model': 'authorize' });
    const cfg = await alice.iq('get', PUBSUB, owner(xml('configure', { node })));
    const f = formFields(cfg.getChild('pubsub', NS.OWNER)!.getChild('configure')!.getChild('x', NS.DATA));
    expect(f['pubsub#max_items']).toEqual(['5']);
    expect(f['pubsub#access_model']).toEqual(['authorize']);
    const again = await alice.iq('set', PUBSUB, ps(xml('create', { node })));
    expect(errorOf(again)).toMatchObject({ condition: 'conflict', type: 'cancel' });
  });

  it('refuses presence and roster access models with not-acceptable + unsupported-access-model', async () => {
    for (const model of ['presence', 'roster']) {
      const r = await alice.iq('set', PUBSUB, ps(xml('create', { node: fresh() }), xml('configure', {}, nodeConfig({ 'pubsub#access_model': model }))));
      expect(errorOf(r)).toMatchObject({ condition: 'not-acceptable', pubsub: 'unsupported-access-model' });
    }
  });

  it('refuses an invalid configuration value with not-acceptable and keeps the old one', async () => {
    const node = fresh();
    await create(alice, node);
    const r = await alice.iq('set', PUBSUB, owner(xml('configure', { node }, nodeConfig({ 'pubsub#max_items': 'many' }))));
    expect(errorOf(r)).toMatchObject({ condition: 'not-acceptable' });
    const cfg = await alice.iq('get', PUBSUB, owner(xml('configure', { node })));
    expect(formFields(cfg.getChild('pubsub')!.getChild('configure')!.getChild('x'))['pubsub#max_items']).toEqual(['1000']);
  });

  it('returns the default configuration', async () => {
    const r = await alice.iq('get', PUBSUB, owner(xml('default')));
    const f = formFields(r.getChild('pubsub', NS.OWNER)!.getChild('default')!.getChild('x', NS.DATA));
    expect(f.FORM_TYPE).toEqual(['http://jabber.org/protocol/pubsub#node_config']);
    expect(f['pubsub#access_model']).toEqual(['open']);
    for (const k of ['publish_model', 'max_items', 'persist_items', 'send_last_published_item', 'deliver_payloads', 'deliver_notifications', 'notify_retract', 'notify_delete', 'notify_config', 'title', 'type', 'max_payload_size'])
      expect(f, k).toHaveProperty(`pubsub#${k}`);
  });

  it('refuses configuration by a non-owner with forbidden, and of a missing node with item-not-found', async () => {
    const node = fresh();
    await create(alice, node);
    expect(errorOf(await bob.iq('get', PUBSUB, owner(xml('configure', { node })))))
      .toMatchObject({ condition: 'forbidden', type: 'auth' });
    expect(errorOf(await alice.iq('get', PUBSUB, owner(xml('configure', { node: 'missing-node' })))))
      .toMatchObject({ condition: 'item-not-found' });
  });

  it('notifies subscribers of configuration changes when notify_config is set', async () => {
    const node = fresh();
    await create(alice, node, { 'pubsub#notify_config': '1' });
    await subscribe(bob, node);
    await alice.iq('set', PUBSUB, owner(xml('configure', { node }, nodeConfig({ 'pubsub#title': 'renamed' }))));
    const m = await bob.waitMessage((m) => eventOf(m)?.getChild('configuration')?.attrs.node === node);
    expect(formFields(eventOf(m)!.getChild('configuration')!.getChild('x', NS.DATA))['pubsub#title']).toEqual(['renamed']);
  });

  it('deletes a node, notifying subscribers with the redirect', async () => {
    const node = fresh();
    await create(alice, node);
    await subscribe(bob, node);
    expect(errorOf(await bob.iq('set', PUBSUB, owner(xml('delete', { node }))))).toMatchObject({ condition: 'forbidden' });
    const r = await alice.iq('set', PUBSUB, owner(xml('delete', { node }, xml('redirect', { uri: `xmpp:${PUBSUB}?;node=elsewhere` }))));
    expect(r.attrs.type).toBe('result');
    const m = await bob.waitMessage((m) => eventOf(m)?.getChild('delete')?.attrs.node === node);
    expect(eventOf(m)!.getChild('delete')!.getChild('redirect')!.attrs.uri).toBe(`xmpp:${PUBSUB}?;node=elsewhere`);
    expect(errorOf(await items(alice, node))).toMatchObject({ condition: 'item-not-found' });
  });

  it('purges all items, notifying subscribers; a non-owner gets forbidden', async () => {
    const node = fresh();
    await create(alice, node);
    await publish(alice, node, 'a');
    await publish(alice, node, 'b');
    await subscribe(bob, node);
    expect(errorOf(await bob.iq('set', PUBSUB, owner(xml('purge', { node }))))).toMatchObject({ condition: 'forbidden' });
    expect((await alice.iq('set', PUBSUB, owner(xml('purge', { node })))).attrs.type).toBe('result');
    await bob.waitMessage((m) => eventOf(m)?.getChild('purge')?.attrs.node === node);
    expect(itemIds(await items(alice, node))).toEqual([]);
  });
});

describe('publisher: publish, publish-options, retract', () => {
  it('generates an item id when none is given', async () => {
    const node = fresh();
    await create(alice, node);
    const r = await publish(alice, node, undefined);
    const id = r.getChild('pubsub')!.getChild('publish')!.getChild('item')!.attrs.id;
    expect(id).toMatch(/.+/);
    expect(itemIds(await items(alice, node))).toEqual([id]);
  });

  it('publishes several items in one request', async () => {
    const node = fresh();
    await create(alice, node);
    const r = await alice.iq('set', PUBSUB, ps(xml('publish', { node }, xml('item', { id: 'x1' }, entry('1')), xml('item', { id: 'x2' }, entry('2')))));
    expect(r.getChild('pubsub')!.getChild('publish')!.getChildren('item').map((i) => i.attrs.id)).toEqual(['x1', 'x2']);
    expect(itemIds(await items(bob, node))).toEqual(['x1', 'x2']);
  });

  it('republishing an item id replaces the item', async () => {
    const node = fresh();
    await create(alice, node);
    await publish(alice, node, 'same', 'first');
    await publish(alice, node, 'other', 'x');
    await publish(alice, node, 'same', 'second');
    const r = await items(bob, node);
    expect(itemIds(r)).toEqual(['other', 'same']);
    const same = r.getChild('pubsub')!.getChild('items')!.getChildren('item')[1]!;
    expect(same.getChild('entry')!.getChildText('title')).toBe('second');
  });

  it('keeps only max_items items', async () => {
    const node = fresh();
    await create(alice, node, { 'pubsub#max_items': '2' });
    for (const id of ['i1', 'i2', 'i3']) await publish(alice, node, id);
    expect(itemIds(await items(bob, node))).toEqual(['i2', 'i3']);
  });

  it('refuses publication by a non-publisher with forbidden, to a missing node with item-not-found', async () => {
    const node = fresh();
    await create(alice, node);
    expect(errorOf(await publish(bob, node, 'x'))).toMatchObject({ condition: 'forbidden', type: 'auth' });
    expect(errorOf(await publish(bob, 'missing-node', 'x'))).toMatchObject({ condition: 'item-not-found' });
  });

  it('auto-creates a node on publish for users allowed to create, applying publish-options', async () => {
    const node = fresh('auto');
    const r = await alice.iq('set', PUBSUB, ps(
      xml('publish', { node }, xml('item', { id: 'p' }, entry('x'))),
      xml('publish-options', {}, form('http://jabber.org/protocol/pubsub#publish-options', { 'pubsub#access_model': 'whitelist' }))));
    expect(r.attrs.type).toBe('result');
    expect(errorOf(await items(bob, node))).toMatchObject({ condition: 'not-allowed', pubsub: 'closed-node' });
  });

  it('checks publish-options preconditions: conflict + precondition-not-met when they differ', async () => {
    const node = fresh();
    await create(alice, node);
    const withOpts = (model: string) => alice.iq('set', PUBSUB, ps(
      xml('publish', { node }, xml('item', { id: 'p' }, entry('x'))),
      xml('publish-options', {}, form('http://jabber.org/protocol/pubsub#publish-options', { 'pubsub#access_model': model }))));
    expect(errorOf(await withOpts('whitelist'))).toMatchObject({ condition: 'conflict', pubsub: 'precondition-not-met' });
    expect((await withOpts('open')).attrs.type).toBe('result');
  });

  it('refuses a payload larger than max_payload_size with not-acceptable + payload-too-big', async () => {
    const node = fresh();
    await create(alice, node, { 'pubsub#max_payload_size': '200' });
    const r = await publish(alice, node, 'big', 'x'.repeat(500));
    expect(errorOf(r)).toMatchObject({ condition: 'not-acceptable', pubsub: 'payload-too-big' });
    expect(itemIds(await items(alice, node))).toEqual([]);
  });

  it('refuses an item with two payloads with bad-request + invalid-payload', async () => {
    const node = fresh();
    await create(alice, node);
    const r = await alice.iq('set', PUBSUB, ps(xml('publish', { node }, xml('item', { id: 'two' }, entry('a'), entry('b')))));
    expect(errorOf(r)).toMatchObject({ condition: 'bad-request', pubsub: 'invalid-payload' });
  });

  it('refuses a publish without node with bad-request + nodeid-required', async () => {
    const r = await alice.iq('set', PUBSUB, ps(xml('publish', {}, xml('item', {}, entry('a')))));
    expect(errorOf(r)).toMatchObject({ condition: 'bad-request', pubsub: 'nodeid-required' });
  });

  it('retracts with notification; a missing item is item-not-found; others may not retract', async () => {
    const node = fresh();
    await create(alice, node);
    await subscribe(bob, node);
    await publish(alice, node, 'gone');
    expect(errorOf(await bob.iq('set', PUBSUB, ps(xml('retract', { node }, xml('item', { id: 'gone' }))))))
      .toMatchObject({ condition: 'forbidden' });
    const r = await alice.iq('set', PUBSUB, ps(xml('retract', { node, notify: 'true' }, xml('item', { id: 'gone' }))));
    expect(r.attrs.type).toBe('result');
    const m = await bob.waitMessage((m) => eventOf(m)?.getChild('items')?.getChild('retract')?.attrs.id === 'gone');
    expect(eventOf(m)!.getChild('items')!.attrs.node).toBe(node);
    expect(errorOf(await alice.iq('set', PUBSUB, ps(xml('retract', { node }, xml('item', { id: 'gone' }))))))
      .toMatchObject({ condition: 'item-not-found' });
    expect(errorOf(await alice.iq('set', PUBSUB, ps(xml('retract', { node })))))
      .toMatchObject({ condition: 'bad-request', pubsub: 'item-required' });
  });

  it('publish-only affiliates publish but may neither subscribe nor retrieve; they retract only their own items', async () => {
    const node = fresh();
    await create(alice, node, { 'pubsub#access_model': 'whitelist' });
    await setAffs(alice, node, { [bare(carol)]: 'publish-only' });
    expect((await publish(carol, node, 'c1')).attrs.type).toBe('result');
    expect(errorOf(await subscribe(carol, node))).toMatchObject({ condition: 'forbidden' });
    expect(errorOf(await items(carol, node))).toMatchObject({ condition: 'forbidden' });
    await publish(alice, node, 'a1');
    expect(errorOf(await carol.iq('set', PUBSUB, ps(xml('retract', { node }, xml('item', { id: 'a1' }))))))
      .toMatchObject({ condition: 'forbidden' });
    expect((await carol.iq('set', PUBSUB, ps(xml('retract', { node }, xml('item', { id: 'c1' }))))).attrs.type).toBe('result');
  });
});

describe('subscriber: subscribe, unsubscribe, retrieve', () => {
  it('refuses subscribing another JID with bad-request + invalid-jid', async () => {
    const node = fresh();
    await create(alice, node);
    const r = await subscribe(bob, node, 'someone@svom.cn');
    expect(errorOf(r)).toMatchObject({ condition: 'bad-request', pubsub: 'invalid-jid' });
  });

  it('accepts bare and full JIDs; a full-JID subscription receives at that resource', async () => {
    const node = fresh();
    await create(alice, node);
    const bareSub = await subscribe(bob, node, bare(bob));
    expect(bareSub.getChild('pubsub')!.getChild('subscription')!.attrs.jid).toBe(bare(bob));
    const fullSub = await subscribe(bob, node, bob.jid);
    const s1 = bareSub.getChild('pubsub')!.getChild('subscription')!.attrs.subid;
    const s2 = fullSub.getChild('pubsub')!.getChild('subscription')!.attrs.subid;
    expect(s1).not.toBe(s2);
    const subs = await bob.iq('get', PUBSUB, ps(xml('subscriptions', { node })));
    expect(subs.getChild('pubsub')!.getChild('subscriptions')!.getChildren('subscription').map((s) => s.attrs.subid).sort()).toEqual([s1, s2].sort());
    await publish(alice, node, 'twice');
    const m = await bob.waitMessage((m) => eventOf(m)?.getChild('items')?.attrs.node === node);
    expect(m.attrs.to).toBeTruthy();
  });

  it('unsubscribes; with several subscriptions the subid is required; unknown subid is invalid-subid', async () => {
    const node = fresh();
    await create(alice, node);
    await subscribe(carol, node, bare(carol));
    const full = await subscribe(carol, node, carol.jid);
    const subid = full.getChild('pubsub')!.getChild('subscription')!.attrs.subid;
    expect(errorOf(await carol.iq('set', PUBSUB, ps(xml('unsubscribe', { node, jid: carol.jid, subid: 'nope' })))))
      .toMatchObject({ condition: 'not-acceptable', pubsub: 'invalid-subid' });
    expect((await carol.iq('set', PUBSUB, ps(xml('unsubscribe', { node, jid: carol.jid, subid })))).attrs.type).toBe('result');
    expect((await carol.iq('set', PUBSUB, ps(xml('unsubscribe', { node, jid: bare(carol) })))).attrs.type).toBe('result');
    expect(errorOf(await carol.iq('set', PUBSUB, ps(xml('unsubscribe', { node, jid: bare(carol) })))))
      .toMatchObject({ condition: 'unexpected-request', pubsub: 'not-subscribed' });
    expect(errorOf(await bob.iq('set', PUBSUB, ps(xml('unsubscribe', { node, jid: bare(alice) })))))
      .toMatchObject({ condition: 'forbidden' });
  });

  it('retrieves all items, the newest N, and items by id', async () => {
    const node = fresh();
    await create(alice, node);
    for (const id of ['r1', 'r2', 'r3', 'r4']) await publish(alice, node, id);
    expect(itemIds(await items(bob, node))).toEqual(['r1', 'r2', 'r3', 'r4']);
    expect(itemIds(await items(bob, node, { max_items: '2' }))).toEqual(['r3', 'r4']);
    expect(itemIds(await items(bob, node, {}, xml('item', { id: 'r2' })))).toEqual(['r2']);
    expect(errorOf(await items(bob, node, {}, xml('item', { id: 'nope' })))).toMatchObject({ condition: 'item-not-found' });
  });

  it('pages through items with XEP-0059 (max, after, before, count)', async () => {
    const node = fresh();
    await create(alice, node);
    for (let i = 1; i <= 7; i++) await publish(alice, node, `p${i}`);
    const rsm = (...kids: Element[]) => xml('set', { xmlns: NS.RSM }, ...kids);
    const first = await items(bob, node, {}, );
    expect(itemIds(first)).toHaveLength(7);
    const page1 = await bob.iq('get', PUBSUB, ps(xml('items', { node }), rsm(xml('max', {}, '3'), xml('after', {}, 'p2'))));
    expect(itemIds(page1)).toEqual(['p3', 'p4', 'p5']);
    const set = page1.getChild('pubsub')!.getChild('set', NS.RSM)!;
    expect(set.getChildText('first')).toBe('p3');
    expect(set.getChild('first')!.attrs.index).toBe('2');
    expect(set.getChildText('last')).toBe('p5');
    expect(set.getChildText('count')).toBe('7');
    const page2 = await bob.iq('get', PUBSUB, ps(xml('items', { node }), rsm(xml('max', {}, '3'), xml('after', {}, 'p5'))));
    expect(itemIds(page2)).toEqual(['p6', 'p7']);
    const last = await bob.iq('get', PUBSUB, ps(xml('items', { node }), rsm(xml('max', {}, '2'), xml('before'))));
    expect(itemIds(last)).toEqual(['p6', 'p7']);
    const before = await bob.iq('get', PUBSUB, ps(xml('items', { node }), rsm(xml('max', {}, '2'), xml('before', {}, 'p3'))));
    expect(itemIds(before)).toEqual(['p1', 'p2']);
    const gone = await bob.iq('get', PUBSUB, ps(xml('items', { node }), rsm(xml('max', {}, '2'), xml('after', {}, 'vanished'))));
    expect(errorOf(gone)).toMatchObject({ condition: 'item-not-found' });
  });

  it('cuts an items reply that would exceed the server stanza limit, paging on with RSM', async () => {
    const node = fresh();
    await create(alice, node, { 'pubsub#max_payload_size': '200000' });
    // 8 items of ~100 KB: 800 KB would exceed Prosody's 512 KiB limit for component stanzas.
    for (let i = 1; i <= 8; i++) expect((await publish(alice, node, `big${i}`, 'x'.repeat(100_000))).attrs.type).toBe('result');
    const rsm = (...kids: Element[]) => xml('set', { xmlns: NS.RSM }, ...kids);
    const seen: string[] = [];
    let after: string | undefined;
    for (let round = 0; round < 8 && seen.length < 8; round++) {
      const r = await bob.iq('get', PUBSUB, ps(xml('items', { node }), rsm(xml('max', {}, '100'), ...(after ? [xml('after', {}, after)] : [xml('index', {}, '0')]))));
      expect(errorOf(r)).toBeUndefined();
      const ids = itemIds(r);
      expect(ids.length).toBeGreaterThan(0);
      expect(ids.length).toBeLessThan(8);
      const set = r.getChild('pubsub')!.getChild('set', NS.RSM)!;
      expect(set.getChildText('count')).toBe('8');
      expect(set.getChildText('last')).toBe(ids[ids.length - 1]);
      seen.push(...ids);
      after = set.getChildText('last')!;
    }
    expect(seen).toEqual(['big1', 'big2', 'big3', 'big4', 'big5', 'big6', 'big7', 'big8']);
    // The newest page keeps the newest items; the link survives all of it.
    const newest = await bob.iq('get', PUBSUB, ps(xml('items', { node })));
    expect(itemIds(newest).at(-1)).toBe('big8');
    expect((await bob.iq('get', PUBSUB, xml('ping', { xmlns: 'urn:xmpp:ping' }))).attrs.type).toBe('result');
  });

  it('sends the last published item on subscribe when configured', async () => {
    const node = fresh();
    await create(alice, node, { 'pubsub#send_last_published_item': 'on_sub' });
    await publish(alice, node, 'old');
    await publish(alice, node, 'latest', 'the latest');
    await subscribe(carol, node);
    const m = await carol.waitMessage((m) => eventOf(m)?.getChild('items')?.attrs.node === node);
    expect(eventOf(m)!.getChild('items')!.getChildren('item').map((i) => i.attrs.id)).toEqual(['latest']);
    expect(m.getChild('delay', 'urn:xmpp:delay')).toBeTruthy();
  });

  it('lists own subscriptions and affiliations across nodes', async () => {
    const node = fresh();
    await create(alice, node);
    await subscribe(bob, node);
    const subs = await bob.iq('get', PUBSUB, ps(xml('subscriptions')));
    expect(subs.getChild('pubsub')!.getChild('subscriptions')!.getChildren('subscription').some((s) => s.attrs.node === node && s.attrs.subscription === 'subscribed')).toBe(true);
    const affs = await alice.iq('get', PUBSUB, ps(xml('affiliations')));
    expect(affs.getChild('pubsub')!.getChild('affiliations')!.getChildren('affiliation').find((a) => a.attrs.node === node)?.attrs.affiliation).toBe('owner');
  });
});

describe('access models and affiliations', () => {
  it('whitelist: non-members get not-allowed + closed-node; members subscribe and retrieve', async () => {
    const node = fresh();
    await create(alice, node, { 'pubsub#access_model': 'whitelist' });
    expect(errorOf(await subscribe(bob, node))).toMatchObject({ condition: 'not-allowed', pubsub: 'closed-node', type: 'cancel' });
    expect(errorOf(await items(bob, node))).toMatchObject({ condition: 'not-allowed', pubsub: 'closed-node' });
    expect((await setAffs(alice, node, { [bare(bob)]: 'member' })).attrs.type).toBe('result');
    expect((await subscribe(bob, node)).attrs.type).toBe('result');
    expect((await items(bob, node)).attrs.type).toBe('result');
  });

  it('outcasts are refused with forbidden and lose their subscription at once, being told', async () => {
    const node = fresh();
    await create(alice, node);
    await subscribe(bob, node);
    await setAffs(alice, node, { [bare(bob)]: 'outcast' });
    const m = await bob.waitMessage((m) => m.getChild('pubsub', NS.PUBSUB)?.getChild('subscription')?.attrs.node === node);
    expect(m.getChild('pubsub')!.getChild('subscription')!.attrs.subscription).toBe('none');
    expect(errorOf(await subscribe(bob, node))).toMatchObject({ condition: 'forbidden', type: 'auth' });
    expect(errorOf(await items(bob, node))).toMatchObject({ condition: 'forbidden' });
    const subs = await alice.iq('get', PUBSUB, owner(xml('subscriptions', { node })));
    expect(subs.getChild('pubsub')!.getChild('subscriptions')!.getChildren('subscription')).toHaveLength(0);
  });

  it('retrieves and modifies affiliations; only owners may; the last owner cannot leave', async () => {
    const node = fresh();
    await create(alice, node);
    expect(errorOf(await bob.iq('get', PUBSUB, owner(xml('affiliations', { node }))))).toMatchObject({ condition: 'forbidden' });
    await setAffs(alice, node, { [bare(carol)]: 'publisher', [bare(bob)]: 'member' });
    const r = await alice.iq('get', PUBSUB, owner(xml('affiliations', { node })));
    const affs = Object.fromEntries(r.getChild('pubsub', NS.OWNER)!.getChild('affiliations')!.getChildren('affiliation').map((a) => [a.attrs.jid, a.attrs.affiliation]));
    expect(affs).toEqual({ [bare(alice)]: 'owner', [bare(carol)]: 'publisher', [bare(bob)]: 'member' });
    expect((await publish(carol, node, 'by-carol')).attrs.type).toBe('result');
    expect(errorOf(await setAffs(alice, node, { [bare(alice)]: 'none' }))).toMatchObject({ condition: 'not-acceptable' });
    expect(errorOf(await setAffs(alice, node, { 'not a jid@@': 'member' }))).toMatchObject({ condition: 'bad-request', pubsub: 'invalid-jid' });
    expect(errorOf(await setAffs(alice, node, { [bare(bob)]: 'emperor' }))).toMatchObject({ condition: 'bad-request' });
  });

  it('manages subscriptions: owner lists, adds and removes them; others get forbidden', async () => {
    const node = fresh();
    await create(alice, node);
    await subscribe(bob, node);
    expect(errorOf(await bob.iq('get', PUBSUB, owner(xml('subscriptions', { node }))))).toMatchObject({ condition: 'forbidden' });
    const list = await alice.iq('get', PUBSUB, owner(xml('subscriptions', { node })));
    expect(list.getChild('pubsub')!.getChild('subscriptions')!.getChildren('subscription').map((s) => s.attrs.jid)).toEqual([bob.jid]);
    const set = await alice.iq('set', PUBSUB, owner(xml('subscriptions', { node },
      xml('subscription', { jid: bob.jid, subscription: 'none' }),
      xml('subscription', { jid: bare(carol), subscription: 'subscribed' }))));
    expect(set.attrs.type).toBe('result');
    await bob.waitMessage((m) => m.getChild('pubsub', NS.PUBSUB)?.getChild('subscription')?.attrs.subscription === 'none' && m.getChild('pubsub')!.getChild('subscription')!.attrs.node === node);
    await publish(alice, node, 'after');
    await carol.waitMessage((m) => eventOf(m)?.getChild('items')?.attrs.node === node);
  });

  it('authorize: subscription is pending until the owner approves through the data form', async () => {
    const node = fresh();
    await create(alice, node, { 'pubsub#access_model': 'authorize' });
    const r = await subscribe(bob, node);
    expect(r.getChild('pubsub')!.getChild('subscription')!.attrs.subscription).toBe('pending');
    expect(errorOf(await items(bob, node))).toMatchObject({ condition: 'not-authorized', pubsub: 'not-subscribed' });
    expect(errorOf(await subscribe(bob, node))).toMatchObject({ condition: 'not-authorized', pubsub: 'pending-subscription' });
    const ask = await alice.waitMessage((m) => formFields(m.getChild('x', NS.DATA))['pubsub#node']?.[0] === node);
    const f = formFields(ask.getChild('x', NS.DATA));
    expect(f.FORM_TYPE).toEqual(['http://jabber.org/protocol/pubsub#subscribe_authorization']);
    expect(f['pubsub#subscriber_jid']).toEqual([bob.jid]);
    // The owner can also list pending requests (XEP-0060 §8.7, ad-hoc command).
    const cmd = await alice.iq('set', PUBSUB, xml('command', { xmlns: 'http://jabber.org/protocol/commands', node: 'http://jabber.org/protocol/pubsub#get-pending', action: 'execute' }));
    const options = cmd.getChild('command')!.getChild('x', NS.DATA)!.getChildren('field').find((x) => x.attrs.var === 'pubsub#node')!.getChildren('option').map((o) => o.getChildText('value'));
    expect(options).toContain(node);
    const owners = await alice.iq('get', PUBSUB, owner(xml('subscriptions', { node })));
    expect(owners.getChild('pubsub')!.getChild('subscriptions')!.getChildren('subscription')[0]!.attrs.subscription).toBe('pending');
    await alice.xmpp.send(xml('message', { to: PUBSUB, id: 'approve1' },
      form('http://jabber.org/protocol/pubsub#subscribe_authorization', {
        'pubsub#subid': f['pubsub#subid']![0]!, 'pubsub#node': node, 'pubsub#subscriber_jid': bob.jid, 'pubsub#allow': 'true' })));
    const ok = await bob.waitMessage((m) => m.getChild('pubsub', NS.PUBSUB)?.getChild('subscription')?.attrs.node === node);
    expect(ok.getChild('pubsub')!.getChild('subscription')!.attrs.subscription).toBe('subscribed');
    expect((await items(bob, node)).attrs.type).toBe('result');
  });

  it('authorize: a denied request leaves no subscription and the subscriber is told', async () => {
    const node = fresh();
    await create(alice, node, { 'pubsub#access_model': 'authorize' });
    await subscribe(carol, node);
    const ask = await alice.waitMessage((m) => formFields(m.getChild('x', NS.DATA))['pubsub#node']?.[0] === node);
    const f = formFields(ask.getChild('x', NS.DATA));
    await alice.xmpp.send(xml('message', { to: PUBSUB },
      form('http://jabber.org/protocol/pubsub#subscribe_authorization', {
        'pubsub#subid': f['pubsub#subid']![0]!, 'pubsub#node': node, 'pubsub#subscriber_jid': carol.jid, 'pubsub#allow': 'false' })));
    const no = await carol.waitMessage((m) => m.getChild('pubsub', NS.PUBSUB)?.getChild('subscription')?.attrs.node === node);
    expect(no.getChild('pubsub')!.getChild('subscription')!.attrs.subscription).toBe('none');
  });

  it('says which feature is missing: purging a node that keeps no items is feature-not-implemented + unsupported', async () => {
    const node = fresh();
    await create(alice, node, { 'pubsub#persist_items': '0' });
    const r = await alice.iq('set', PUBSUB, owner(xml('purge', { node })));
    expect(errorOf(r)).toMatchObject({ condition: 'feature-not-implemented', pubsub: 'unsupported', feature: 'persistent-items' });
  });

  it('answers an unknown namespace with service-unavailable', async () => {
    const r = await bob.iq('get', PUBSUB, xml('query', { xmlns: 'urn:example:unknown' }));
    expect(errorOf(r)).toMatchObject({ condition: 'service-unavailable' });
  });
});
