/** The tracker: threads of packets, which request is active, kept atomically on disk. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { decide } from '../agents/telescope/decide.ts';
import { Tracker, threadKeys } from '../agents/telescope/tracker.ts';
import { PACKETS, SITES, packet, rules } from './telescope-helpers.ts';

const tmpdir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'voxnet-tracker-'));

describe('tracker', () => {
  const bat = packet(PACKETS.swiftBat);
  const xrt = packet(PACKETS.swiftXrt);
  const r = rules({ site: SITES.kittPeak });
  const at = new Date('2022-09-30T11:12:20Z');

  it('knows packets by IVORN, cited IVORNs and mission event id', () => {
    expect(threadKeys(xrt)).toEqual([`ivorn:${xrt.ivorn}`, `ivorn:${bat.ivorn}`, 'event:swift:1125809']);
    expect(threadKeys(packet(PACKETS.svomSlewing))).toContain('event:svom:sb26051101');
  });

  it('links packets of one event without citations through the mission event id', () => {
    const t = new Tracker();
    t.record(bat, decide(bat, r, at), { requestId: '7', at });
    // The XRT packet without its Citations still names Swift trigger 1125809.
    const bare = structuredClone(xrt);
    delete bare.citations;
    expect(t.lookup(bare)).toMatchObject({ relation: 'same-event', requestId: '7', active: true, error: 0.05 });
    // Another trigger is a new event.
    const other = structuredClone(bare);
    other.ivorn = 'ivo://nasa.gsfc.gcn/SWIFT#XRT_Pos_1125810-001';
    other.what!.params = other.what!.params.map((p) => (p.name === 'TrigID' ? { ...p, value: '1125810' } : p));
    expect(t.lookup(other)).toBeUndefined();
  });

  it('persists atomically and comes back after a restart', () => {
    const dir = tmpdir();
    const file = path.join(dir, 'sub', 'state.json');
    const t1 = new Tracker({ file });
    t1.record(bat, decide(bat, r, at), { requestId: '41', at });
    expect(fs.readdirSync(path.dirname(file))).toEqual(['state.json']); // no temporary file left behind
    const t2 = new Tracker({ file });
    expect(t2.isHandled(bat.ivorn)).toBe(true);
    expect(t2.lookup(xrt)).toMatchObject({ relation: 'followup', requestId: '41', active: true, eventIvorn: bat.ivorn });
    // The next thread id continues after the loaded ones.
    const svom = packet(PACKETS.svomWakeup);
    const th = t2.record(svom, decide(svom, rules({ site: SITES.laSilla }), new Date('2026-05-11T06:14:20Z')), { requestId: '42' });
    expect(th!.id).toBe('t1');
    const saved = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(saved.version).toBe(1);
    expect(saved.threads.map((x: { id: string }) => x.id)).toEqual(['t0', 't1']);
  });

  it('reads state files written with the old thread keys (bare IVORN, mission:<Mission>:<id>)', () => {
    const dir = tmpdir();
    const file = path.join(dir, 'state.json');
    const now = at.toISOString();
    fs.writeFileSync(file, JSON.stringify({ version: 1, handled: [bat.ivorn], threads: [{
      id: 't0', events: [bat.ivorn], keys: [bat.ivorn, 'mission:Swift:1125809'], history: [], updatedAt: now,
      request: { id: '5', state: 'active', eventIvorn: bat.ivorn, target: { name: 'x', ra: 1, dec: 2, error: 0.05 }, window: { start: now, end: now }, observationType: 'RAPID_RESPONSE', createdAt: now, updatedAt: now },
    }] }));
    const t = new Tracker({ file });
    expect(t.lookup(xrt)).toMatchObject({ relation: 'followup', requestId: '5', active: true });
  });

  it('refuses a state file it cannot read rather than starting empty', () => {
    const dir = tmpdir();
    const file = path.join(dir, 'state.json');
    fs.writeFileSync(file, '{"version": 1, "threads": [');
    expect(() => new Tracker({ file })).toThrow(/unreadable telescope state/);
    fs.writeFileSync(file, '{"version": 9, "threads": []}');
    expect(() => new Tracker({ file })).toThrow(/not a telescope state file/);
  });

  it('a failed submission leaves no active request; a failed cancel leaves it active', () => {
    const t = new Tracker();
    t.record(bat, decide(bat, r, at), { error: 'HTTP 500', at });
    expect(t.lookup(xrt)).toMatchObject({ active: false });
    const t2 = new Tracker();
    const svom = packet(PACKETS.svomWakeupRetracted);
    const retr = packet(PACKETS.svomRetraction);
    const xr = rules({ site: SITES.xinglong });
    t2.record(svom, decide(svom, xr, new Date('2026-03-04T10:04:01Z')), { requestId: '5' });
    const prior = t2.lookup(retr)!;
    const cancel = decide(retr, xr, new Date('2026-03-04T10:04:02Z'), prior);
    expect(cancel.action).toBe('cancel');
    t2.record(retr, cancel, { error: 'connection refused' });
    expect(t2.list()[0]!.request).toMatchObject({ id: '5', state: 'active' });
    expect(t2.list()[0]!.history.at(-1)).toMatchObject({ action: 'cancel', error: 'connection refused', requestId: '5' });
  });

  it('keeps at most maxThreads threads, dropping the oldest', () => {
    const t = new Tracker({ maxThreads: 2 });
    for (let i = 0; i < 4; i++) {
      const e = structuredClone(bat);
      e.ivorn = `ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_${1000 + i}-001`;
      e.what!.params = e.what!.params.map((p) => (p.name === 'TrigID' ? { ...p, value: String(1000 + i) } : p));
      t.record(e, decide(e, r, at), { requestId: String(i), at: new Date(at.getTime() + i * 1000) });
    }
    expect(t.list().map((x) => x.request?.id)).toEqual(['3', '2']);
  });
});
