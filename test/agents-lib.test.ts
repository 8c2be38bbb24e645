/** The agent library's pure parts: options, durations, backoff, ids, payload XML, state, configs, replay order, heartbeats, bursts. */
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xml } from '@xmpp/xml';
import {
  AgentState, ConfigError, UsageError, checkConfig, connectionFrom, itemIdFor, lockStateFile, parseDuration, prepareVOEvent,
  standaloneXml, InvalidVOEventError,
} from '../agents/lib/index.ts';
import { embeddablePayload } from '../common/xml-standalone.ts';
import { replaySchedule, voeventTime, loadReplay } from '../agents/replay/replay.ts';
import { heartbeatEvent } from '../agents/heartbeat/heartbeat.ts';
import { burstEvent, checkBurst } from '../agents/publisher/burst.ts';
import { build, validate, parse } from '../voevent/index.ts';

const FIX = join(import.meta.dirname, 'fixtures/voevents');

describe('options', () => {
  it('reads command-line durations (common/duration.ts) and turns mistakes into usage errors', () => {
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1d')).toBe(86_400_000);
    expect(() => parseDuration('soon', '--interval')).toThrow(UsageError);
    expect(() => parseDuration('soon', '--interval')).toThrow(/--interval 'soon' is not a duration/);
  });

  it('takes the command line over the environment over the config file', () => {
    const env = { VOXNET_AGENT_JID: 'env@svom.fr', VOXNET_AGENT_PASSWORD: 'envpw', VOXNET_AGENT_SERVER: 'xmpp://env:5222', VOXNET_PUBSUB: 'pubsub.env', VOXNET_TRUST: '/a.pem:/b.pem' };
    const base = { jid: 'file@svom.fr', password: 'filepw', server: 'xmpp://file:5222', service: 'pubsub.file', trust: ['/f.pem'] };
    expect(connectionFrom({ jid: 'cli@svom.fr', trust: ['/c.pem'] }, env, base)).toEqual({
      jid: 'cli@svom.fr', password: 'envpw', server: 'xmpp://env:5222', service: 'pubsub.env', trust: ['/f.pem', '/a.pem', '/b.pem', '/c.pem'], resource: undefined,
    });
    expect(connectionFrom({}, {}, base)).toMatchObject({ jid: 'file@svom.fr', password: 'filepw', server: 'xmpp://file:5222' });
    expect(() => connectionFrom({}, {})).toThrow(UsageError);
    expect(() => connectionFrom({ jid: 'nobody', password: 'x' }, {})).toThrow(/not a JID/);
    expect(() => connectionFrom({ jid: 'a@b', password: 'x', server: 'http://b' }, {})).toThrow(/xmpp:\/\/host:port/);
    // The nodes of a cluster: several addresses, each checked.
    expect(connectionFrom({ jid: 'a@b', password: 'x', server: 'xmpp://n1:5222, xmpp://n2:5222' }, {}).server).toBe('xmpp://n1:5222, xmpp://n2:5222');
    expect(() => connectionFrom({ jid: 'a@b', password: 'x', server: 'xmpp://n1:5222,n2:5222' }, {})).toThrow(/'n2:5222' is not of the form xmpp:\/\/host:port/);
  });
});

describe('item ids and payload XML', () => {
  it('derives a stable, readable, unique item id from the IVORN', () => {
    const a = itemIdFor('ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-182');
    expect(a).toMatch(/^BAT_GRB_Pos_1118357-182-[0-9a-f]{12}$/);
    expect(itemIdFor(' ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-182 ')).toBe(a);
    // Same local part under another authority: another id.
    expect(itemIdFor('ivo://other/SWIFT#BAT_GRB_Pos_1118357-182')).not.toBe(a);
    expect(itemIdFor('ivo://nasa.gsfc.gcn/Fermi#LAT_Initial_Pos_2026-01--9130T00:00:00.00_793795104_0-086')).toMatch(/^LAT_Initial_Pos_2026-01--9130T00_00_00.00_793795104_0-086-[0-9a-f]{12}$/);
    expect(itemIdFor('ivo://refitt.org/voevent/#1')).toMatch(/^1-[0-9a-f]{12}$/);
    expect(itemIdFor('ivo://nasa.gsfc.gcn/gcn')).toMatch(/^gcn-[0-9a-f]{12}$/);
  });

  it('keeps the unprefixed children of <voe:VOEvent> in no namespace inside a stanza', () => {
    expect(embeddablePayload('<voe:VOEvent xmlns:voe="v" ivorn="a&gt;b"><Who/></voe:VOEvent>')).toBe('<voe:VOEvent xmlns="" xmlns:voe="v" ivorn="a&gt;b"><Who/></voe:VOEvent>');
    expect(embeddablePayload("<voe:VOEvent xmlns:voe='v' a='>'/>")).toBe('<voe:VOEvent xmlns="" xmlns:voe=\'v\' a=\'>\'/>');
    expect(embeddablePayload('<voe:VOEvent xmlns="" xmlns:voe="v"/>')).toBe('<voe:VOEvent xmlns="" xmlns:voe="v"/>');
    expect(embeddablePayload('<entry xmlns="urn:x"><t/></entry>')).toBe('<entry xmlns="urn:x"><t/></entry>');
  });

  it('serializes a received payload with the declarations it inherits', () => {
    const stanza = xml('message', {}, xml('event', { xmlns: 'http://jabber.org/protocol/pubsub#event', 'xmlns:voe': 'urn:voe' },
      xml('items', { node: 'n' }, xml('item', { id: '1' }, xml('voe:VOEvent', { ivorn: 'x' }, xml('Who', {}, xml('Date', {}, '2026')))), xml('item', { id: '2' }, xml('entry', {}, xml('title', {}, 't'))))));
    const [a, b] = stanza.getChild('event')!.getChild('items')!.getChildren('item').map((i) => i.getChildElements()[0]!);
    // The prefix comes along; the envelope's default namespace does not reach into <voe:VOEvent>.
    expect(standaloneXml(a!)).toBe('<voe:VOEvent ivorn="x" xmlns:voe="urn:voe"><Who><Date>2026</Date></Who></voe:VOEvent>');
    // An unprefixed root really is in the envelope's namespace.
    expect(standaloneXml(b!)).toBe('<entry xmlns="http://jabber.org/protocol/pubsub#event"><title>t</title></entry>');
    // The tree itself is left as it was.
    expect(a!.attrs).toEqual({ ivorn: 'x' });
  });

  it('prepares a real packet: validated, IVORN, id, standalone XML without declaration', () => {
    const bytes = readFileSync(join(FIX, 'gcn-notice-parser__svom_eclairs_319__sb26051101_eclairs-wakeup.xml'));
    const p = prepareVOEvent(bytes, 'wakeup.xml');
    expect(p.ivorn).toBe('ivo://org.svom/fsc#sb26051101_eclairs-wakeup');
    expect(p.id).toBe(itemIdFor(p.ivorn));
    expect(p.xml.startsWith('<voe:VOEvent')).toBe(true);
    expect(parse(p.xml)).toEqual(parse(bytes));
    try {
      prepareVOEvent(readFileSync(join(FIX, 'voevent-parse__no_namespace_packet__EDGE-invalid-no-namespace.xml')), 'dc3.xml');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidVOEventError);
      expect((e as Error).message).toMatch(/^dc3\.xml:1:1: \/VOEvent: root <VOEvent> has no namespace/);
    }
  });
});

describe('agent state', () => {
  it('round-trips through its file, bounded, written atomically', () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxnet-state-'));
    try {
      const file = join(dir, 'a.json');
      const s = new AgentState(file, { maxIds: 3, maxIvorns: 2 });
      for (let i = 1; i <= 5; i++) s.remember('n', `id${i}`, `ivo://x#${i}`);
      s.setCursor('n', 'id5');
      s.save();
      expect(readdirSync(dir)).toEqual(['a.json']); // no temporary file left
      const t = new AgentState(file, { maxIds: 3, maxIvorns: 2 });
      expect(t.cursor('n')).toBe('id5');
      expect(['id1', 'id2', 'id3', 'id4', 'id5'].map((id) => t.hasId('n', id))).toEqual([false, false, true, true, true]);
      expect(t.hasIvorn('ivo://x#3')).toBe(false);
      expect(t.hasIvorn('ivo://x#5')).toBe(true);
      expect(t.hasId('other', 'id5')).toBe(false);
      // Staged: the file changes only on commit.
      t.remember('n', 'id6');
      const commit = t.stage();
      expect(new AgentState(file).hasId('n', 'id6')).toBe(false);
      commit();
      expect(new AgentState(file).hasId('n', 'id6')).toBe(true);
      writeFileSync(file, '{"version":1,"nodes":');
      expect(() => new AgentState(file)).toThrow(/unreadable/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('locks its file against a second user and takes over a dead owner\'s lock', () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxnet-lock-'));
    try {
      const file = join(dir, 's.json');
      const release = lockStateFile(file);
      expect(() => lockStateFile(file)).toThrow(/in use by process \d+ \(this one\)/);
      release();
      writeFileSync(`${file}.lock`, '999999999'); // no such process
      lockStateFile(file)();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('configuration errors', () => {
  it('name the key', () => {
    const schema = { type: 'object', additionalProperties: false, required: ['node'], properties: { node: { type: 'string' }, sub: { type: 'object', properties: { n: { type: 'integer' } } }, list: { type: 'array', items: { enum: ['a', 'b'] } } } };
    try {
      checkConfig({ sub: { n: 'x' }, list: ['a', 'c'], zap: 1 }, schema, 'cfg.yaml');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).problems).toEqual([
        'node: is required',
        'zap: is not a known key',
        'sub.n: must be integer',
        'list[1]: must be one of "a", "b"',
      ]);
    }
  });
});

describe('replay order', () => {
  it('reads VOEvent times as UTC and scales gaps by the speed, capped', () => {
    expect(voeventTime('2026-05-11T06:13:32.594000')).toBe(Date.UTC(2026, 4, 11, 6, 13, 32, 594));
    expect(voeventTime('2026-05-11T06:14:19+00:00')).toBe(Date.UTC(2026, 4, 11, 6, 14, 19));
    expect(voeventTime('2026-05-11T08:14:19+02:00')).toBe(Date.UTC(2026, 4, 11, 6, 14, 19));
    expect(voeventTime('yesterday')).toBeUndefined();
    const t = [0, 22_000, 262_000, 351_000].map((time) => ({ time }));
    expect(replaySchedule(t, 1000)).toEqual([0, 22, 240, 89]);
    expect(replaySchedule(t, 10, 10_000)).toEqual([0, 2200, 10_000, 8900]);
    expect(replaySchedule(t, Infinity)).toEqual([0, 0, 0, 0]);
  });

  it('orders a directory by Who/Date or by event time; --tag renames IVORNs and citations', () => {
    const who = loadReplay(FIX).packets.map((p) => p.prepared.ivorn);
    // The Fermi GBM 792135758 thread by Who/Date: alert 05:42:39, flt_pos 05:43:02, fin_pos 05:51:50.
    const gbm = who.filter((i) => i.includes('792135758'));
    expect(gbm.map((i) => i.split('#')[1]!.split('_')[1])).toEqual(['Alert', 'Flt', 'Fin']);
    const byEvent = loadReplay(FIX, { by: 'event' }).packets;
    expect(byEvent.map((p) => p.time)).toEqual([...byEvent.map((p) => p.time)].sort((a, b) => a - b));
    const tagged = loadReplay(FIX, { tag: 'drill1', asTest: true }).packets.find((p) => p.prepared.ivorn.startsWith('ivo://org.svom/fsc#sb26051101_slewing'))!;
    expect(tagged.prepared.ivorn).toBe('ivo://org.svom/fsc#sb26051101_slewing-drill1');
    expect(tagged.prepared.event.role).toBe('test');
    expect(tagged.prepared.event.citations!.eventIVORNs.every((c) => c.ivorn.endsWith('-drill1'))).toBe(true);
  });
});

describe('packets the agents build', () => {
  it('heartbeats are valid VOEvents with role utility and distinct IVORNs', () => {
    const at = new Date('2026-05-11T06:13:32.594Z');
    const a = heartbeatEvent({ ivornBase: 'ivo://svom.fr/voxnet/heartbeat', seq: 1, at, intervalMs: 1000, source: 'hb@svom.fr on vm' });
    const b = heartbeatEvent({ ivornBase: 'ivo://svom.fr/voxnet/heartbeat', seq: 2, at, intervalMs: 1000, source: 'hb@svom.fr on vm' });
    expect(a.ivorn).toBe('ivo://svom.fr/voxnet/heartbeat#20260511T061332_594Z-1');
    expect(a.ivorn).not.toBe(b.ivorn);
    const x = build(a);
    expect(validate(x)).toMatchObject({ valid: true, errors: [] });
    expect(validate(x, { engine: 'xsd' })).toMatchObject({ valid: true });
    expect(parse(x).role).toBe('utility');
  });

  it('a burst description becomes a schema-valid VOEvent 2.0 packet', () => {
    const b = checkBurst({ id: 'sb1_wakeup', trigger_time: '2026-05-11T06:13:32.594', ra: 10, dec: -5, error_radius: 0.1, instrument: 'ECLAIRs', params: [{ name: 'SNR', value: 8.5, ucd: 'stat.snr' }], concepts: ['process.variation.burst'] }, 'b.json');
    const ev = burstEvent(b, { ivorn_base: 'ivo://org.svom/fsc', author: { shortName: 'SVOM' } }, '2026-05-11T06:14:00Z', 'b.json');
    const x = build(ev);
    expect(validate(x, { engine: 'xsd' })).toMatchObject({ valid: true, errors: [] });
    expect(parse(x)).toMatchObject({ ivorn: 'ivo://org.svom/fsc#sb1_wakeup', role: 'observation', who: { date: '2026-05-11T06:14:00Z' } });
    expect(() => checkBurst({ id: 'a b', trigger_time: 'now', ra: 1 }, 'b.json')).toThrow(
      ['b.json: ra: needs dec and error_radius as well', 'b.json: id: must be letters, digits and . _ ~ - (the IVORN local part)', 'b.json: trigger_time: must be an ISO 8601 date-time such as 2026-05-11T06:13:32.594'].join('\n'),
    );
    expect(() => burstEvent(checkBurst({ id: 'x', trigger_time: '2026-05-11T06:13:32' }, 'b.json'), {}, '2026-05-11T06:14:00Z', 'b.json')).toThrow(/no ivorn/);
  });
});
