/**
 * The VTP gateway against the real Comet (PyPI `comet` 3.1.0), both ways, with a
 * real Prosody + VOXnet broker:
 *   comet-sendvo → Comet broker → our VTP subscriber → VOXnet node (validated, item id from the IVORN)
 *   VOXnet node → our VTP broker → Comet subscribers (bytes unchanged, iamalive answered, XPath filters)
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { cometMissing, cometSendVo, startVtpEnv, type CometOptions, type VtpTestEnv } from './helpers/comet.ts';
import { freePort } from '../broker-component/servers/net.ts';
import { itemIdFor, prepareVOEvent, publishVOEvent } from '../agents/lib/index.ts';
import { parse, validate } from '../voevent/index.ts';
import { conventionalVOEventXml } from '../agents/gateway/lib/index.ts';
import { NS, owner, ps } from './helpers/pubsub.ts';
import { PUBSUB } from './helpers/broker-env.ts';
import { xml } from './helpers/xmpp.ts';
import { until } from './helpers/until.ts';

const FIX = join(import.meta.dirname, 'fixtures/voevents');
const SWIFT = join(FIX, 'fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml');
const SVOM = join(FIX, 'gcn-notice-parser__svom_grm_353__sb26051101_grm-trigger.xml');
const FERMI = join(FIX, 'gcn-notice-parser__fermi_gbm_alert_3785__trig792135758.xml');
const ivornOf = (file: string) => /ivorn="([^"]+)"/.exec(readFileSync(file, 'utf8'))![1]!;

const missing = cometMissing();

describe.skipIf(missing)(missing ? `VTP gateway ⇄ Comet (skipped: ${missing})` : 'VTP gateway ⇄ Comet', () => {
  let t: VtpTestEnv;
  let tmp: string;
  const agent = (user: string) => t.agent(user);
  const gateway = (name: string, cfg: object, user = 'gw') => t.gateway(name, cfg, user);
  const comet = (opts: CometOptions) => t.comet(opts);

  beforeAll(async () => {
    t = await startVtpEnv();
    tmp = t.tmp;
  });
  afterAll(() => t?.stop());

  it('comet-sendvo → Comet broker → our subscriber: each event lands validated on its routed node, acked to Comet; an event our validator refuses goes to the dead letters', async () => {
    const broker = await comet({ broker: true });
    const gw = gateway('in', {
      local_ivo: 'ivo://voxnet.test/vtp-in',
      subscriber: {
        remotes: [{ host: '127.0.0.1', port: broker.broadcastPort }],
        routes: [{ ivorn_prefix: 'ivo://nasa.gsfc.gcn/SWIFT', node: 'vtp/swift' }, { node: 'vtp/all' }],
      },
    });
    // (Comet logs "New subscriber" for any connection, such as the test's port probe: wait for our filters answer.)
    await until(() => broker.log().includes('Authentication received'), 30_000, 'the gateway to subscribe to Comet');
    // Comet checks the schema; our validator also checks the content: a declination Comet lets through is refused here.
    const bad = readFileSync(SWIFT, 'utf8').replace(/ivorn="[^"]+"/, 'ivorn="ivo://nasa.gsfc.gcn/SWIFT#bad-dec"').replace(/<C2>[^<]*<\/C2>/, '<C2>95.0</C2>');
    writeFileSync(join(tmp, 'bad.xml'), bad);
    for (const f of [SWIFT, SVOM, join(tmp, 'bad.xml')]) {
      const r = await cometSendVo(f, broker.receivePort!);
      expect(r.code, r.output).toBe(0);
    }
    await gw.waitLine((l) => l.includes('#bad-dec'), 30_000);
    const lines = gw.lines.filter((l) => l.startsWith('in '));
    expect(lines).toEqual([
      `in ${ivornOf(SWIFT)} delivered vtp/swift ${itemIdFor(ivornOf(SWIFT))}`,
      `in ${ivornOf(SVOM)} delivered vtp/all ${itemIdFor(ivornOf(SVOM))}`,
      expect.stringMatching(/^in ivo:\/\/nasa\.gsfc\.gcn\/SWIFT#bad-dec dead-letter invalid VOEvent: .*Dec 95\.0 is outside/),
    ]);
    const reader = await agent('reader');
    for (const [file, node] of [[SWIFT, 'vtp/swift'], [SVOM, 'vtp/all']] as const) {
      const item = await reader.getItem(node, itemIdFor(ivornOf(file)));
      expect(item?.ivorn).toBe(ivornOf(file));
      expect(validate(item!.xml).valid).toBe(true);
      expect(prepareVOEvent(item!.xml).event.who).toEqual(prepareVOEvent(readFileSync(file)).event.who);
    }
    const dead = readdirSync(join(tmp, 'in-dead')).map((f) => JSON.parse(readFileSync(join(tmp, 'in-dead', f), 'utf8')));
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ source: `vtp://127.0.0.1:${broker.broadcastPort}`, reason: expect.stringContaining('Dec 95.0'), headers: { ivorn: 'ivo://nasa.gsfc.gcn/SWIFT#bad-dec' } });
    expect(dead[0].text).toContain('<C2>95.0</C2>');
    // Comet got an ack for each of the three (invalid ones are acked by default, as Comet's own subscriber does).
    await until(() => (broker.log().match(/Ack received/g) ?? []).length >= 3, 10_000, 'three acks at Comet');
    expect(broker.log()).not.toContain('Nak received');
  });

  it('node → our broker → Comet subscribers: the packet arrives byte for byte as the node holds it (conventional text), iamalives are answered, filters apply, the allow-list holds', async () => {
    const pub = await agent('fsc');
    await publishVOEvent(pub, 'vtp/out', readFileSync(FERMI)); // the node exists; `since: latest` starts after this one
    const port = await freePort();
    const gw = gateway('out', {
      local_ivo: 'ivo://voxnet.test/vtp-out',
      broker: { listen: { host: '127.0.0.1', port }, nodes: ['vtp/out'], iamalive: '1s', allow: ['127.0.0.1/32'] },
    }, 'gwout');
    await gw.waitLine((l) => l === `listening ${port}`, 30_000);
    await until(() => gw.stderr().includes('"msg":"caught up"') || gw.stderr().includes('catching up'), 30_000, 'the follower');
    const all = await comet({ remote: port, save: true, localIvo: 'ivo://comet.test/all' });
    const swiftOnly = await comet({ remote: port, save: true, localIvo: 'ivo://comet.test/swift', filters: ["//Param[@name='Packet_Type' and @value='61']"] });
    await until(() => (gw.stderr().match(/"msg":"new VTP subscriber"/g) ?? []).length >= 2, 30_000, 'two Comet subscribers');
    await until(() => gw.stderr().includes('filters installed'), 30_000, 'the filter of the second subscriber');
    // A connection from outside the allow-list is closed without a word.
    const refused = await new Promise<string>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
      let got = '';
      s.on('data', (d) => (got += d.toString('latin1')));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
    });
    expect(refused).toBe('');
    await until(() => gw.stderr().includes('"address":"127.0.0.2","msg":"VTP subscriber refused: not in the allow-list"'), 10_000, 'the refusal in the log');
    const ids = [];
    for (const f of [SWIFT, SVOM]) ids.push((await publishVOEvent(pub, 'vtp/out', readFileSync(f))).id);
    await until(() => all.saved().size >= 2 && swiftOnly.saved().size >= 1, 30_000, 'the events at the Comet subscribers');
    for (const [i, file] of [SWIFT, SVOM].entries()) {
      const item = await pub.getItem('vtp/out', ids[i]!);
      const name = ivornOf(file).replace(/\//g, '_').replace(/[^A-Za-z0-9_.]/g, '');
      // Byte for byte the node's item, in the text every network gets (declaration, <voe:VOEvent>) ...
      const got = all.saved().get(name)!;
      expect(got.toString('utf8'), `${name} at the Comet subscriber`).toBe(conventionalVOEventXml(item!.payload!));
      // ... which is the packet the author sent.
      expect(parse(got)).toEqual(parse(readFileSync(file)));
    }
    expect([...swiftOnly.saved().keys()]).toEqual([ivornOf(SWIFT).replace(/\//g, '_').replace(/[^A-Za-z0-9_.]/g, '')]);
    expect(all.saved().size).toBe(2); // not the Fermi packet published before the gateway started
    // iamalive every second, answered (a subscriber that does not answer is dropped at the next one).
    await until(() => (all.log().match(/IAmAlive received/g) ?? []).length >= 3, 20_000, 'three iamalives at Comet');
    expect(gw.stderr()).not.toContain('did not answer iamalive');
    expect(all.log()).toMatch(/Event accepted; sending ACK/);
  });
  it('Comet\'s iamalives are answered (Comet drops a subscriber that misses one), the subscriber reconnects when Comet comes back, and Comet applies its XPath filter', async () => {
    let broker = await comet({ broker: true, iamaliveSeconds: 1 });
    const ports = { receive: broker.receivePort!, broadcast: broker.broadcastPort! };
    const gw = gateway('alive', {
      local_ivo: 'ivo://voxnet.test/vtp-alive',
      subscriber: { remotes: [{ host: '127.0.0.1', port: ports.broadcast }], node: 'vtp/alive', filters: ["//Param[@name='Packet_Type' and @value='61']"] },
    }, 'gwalive');
    await until(() => (broker.log().match(/IAmAlive received/g) ?? []).length >= 3, 30_000, 'three iamalive answers at Comet');
    expect(broker.log()).not.toContain('Peer appears to be dead');
    await broker.kill();
    broker = await comet({ broker: true, ports });
    await until(() => broker.log().includes('Installing filter //Param[@name=\'Packet_Type\' and @value=\'61\']'), 60_000, 'the gateway back at the restarted Comet, with its filter');
    for (const f of [SVOM, SWIFT]) {
      const r = await cometSendVo(f, ports.receive);
      expect(r.code, r.output).toBe(0);
    }
    await gw.waitLine((l) => l === `in ${ivornOf(SWIFT)} delivered vtp/alive ${itemIdFor(ivornOf(SWIFT))}`, 30_000);
    expect(gw.lines.filter((l) => l.startsWith('in '))).toHaveLength(1); // the SVOM packet (Packet_Type 201) stayed at Comet
    expect(broker.log()).toContain('Event rejected by filter');
  });

  it('VOXnet ⇄ Comet both ways through one gateway: nothing loops — our event comes back from Comet and is refused as an echo, Comet\'s event is not sent back', async () => {
    const pub = await agent('fsc-loop');
    await publishVOEvent(pub, 'vtp/loop', readFileSync(FERMI)); // the node exists, and the gateway may publish on it
    await pub.iq('set', owner(xml('affiliations', { node: 'vtp/loop' }, xml('affiliation', { jid: 'gwloop@svom.fr', affiliation: 'publisher' }))));
    const port = await freePort();
    const cometPorts = { receive: await freePort(), broadcast: await freePort() };
    const gw = gateway('loop', {
      local_ivo: 'ivo://voxnet.test/vtp-loop',
      broker: { listen: { host: '127.0.0.1', port }, nodes: ['vtp/loop'] },
      subscriber: { remotes: [{ host: '127.0.0.1', port: cometPorts.broadcast }], node: 'vtp/loop' },
    }, 'gwloop');
    await gw.waitLine((l) => l === `listening ${port}`, 30_000);
    // Comet subscribes to our broker and rebroadcasts what it gets, to our subscriber among others.
    const middle = await comet({ broker: true, ports: cometPorts, remote: port, localIvo: 'ivo://comet.test/middle' });
    await until(() => middle.log().includes('Authentication received') && gw.stderr().includes('"msg":"new VTP subscriber"'), 60_000, 'both directions connected');
    // 1. Ours → Comet → back to us: refused as an echo.
    const ours = await publishVOEvent(pub, 'vtp/loop', readFileSync(SWIFT));
    await gw.waitLine((l) => l === `in ${ivornOf(SWIFT)} skipped echo`, 30_000);
    // 2. Comet's → us → the node, and not back out to Comet.
    const r = await cometSendVo(SVOM, cometPorts.receive);
    expect(r.code, r.output).toBe(0);
    await gw.waitLine((l) => l === `in ${ivornOf(SVOM)} delivered vtp/loop ${itemIdFor(ivornOf(SVOM))}`, 30_000);
    await new Promise((res) => setTimeout(res, 2000));
    expect(gw.lines.filter((l) => l.startsWith('out '))).toEqual([`out ${ivornOf(SWIFT)} spooled`]);
    expect(gw.lines.filter((l) => l.startsWith('in '))).toEqual([`in ${ivornOf(SWIFT)} skipped echo`, `in ${ivornOf(SVOM)} delivered vtp/loop ${itemIdFor(ivornOf(SVOM))}`]);
    const items = await pub.getItems('vtp/loop', { max: 50 });
    expect(items.items.map((i) => i.id).sort()).toEqual([itemIdFor(ivornOf(FERMI)), ours.id, itemIdFor(ivornOf(SVOM))].sort());
  });
  it('two redundant Comet brokers (B relays A): the same event from both lands once on the node, notified once', async () => {
    const a = await comet({ broker: true, localIvo: 'ivo://comet.test/a' });
    const b = await comet({ broker: true, localIvo: 'ivo://comet.test/b', remote: a.broadcastPort });
    await until(() => a.log().includes('Authentication received'), 30_000, 'B subscribed to A');
    const watcher = await t.env.client('pairwatch');
    await watcher.iq('set', PUBSUB, ps(xml('create', { node: 'vtp/pair' })));
    await watcher.iq('set', PUBSUB, owner(xml('affiliations', { node: 'vtp/pair' }, xml('affiliation', { jid: 'gwpair@svom.fr', affiliation: 'publisher' }))));
    await watcher.iq('set', PUBSUB, ps(xml('subscribe', { node: 'vtp/pair', jid: 'pairwatch@svom.fr' })));
    const gw = gateway('pair', {
      local_ivo: 'ivo://voxnet.test/vtp-pair',
      subscriber: { remotes: [{ host: '127.0.0.1', port: a.broadcastPort }, { host: '127.0.0.1', port: b.broadcastPort }], node: 'vtp/pair' },
    }, 'gwpair');
    await until(() => (a.log().match(/Authentication received/g) ?? []).length >= 2 && b.log().includes('Authentication received'), 30_000, 'the gateway subscribed to both');
    const r = await cometSendVo(SWIFT, a.receivePort!);
    expect(r.code, r.output).toBe(0);
    await until(() => gw.lines.filter((l) => l.startsWith('in ')).length >= 2, 30_000, 'the event from both brokers');
    expect(gw.lines.filter((l) => l.startsWith('in ')).sort()).toEqual([
      `in ${ivornOf(SWIFT)} delivered vtp/pair ${itemIdFor(ivornOf(SWIFT))}`,
      `in ${ivornOf(SWIFT)} skipped duplicate`,
    ]);
    await new Promise((res) => setTimeout(res, 1000));
    const notified = watcher.messages.flatMap((m) => m.getChild('event', NS.EVENT)?.getChild('items')?.getChildren('item').map((it) => it.attrs.id) ?? []);
    expect(notified).toEqual([itemIdFor(ivornOf(SWIFT))]);
  });
  it('comet-sendvo straight to our receiver: acked once stored, naked with the reason when invalid; the author\'s event goes on to a Comet subscriber through our broker', async () => {
    const pub = await agent('fsc-authors');
    await publishVOEvent(pub, 'vtp/authors', readFileSync(FERMI)); // the node exists, and the gateway may publish on it
    await pub.iq('set', owner(xml('affiliations', { node: 'vtp/authors' }, xml('affiliation', { jid: 'gwauthors@svom.fr', affiliation: 'publisher' }))));
    const [rport, bport] = [await freePort(), await freePort()];
    const gw = gateway('authors', {
      local_ivo: 'ivo://voxnet.test/vtp-authors',
      receiver: { listen: { host: '127.0.0.1', port: rport }, allow: ['127.0.0.1/32'], node: 'vtp/authors' },
      broker: { listen: { host: '127.0.0.1', port: bport }, nodes: ['vtp/authors'] },
    }, 'gwauthors');
    await gw.waitLine((l) => l === `listening ${bport}`, 30_000);
    await gw.waitLine((l) => l === `receiving ${rport}`, 30_000);
    const sub = await comet({ remote: bport, save: true, localIvo: 'ivo://comet.test/reader' });
    await until(() => gw.stderr().includes('"msg":"new VTP subscriber"'), 30_000, 'the Comet subscriber');
    const ok = await cometSendVo(SWIFT, rport);
    expect(ok.code, ok.output).toBe(0);
    expect(ok.output).toContain('Acknowledgement received');
    expect((await pub.getItem('vtp/authors', itemIdFor(ivornOf(SWIFT))))?.ivorn).toBe(ivornOf(SWIFT));
    // Schema-valid for Comet's own sender, refused by our validator: comet-sendvo reports the nak and its reason.
    writeFileSync(join(tmp, 'bad-author.xml'), readFileSync(SWIFT, 'utf8').replace(/ivorn="[^"]+"/, 'ivorn="ivo://nasa.gsfc.gcn/SWIFT#author-bad-ra"').replace(/<C1>[^<]*<\/C1>/, '<C1>400.0</C1>'));
    const bad = await cometSendVo(join(tmp, 'bad-author.xml'), rport);
    expect(bad.code).toBe(1);
    expect(bad.output).toMatch(/Nak received: .* refused to accept VOEvent \(invalid VOEvent: .*RA 400\.0 is outside/);
    const name = ivornOf(SWIFT).replace(/\//g, '_').replace(/[^A-Za-z0-9_.]/g, '');
    await until(() => sub.saved().has(name), 30_000, 'the author\'s event at the Comet subscriber');
    expect([...sub.saved().keys()]).toEqual([name]);
  });
});
