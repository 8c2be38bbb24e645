/**
 * mod_voxnet_multicast (XEP-0033 fan-out for trusted senders) against a real Prosody.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startProsody, type ProsodyServer } from '../broker-component/servers/prosody.ts';
import { connectClient, xml, type TestClient, type Element } from './helpers/xmpp.ts';
import { connectComponent, canonical, fixXmppUtf8Decoding, type TestComponent } from './helpers/component.ts';

// Large non-ASCII payloads otherwise arrive corrupted by xmpp.js itself (see the helper).
fixXmppUtf8Decoding();

const NS_ADDRESS = 'http://jabber.org/protocol/address';
const MULTICAST = 'multicast.svom.fr';
const MAX_ADDRESSES = 1000;

/** A VOEvent-like payload with attributes, nesting, entities, non-ASCII text and significant whitespace. */
function payload(tag: string, extraText = ''): Element {
  return xml(
    'event',
    { xmlns: 'urn:voxnet:test', id: tag, role: 'observation', 'xml:lang': 'fr' },
    xml(
      'VOEvent',
      { ivorn: `ivo://svom.fr/test#${tag}`, version: '2.0' },
      xml('Who', {}, xml('Author', {}, xml('contactName', {}, 'Équipe SVOM — 中国科学院 & CNES <ECLAIRs>'))),
      '\n  ',
      xml('What', {}, xml('Param', { name: 'Flux', value: '1.5e-7', unit: 'erg/cm2/s', ucd: 'phot.flux' })),
      xml('Description', {}, `  leading and trailing spaces  ${extraText}`),
    ),
  );
}

function addresses(...list: { type: string; jid?: string; uri?: string; delivered?: string }[]): Element {
  return xml('addresses', { xmlns: NS_ADDRESS }, ...list.map((a) => xml('address', a)));
}

const hasAddresses = (m: Element) => m.toString().includes(NS_ADDRESS);
const isTag = (tag: string) => (m: Element) => m.getChild('event', 'urn:voxnet:test')?.attrs.id === tag;

describe('mod_voxnet_multicast on Prosody', () => {
  let prosody: ProsodyServer;
  let voxnet: TestComponent; // trusted sender
  let rogue: TestComponent; // a component that is not trusted
  let alice: TestClient; // svom.fr
  let bob: TestClient; // svom.cn
  let carol: TestClient; // svom.cn
  let dave: TestClient; // svom.fr

  beforeAll(async () => {
    prosody = await startProsody({
      components: [
        { domain: 'voxnet.svom.fr', secret: 'voxnet-secret' },
        { domain: 'rogue.svom.fr', secret: 'rogue-secret' },
      ],
      multicast: { domain: MULTICAST, trusted: ['voxnet.svom.fr'] },
      extra: `multicast_max_addresses = ${MAX_ADDRESSES}`,
    });
    for (const [u, h] of [['alice', 'svom.fr'], ['bob', 'svom.cn'], ['carol', 'svom.cn'], ['dave', 'svom.fr']]) {
      prosody.addUser(u, h, `pw-${u}`);
    }
    const login = (u: string, h: string) =>
      connectClient({ service: prosody.c2sUrl, domain: h, username: u, password: `pw-${u}`, trust: prosody.certFiles });
    [alice, bob, carol, dave] = await Promise.all([login('alice', 'svom.fr'), login('bob', 'svom.cn'), login('carol', 'svom.cn'), login('dave', 'svom.fr')]);
    voxnet = await connectComponent({ service: prosody.componentUrl, domain: 'voxnet.svom.fr', password: 'voxnet-secret' });
    rogue = await connectComponent({ service: prosody.componentUrl, domain: 'rogue.svom.fr', password: 'rogue-secret' });
  });

  afterAll(async () => {
    await Promise.all([alice, bob, carol, dave, voxnet, rogue].map((c) => c?.stop()));
    await prosody?.stop();
  });

  it('advertises XEP-0033 in disco#info', async () => {
    const reply = await alice.iq('get', MULTICAST, xml('query', { xmlns: 'http://jabber.org/protocol/disco#info' }));
    expect(reply.attrs.type).toBe('result');
    const q = reply.getChild('query', 'http://jabber.org/protocol/disco#info')!;
    const ids = q.getChildren('identity').map((i) => `${i.attrs.category}/${i.attrs.type}`);
    expect(ids).toContain('service/multicast');
    expect(q.getChildren('feature').map((f) => f.attrs.var)).toContain(NS_ADDRESS);
  });

  it('delivers one copy per to/cc/bcc address on both hosts, identical payload, without <addresses/>', async () => {
    const tag = 'fanout1';
    const sent = payload(tag);
    const sentCanonical = canonical(sent); // before sending: xmpp.js re-parents the element
    await voxnet.send(
      xml(
        'message',
        { to: MULTICAST, from: 'voxnet.svom.fr', type: 'headline', id: 'm1' },
        sent,
        addresses(
          { type: 'to', jid: 'alice@svom.fr' }, // bare JID
          { type: 'cc', jid: bob.jid }, // full JID
          { type: 'bcc', jid: 'Carol@SVOM.cn' }, // needs stringprep
          { type: 'bcc', jid: 'alice@svom.fr' }, // duplicate: delivered once
          { type: 'to', jid: 'dave@svom.fr', delivered: 'true' }, // already delivered upstream: skipped
          { type: 'replyto', jid: 'dave@svom.fr' }, // not a recipient type
        ),
      ),
    );
    const [ma, mb, mc] = await Promise.all([alice.waitMessage(isTag(tag)), bob.waitMessage(isTag(tag)), carol.waitMessage(isTag(tag))]);
    for (const [m, c] of [[ma, alice], [mb, bob], [mc, carol]] as const) {
      expect(m.attrs.from).toBe('voxnet.svom.fr');
      expect(m.attrs.type).toBe('headline');
      expect(m.attrs.id).toBe('m1');
      expect(hasAddresses(m)).toBe(false);
      // Nobody learns who else got it.
      for (const other of ['alice', 'bob', 'carol', 'dave'].filter((u) => !c.jid.startsWith(u + '@'))) {
        expect(m.toString().toLowerCase()).not.toContain(other + '@');
      }
      const children = m.getChildElements();
      expect(children).toHaveLength(1);
      expect(canonical(children[0])).toBe(sentCanonical);
    }
    expect(mb.attrs.to).toBe(bob.jid);
    expect(ma.attrs.to?.startsWith('alice@svom.fr')).toBe(true);
    expect(mc.attrs.to?.startsWith('carol@svom.cn')).toBe(true);
    // The duplicate was dropped and the delivered/replyto addresses were not used.
    await new Promise((r) => setTimeout(r, 300));
    expect(alice.messages.filter(isTag(tag))).toHaveLength(1);
    expect(dave.messages.filter(isTag(tag))).toHaveLength(0);
    // Nothing bounced back to the sender.
    expect(voxnet.stanzas.filter((s) => s.attrs.id === 'm1' && s.attrs.type === 'error')).toHaveLength(0);
  });

  it('refuses untrusted senders with <forbidden/>: a client and another component', async () => {
    await alice.xmpp.send(
      xml('message', { to: MULTICAST, id: 'spam1' }, xml('body', {}, 'spam'), addresses({ type: 'bcc', jid: 'bob@svom.cn' }, { type: 'bcc', jid: 'carol@svom.cn' })),
    );
    const errA = await alice.waitMessage((m) => m.attrs.id === 'spam1' && m.attrs.type === 'error');
    expect(errA.attrs.from).toBe(MULTICAST);
    expect(errA.getChild('error')?.getChild('forbidden', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeTruthy();

    await rogue.send(
      xml('message', { to: MULTICAST, from: 'rogue.svom.fr', id: 'spam2' }, payload('spam2'), addresses({ type: 'to', jid: 'alice@svom.fr' }, { type: 'to', jid: 'bob@svom.cn' })),
    );
    const errR = await rogue.waitStanza((s) => s.attrs.id === 'spam2' && s.attrs.type === 'error');
    expect(errR.getChild('error')?.getChild('forbidden', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeTruthy();

    await new Promise((r) => setTimeout(r, 300));
    expect(bob.messages.some((m) => m.getChildText('body') === 'spam')).toBe(false);
    expect(carol.messages.some((m) => m.getChildText('body') === 'spam')).toBe(false);
    expect(alice.messages.some(isTag('spam2')) || bob.messages.some(isTag('spam2'))).toBe(false);
  });

  it('skips invalid addresses, delivers the valid ones and reports the skipped ones with <jid-malformed/>', async () => {
    const tag = 'badaddr';
    await voxnet.send(
      xml(
        'message',
        { to: MULTICAST, from: 'voxnet.svom.fr', id: 'm2' },
        payload(tag),
        addresses({ type: 'bcc', jid: 'not@a@jid' }, { type: 'bcc', jid: 'dave@svom.fr' }, { type: 'bcc', uri: 'mailto:someone@example.org' }, { type: 'bcc', jid: '' }),
      ),
    );
    await dave.waitMessage(isTag(tag));
    const err = await voxnet.waitStanza((s) => s.attrs.id === 'm2' && s.attrs.type === 'error');
    expect(err.getChild('error')?.getChild('jid-malformed', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeTruthy();
    const reported = err.getChild('addresses', NS_ADDRESS)!.getChildren('address');
    expect(reported.map((a) => a.attrs.jid ?? a.attrs.uri).sort()).toEqual(['', 'mailto:someone@example.org', 'not@a@jid']);
  });

  it('rejects a stanza without addresses and one with more addresses than allowed, delivering nothing', async () => {
    await voxnet.send(xml('message', { to: MULTICAST, from: 'voxnet.svom.fr', id: 'm3' }, payload('noaddr')));
    const e1 = await voxnet.waitStanza((s) => s.attrs.id === 'm3' && s.attrs.type === 'error');
    expect(e1.getChild('error')?.getChild('bad-request', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeTruthy();

    const many = Array.from({ length: MAX_ADDRESSES + 1 }, (_, i) => ({ type: 'bcc', jid: i === 0 ? 'alice@svom.fr' : `nobody${i}@svom.fr` }));
    await voxnet.send(xml('message', { to: MULTICAST, from: 'voxnet.svom.fr', id: 'm4' }, payload('toomany'), addresses(...many)));
    const e2 = await voxnet.waitStanza((s) => s.attrs.id === 'm4' && s.attrs.type === 'error');
    expect(e2.getChild('error')?.getChild('not-acceptable', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeTruthy();
    await new Promise((r) => setTimeout(r, 300));
    expect(alice.messages.some(isTag('toomany'))).toBe(false);
  });

  it('fans out to the maximum number of addresses', async () => {
    const tag = 'atmax';
    const list = Array.from({ length: MAX_ADDRESSES }, (_, i) => ({ type: 'bcc', jid: `nobody${i}@svom.cn` }));
    list[17] = { type: 'bcc', jid: 'bob@svom.cn' };
    list[MAX_ADDRESSES - 1] = { type: 'bcc', jid: 'alice@svom.fr' };
    const before = voxnet.stanzas.length;
    await voxnet.send(xml('message', { to: MULTICAST, from: 'voxnet.svom.fr', id: 'm5' }, payload(tag), addresses(...list)));
    await Promise.all([alice.waitMessage(isTag(tag)), bob.waitMessage(isTag(tag))]);
    // Each address that has no account bounces back to the sender as its own error, addressed from that JID.
    const deadline = Date.now() + 10_000;
    const bounces = () => voxnet.stanzas.slice(before).filter((s) => s.attrs.id === 'm5' && s.attrs.type === 'error');
    while (bounces().length < MAX_ADDRESSES - 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(bounces()).toHaveLength(MAX_ADDRESSES - 2);
    expect(new Set(bounces().map((s) => s.attrs.from)).size).toBe(MAX_ADDRESSES - 2);
  });

  it('delivers a stanza close to the component stanza size limit (512 KiB) intact', async () => {
    const tag = 'big';
    const filler = 'αβγ0123456789'.repeat(30_000); // 450 000 bytes of UTF-8
    const sent = payload(tag, filler);
    const sentCanonical = canonical(sent);
    const stanza = xml('message', { to: MULTICAST, from: 'voxnet.svom.fr', id: 'm6' }, sent, addresses({ type: 'bcc', jid: 'alice@svom.fr' }, { type: 'bcc', jid: bob.jid }));
    const size = Buffer.byteLength(stanza.toString());
    expect(size).toBeGreaterThan(450_000);
    expect(size).toBeLessThan(512 * 1024);
    await voxnet.send(stanza);
    const [ma, mb] = await Promise.all([alice.waitMessage(isTag(tag), 20_000), bob.waitMessage(isTag(tag), 20_000)]);
    expect(canonical(ma.getChildElements()[0])).toBe(sentCanonical);
    expect(canonical(mb.getChildElements()[0])).toBe(sentCanonical);
    expect(hasAddresses(ma) || hasAddresses(mb)).toBe(false);
  });

  it('keeps each copy independent when a recipient is reached twice through different resources', async () => {
    // A second session for alice: a bare-JID copy goes to all her top resources,
    // the full-JID copy only to the one named; both share the same payload objects.
    const alice2 = await connectClient({ service: prosody.c2sUrl, domain: 'svom.fr', username: 'alice', password: 'pw-alice', trust: prosody.certFiles });
    try {
      const tag = 'tworesources';
      await voxnet.send(
        xml('message', { to: MULTICAST, from: 'voxnet.svom.fr', type: 'chat', id: 'm7' }, payload(tag), addresses({ type: 'to', jid: alice2.jid }, { type: 'to', jid: bob.jid })),
      );
      const [m2, mb] = await Promise.all([alice2.waitMessage(isTag(tag)), bob.waitMessage(isTag(tag))]);
      expect(m2.attrs.to).toBe(alice2.jid);
      expect(mb.attrs.to).toBe(bob.jid);
      await new Promise((r) => setTimeout(r, 300));
      expect(alice.messages.some(isTag(tag))).toBe(false); // full JID: only that resource
    } finally {
      await alice2.stop();
    }
  });
});
