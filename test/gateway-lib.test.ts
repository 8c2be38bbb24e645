/** The gateways' shared floor: deterministic ids, the seen-store and its loop rule, dead letters, publish-then-advance. */
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bridgedItemId, dedupeKey, hopIdText, SeenStore, BridgeLedger, DirectoryDeadLetters, NodeDeadLetters, deadLetterXml, relay, Refused, RelayStopped,
  DiskFullWatch, type DeadLetter, type DeadLetterSink,
} from '../agents/gateway/lib/index.ts';
import { pino } from 'pino';
import { itemIdFor } from '../agents/lib/index.ts';

const UUID = '0f8fad5b-d9cb-469f-a165-70867728950e';
const UUID_BYTES = Buffer.from(UUID.replace(/-/g, ''), 'hex');

describe('bridged item ids', () => {
  it('prefer the IVORN, then the Hopskotch _id, then the stream position, then the bytes', () => {
    const ivorn = 'ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1234-567';
    expect(bridgedItemId({ ivorn, hopId: UUID_BYTES, position: ['kafka', 't', 0, 5] })).toBe(itemIdFor(ivorn));
    expect(bridgedItemId({ hopId: UUID_BYTES, position: ['kafka', 't', 0, 5] })).toBe(`hop-${UUID}`);
    expect(bridgedItemId({ hopId: UUID })).toBe(`hop-${UUID}`);
    const pos = bridgedItemId({ position: ['kafka', 'gcn.notices.icecube.lvk_nu_track_search', 2, 17] });
    expect(pos).toMatch(/^kafka-gcn.notices.icecube.lvk_nu_track_search-2-17-[0-9a-f]{12}$/);
    expect(bridgedItemId({ position: ['kafka', 'gcn.notices.icecube.lvk_nu_track_search', 2, 17] })).toBe(pos);
    expect(bridgedItemId({ position: ['kafka', 'gcn.notices.icecube.lvk_nu_track_search', 2, 18] })).not.toBe(pos);
    expect(bridgedItemId({ bytes: '{"a":1}' })).toBe(bridgedItemId({ bytes: Buffer.from('{"a":1}') }));
    expect(() => bridgedItemId({})).toThrow(/no IVORN/);
  });

  it('read a Hopskotch _id as 16 bytes or UUID text, and refuse anything else', () => {
    expect(hopIdText(UUID_BYTES)).toBe(UUID);
    expect(hopIdText(UUID.toUpperCase())).toBe(UUID);
    expect(hopIdText(Buffer.from(UUID))).toBe(UUID);
    expect(hopIdText(Buffer.from('short'))).toBeUndefined();
    expect(hopIdText('not-a-uuid')).toBeUndefined();
    expect(dedupeKey({ ivorn: ' ivo://a/b#c ' })).toBe('ivorn:ivo://a/b#c');
    expect(dedupeKey({ hopId: UUID_BYTES })).toBe(`hop:${UUID}`);
    expect(dedupeKey({})).toBeUndefined();
  });
});

describe('seen-store', () => {
  it('remembers key, direction and origin durably across reopening, until the entry expires', () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxnet-seen-'));
    let now = 1_000_000;
    const file = join(dir, 'seen.sqlite');
    const a = new SeenStore(file, { ttlMs: 60_000, now: () => now });
    a.mark('ivorn:ivo://x#1', 'out', 'gw-a');
    a.close();
    const b = new SeenStore(file, { ttlMs: 60_000, now: () => now });
    expect(b.get('ivorn:ivo://x#1')).toMatchObject({ direction: 'out', origin: 'gw-a' });
    // A later mark keeps the first direction and origin and renews the expiry.
    now += 50_000;
    b.mark('ivorn:ivo://x#1', 'in', 'kafka://h/t');
    expect(b.get('ivorn:ivo://x#1')).toMatchObject({ direction: 'out', origin: 'gw-a', expiresAt: now + 60_000 });
    now += 60_001;
    expect(b.has('ivorn:ivo://x#1')).toBe(false);
    expect(b.prune()).toBe(1);
    b.close();
  });

  it('batches marks in one transaction: all or none; an unsynced batch is seen at once by another gateway on the file, and kept', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'voxnet-seen-')), 'seen.sqlite');
    const a = new SeenStore(file);
    const other = new SeenStore(file);
    expect(() => a.batch(() => {
      a.mark('hop:1', 'in', 'kafka://h/t');
      throw new Error('half way');
    })).toThrow('half way');
    expect(other.has('hop:1')).toBe(false);
    a.batch(() => ['hop:1', 'hop:2'].forEach((k) => a.mark(k, 'in', 'kafka://h/t')), { sync: false });
    expect(other.has('hop:1') && other.has('hop:2')).toBe(true);
    a.batch(() => a.mark('hop:3', 'in', 'kafka://h/t'));
    a.close();
    other.close();
    const b = new SeenStore(file);
    expect(['hop:1', 'hop:2', 'hop:3'].map((k) => b.has(k))).toEqual([true, true, true]);
    b.close();
  });
});

describe('dead letters', () => {
  const letter: DeadLetter = { source: 'kafka://127.0.0.1:9092/gcn.notices.x/0/7', reason: 'schema: /ra must be number', payload: '{"ra":"x"}', headers: { _format: 'json' } };

  it('go to a directory as one JSON file each, with the reason, text or base64', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'voxnet-dl-'));
    const sink = new DirectoryDeadLetters(dir);
    const f1 = await sink.put(letter);
    const f2 = await sink.put({ ...letter, payload: Buffer.from([0xff, 0x00, 0x01]), reason: 'not UTF-8' });
    expect(readdirSync(dir).sort()).toEqual([f1, f2].map((f) => f.slice(dir.length + 1)).sort());
    expect(JSON.parse(readFileSync(f1, 'utf8'))).toMatchObject({ source: letter.source, reason: letter.reason, text: '{"ra":"x"}', headers: { _format: 'json' }, bytes: 10, truncated: false });
    expect(JSON.parse(readFileSync(f2, 'utf8'))).toMatchObject({ reason: 'not UTF-8', base64: '/wAB' });
  });

  it('go to a node as an escaped <dead-letter> item with a stable id', async () => {
    const published: [string, string, string][] = [];
    const sink = new NodeDeadLetters('gw/dead', async (n, x, id) => void published.push([n, x, id]));
    await sink.put({ ...letter, payload: '<bad & "xml"' });
    await sink.put({ ...letter, payload: '<bad & "xml"' });
    expect(published[0]![2]).toBe(published[1]![2]);
    expect(published[0]![1]).toContain('reason="schema: /ra must be number"');
    expect(published[0]![1]).toContain('&lt;bad &amp; &quot;xml&quot;</payload>');
    expect(deadLetterXml({ ...letter, payload: 'x'.repeat(100) }, 10)).toContain('bytes="100" truncated="true">xxxxxxxxxx</payload>');
  });
});

describe('publish, then advance', () => {
  const letters: DeadLetter[] = [];
  const sink: DeadLetterSink = { put: async (l) => (letters.push(l), 'x') };

  it('advances only after delivery, retrying transient failures', async () => {
    const log: string[] = [];
    let fails = 2;
    const out = await relay({
      deliver: async () => {
        if (fails-- > 0) throw new Error('broker away');
        log.push('delivered');
      },
      advance: () => void log.push('advanced'),
      letter: () => ({ source: 's', payload: 'p' }),
    }, { deadLetters: sink, backoff: { initialMs: 1, maxMs: 2 }, onRetry: () => log.push('retry') });
    expect(out).toBe('delivered');
    expect(log).toEqual(['retry', 'retry', 'delivered', 'advanced']);
  });

  it('dead-letters a refused message with the reason, then advances', async () => {
    const log: string[] = [];
    const out = await relay({
      deliver: async () => { throw new Refused('bad XML at 1:3'); },
      advance: () => void log.push('advanced'),
      letter: () => ({ source: 'src', payload: '<x' }),
    }, { deadLetters: sink });
    expect(out).toBe('dead-lettered');
    expect(log).toEqual(['advanced']);
    expect(letters.at(-1)).toMatchObject({ source: 'src', reason: 'bad XML at 1:3', payload: '<x' });
  });

  it('advances past a skipped message, and never advances when stopped before delivery', async () => {
    let advanced = 0;
    expect(await relay({ deliver: async () => 'skipped', advance: () => void advanced++, letter: () => ({ source: '', payload: '' }) }, { deadLetters: sink })).toBe('skipped');
    const ac = new AbortController();
    const p = relay({
      deliver: async () => { throw new Error('still away'); },
      advance: () => void advanced++,
      letter: () => ({ source: '', payload: '' }),
    }, { deadLetters: sink, signal: ac.signal, backoff: { initialMs: 50, maxMs: 50 } });
    setTimeout(() => ac.abort(), 120);
    await expect(p).rejects.toBeInstanceOf(RelayStopped);
    expect(advanced).toBe(1);
  });
});

describe('publish, then advance, on a full disk', () => {
  const full = () => Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  /** A watch logging into `lines`, retrying every 5 ms. */
  const watch = (lines: { level: number; msg: string }[]) =>
    new DiskFullWatch(pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l)) }), 5);

  it('waits out each state write where it failed: nothing published twice, nothing advanced before its marks, one error per episode', async () => {
    const lines: { level: number; msg: string }[] = [];
    const disk = watch(lines);
    const log: string[] = [];
    let arrivalFails = 3;
    let markFails = 4;
    const out = await relay({
      deliver: async () => {
        if (arrivalFails-- > 0) throw full(); // the arrival mark, before the publish
        log.push('published');
      },
      advance: () => {
        if (markFails-- > 0) throw full(); // the mark after the acknowledgement
        log.push('advanced');
      },
      letter: () => ({ source: 's', payload: 'p' }),
    }, { deadLetters: { put: async () => 'x' }, disk, onRetry: () => log.push('retry') });
    expect(out).toBe('delivered');
    expect(log).toEqual(['published', 'advanced']);
    expect(lines.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([expect.stringMatching(/^disk full: the seen-store cannot be written; nothing is acknowledged upstream/)]);
    expect(lines.filter((l) => l.level === 40).map((l) => l.msg)).toEqual([expect.stringMatching(/^disk space is back/)]);
    expect(disk.full).toBe(false);
  });

  it('a dead letter that cannot be written holds the message (not advanced) until it is written', async () => {
    const lines: { level: number; msg: string }[] = [];
    let putFails = 3;
    const put: string[] = [];
    let advanced = false;
    const out = await relay({
      deliver: async () => { throw new Refused('bad XML'); },
      advance: () => void (advanced = true),
      letter: () => ({ source: 's', payload: '<x' }),
    }, {
      deadLetters: { put: async (l) => { if (putFails-- > 0) { expect(advanced).toBe(false); throw enospc(); } put.push(l.reason); return 'f'; } },
      disk: watch(lines),
    });
    expect([out, put, advanced]).toEqual(['dead-lettered', ['bad XML'], true]);
    expect(lines.filter((l) => l.level >= 50)).toHaveLength(1);
  });

  it('stopped while waiting for space: RelayStopped, nothing advanced', async () => {
    const ac = new AbortController();
    let advanced = 0;
    const p = relay({ deliver: async () => { throw full(); }, advance: () => void advanced++, letter: () => ({ source: '', payload: '' }) }, { deadLetters: { put: async () => 'x' }, signal: ac.signal, disk: watch([]) });
    setTimeout(() => ac.abort(), 30);
    await expect(p).rejects.toBeInstanceOf(RelayStopped);
    expect(advanced).toBe(0);
    // Delivered, but its mark cannot be written: stopped while waiting, the relay does not say it advanced.
    const ac2 = new AbortController();
    let delivered = 0;
    const q = relay({ deliver: async () => void delivered++, advance: () => { advanced++; throw full(); }, letter: () => ({ source: '', payload: '' }) }, { deadLetters: { put: async () => 'x' }, signal: ac2.signal, disk: watch([]) });
    setTimeout(() => ac2.abort(), 30);
    await expect(q).rejects.toBeInstanceOf(RelayStopped);
    expect(delivered).toBe(1);
    expect(advanced).toBeGreaterThan(1);
  });
});

describe('bridge ledger (loops and duplicates per place)', () => {
  it('never bridges back in what went out, never sends back where it came from, relays between networks', () => {
    const store = new SeenStore(':memory:');
    const a = new BridgeLedger(store, ['gw-a']);
    const T = 'kafka://k:9092/t';
    const U = 'kafka://k:9092/u';
    const K = 'ivorn:ivo://x#1';
    // Sent out to T: an echo from T is refused, as is the origin marker; a second send to T is a duplicate.
    expect(a.outbound({ key: K, dest: T })).toEqual({ bridge: true });
    a.markOutbound({ key: K, dest: T, gateway: 'gw-a' });
    expect(a.outbound({ key: K, dest: T })).toEqual({ bridge: false, reason: 'duplicate' });
    expect(a.inbound({ key: K, source: T, node: 'n' })).toEqual({ bridge: false, reason: 'echo' });
    expect(a.inbound({ key: 'hop:1', source: T, node: 'n', originMarkers: ['gw-a'] })).toEqual({ bridge: false, reason: 'own-origin-marker' });
    // Came in from U to node m: a second arrival is a duplicate, sending it back to U is refused, on to T is fine.
    const K2 = 'ivorn:ivo://x#2';
    expect(a.inbound({ key: K2, source: U, node: 'm' })).toEqual({ bridge: true });
    a.markInbound({ key: K2, source: U, node: 'm' });
    expect(a.inbound({ key: K2, source: U, node: 'm' })).toEqual({ bridge: false, reason: 'duplicate' });
    expect(a.inbound({ key: K2, source: U, node: 'other' })).toEqual({ bridge: true });
    expect(a.outbound({ key: K2, dest: U })).toEqual({ bridge: false, reason: 'came-from-there' });
    expect(a.outbound({ key: K2, dest: T })).toEqual({ bridge: true });
    // Without a key (no IVORN, no _id) nothing can be told apart: deterministic item ids do the dedupe.
    expect(a.inbound({ source: T, node: 'n' })).toEqual({ bridge: true });
    store.close();
  });
});

describe('VOEvent bytes for other networks', () => {
  it('gives the conventional <voe:VOEvent> form of a payload the server re-serialized, same document', async () => {
    const { parseXml } = await import('./helpers/pubsub.ts');
    const { parse } = await import('../voevent/index.ts');
    const { conventionalVOEventXml } = await import('../agents/gateway/lib/index.ts');
    const served = '<VOEvent xmlns="http://www.ivoa.net/xml/VOEvent/v2.0" xmlns:ns1="http://www.w3.org/2001/XMLSchema-instance" ns1:schemaLocation="x y" ivorn="ivo://a/b#c" version="2.0" role="test">'
      + '<Who xmlns=""><AuthorIVORN>ivo://a/b</AuthorIVORN><Date>2026-01-01T00:00:00</Date></Who><What xmlns=""><Param name="p" value="1 &lt; 2"/></What></VOEvent>';
    const text = conventionalVOEventXml(await parseXml(served))!;
    expect(text).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<voe:VOEvent xmlns:voe="http:\/\/www.ivoa.net\/xml\/VOEvent\/v2.0" xmlns:ns1=/);
    expect(text).toContain('<Who><AuthorIVORN>');
    expect(text).not.toContain('xmlns=""');
    const ev = parse(text);
    expect(ev.ivorn).toBe('ivo://a/b#c');
    expect(ev.role).toBe('test');
    expect(conventionalVOEventXml(await parseXml('<json xmlns="urn:xmpp:json:0">{}</json>'))).toBeUndefined();
  });
});
