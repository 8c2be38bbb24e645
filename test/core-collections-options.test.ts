/**
 * Fast tier (no servers): the core's collections (XEP-0248) and subscription
 * options as typed values. Who receives a leaf's items through a collection, per
 * leaf access and subscription depth; options that silence or end a subscription
 * (injected clock); refusals that change nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PubsubService, type ServiceEvent } from '../broker-component/core/service.ts';
import { SqliteStore } from '../broker-component/store/sqlite.ts';
import { DEFAULT_SUBSCRIPTION_OPTIONS } from '../pubsub/subscription-options.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'voxnet-coll-'));
  dirs.push(dir);
  const notes: ServiceEvent[] = [];
  let t = 1_000_000;
  const service = new PubsubService(new SqliteStore(dir), {
    canCreate: (bare) => bare.endsWith('@svom.fr'),
    now: () => t,
    onEvent: (ev) => {
      notes.push(ev);
      return Promise.resolve();
    },
  });
  const lastItems = () => notes.filter((e) => e.kind === 'items').at(-1) as Extract<ServiceEvent, { kind: 'items' }>;
  return { service, notes, lastItems, advance: (ms: number) => (t += ms), dir };
}

const alice = { jid: 'alice@svom.fr/a', bare: 'alice@svom.fr' };
const bob = { jid: 'bob@svom.cn/b', bare: 'bob@svom.cn' };
const carol = { jid: 'carol@svom.cn/c', bare: 'carol@svom.cn' };
const item = (id: string) => [{ id, payload: `<x xmlns="urn:x">${id}</x>` }];

describe('collections in the core', () => {
  it('recipients through a collection: per leaf access, within the subscription depth, with the collection named', () => {
    const { service, lastItems } = setup();
    service.createNode(alice, 'svom', { node_type: 'collection' });
    service.createNode(alice, 'svom/eclairs', { node_type: 'collection', collection: ['svom'] });
    service.createNode(alice, 'svom/eclairs/public', { collection: ['svom/eclairs'] });
    service.createNode(alice, 'svom/eclairs/pi', { collection: ['svom/eclairs'], access_model: 'whitelist' });
    service.subscribe(bob, 'svom', bob.bare, { ...DEFAULT_SUBSCRIPTION_OPTIONS, subscription_depth: Infinity });
    service.subscribe(carol, 'svom', carol.bare); // depth 1: only the direct children of svom
    service.subscribe(carol, 'svom/eclairs', carol.bare);

    service.publish(alice, 'svom/eclairs/public', item('p1'));
    expect(lastItems().recipients.map((r) => [r.jid, r.collection]).sort()).toEqual([['bob@svom.cn', 'svom'], ['carol@svom.cn', 'svom/eclairs']]);
    service.publish(alice, 'svom/eclairs/pi', item('s1'));
    expect(lastItems().recipients).toEqual([]);
    service.setAffiliations(alice, 'svom/eclairs/pi', [{ jid: 'bob@svom.cn', affiliation: 'member' }]);
    service.publish(alice, 'svom/eclairs/pi', item('s2'));
    expect(lastItems().recipients.map((r) => r.jid)).toEqual(['bob@svom.cn']);
  });

  it('a direct subscription wins over the collection: one recipient, no Collection header, both subids', () => {
    const { service, lastItems } = setup();
    service.createNode(alice, 'c', { node_type: 'collection' });
    service.createNode(alice, 'leaf', { collection: ['c'] });
    const viaC = service.subscribe(bob, 'c', bob.bare);
    const direct = service.subscribe(bob, 'leaf', bob.bare);
    service.publish(alice, 'leaf', item('i'));
    expect(lastItems().recipients).toEqual([{ jid: 'bob@svom.cn', subids: [direct.subid, viaC.subid], body: true }]);
  });

  it('refuses cycles and leaves the configuration as it was', () => {
    const { service } = setup();
    service.createNode(alice, 'a', { node_type: 'collection' });
    service.createNode(alice, 'b', { node_type: 'collection', collection: ['a'] });
    expect(() => service.configure(alice, 'a', { collection: ['b'] })).toThrow(/cannot contain itself/);
    expect(service.nodeConfig('a')!.collection).toEqual([]);
    expect(() => service.configure(alice, 'b', {}, ['a'])).toThrow(/cannot contain itself/);
    expect(service.childrenOf('b')).toEqual([]);
    expect(service.childrenOf('a')).toEqual(['b']);
  });

  it('deleting a collection frees its children', () => {
    const { service } = setup();
    service.createNode(alice, 'c', { node_type: 'collection' });
    service.createNode(alice, 'leaf', { collection: ['c'] });
    service.deleteNode(alice, 'c');
    expect(service.nodeConfig('leaf')!.collection).toEqual([]);
  });
});

describe('subscription options in the core', () => {
  it('deliver off silences one subscription; expire ends it (removed, subscriber told); both persist', () => {
    const { service, notes, lastItems, advance, dir } = setup();
    service.createNode(alice, 'n');
    const quiet = service.subscribe(bob, 'n', bob.bare);
    service.setSubscriptionOptions(bob, 'n', bob.bare, quiet.subid, { ...DEFAULT_SUBSCRIPTION_OPTIONS, deliver: false });
    const short = service.subscribe(carol, 'n', carol.bare, { ...DEFAULT_SUBSCRIPTION_OPTIONS, expire: 1_000_000 + 5_000 });
    service.publish(alice, 'n', item('1'));
    expect(lastItems().recipients.map((r) => r.jid)).toEqual(['carol@svom.cn']);
    advance(10_000);
    service.publish(alice, 'n', item('2'));
    expect(lastItems().recipients).toEqual([]);
    expect(notes.some((e) => e.kind === 'subscription' && e.subid === short.subid && e.state === 'none')).toBe(true);
    expect(() => service.subscriptionOptions(carol, 'n', carol.bare)).toThrow(/holds no subscription/);
    // The stored record comes back typed after a restart.
    const again = new PubsubService(new SqliteStore(dir));
    expect(again.subscriptionOptions(bob, 'n', bob.bare).options).toEqual({ ...DEFAULT_SUBSCRIPTION_OPTIONS, deliver: false });
  });

  it('refuses options that make no sense, changing nothing', () => {
    const { service } = setup();
    service.createNode(alice, 'leaf');
    const s = service.subscribe(bob, 'leaf', bob.bare);
    expect(() => service.setSubscriptionOptions(bob, 'leaf', bob.bare, s.subid, { ...DEFAULT_SUBSCRIPTION_OPTIONS, subscription_type: 'nodes' })).toThrow(/collection/);
    expect(() => service.subscribe(bob, 'leaf', bob.bare, { ...DEFAULT_SUBSCRIPTION_OPTIONS, expire: 1 })).toThrow(/past/);
    expect(service.ownSubscriptions(bob, 'leaf')).toHaveLength(1);
    expect(service.subscriptionOptions(bob, 'leaf', bob.bare).options).toEqual(DEFAULT_SUBSCRIPTION_OPTIONS);
  });
});
