/**
 * Notifications through the server's XEP-0033 service (our Prosody module): the
 * broker discovers it, subscribers get exactly the bytes they would get without
 * it, never see each other, and batches split at the size limit.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { xml, type Element } from '@xmpp/xml';
import { startProsody, type ProsodyServer } from '../broker-component/servers/prosody.ts';
import { startBroker, type Broker } from '../broker-component/broker.ts';
import { loadBrokerConfig } from '../broker-component/config.ts';
import { MulticastFanOut } from '../broker-component/delivery/multicast.ts';
import { DirectFanOut } from '../broker-component/delivery/notifier.ts';
import { connectClient, type TestClient } from './helpers/xmpp.ts';
import { NS, ps, entry } from './helpers/pubsub.ts';
import { canonical as canonicalElement } from './helpers/component.ts';

const PUBSUB = 'pubsub.svom.fr';

/** Canonical form (sorted attributes) of a message, without its per-notification stanza id. */
function canonical(m: Element): string {
  const { id: _id, ...attrs } = m.attrs;
  return canonicalElement({ name: m.name, attrs, children: m.children } as Element);
}

describe('fan-out through XEP-0033 multicast', () => {
  let prosody: ProsodyServer;
  let broker: Broker;
  let dataDir: string;
  const clients: TestClient[] = [];
  let alice: TestClient;
  beforeAll(async () => {
    prosody = await startProsody({
      components: [{ domain: PUBSUB, secret: 's' }],
      multicast: { domain: 'multicast.svom.fr', trusted: [PUBSUB] },
    });
    dataDir = mkdtempSync(join(tmpdir(), 'voxnet-mc-'));
    const cfg = loadBrokerConfig(undefined, {
      VOXNET_XMPP_URL: prosody.componentUrl, VOXNET_DOMAIN: PUBSUB, VOXNET_SECRET: 's', VOXNET_DATA_DIR: dataDir,
      VOXNET_CREATE_NODES: 'svom.fr', VOXNET_STORAGE_SYNCHRONOUS: 'normal',
    });
    broker = await startBroker(cfg, { log: pino({ level: 'silent' }) });
    prosody.addUser('alice', 'svom.fr', 'alice');
    alice = await connectClient({ service: prosody.c2sUrl, domain: 'svom.fr', username: 'alice', password: 'alice', trust: prosody.certFiles });
    clients.push(alice);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await broker?.stop();
    await prosody?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('discovers the multicast service of its server', () => {
    expect(broker.notifier.fanOutStrategy).toBeInstanceOf(MulticastFanOut);
  });

  it('delivers to subscribers on both domains the same stanza as direct delivery, without addresses', async () => {
    const subs: TestClient[] = [];
    for (let i = 0; i < 6; i++) {
      const host = i % 2 ? 'svom.cn' : 'svom.fr';
      prosody.addUser(`s${i}`, host, `s${i}`);
      const c = await connectClient({ service: prosody.c2sUrl, domain: host, username: `s${i}`, password: `s${i}`, trust: prosody.certFiles });
      subs.push(c);
      clients.push(c);
    }
    await alice.iq('set', PUBSUB, ps(xml('create', { node: 'mc' })));
    for (const c of subs) await c.iq('set', PUBSUB, ps(xml('subscribe', { node: 'mc', jid: c.jid })));
    await alice.iq('set', PUBSUB, ps(xml('publish', { node: 'mc' }, xml('item', { id: 'via-multicast' }, entry('through the server')))));
    const got: Element[] = [];
    for (const c of subs) got.push(await c.waitMessage((m) => !!m.getChild('event', NS.EVENT)));
    // Now the same notification through direct per-subscriber stanzas.
    broker.notifier.useFanOut(undefined);
    await alice.iq('set', PUBSUB, ps(xml('publish', { node: 'mc' }, xml('item', { id: 'direct' }, entry('through the server')))));
    const direct: Element[] = [];
    for (const c of subs) direct.push(await c.waitMessage((m) => m.getChild('event', NS.EVENT)?.getChild('items')?.getChild('item')?.attrs.id === 'direct'));
    for (let i = 0; i < subs.length; i++) {
      const a = got[i]!;
      const b = direct[i]!;
      expect(a.getChild('addresses')).toBeUndefined();
      for (let j = 0; j < subs.length; j++) if (j !== i) expect(a.toString()).not.toContain(subs[j]!.jid.split('/')[0]);
      expect(a.attrs.from).toBe(PUBSUB);
      expect(a.attrs.to).toBe(subs[i]!.jid);
      // The same stanza but for the item id and the per-notification stanza id. Prosody
      // re-serializes every stanza with its attributes in hash order, so compare them sorted.
      expect(canonical(a).replace(/via-multicast|direct/g, 'ITEM')).toBe(canonical(b).replace(/via-multicast|direct/g, 'ITEM'));
    }
  });

  it('splits batches below the stanza size limit and never exceeds it', () => {
    const written: string[] = [];
    const transport = { write: async (s: string) => void written.push(s), isOnline: () => true };
    const f = new MulticastFanOut({ from: PUBSUB, service: 'multicast.svom.fr', messageType: 'headline', transport, maxStanzaBytes: 4096 });
    const recipients = Array.from({ length: 300 }, (_, i) => `user${i}@svom.fr/res`);
    const stanzas = f.stanzas({ inner: `<event xmlns="${NS.EVENT}"><items node="n"><item id="x">${'p'.repeat(1000)}</item></items></event>`, id: 'n1', recipients });
    expect(stanzas.length).toBeGreaterThan(1);
    for (const s of stanzas) expect(Buffer.byteLength(s)).toBeLessThanOrEqual(4096);
    const all = stanzas.flatMap((s) => [...s.matchAll(/jid="([^"]+)"/g)].map((m) => m[1]));
    expect(all).toEqual(recipients);
    expect(() => f.stanzas({ inner: 'x'.repeat(5000), id: 'n2', recipients })).toThrow(/does not fit/);
  });

  it('falls back to per-subscriber stanzas, batched, when no multicast service exists', async () => {
    const written: string[] = [];
    const transport = { write: async (s: string) => void written.push(s), isOnline: () => true };
    const d = new DirectFanOut(PUBSUB, 'headline', transport, 1000);
    await d.deliver({ inner: '<event/>', id: 'i', recipients: Array.from({ length: 50 }, (_, i) => `u${i}@svom.fr`) });
    expect(written.length).toBeGreaterThan(1);
    expect(written.join('').match(/<message /g)!.length).toBe(50);
  });
});
