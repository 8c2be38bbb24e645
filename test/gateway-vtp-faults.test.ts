/**
 * The VTP gateway under faults, with a real Prosody + VOXnet broker:
 * - a hostile VTP broker (raw frames from this test: Comet never sends such
 *   things) — garbage, an oversized frame, a DOCTYPE with entities, a
 *   schema-invalid packet: each is naked with its reason and kept in the dead
 *   letters, and the stream goes on;
 * - SIGKILL of either gateway mid-stream (node A → our VTP broker → our VTP
 *   subscriber → node B): after restarts, node B holds every event exactly once
 *   and its subscribers were notified of each exactly once.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import type { Proc } from './helpers/agents.ts';
import { startVtpEnv, type VtpTestEnv } from './helpers/comet.ts';
import { NS, owner, ps } from './helpers/pubsub.ts';
import { xml } from './helpers/xmpp.ts';
import { freePort } from '../broker-component/servers/net.ts';
import { itemIdFor, publishVOEvent } from '../agents/lib/index.ts';
import { FrameDecoder, encodeFrame } from '../agents/gateway/vtp/framing.ts';
import { readMessage, type TransportMessage } from '../agents/gateway/vtp/messages.ts';
import { until } from './helpers/until.ts';

const SWIFT = readFileSync(join(import.meta.dirname, 'fixtures/voevents/fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml'), 'utf8');
const variant = (tag: string) => SWIFT.replace(/ivorn="[^"]+"/, `ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-${tag}"`);
const ivorn = (tag: string) => `ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-${tag}`;
const TRN = 'xmlns:trn="http://www.telescope-networks.org/xml/Transport/v1.1"';

describe('VTP gateway faults', () => {
  let t: VtpTestEnv;
  let env: BrokerEnv;
  let tmp: string;
  const agent = (user: string) => t.agent(user);
  /** A gateway configuration to start (and restart) by name. */
  const writeConfig = (name: string, cfg: object) => ({ name, cfg });
  const gateway = (c: { name: string; cfg: object }, user: string): Proc => t.gateway(c.name, c.cfg, user, 'info');

  beforeAll(async () => {
    t = await startVtpEnv();
    env = t.env;
    tmp = t.tmp;
  });
  afterAll(() => t?.stop());

  it('a hostile broker: garbage, oversized, DOCTYPE and invalid frames, and an event the node refuses, are naked with the reason and dead-lettered; the stream goes on', async () => {
    // The broker side of the conversation, frame by frame.
    const replies: TransportMessage[] = [];
    let peer!: net.Socket;
    const server = net.createServer((s) => {
      peer = s;
      const d = new FrameDecoder();
      s.on('data', (chunk: Buffer) => {
        for (const f of d.push(chunk)) if (f.kind === 'frame') replies.push(readMessage(f.data, 1 << 20) as TransportMessage);
      });
    });
    const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)));
    // A node someone else owns: the gateway may not publish there.
    const owner1 = await env.client('owner1');
    await owner1.iq('set', PUBSUB, ps(xml('create', { node: 'vtp/closed' })));
    const gw = gateway(writeConfig('hostile', {
      local_ivo: 'ivo://voxnet.test/vtp-hostile',
      max_message: 65536,
      subscriber: {
        remotes: [{ host: '127.0.0.1', port }], invalid: 'nak', filters: ["//Param[@name='Packet_Type']"],
        routes: [{ ivorn_prefix: 'ivo://closed.test/', node: 'vtp/closed' }, { node: 'vtp/hostile' }],
      },
    }), 'gwh');
    await until(() => peer !== undefined, 30_000, 'the gateway to connect');
    const send = (x: string | Buffer) => peer.write(encodeFrame(x));
    const now = '2026-12-06T04:00:00Z';
    send(`<trn:Transport ${TRN} version="1.0" role="authenticate"><Origin>ivo://raw.test/broker</Origin><TimeStamp>${now}</TimeStamp></trn:Transport>`);
    send(`<trn:Transport ${TRN} version="1.0" role="iamalive"><Origin>ivo://raw.test/broker</Origin><TimeStamp>${now}</TimeStamp></trn:Transport>`);
    send(variant('first'));
    send('this is not XML at all');
    send(variant('huge').replace('</What>', `<Description>${'x'.repeat(200_000)}</Description></What>`));
    send(`<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" ivorn="${ivorn('lol')}" role="observation" version="2.0">&b;</voe:VOEvent>`);
    send(variant('what').replace(/<What>/, '<Whatever>').replace(/<\/What>/, '</Whatever>'));
    send(SWIFT.replace(/ivorn="[^"]+"/, 'ivorn="ivo://closed.test/x#1"'));
    send(variant('last'));
    await until(() => replies.length >= 8, 30_000, 'eight replies');
    expect(replies.map((r) => [r.role, r.origin])).toEqual([
      ['authenticate', 'ivo://raw.test/broker'],
      ['iamalive', 'ivo://raw.test/broker'],
      ['ack', ivorn('first')],
      ['nak', ivorn('huge')],
      ['nak', ivorn('lol')],
      ['nak', ivorn('what')],
      ['nak', 'ivo://closed.test/x#1'],
      ['ack', ivorn('last')],
    ]);
    expect(replies.every((r) => r.response === 'ivo://voxnet.test/vtp-hostile')).toBe(true);
    expect(replies[0]!.params).toEqual([{ name: 'xpath-filter', value: "//Param[@name='Packet_Type']" }]);
    expect(replies[3]!.result).toMatch(/over the 65536-byte limit/);
    expect(replies[4]!.result).toMatch(/DOCTYPE|DTD/i);
    expect(replies[5]!.result).toMatch(/invalid VOEvent: .*Whatever/);
    expect(replies[6]!.result).toMatch(/the node vtp\/closed refused it: forbidden/);
    // Nothing lost silently: four dead letters, each with its reason.
    const dead = readdirSync(join(tmp, 'hostile-dead')).map((f) => JSON.parse(readFileSync(join(tmp, 'hostile-dead', f), 'utf8')) as { reason: string; bytes: number });
    expect(dead).toHaveLength(5);
    for (const reason of [/DOCTYPE|DTD/i, /invalid VOEvent: .*Whatever/, /not well-formed/, /over the 65536-byte limit/, /refused it: forbidden/]) {
      expect(dead.some((d) => reason.test(d.reason)), `a dead letter for ${reason}`).toBe(true);
    }
    expect(gw.lines.filter((l) => l.startsWith('in ') || l.startsWith('bad-frame'))).toHaveLength(7);
    const reader = await agent('reader1');
    for (const tag of ['first', 'last']) expect((await reader.getItem('vtp/hostile', itemIdFor(ivorn(tag))))?.ivorn).toBe(ivorn(tag));
    server.close();
    peer.destroy();
  });

  it('SIGKILL of our subscriber, then of our broker, mid-stream: node B holds every event once, and was notified of each once', async () => {
    const N = 40;
    const pub = await agent('fsc');
    await publishVOEvent(pub, 'vtp/a', variant('a-start')); // node A exists; the broker starts after this item
    // Node B exists and a plain XMPP client counts its notifications.
    const watcher = await env.client('watcher');
    await watcher.iq('set', PUBSUB, ps(xml('create', { node: 'vtp/b' })));
    await watcher.iq('set', PUBSUB, owner(xml('affiliations', { node: 'vtp/b' }, xml('affiliation', { jid: 'gwb@svom.fr', affiliation: 'publisher' }))));
    await watcher.iq('set', PUBSUB, ps(xml('subscribe', { node: 'vtp/b', jid: 'watcher@svom.fr' })));
    const port = await freePort();
    const brokerCfg = writeConfig('kill-broker', { local_ivo: 'ivo://voxnet.test/vtp-a', broker: { listen: { host: '127.0.0.1', port }, nodes: ['vtp/a'] } });
    const subCfg = writeConfig('kill-sub', { local_ivo: 'ivo://voxnet.test/vtp-b', subscriber: { remotes: [{ host: '127.0.0.1', port }], node: 'vtp/b', alive_timeout: '10s' } });
    let broker = gateway(brokerCfg, 'gwa');
    await broker.waitLine((l) => l === `listening ${port}`, 30_000);
    let sub = gateway(subCfg, 'gwb');
    await until(() => broker.stderr().includes('new VTP subscriber'), 30_000, 'the subscriber');
    const delivered = (p: Proc) => p.lines.filter((l) => l.includes(' delivered ')).length;
    let published = 0;
    const publishSome = async (n: number) => {
      for (let i = 0; i < n; i++, published++) await publishVOEvent(pub, 'vtp/a', variant(`k${published}`));
    };
    await publishSome(15);
    await until(() => delivered(sub) >= 5, 30_000, 'some deliveries');
    sub.child.kill('SIGKILL');
    await sub.exited;
    await publishSome(10);
    sub = gateway(subCfg, 'gwb');
    await until(() => delivered(sub) >= 3, 60_000, 'deliveries after the restart');
    broker.child.kill('SIGKILL');
    await broker.exited;
    await publishSome(N - published);
    broker = gateway(brokerCfg, 'gwa');
    const notified = () => watcher.messages.flatMap((m) => m.getChild('event', NS.EVENT)?.getChild('items')?.getChildren('item').map((it) => it.attrs.id) ?? []);
    await until(() => new Set(notified()).size >= N, 120_000, `${N} distinct items notified on node B`);
    const b = await pub.getItems('vtp/b', { max: 200 });
    const want = Array.from({ length: N }, (_, i) => itemIdFor(ivorn(`k${i}`))).sort();
    expect(b.items.map((i) => i.id).sort()).toEqual(want);
    await new Promise((r) => setTimeout(r, 1500)); // a late duplicate would show up here
    const counts = new Map<string, number>();
    for (const id of notified()) counts.set(id!, (counts.get(id!) ?? 0) + 1);
    expect([...counts.entries()].filter(([, c]) => c !== 1)).toEqual([]);
    expect([...counts.keys()].sort()).toEqual(want);
  });
});
