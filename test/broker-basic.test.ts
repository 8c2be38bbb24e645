import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { xml } from '@xmpp/xml';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { NS, ps, owner, entry, errorOf, nodeConfig, formFields } from './helpers/pubsub.ts';
import type { TestClient } from './helpers/xmpp.ts';

describe('broker: publish and subscribe through Prosody', () => {
  let env: BrokerEnv;
  let alice: TestClient; // svom.fr: may create nodes
  let bob: TestClient; // svom.cn: cross-domain subscriber
  beforeAll(async () => {
    env = await startBrokerEnv();
    alice = await env.client('alice');
    bob = await env.client('bob', 'svom.cn');
  });
  afterAll(async () => env?.stop());

  it('creates a node, delivers a published item to a subscriber on another domain', async () => {
    const created = await alice.iq('set', PUBSUB, ps(xml('create', { node: 'grb' })));
    expect(created.attrs.type).toBe('result');
    const sub = await bob.iq('set', PUBSUB, ps(xml('subscribe', { node: 'grb', jid: bob.jid })));
    expect(sub.attrs.type).toBe('result');
    const s = sub.getChild('pubsub', NS.PUBSUB)!.getChild('subscription')!;
    expect(s.attrs.subscription).toBe('subscribed');
    expect(s.attrs.subid).toBeTruthy();
    const pub = await alice.iq('set', PUBSUB, ps(xml('publish', { node: 'grb' }, xml('item', { id: 'one' }, entry('GRB 260101A')))));
    expect(pub.attrs.type).toBe('result');
    expect(pub.getChild('pubsub')!.getChild('publish')!.getChild('item')!.attrs.id).toBe('one');
    const msg = await bob.waitMessage((m) => !!m.getChild('event', NS.EVENT));
    const item = msg.getChild('event', NS.EVENT)!.getChild('items')!.getChild('item')!;
    expect(item.attrs.id).toBe('one');
    expect(item.getChild('entry', 'urn:example:entry')!.getChildText('title')).toBe('GRB 260101A');
    expect(msg.attrs.from).toBe(PUBSUB);
  });

  it('refuses creation by a user of a domain not allowed to create nodes', async () => {
    const r = await bob.iq('set', PUBSUB, ps(xml('create', { node: 'bobs' })));
    expect(errorOf(r)).toMatchObject({ condition: 'forbidden', type: 'auth' });
  });

  it('answers the node configuration form', async () => {
    const r = await alice.iq('get', PUBSUB, owner(xml('configure', { node: 'grb' })));
    const f = formFields(r.getChild('pubsub', NS.OWNER)!.getChild('configure')!.getChild('x', NS.DATA));
    expect(f['pubsub#access_model']).toEqual(['open']);
    const set = await alice.iq('set', PUBSUB, owner(xml('configure', { node: 'grb' }, nodeConfig({ 'pubsub#max_items': '2' }))));
    expect(set.attrs.type).toBe('result');
  });

  it('keeps non-ASCII payloads intact across socket reads, in notifications and in storage', async () => {
    const text = 'Δt = 3.2 s, position ± 0.5°, Ångström, 東京 '.repeat(3000);
    await alice.iq('set', PUBSUB, ps(xml('create', { node: 'utf8' })));
    await bob.iq('set', PUBSUB, ps(xml('subscribe', { node: 'utf8', jid: bob.jid })));
    const r = await alice.iq('set', PUBSUB, ps(xml('publish', { node: 'utf8' }, xml('item', { id: 'u' }, entry(text)))));
    expect(errorOf(r)).toBeUndefined();
    const m = await bob.waitMessage((m) => m.getChild('event', NS.EVENT)?.getChild('items')?.attrs.node === 'utf8');
    expect(m.getChild('event')!.getChild('items')!.getChild('item')!.getChild('entry')!.getChildText('title')).toBe(text);
    const got = await bob.iq('get', PUBSUB, ps(xml('items', { node: 'utf8' })));
    expect(got.getChild('pubsub')!.getChild('items')!.getChild('item')!.getChild('entry')!.getChildText('title')).toBe(text);
  });
});
