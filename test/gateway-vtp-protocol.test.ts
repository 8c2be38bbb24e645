/**
 * The VTP gateway's protocol pieces on their own: framing (split reads, oversized
 * frames skipped with the stream going on, hostile lengths), the Transport
 * messages we send (valid against Comet's transport-1.1.xsd), hostile input
 * (DOCTYPE, entities, wrong roots), XPath filters with Comet's truth rule,
 * routes, configuration errors.
 */
import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import libxml from 'libxmljs2';
import { FrameDecoder, FrameError, encodeFrame } from '../agents/gateway/vtp/framing.ts';
import { ack, authenticate, authenticateResponse, iamalive, iamaliveResponse, nak, readMessage, filtersOf, BadMessage } from '../agents/gateway/vtp/messages.ts';
import net from 'node:net';
import { FilterTarget, checkXPath, installFilter } from '../agents/gateway/vtp/filter.ts';
import { routeEvent } from '../agents/gateway/vtp/routes.ts';
import { checkVtpConfig, loadVtpConfig } from '../agents/gateway/vtp/config.ts';
import { runVtp } from '../agents/gateway/vtp/cli.ts';
import { VtpBroker, allowList } from '../agents/gateway/vtp/broker.ts';
import { VtpSubscriber } from '../agents/gateway/vtp/subscriber.ts';
import { Spool } from '../agents/gateway/vtp/spool.ts';
import { spoolItem } from '../agents/gateway/vtp/outbound.ts';
import { BridgeLedger, SeenStore } from '../agents/gateway/lib/index.ts';
import { parseXml } from './helpers/pubsub.ts';
import { xml } from './helpers/xmpp.ts';
import { validate } from '../voevent/index.ts';
import { silentLogger } from '../agents/lib/index.ts';
import { until } from './helpers/until.ts';
import { ConfigError } from '../agents/lib/index.ts';
import { SAFE_PARSE_OPTIONS } from '../voevent/xsd.ts';

const SWIFT = readFileSync(join(import.meta.dirname, 'fixtures/voevents/fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml'));
const XSD = libxml.parseXml(readFileSync(join(import.meta.dirname, '../agents/gateway/vtp/schema/transport-1.1.xsd'), 'utf8'), SAFE_PARSE_OPTIONS);

describe('VTP framing', () => {
  it('reassembles frames split anywhere and splits frames sent together', () => {
    const wire = Buffer.concat([encodeFrame('<a/>'), encodeFrame(SWIFT), encodeFrame('<b/>')]);
    for (const step of [1, 3, 7, 1000, wire.length]) {
      const d = new FrameDecoder();
      const got: string[] = [];
      for (let i = 0; i < wire.length; i += step) for (const f of d.push(wire.subarray(i, i + step))) got.push(f.kind === 'frame' ? f.data.toString() : 'oversized');
      expect(got).toEqual(['<a/>', SWIFT.toString(), '<b/>']);
      expect(d.pending).toBe(0);
    }
  });

  it('skips an oversized frame as it streams by, keeps a sample, and reads the next frame', () => {
    const big = Buffer.alloc(50_000, 'x');
    const wire = Buffer.concat([encodeFrame(big), encodeFrame('<after/>')]);
    const d = new FrameDecoder(10_000, 1 << 20, 100);
    const out = [];
    for (let i = 0; i < wire.length; i += 4096) out.push(...d.push(wire.subarray(i, i + 4096)));
    expect(out).toHaveLength(2);
    expect(out[0]).toMatchObject({ kind: 'oversized', length: 50_000 });
    expect((out[0] as { sample: Buffer }).sample.length).toBe(100);
    expect(out[1]).toMatchObject({ kind: 'frame' });
    expect((out[1] as { data: Buffer }).data.toString()).toBe('<after/>');
  });

  it('a length prefix beyond any message (e.g. little-endian or garbage) is a FrameError', () => {
    const d = new FrameDecoder(1000, 1 << 20);
    expect(() => d.push(Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2]))).toThrow(FrameError);
  });
});

describe('VTP messages', () => {
  const now = new Date('2026-12-06T04:00:00.123Z');
  const sent = {
    iamalive: iamalive('ivo://voxnet.test/vtp', now),
    iamaliveResponse: iamaliveResponse('ivo://voxnet.test/sub', 'ivo://comet.test/broker', now),
    authenticate: authenticate('ivo://voxnet.test/vtp', now),
    authenticateResponse: authenticateResponse('ivo://voxnet.test/sub', 'ivo://comet.test/broker', [`//Param[@name="Packet_Type" and @value='61']`, 'count(//What)>0'], now),
    ack: ack('ivo://voxnet.test/sub', 'ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-182', now),
    nak: nak(undefined, 'ivo://nasa.gsfc.gcn/SWIFT#x', 'invalid VOEvent: <What> & co', now),
  };

  it.each(Object.entries(sent))('%s is valid against Comet\'s transport-1.1.xsd', (_name, text) => {
    const doc = libxml.parseXml(text, SAFE_PARSE_OPTIONS);
    expect(doc.validate(XSD), doc.validationErrors.map((e) => e.message).join('')).toBe(true);
  });

  it('reads back what it writes: roles, origin, response, filters, result, timestamp as Comet writes it', () => {
    const a = readMessage(Buffer.from(sent.authenticateResponse), 1 << 20);
    expect(a).toMatchObject({ kind: 'transport', role: 'authenticate', origin: 'ivo://comet.test/broker', response: 'ivo://voxnet.test/sub' });
    expect(filtersOf(a as never)).toEqual([`//Param[@name="Packet_Type" and @value='61']`, 'count(//What)>0']);
    expect(readMessage(Buffer.from(sent.nak), 1 << 20)).toMatchObject({ role: 'nak', origin: 'ivo://nasa.gsfc.gcn/SWIFT#x', result: 'invalid VOEvent: <What> & co' });
    expect(sent.ack).toContain('<TimeStamp>2026-12-06T04:00:00Z</TimeStamp>');
  });

  it('reads Comet\'s old-style filters (<filter type="xpath">)', () => {
    const old = `<trn:Transport xmlns:trn="http://www.telescope-networks.org/xml/Transport/v1.1" version="1.0" role="authenticate"><Origin>ivo://a/b</Origin><TimeStamp>2026-12-06T04:00:00Z</TimeStamp><Meta><filter type="xpath">//Who</filter></Meta></trn:Transport>`;
    expect(filtersOf(readMessage(Buffer.from(old), 1 << 20) as never)).toEqual(['//Who']);
  });

  it('a VOEvent frame keeps its bytes unchanged', () => {
    const m = readMessage(SWIFT, 1 << 20);
    expect(m).toMatchObject({ kind: 'event', role: 'observation', ivorn: 'ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-182' });
    expect((m as { bytes: Buffer }).bytes.equals(SWIFT)).toBe(true);
  });

  it.each([
    ['a DOCTYPE with an entity (billion laughs)', '<?xml version="1.0"?><!DOCTYPE v [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" ivorn="ivo://x/y#1" role="test">&b;</voe:VOEvent>', /DOCTYPE|DTD/i, 'ivo://x/y#1'],
    ['not XML', 'hello', /not well-formed/, undefined],
    ['a truncated VOEvent', SWIFT.subarray(0, 2000).toString(), /not well-formed/, 'ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-182'],
    ['another root', '<html/>', /neither a VOEvent nor a Transport/, undefined],
    ['a VOEvent without IVORN', '<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" role="test"/>', /without an ivorn/, undefined],
    ['a Transport message with an unknown role', '<trn:Transport xmlns:trn="http://www.telescope-networks.org/xml/Transport/v1.1" role="hello"/>', /unknown role/, undefined],
  ])('refuses %s with a reason (and the IVORN when one can be read)', (_n, text, reason, ivorn) => {
    try {
      readMessage(Buffer.from(text), 1 << 20);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(BadMessage);
      expect((e as Error).message).toMatch(reason);
      expect((e as BadMessage).ivorn).toBe(ivorn);
    }
  });
});

describe('XPath filters (Comet\'s rule: any filter with a true value; none = everything)', () => {
  const t = new FilterTarget(SWIFT);
  it.each([
    [[], true],
    [["//Param[@name='Packet_Type' and @value='61']"], true],
    [["//Param[@name='Packet_Type' and @value='62']"], false],
    [["//Param[@name='Packet_Type' and @value='62']", 'Who/AuthorIVORN'], true],
    [['count(//Param) > 1000'], false],
    [['count(//Param)'], true],
    [["string(@role)"], true],
    [["@role='test'"], false],
    [['/voe:VOEvent'], false], // no prefix bound, as in lxml: evaluation fails, no match
  ])('%j → %s', (filters, expected) => {
    expect(t.passes(filters as string[])).toBe(expected);
  });
  it('a prefixed filter is installed as false(): the same verdict, no evaluation error per event', () => {
    expect(installFilter('/voe:VOEvent')).toBe('false()');
    expect(installFilter('child::Who')).toBe('child::Who');
    expect(t.passes([installFilter('/voe:VOEvent')])).toBe(false);
  });
  it('a filter that does not compile is reported', () => {
    expect(checkXPath('//Param[')).toBeDefined();
    expect(checkXPath('//Param')).toBeUndefined();
  });
});

describe('routes and configuration', () => {
  const routes = [{ ivorn_prefix: 'ivo://nasa.gsfc.gcn/SWIFT', node: 'gcn/swift' }, { role: 'test', node: 'vtp/test' }, { node: 'vtp/all' }];
  it.each([
    ['ivo://nasa.gsfc.gcn/SWIFT#1', 'observation', 'gcn/swift'],
    ['ivo://comet.broker/x#TestEvent', 'test', 'vtp/test'],
    ['ivo://org.svom/fsc#1', 'observation', 'vtp/all'],
  ])('%s (%s) → %s', (ivorn, role, node) => expect(routeEvent(routes, ivorn, role)).toBe(node));
  it('without a catch-all an event can have no route', () => expect(routeEvent(routes.slice(0, 1), 'ivo://x/y#1', 'observation')).toBeUndefined());
  it('a skip route keeps matching events off VOXnet', () => expect(routeEvent([{ role: 'test', skip: true }, { node: 'all' }], 'ivo://c/b#TestEvent-1', 'test')).toBeUndefined());

  it('names every mistake of a configuration at once; the example configuration is valid', () => {
    try {
      checkVtpConfig({ local_ivo: 'voxnet', subscriber: { remotes: [{ host: 'h', port: 99999 }], filters: ['//a['] }, broker: { nodes: ['n'], allow: ['10.0.0.0/99'], colour: 1 } }, 'vtp.yaml');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const msg = (e as Error).message;
      expect(msg).toContain('vtp.yaml: local_ivo: must be an IVOA identifier');
      expect(msg).toContain('subscriber.remotes[0].port');
      expect(msg).toContain('broker.colour: is not a known key');
    }
    try {
      checkVtpConfig({ local_ivo: 'ivo://voxnet.test/vtp', subscriber: { remotes: [{ host: 'h', port: 1 }], filters: ['//a['] }, broker: { nodes: ['n'], allow: ['10.0.0.0/99'] } }, 'vtp.yaml');
      expect.unreachable();
    } catch (e) {
      const msg = (e as Error).message;
      expect(msg).toContain('subscriber: needs routes or node');
      expect(msg).toContain('subscriber.filters[0]: not valid XPath');
      expect(msg).toContain('broker.allow[0]');
    }
    expect(loadVtpConfig(join(import.meta.dirname, '../config/gateway-vtp.example.yaml'), {}).subscriber?.routes).toHaveLength(3);
    const ok = checkVtpConfig({ local_ivo: 'ivo://voxnet.test/vtp', broker: { nodes: ['svom.fr/grb'] } });
    expect(ok.broker).toMatchObject({ listen: { host: '0.0.0.0', port: 8099 }, since: 'latest', iamalive: 60, allow: ['0.0.0.0/0', '::/0'], keep: { events: 10000 } });
  });

  it('the allow-list matches IPv4 networks, single addresses and IPv6', () => {
    const l = allowList(['127.0.0.0/8', '192.0.2.7', '::1/128']);
    expect(l.check('127.1.2.3', 'ipv4')).toBe(true);
    expect(l.check('192.0.2.7', 'ipv4')).toBe(true);
    expect(l.check('192.0.2.8', 'ipv4')).toBe(false);
    expect(l.check('::1', 'ipv6')).toBe(true);
  });
});

describe('our subscriber ⇄ our broker, in one process', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'voxnet-vtp-tls-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  async function pair(opts: { tls: boolean; trust?: boolean }) {
    const spool = new Spool(':memory:');
    let tlsOpts;
    if (opts.tls) {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
        '-keyout', join(tmp, 'key.pem'), '-out', join(tmp, 'cert.pem')], { stdio: 'ignore' });
      tlsOpts = { cert: join(tmp, 'cert.pem'), key: join(tmp, 'key.pem') };
    }
    const broker = new VtpBroker({ host: '127.0.0.1', port: 0, localIvo: 'ivo://voxnet.test/b', spool, tls: tlsOpts, identifyTimeoutMs: 200 });
    const port = await broker.listen();
    const got: string[] = [];
    const sub = new VtpSubscriber({
      host: '127.0.0.1', port, localIvo: 'ivo://voxnet.test/s', backoff: { initialMs: 50, maxMs: 200 },
      tls: opts.tls ? { ca: opts.trust ? [join(tmp, 'cert.pem')] : [] } : undefined,
      onEvent: async (ev) => (got.push(ev.ivorn), { accepted: true }),
    });
    return { spool, broker, sub, got, port };
  }

  it('events flow over TLS with a trusted certificate, and a subscriber that comes back gets what it had not acknowledged', async () => {
    const { spool, broker, sub, got, port } = await pair({ tls: true, trust: true });
    sub.start();
    await until(() => [...broker.sessions].some((s) => s.id === 'ivo://voxnet.test/s'), 10_000, 'the subscriber identified');
    spool.append('ivo://x/y#1', 'n', SWIFT.toString().replace(/ivorn="[^"]+"/, 'ivorn="ivo://x/y#1"'));
    broker.notify();
    await until(() => got.length === 1, 10_000, 'the first event');
    await sub.stop();
    // While it is away, two more events: they wait in the spool for it.
    for (const n of [2, 3]) spool.append(`ivo://x/y#${n}`, 'n', SWIFT.toString().replace(/ivorn="[^"]+"/, `ivorn="ivo://x/y#${n}"`));
    broker.notify();
    const again = new VtpSubscriber({ host: '127.0.0.1', port, localIvo: 'ivo://voxnet.test/s', tls: { ca: [join(tmp, 'cert.pem')] }, onEvent: async (ev) => (got.push(ev.ivorn), { accepted: true }) });
    again.start();
    await until(() => got.length === 3, 10_000, 'the events sent while it was away');
    expect(got).toEqual(['ivo://x/y#1', 'ivo://x/y#2', 'ivo://x/y#3']);
    await again.stop();
    await broker.close();
  });

  it('an untrusted certificate is refused (and retried, never accepted)', async () => {
    const { broker, sub } = await pair({ tls: true, trust: false });
    let connected = false;
    sub.on('connected', () => (connected = true));
    sub.start();
    await new Promise((r) => setTimeout(r, 1000));
    expect(connected).toBe(false);
    expect(broker.sessions.size).toBe(0);
    await sub.stop();
    await broker.close();
  });
});

describe('our broker and subscribers that misbehave', () => {
  it('a subscriber that answers iamalive but never acks is dropped once its window is full, one too many is refused, and the events wait for it', async () => {
    const spool = new Spool(':memory:');
    const broker = new VtpBroker({ host: '127.0.0.1', port: 0, localIvo: 'ivo://voxnet.test/b', spool, window: 2, iamaliveMs: 300, maxSubscribers: 1 });
    const port = await broker.listen();
    const gone: string[] = [];
    broker.on('gone', (_s, reason: string) => gone.push(reason));
    // A raw subscriber: answers authenticate and iamalive, never acks.
    const raw = net.connect({ host: '127.0.0.1', port });
    const d = new FrameDecoder();
    let events = 0;
    raw.on('data', (c: Buffer) => {
      for (const f of d.push(c)) {
        if (f.kind !== 'frame') continue;
        const m = readMessage(f.data, 1 << 20);
        if (m.kind === 'event') events++;
        else if (m.role === 'authenticate') raw.write(encodeFrame(authenticateResponse('ivo://voxnet.test/lazy', m.origin!, [])));
        else if (m.role === 'iamalive') raw.write(encodeFrame(iamaliveResponse('ivo://voxnet.test/lazy', m.origin!)));
      }
    });
    await until(() => [...broker.sessions].some((s) => s.id === 'ivo://voxnet.test/lazy'), 10_000, 'the raw subscriber identified');
    const refused = new Promise<string>((resolve) => broker.once('refused', (a: string) => resolve(a)));
    net.connect({ host: '127.0.0.1', port }).on('error', () => {});
    expect(await refused).toMatch(/127\.0\.0\.1/);
    for (const n of [1, 2, 3]) spool.append(`ivo://x/y#${n}`, 'n', SWIFT.toString().replace(/ivorn="[^"]+"/, `ivorn="ivo://x/y#${n}"`));
    broker.notify();
    await until(() => gone.includes('not acknowledging'), 10_000, 'the stalled subscriber dropped');
    expect(events).toBe(2); // the window
    raw.destroy();
    const got: string[] = [];
    const sub = new VtpSubscriber({ host: '127.0.0.1', port, localIvo: 'ivo://voxnet.test/lazy', onEvent: async (ev) => (got.push(ev.ivorn), { accepted: true }) });
    sub.start();
    await until(() => got.length === 3, 10_000, 'all three events for it when it comes back');
    await sub.stop();
    await broker.close();
  });
});

describe('what the broker role sends out (the loop rule)', () => {
  const iv = 'ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-182';
  const key = `ivorn:${iv}`;
  const NET = 'vtp:voevent-network';
  it.each([
    ['an item a person published', 'fsc@svom.fr/x', undefined, 'spooled'],
    ['an item the ledger saw come in from the VOEvent network', 'other@svom.fr/x', NET, 'skipped'],
    ['an item that came in from GCN over Kafka: relayed', 'kafka-gw@svom.fr/r', 'kafka://kafka.gcn.nasa.gov/gcn.classic.voevent.SWIFT_BAT_GRB_POS_ACK', 'spooled'],
    ['an item already sent out (a repeat)', 'fsc@svom.fr/x', 'sent', 'skipped'],
    ['an item that is not a VOEvent', 'fsc@svom.fr/x', undefined, 'skipped'],
    ['an item too large for Comet (over 99,999 bytes)', 'fsc@svom.fr/x', undefined, 'skipped'],
  ] as const)('%s → %s', async (what, publisher, history, expected) => {
    const spool = new Spool(':memory:');
    const ledger = new BridgeLedger(new SeenStore(':memory:'), ['ivo://voxnet.test/vtp']);
    if (history === 'sent') ledger.markOutbound({ key, dest: NET, gateway: 'ivo://voxnet.test/vtp' });
    else if (history === NET) ledger.noteArrival({ key, source: history }); // noted before the publish returned
    else if (history) ledger.markInbound({ key, source: history, node: 'n' });
    const text = what.includes('too large') ? SWIFT.toString().replace('</What>', `<Description>${'x'.repeat(100_000)}</Description></What>`) : SWIFT.toString();
    const payload = what.includes('not a VOEvent') ? xml('entry', { xmlns: 'urn:x' }) : await parseXml(text);
    const item = { node: 'n', id: 'i', publisher, payload, xml: payload.toString(), ivorn: what.includes('not a VOEvent') ? undefined : iv, live: true };
    const o = { spool, ledger, network: NET, gateway: 'ivo://voxnet.test/vtp', log: silentLogger() };
    expect(await spoolItem(item, o)).toBe(expected);
    const sent = spool.read(0);
    expect(sent.length).toBe(expected === 'spooled' ? 1 : 0);
    // What goes out is the conventional text: declaration, <voe:VOEvent>, the same packet.
    if (sent[0]) {
      expect(sent[0].xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<voe:VOEvent xmlns:voe="http:\/\/www.ivoa.net\/xml\/VOEvent\/v2.0"/);
      expect(validate(sent[0].xml).valid).toBe(true);
    }
  });
});

describe('voxnet gateway vtp: command-line mistakes', () => {
  const run = async (argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runVtp(argv, { out: (l) => out.push(l), err: (l) => err.push(l) }, {});
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  const dir = mkdtempSync(join(tmpdir(), 'voxnet-vtp-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--help prints the usage', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('usage: voxnet gateway vtp [subscriber|receiver|broker] --config FILE');
  });
  it('an unknown role, a missing --config: status 2 with the reason', async () => {
    expect(await run(['relay', '--config', 'x.yaml'])).toMatchObject({ code: 2, err: expect.stringContaining("unknown role 'relay'") });
    expect(await run([])).toMatchObject({ code: 2, err: expect.stringContaining('--config is required') });
  });
  it('a configuration mistake names the file and the key, and nothing starts', async () => {
    const file = join(dir, 'vtp.yaml');
    writeFileSync(file, 'local_ivo: ivo://voxnet.test/vtp\nbroker:\n  nodes: [a]\n  iamalive: often\n');
    const r = await run(['--config', file]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${file}:4:13: broker.iamalive: must be a duration such as 500ms, 90s, 5m, 12h, 1d`);
    writeFileSync(file, 'local_ivo: ivo://voxnet.test/vtp\nbroker:\n  nodes: [a]\n');
    expect(await run(['subscriber', '--config', file])).toMatchObject({ code: 2, err: expect.stringContaining('has no subscriber section') });
  });
});
