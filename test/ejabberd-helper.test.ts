/**
 * The ejabberd test server (broker-component/servers/ejabberd.ts) against the
 * installed Debian ejabberd: accounts, components, mod_multicast and mod_pubsub.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startEjabberd, ejabberdAvailable, findEjabberd, ejabberdConfig, type EjabberdServer } from '../broker-component/servers/ejabberd.ts';
import { startServer, componentUrlFor } from '../broker-component/servers/index.ts';
import { connectClient, xml, type TestClient, type Element } from './helpers/xmpp.ts';
import { connectComponent, canonical, fixXmppUtf8Decoding, type TestComponent } from './helpers/component.ts';

fixXmppUtf8Decoding();

const NS_ADDRESS = 'http://jabber.org/protocol/address';
const NS_PUBSUB = 'http://jabber.org/protocol/pubsub';
const NS_EVENT = 'http://jabber.org/protocol/pubsub#event';
const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const MULTICAST = 'multicast.svom.fr';
const PUBSUB = 'pubsub.svom.fr';

const available = ejabberdAvailable();
if (!available) console.warn('ejabberd is not installed (apt-get install ejabberd): skipping the ejabberd tests');

function payload(tag: string): Element {
  return xml(
    'event',
    { xmlns: 'urn:voxnet:test', id: tag, role: 'observation' },
    xml(
      'VOEvent',
      { ivorn: `ivo://svom.fr/test#${tag}`, version: '2.0' },
      xml('Who', {}, xml('contactName', {}, 'Équipe SVOM — 中国科学院 & CNES <ECLAIRs>')),
      '\n  ',
      xml('What', {}, xml('Param', { name: 'Flux', value: '1.5e-7', unit: 'erg/cm2/s' })),
    ),
  );
}
const isTag = (tag: string) => (m: Element) => m.getChild('event', 'urn:voxnet:test')?.attrs.id === tag;
const errorCondition = (s: Element) => s.getChild('error')?.children.find((c): c is Element => typeof c !== 'string' && c.attrs.xmlns === STANZAS)?.name;

describe.skipIf(!available)('test ejabberd', () => {
  let ej: EjabberdServer;
  let alice: TestClient; // svom.fr
  let bob: TestClient; // svom.cn
  let carol: TestClient; // svom.cn
  let voxnet: TestComponent; // trusted multicast sender
  const login = (u: string, h: string, password = `pw-${u}`) =>
    connectClient({ service: ej.c2sUrl, domain: h, username: u, password, trust: ej.certFiles });

  beforeAll(async () => {
    ej = await startEjabberd({
      components: [
        { domain: 'voxnet.svom.fr', secret: 'voxnet-secret' },
        { domain: 'rogue.svom.fr', secret: 'rogue-secret' },
        { domain: 'spare.svom.fr', secret: 'spare-secret' },
      ],
      internalPubsub: [PUBSUB],
      multicast: { domain: MULTICAST, trusted: ['voxnet.svom.fr'] },
    });
    await ej.addUsers([
      { user: 'alice', host: 'svom.fr', password: 'pw-alice' },
      { user: 'bob', host: 'svom.cn', password: 'pw-bob' },
      { user: 'carol', host: 'svom.cn', password: 'pw-carol' },
    ]);
    [alice, bob, carol] = await Promise.all([login('alice', 'svom.fr'), login('bob', 'svom.cn'), login('carol', 'svom.cn')]);
    voxnet = await connectComponent({ service: ej.componentUrls['voxnet.svom.fr'], domain: 'voxnet.svom.fr', password: 'voxnet-secret' });
  });

  afterAll(async () => {
    await Promise.all([alice, bob, carol, voxnet].map((c) => c?.stop()));
    await ej?.stop();
  });

  it('finds the installation', () => {
    const inst = findEjabberd()!;
    expect(inst.version).toMatch(/^\d+\.\d+/);
    expect(ej.certFiles).toHaveLength(2);
  });

  it('lets users on two virtual hosts log in and exchange a message', async () => {
    expect(alice.jid.startsWith('alice@svom.fr/')).toBe(true);
    expect(bob.jid.startsWith('bob@svom.cn/')).toBe(true);
    await alice.xmpp.send(xml('message', { to: bob.jid, type: 'chat' }, xml('body', {}, 'hello across domains')));
    const m = await bob.waitMessage((m) => m.getChildText('body') === 'hello across domains');
    expect(m.attrs.from).toBe(alice.jid);
    await bob.xmpp.send(xml('message', { to: 'alice@svom.fr', type: 'chat' }, xml('body', {}, 'and back')));
    const back = await alice.waitMessage((m) => m.getChildText('body') === 'and back');
    expect(back.attrs.from).toBe(bob.jid);
  });

  it('refuses a wrong password and an unknown account', async () => {
    await expect(login('alice', 'svom.fr', 'wrong')).rejects.toThrow();
    await expect(login('nobody', 'svom.fr', 'x')).rejects.toThrow();
  });

  it('addUser resets the password of an existing account', async () => {
    await ej.addUser('dave', 'svom.fr', 'first');
    await ej.addUser('dave', 'svom.fr', 'second');
    await expect(login('dave', 'svom.fr', 'first')).rejects.toThrow();
    const dave = await login('dave', 'svom.fr', 'second');
    await dave.stop();
  });

  it('loads the global modules on a virtual host that also has host-specific ones', async () => {
    // svom.fr carries mod_pubsub and mod_multicast in host_config; mod_ping comes from the global list.
    for (const host of ['svom.fr', 'svom.cn']) {
      const reply = await alice.iq('get', host, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }));
      const features = reply.getChild('query')!.getChildren('feature').map((f) => f.attrs.var);
      expect(features).toContain('urn:xmpp:ping');
    }
  });

  it('accepts a bare component with its secret and refuses a wrong one', async () => {
    expect(ej.componentUrl).toBe(ej.componentUrls['voxnet.svom.fr']);
    expect(componentUrlFor(ej, 'spare.svom.fr')).toBe(ej.componentUrls['spare.svom.fr']);
    const ok = await connectComponent({ service: ej.componentUrls['spare.svom.fr'], domain: 'spare.svom.fr', password: 'spare-secret' });
    await ok.stop();
    await expect(connectComponent({ service: ej.componentUrls['spare.svom.fr'], domain: 'spare.svom.fr', password: 'not-the-secret' })).rejects.toThrow();
    await expect(connectComponent({ service: ej.componentUrls['spare.svom.fr'], domain: 'unknown.svom.fr', password: 'spare-secret' })).rejects.toThrow();
    // A listener serves only its own component: another component's secret and domain are refused there.
    await expect(connectComponent({ service: ej.componentUrls['spare.svom.fr'], domain: 'rogue.svom.fr', password: 'rogue-secret' })).rejects.toThrow();
  });

  it('gives each component its own routes: one cannot receive or forge traffic of another', async () => {
    const spare = await connectComponent({ service: ej.componentUrls['spare.svom.fr'], domain: 'spare.svom.fr', password: 'spare-secret' });
    try {
      await carol.xmpp.send(xml('message', { to: 'spare.svom.fr', id: 'iso1' }, xml('body', {}, 'for spare')));
      await spare.waitStanza((s) => s.attrs.id === 'iso1');
      await carol.xmpp.send(xml('message', { to: 'voxnet.svom.fr', id: 'iso2' }, xml('body', {}, 'for voxnet')));
      await voxnet.waitStanza((s) => s.attrs.id === 'iso2');
      await new Promise((r) => setTimeout(r, 200));
      expect(spare.stanzas.some((s) => s.attrs.id === 'iso2')).toBe(false);
      expect(voxnet.stanzas.some((s) => s.attrs.id === 'iso1')).toBe(false);
      // spare may not send as voxnet.svom.fr (ejabberd closes the stream on a forged 'from')
      await spare.send(xml('message', { from: 'voxnet.svom.fr', to: carol.jid, id: 'forged' }, xml('body', {}, 'forged')));
      await new Promise((r) => setTimeout(r, 300));
      expect(carol.messages.some((m) => m.attrs.id === 'forged')).toBe(false);
    } finally {
      await spare.stop();
    }
  });

  it('routes between a component and users', async () => {
    await voxnet.send(xml('message', { from: 'voxnet.svom.fr', to: bob.jid }, payload('direct')));
    const m = await bob.waitMessage(isTag('direct'));
    expect(m.attrs.from).toBe('voxnet.svom.fr');
    await carol.xmpp.send(xml('message', { to: 'voxnet.svom.fr', id: 'c1' }, xml('body', {}, 'to the component')));
    const got = await voxnet.waitStanza((s) => s.attrs.id === 'c1');
    expect(got.attrs.from).toBe(carol.jid);
  });

  it('advertises mod_multicast and delivers a bcc multicast from the trusted component', async () => {
    const info = await alice.iq('get', MULTICAST, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }));
    expect(info.getChild('query')!.getChildren('feature').map((f) => f.attrs.var)).toContain(NS_ADDRESS);

    const tag = 'mcast1';
    const sent = payload(tag);
    const sentCanonical = canonical(sent);
    await voxnet.send(
      xml(
        'message',
        { from: 'voxnet.svom.fr', to: MULTICAST, type: 'headline', id: 'mc1' },
        sent,
        xml(
          'addresses',
          { xmlns: NS_ADDRESS },
          xml('address', { type: 'bcc', jid: 'alice@svom.fr' }),
          xml('address', { type: 'bcc', jid: bob.jid }),
          xml('address', { type: 'bcc', jid: 'carol@svom.cn' }),
        ),
      ),
    );
    const got = await Promise.all([alice, bob, carol].map((c) => c.waitMessage(isTag(tag))));
    for (const m of got) {
      expect(m.attrs.from).toBe('voxnet.svom.fr');
      expect(m.toString()).not.toContain(NS_ADDRESS); // bcc only: nobody sees the others
      const children = m.getChildElements();
      expect(children).toHaveLength(1);
      expect(canonical(children[0])).toBe(sentCanonical);
    }
    expect(voxnet.stanzas.some((s) => s.attrs.id === 'mc1' && s.attrs.type === 'error')).toBe(false);
  });

  it('raises the multicast limits above the XEP-0033 defaults (20 for remote senders)', async () => {
    const tag = 'mcast-many';
    const list = Array.from({ length: 150 }, (_, i) => xml('address', { type: 'bcc', jid: `nobody${i}@svom.cn` }));
    list[100] = xml('address', { type: 'bcc', jid: 'carol@svom.cn' });
    await voxnet.send(xml('message', { from: 'voxnet.svom.fr', to: MULTICAST, type: 'headline', id: 'mc2' }, payload(tag), xml('addresses', { xmlns: NS_ADDRESS }, ...list)));
    await carol.waitMessage(isTag(tag));
    expect(voxnet.stanzas.some((s) => s.attrs.id === 'mc2' && errorCondition(s) === 'not-acceptable')).toBe(false);
  });

  it('refuses multicast from untrusted senders', async () => {
    await alice.xmpp.send(
      xml('message', { to: MULTICAST, id: 'spam1' }, xml('body', {}, 'spam'), xml('addresses', { xmlns: NS_ADDRESS }, xml('address', { type: 'bcc', jid: 'carol@svom.cn' }))),
    );
    const err = await alice.waitMessage((m) => m.attrs.id === 'spam1' && m.attrs.type === 'error');
    expect(errorCondition(err)).toBe('forbidden');

    const rogue = await connectComponent({ service: ej.componentUrls['rogue.svom.fr'], domain: 'rogue.svom.fr', password: 'rogue-secret' });
    try {
      await rogue.send(
        xml('message', { from: 'rogue.svom.fr', to: MULTICAST, id: 'spam2' }, xml('body', {}, 'spam'), xml('addresses', { xmlns: NS_ADDRESS }, xml('address', { type: 'bcc', jid: 'carol@svom.cn' }))),
      );
      const err2 = await rogue.waitStanza((s) => s.attrs.id === 'spam2' && s.attrs.type === 'error');
      expect(errorCondition(err2)).toBe('forbidden');
    } finally {
      await rogue.stop();
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(carol.messages.some((m) => m.getChildText('body') === 'spam')).toBe(false);
  });

  it("runs ejabberd's own pubsub: create, subscribe, publish, notify", async () => {
    const node = 'grb-alerts';
    const created = await alice.iq('set', PUBSUB, xml('pubsub', { xmlns: NS_PUBSUB }, xml('create', { node })));
    expect(created.attrs.type).toBe('result');
    const sub = await bob.iq('set', PUBSUB, xml('pubsub', { xmlns: NS_PUBSUB }, xml('subscribe', { node, jid: 'bob@svom.cn' })));
    expect(sub.attrs.type).toBe('result');
    expect(sub.getChild('pubsub')?.getChild('subscription')?.attrs.subscription).toBe('subscribed');

    const item = payload('ps1');
    const itemCanonical = canonical(item);
    const pub = await alice.iq('set', PUBSUB, xml('pubsub', { xmlns: NS_PUBSUB }, xml('publish', { node }, xml('item', { id: 'ps1' }, item))));
    expect(pub.attrs.type).toBe('result');

    const note = await bob.waitMessage((m) => m.attrs.from === PUBSUB && !!m.getChild('event', NS_EVENT));
    const items = note.getChild('event', NS_EVENT)!.getChild('items')!;
    expect(items.attrs.node).toBe(node);
    const got = items.getChild('item')!;
    expect(got.attrs.id).toBe('ps1');
    expect(canonical(got.getChildElements()[0])).toBe(itemCanonical);
    // carol did not subscribe
    await new Promise((r) => setTimeout(r, 200));
    expect(carol.messages.some((m) => m.attrs.from === PUBSUB)).toBe(false);
  });

  it('keeps accounts across restart()', async () => {
    await ej.addUser('erin', 'svom.cn', 'pw-erin');
    await ej.restart();
    const erin = await login('erin', 'svom.cn');
    expect(erin.jid.startsWith('erin@svom.cn/')).toBe(true);
    await erin.stop();
    // The old sessions died with the VM: reconnect the shared clients for any later test.
    await Promise.all([alice, bob, carol, voxnet].map((c) => c.stop()));
    [alice, bob, carol] = await Promise.all([login('alice', 'svom.fr'), login('bob', 'svom.cn'), login('carol', 'svom.cn')]);
    voxnet = await connectComponent({ service: ej.componentUrls['voxnet.svom.fr'], domain: 'voxnet.svom.fr', password: 'voxnet-secret' });
  });

  it('creates 1000 accounts quickly', async () => {
    const t0 = performance.now();
    await ej.addUsers(Array.from({ length: 1000 }, (_, i) => ({ user: `bulk${i}`, host: i % 2 ? 'svom.fr' : 'svom.cn', password: `pw${i}` })));
    const ms = performance.now() - t0;
    console.log(`ejabberd: 1000 accounts in ${ms.toFixed(0)} ms (${(ms / 1000).toFixed(2)} ms each)`);
    expect(ms).toBeLessThan(20_000);
    const users = (await ej.api('registered_users', { host: 'svom.cn' })) as string[];
    expect(users).toContain('bulk998');
    const last = await login('bulk999', 'svom.fr', 'pw999');
    await last.stop();
  });
});

describe.skipIf(!available)('startServer', () => {
  it('starts either server with the same options and handle', async () => {
    for (const kind of ['prosody', 'ejabberd'] as const) {
      const s = await startServer(kind, {
        hosts: ['svom.fr'],
        components: [
          { domain: 'other.svom.fr', secret: 'y' },
          { domain: 'voxnet.svom.fr', secret: 'x' },
        ],
      });
      try {
        await s.addUser('zoe', 'svom.fr', 'pw-zoe');
        const zoe = await connectClient({ service: s.c2sUrl, domain: 'svom.fr', username: 'zoe', password: 'pw-zoe', trust: s.certFiles });
        const comp = await connectComponent({ service: componentUrlFor(s, 'voxnet.svom.fr'), domain: 'voxnet.svom.fr', password: 'x' });
        await comp.send(xml('message', { from: 'voxnet.svom.fr', to: zoe.jid }, xml('body', {}, kind)));
        expect((await zoe.waitMessage((m) => m.getChildText('body') === kind)).attrs.from).toBe('voxnet.svom.fr');
        await Promise.all([zoe.stop(), comp.stop()]);
      } finally {
        await s.stop();
      }
    }
  });
});

describe('ejabberd configuration', () => {
  it('hosts mod_multicast and mod_pubsub on the virtual host they are subdomains of, trusting only the given senders', () => {
    const cfg = ejabberdConfig({
      hosts: ['svom.fr', 'svom.cn'],
      certFiles: [],
      c2sPort: 1,
      componentPort: 2,
      httpPort: 3,
      opts: { internalPubsub: ['pubsub.svom.cn'], multicast: { domain: 'multicast.svom.fr', trusted: ['voxnet.svom.fr', 'ops@svom.cn'], maxAddresses: 5000 } },
    }) as any;
    expect(cfg.host_config['svom.fr'].modules.mod_multicast).toEqual({
      hosts: ['multicast.svom.fr'],
      access: 'voxnet_multicast',
      limits: { local: { message: 5000, presence: 5000 }, remote: { message: 5000, presence: 5000 } },
    });
    // Every other virtual host has its own service, as with ejabberd's default multicast.@HOST@.
    expect(cfg.host_config['svom.cn'].modules.mod_multicast.hosts).toEqual(['multicast.svom.cn']);
    expect(cfg.host_config['svom.cn'].modules.mod_pubsub.hosts).toEqual(['pubsub.svom.cn']);
    expect(cfg.acl.voxnet_multicast_senders).toEqual({ server: ['voxnet.svom.fr'], user: ['ops@svom.cn'] });
    expect(cfg.access_rules.voxnet_multicast).toEqual({ allow: 'voxnet_multicast_senders' });
    const none = ejabberdConfig({ hosts: ['svom.fr'], certFiles: [], c2sPort: 1, componentPort: 2, httpPort: 3, opts: { multicast: { domain: 'm.svom.fr', trusted: [] } } }) as any;
    expect(none.host_config['svom.fr'].modules.mod_multicast.access).toBe('none');
  });

  it('gives each component a listener of its own and repeats the global modules in host_config', () => {
    const cfg = ejabberdConfig({
      hosts: ['svom.fr'],
      certFiles: [],
      c2sPort: 1,
      componentPort: 2,
      componentPorts: [2, 4],
      httpPort: 3,
      opts: { components: [{ domain: 'a.svom.fr', secret: 'sa' }, { domain: 'b.svom.fr', secret: 'sb' }], internalPubsub: ['pubsub.svom.fr'] },
    }) as any;
    const services = cfg.listen.filter((l: any) => l.module === 'ejabberd_service');
    expect(services.map((l: any) => [l.port, l.hosts])).toEqual([
      [2, { 'a.svom.fr': { password: 'sa' } }],
      [4, { 'b.svom.fr': { password: 'sb' } }],
    ]);
    expect(Object.keys(cfg.host_config['svom.fr'].modules)).toEqual(expect.arrayContaining([...Object.keys(cfg.modules), 'mod_pubsub']));
  });
});
