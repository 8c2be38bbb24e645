/** VOEvent nodes: the broker refuses invalid packets and gives chat clients a readable <body>. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { xml } from '@xmpp/xml';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { NS, ps, errorOf, nodeConfig, parseXml } from './helpers/pubsub.ts';
import type { TestClient } from './helpers/xmpp.ts';
import { summarizeVOEvent } from '../broker-component/voevent-rules.ts';

const fixture = (f: string) => readFileSync(new URL(`./fixtures/voevents/${f}`, import.meta.url), 'utf8');
const SWIFT = 'fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml';

describe('VOEvent nodes', () => {
  let env: BrokerEnv;
  let alice: TestClient;
  let bob: TestClient;
  beforeAll(async () => {
    env = await startBrokerEnv();
    alice = await env.client('alice');
    bob = await env.client('bob', 'svom.cn');
    await alice.iq('set', PUBSUB, ps(xml('create', { node: 'swift' }), xml('configure', {}, nodeConfig({ 'pubsub#type': 'http://www.ivoa.net/xml/VOEvent/v2.0' }))));
    await bob.iq('set', PUBSUB, ps(xml('subscribe', { node: 'swift', jid: bob.jid })));
  });
  afterAll(async () => env?.stop());

  it('accepts a valid packet and notifies with a one-line <body> summary', async () => {
    const voe = await parseXml(fixture(SWIFT));
    const r = await alice.iq('set', PUBSUB, ps(xml('publish', { node: 'swift' }, xml('item', { id: 'swift-392' }, voe))));
    expect(errorOf(r), r.toString()).toBeUndefined();
    const m = await bob.waitMessage((m) => m.getChild('event', NS.EVENT)?.getChild('items')?.getChild('item')?.attrs.id === 'swift-392');
    const body = m.getChildText('body')!;
    expect(body).toMatch(/Swift/i);
    expect(body).toContain('1118357');
    expect(body.split('\n')).toHaveLength(1);
    const payload = m.getChild('event')!.getChild('items')!.getChild('item')!.getChildElements()[0]!;
    expect(payload.name).toMatch(/VOEvent$/);
    expect(payload.toString()).toContain('ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357');
  });

  it('refuses an invalid packet with bad-request + invalid-payload naming the problem, storing nothing', async () => {
    const bad = await parseXml(fixture(SWIFT).replace(/role="observation"/, 'role="rumour"'));
    const r = await alice.iq('set', PUBSUB, ps(xml('publish', { node: 'swift' }, xml('item', { id: 'bad' }, bad))));
    expect(errorOf(r)).toMatchObject({ condition: 'bad-request', pubsub: 'invalid-payload' });
    expect(r.getChild('error')!.getChildText('text')).toMatch(/role/);
    const items = await bob.iq('get', PUBSUB, ps(xml('items', { node: 'swift' }, xml('item', { id: 'bad' }))));
    expect(errorOf(items)).toMatchObject({ condition: 'item-not-found' });
  });

  it('refuses a payload that is not a VOEvent on a VOEvent node', async () => {
    const r = await alice.iq('set', PUBSUB, ps(xml('publish', { node: 'swift' }, xml('item', {}, xml('entry', { xmlns: 'urn:x' })))));
    expect(errorOf(r)).toMatchObject({ condition: 'bad-request', pubsub: 'invalid-payload' });
  });
});

describe('VOEvent summaries', () => {
  it('read from the tree the publish was parsed into, they are the ones the text gives, on every real packet', async () => {
    const files = readdirSync(new URL('./fixtures/voevents/', import.meta.url)).filter((f) => f.endsWith('.xml'));
    let summarized = 0;
    for (const f of files) {
      const text = fixture(f);
      const tree = await parseXml(text);
      const payload = tree.toString();
      const fromText = summarizeVOEvent(payload);
      expect(summarizeVOEvent(payload, 'n', tree), f).toBe(fromText);
      if (fromText) summarized++;
    }
    expect(summarized).toBeGreaterThan(40);
  });
});
