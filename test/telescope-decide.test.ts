/**
 * decide() on real packets at fixed times and sites, with the tracker carrying
 * requests from one packet to the next. Where the answer depends on geometry, the
 * expected value is checked with the second method (test/telescope-geometry.ts).
 */
import { describe, expect, it } from 'vitest';
import { decide, formatDecision, isRetraction, parseIsoUtc, retractedIvorns, type Decision } from '../agents/telescope/decide.ts';
import { Tracker } from '../agents/telescope/tracker.ts';
import type { Rules } from '../agents/telescope/rules.ts';
import type { VOEvent } from '../voevent/index.ts';
import * as G from './telescope-geometry.ts';
import { PACKETS, SITES, derive, packet, rules } from './telescope-helpers.ts';

const T = (s: string) => new Date(s);

/** Feed packets through decide + tracker as the agent does (request ids r1, r2, ...). */
function session(r: Rules) {
  const tracker = new Tracker();
  let n = 0;
  return {
    tracker,
    step(ev: VOEvent, at: Date): Decision {
      const duplicate = tracker.isHandled(ev.ivorn);
      const prior = duplicate ? undefined : tracker.lookup(ev);
      const d = decide(ev, r, at, prior, { duplicate });
      const makes = d.action === 'trigger' || d.action === 'schedule' || d.action === 'update';
      if (!duplicate) tracker.record(ev, d, { at, ...(makes ? { requestId: `r${++n}` } : {}) });
      return d;
    },
  };
}

const verdict = (d: Decision, rule: string) => d.verdicts.find((v) => v.rule === rule);

describe('decide: Swift BAT GRB position 1125809 and its XRT followup', () => {
  const bat = packet(PACKETS.swiftBat);
  const xrt = packet(PACKETS.swiftXrt);
  const at = T('2022-09-30T11:12:20Z'); // BAT packet issued 11:12:15

  it('Kitt Peak, 04:12 local, burst near the meridian: trigger now (RAPID_RESPONSE)', () => {
    const d = decide(bat, rules({ site: SITES.kittPeak }), at);
    expect(d.action).toBe('trigger');
    expect(d.observationType).toBe('RAPID_RESPONSE');
    expect(d.window!.start).toEqual(at);
    expect(d.target).toEqual({ name: 'Swift 1125809', ra: 64.7373, dec: 13.3517, error: 0.05 });
    // Second method: high up, dark sky.
    expect(G.targetAltitude(64.7373, 13.3517, SITES.kittPeak.latitude, SITES.kittPeak.longitude, at)).toBeGreaterThan(70);
    expect(G.sunAltitude(SITES.kittPeak.latitude, SITES.kittPeak.longitude, at)).toBeLessThan(-25);
    expect(d.verdicts.every((v) => v.verdict === 'pass' || v.verdict === 'skip')).toBe(true);
  });

  it('La Palma, 10:12 local: schedule (NORMAL) from when the burst is 30° up that night', () => {
    // Within 12 h of the trigger it never gets there (rises through 30° at ≈ 00:41 UTC, 13.5 h later) ...
    expect(decide(bat, rules({ site: SITES.laPalma }), at).reason).toMatch(/^visibility: not observable before the window closes/);
    // ... within 24 h it does.
    const d = decide(bat, rules({ site: SITES.laPalma, observability: { window: { end: '24h' } } }), at);
    expect(d.action).toBe('schedule');
    expect(d.observationType).toBe('NORMAL');
    expect(verdict(d, 'sun')!.verdict).toBe('later');
    const start = d.window!.start;
    expect(start.getTime()).toBeGreaterThan(at.getTime() + 10 * 3600_000);
    const alt = (t: Date) => G.targetAltitude(64.7373, 13.3517, SITES.laPalma.latitude, SITES.laPalma.longitude, t);
    expect(alt(new Date(start.getTime() - 60_000))).toBeLessThan(30);
    expect(alt(new Date(start.getTime() + 60_000))).toBeGreaterThan(30);
  });

  it('a followup with a better position updates the request; the same packet again is ignored', () => {
    const s = session(rules({ site: SITES.kittPeak }));
    expect(s.step(bat, at).action).toBe('trigger');
    const d = s.step(xrt, T('2022-09-30T11:15:10Z'));
    expect(d.action).toBe('update');
    expect(d.relation).toBe('followup');
    expect(d.prior).toMatchObject({ relation: 'followup', requestId: 'r1', active: true, error: 0.05 });
    expect(d.target).toMatchObject({ ra: 64.7149, dec: 13.35, error: 0.0013 });
    expect(verdict(d, 'better_position')!.verdict).toBe('pass');
    const again = s.step(xrt, T('2022-09-30T11:15:20Z'));
    expect(again.action).toBe('ignore');
    expect(again.reason).toBe('already handled');
    expect(s.tracker.list()[0]!.request).toMatchObject({ id: 'r2', state: 'active', eventIvorn: xrt.ivorn });
  });

  it('a packet that supersedes replaces the request even with a larger error; one that no longer qualifies cancels it', () => {
    // Derived from the real XRT packet: a new IVORN that cites it with cite="supersedes".
    const s = session(rules({ site: SITES.kittPeak }));
    s.step(bat, at);
    s.step(xrt, T('2022-09-30T11:15:10Z'));
    const sup = derive(xrt, (e) => {
      e.ivorn = 'ivo://nasa.gsfc.gcn/SWIFT#XRT_Pos_1125809-105';
      e.citations = { eventIVORNs: [{ ivorn: xrt.ivorn, cite: 'supersedes' }] };
      e.whereWhen!.position = { ...e.whereWhen!.position!, ra: 64.72, error: 0.003 };
    });
    const d = s.step(sup, T('2022-09-30T11:20:00Z'));
    expect(d.action).toBe('update');
    expect(d.relation).toBe('supersedes');
    expect(d.target!.ra).toBe(64.72);
    const bad = derive(sup, (e) => {
      e.ivorn = 'ivo://nasa.gsfc.gcn/SWIFT#XRT_Pos_1125809-106';
      e.citations = { eventIVORNs: [{ ivorn: sup.ivorn, cite: 'supersedes' }] };
      e.whereWhen!.position = { ...e.whereWhen!.position!, error: 2 };
    });
    const c = s.step(bad, T('2022-09-30T11:25:00Z'));
    expect(c.action).toBe('cancel');
    expect(c.reason).toMatch(/no longer qualifies.*error_radius: 2\.0000° > 0\.5°/);
  });

  it('a followup that is not better keeps the request', () => {
    const s = session(rules({ site: SITES.kittPeak }));
    s.step(bat, at);
    const worse = derive(xrt, (e) => {
      e.whereWhen!.position = { ...e.whereWhen!.position!, error: 0.06 };
    });
    const d = s.step(worse, T('2022-09-30T11:15:10Z'));
    expect(d.action).toBe('ignore');
    expect(d.reason).toMatch(/no better position/);
    expect(verdict(d, 'better_position')).toMatchObject({ verdict: 'fail' });
  });

  it('the window closes 12 h after the trigger', () => {
    const d = decide(bat, rules({ site: SITES.kittPeak }), T('2022-09-30T23:12:00Z'));
    expect(d.action).toBe('reject');
    expect(verdict(d, 'window')!.detail).toMatch(/the window closed at 2022-09-30T23:11:52Z/);
  });

  it('rejects on importance, declination and error radius, naming the rule', () => {
    expect(decide(bat, rules({ accept: { min_importance: 0.95 } }), at)).toMatchObject({ action: 'reject', reason: 'importance: importance 0.9 < 0.95' });
    expect(decide(bat, rules({ observability: { dec_max: 10 } }), at).reason).toBe('declination: Dec 13.35° outside [-60°, 10°]');
    const r = rules({ accept: { streams: [{ stream: 'ivo://nasa.gsfc.gcn/SWIFT', max_error_radius: 0.01 }] } });
    expect(decide(bat, r, at).reason).toBe('error_radius: 0.0500° > 0.01°');
  });

  it('a real position with error radius 0 (as AGILE GRB notices give) is observed as a point; a negative radius is refused', () => {
    const noError = structuredClone(bat);
    noError.whereWhen!.position = { ...noError.whereWhen!.position!, error: 0 };
    const d = decide(noError, rules({ site: SITES.kittPeak }), at);
    expect(d.action).toBe('trigger');
    expect(d.target).toEqual({ name: 'Swift 1125809', ra: 64.7373, dec: 13.3517, error: 0 });
    expect(verdict(d, 'position')).toMatchObject({ verdict: 'pass', detail: 'RA 64.7373 Dec 13.3517, error radius not given (0): treated as a point position' });
    const negative = structuredClone(bat);
    negative.whereWhen!.position = { ...negative.whereWhen!.position!, error: -1 };
    expect(decide(negative, rules({ site: SITES.kittPeak }), at).reason).toBe('position: RA 64.7373 Dec 13.3517 with error radius -1: no usable localisation');
  });

  it('ignores streams and packet types it does not take', () => {
    const other = decide(bat, rules({ accept: { streams: ['ivo://org.svom/fsc'] } }), at);
    expect(other).toMatchObject({ action: 'ignore', reason: 'ivo://nasa.gsfc.gcn/SWIFT is not an accepted stream' });
    const types = decide(bat, rules({ accept: { streams: [{ stream: 'ivo://nasa.gsfc.gcn/SWIFT', packet_types: [67] }] } }), at);
    expect(types).toMatchObject({ action: 'ignore', reason: 'Packet_Type 61 not in 67' });
  });

  it('role=test is ignored outside drill mode and handled in drill mode', () => {
    const test = packet(PACKETS.swiftBatTest);
    expect(test.role).toBe('test');
    const at2 = parseIsoUtc(test.who!.date)!;
    const off = decide(test, rules(), at2);
    expect(off).toMatchObject({ action: 'ignore', reason: 'role=test ignored outside drill mode' });
    // GCN's BAT test position is Packet_Type 82 (61 for real bursts).
    const drill = rules({ accept: { drill: true, streams: [{ stream: 'ivo://nasa.gsfc.gcn/SWIFT', packet_types: [61, 82] }] } });
    const on = decide(test, drill, at2, undefined, { full: true });
    expect(on.action).not.toBe('ignore');
    expect(verdict(on, 'role')).toMatchObject({ verdict: 'pass', detail: 'role=test (drill mode)' });
  });
});

describe('decide: SVOM ECLAIRs wake-up, slewing and retraction', () => {
  const wakeup = packet(PACKETS.svomWakeup);
  const slewing = packet(PACKETS.svomSlewing);

  it('La Silla, 02:14 local: trigger on the wake-up; the slewing notice (same position) keeps the request', () => {
    const at = T('2026-05-11T06:14:20Z');
    const s = session(rules({ site: SITES.laSilla }));
    const d = s.step(wakeup, at);
    expect(d.action).toBe('trigger');
    expect(d.target!.name).toBe('SVOM sb26051101');
    expect(G.targetAltitude(197.9295, -33.8525, SITES.laSilla.latitude, SITES.laSilla.longitude, at)).toBeCloseTo(d.conditions!.altitude, 1);
    const d2 = s.step(slewing, T('2026-05-11T06:18:20Z'));
    expect(d2.prior).toMatchObject({ relation: 'followup', requestId: 'r1' });
    expect(d2.action).toBe('ignore');
    expect(d2.reason).toMatch(/no better position/);
  });

  it('Siding Spring, 16:14 local with the Sun up: schedule for nautical dusk', () => {
    const at = T('2026-05-11T06:14:20Z');
    const d = decide(wakeup, rules({ site: SITES.sidingSpring }), at);
    expect(d.action).toBe('schedule');
    const start = d.window!.start;
    const sun = (t: Date) => G.sunAltitude(SITES.sidingSpring.latitude, SITES.sidingSpring.longitude, t);
    // The Sun was the limit: it crosses −12° at the window start (second method, ± 20 s).
    expect(sun(new Date(start.getTime() - 20_000))).toBeGreaterThan(-12);
    expect(sun(new Date(start.getTime() + 20_000))).toBeLessThan(-12);
    expect(G.targetAltitude(197.9295, -33.8525, SITES.sidingSpring.latitude, SITES.sidingSpring.longitude, start)).toBeGreaterThan(30);
  });

  it('Kitt Peak: rejected, the burst never climbs to 30° (90° − (31.96° + 33.85°) = 24.2°)', () => {
    const d = decide(wakeup, rules({ site: SITES.kittPeak }), T('2026-05-11T06:14:20Z'));
    expect(d.action).toBe('reject');
    expect(d.reason).toMatch(/stays below 30\.0° \(highest 2[34]\.\d°\)/);
  });

  it('a retraction cancels the request made for the wake-up; later packets of the event are ignored', () => {
    const woken = packet(PACKETS.svomWakeupRetracted);
    const retraction = packet(PACKETS.svomRetraction);
    expect(retractedIvorns(retraction)).toEqual(['ivo://org.svom/fsc#sb26030408_eclairs-wakeup']);
    // Xinglong, 18:04 local on 4 March: the Sun has just set; the burst (Dec +41°) is high once it is dark.
    const s = session(rules({ site: SITES.xinglong }));
    const d = s.step(woken, T('2026-03-04T10:04:01Z'));
    expect(d.action).toBe('schedule');
    expect(G.sunAltitude(SITES.xinglong.latitude, SITES.xinglong.longitude, d.window!.start)).toBeCloseTo(-12, 1);
    // The retraction is Packet_Type 219, not in the accepted list: retractions always pass.
    const c = s.step(retraction, T('2026-03-04T10:04:02Z'));
    expect(c.action).toBe('cancel');
    expect(verdict(c, 'packet_type')!.detail).toMatch(/retraction \(Packet_Type 219\)/);
    expect(c.prior).toMatchObject({ relation: 'retraction', requestId: 'r1' });
    expect(s.tracker.list()[0]).toMatchObject({ retracted: true, request: { state: 'cancelled' } });
    const late = derive(woken, (e) => {
      e.ivorn = 'ivo://org.svom/fsc#sb26030408_slewing';
      e.citations = { eventIVORNs: [{ ivorn: woken.ivorn, cite: 'followup' }] };
    });
    expect(s.step(late, T('2026-03-04T10:10:00Z'))).toMatchObject({ action: 'ignore', reason: expect.stringMatching(/retracted/) });
  });

  it('a retraction that arrives before the alert it retracts: the thread is retracted, the alert triggers nothing', () => {
    const woken = packet(PACKETS.svomWakeupRetracted);
    const retraction = packet(PACKETS.svomRetraction);
    const s = session(rules({ site: SITES.xinglong }));
    expect(s.step(retraction, T('2026-03-04T10:04:00Z'))).toMatchObject({ action: 'ignore', reason: 'retraction of an event without an active request' });
    expect(s.tracker.list()[0]).toMatchObject({ retracted: true });
    // The same wake-up that is scheduled when it comes first (test above) is now ignored.
    const d = s.step(woken, T('2026-03-04T10:04:01Z'));
    expect(d).toMatchObject({ action: 'ignore', reason: expect.stringMatching(/the event was retracted/) });
    expect(d.prior).toMatchObject({ relation: 'same-event' });
  });

  it('a retraction of something we never asked for is ignored', () => {
    const d = decide(packet(PACKETS.svomRetraction), rules(), T('2026-03-04T10:04:02Z'));
    expect(d).toMatchObject({ action: 'ignore', reason: 'retraction of an event without an active request' });
  });
});

describe('decide: Fermi GBM alert → flight position → final position', () => {
  it('rejects the alert (no localisation) and the 13° flight position, triggers on the 3.3° final position', () => {
    const s = session(rules({ site: SITES.laSilla }));
    const alert = s.step(packet(PACKETS.fermiAlert), T('2026-02-07T05:42:40Z'));
    expect(alert.action).toBe('reject');
    expect(alert.reason).toMatch(/^position: RA 0\.0000 Dec 0\.0000 with error radius 0: no usable localisation \(a placeholder: no position yet\)/);
    const flt = s.step(packet(PACKETS.fermiFlt), T('2026-02-07T05:43:03Z'));
    expect(flt).toMatchObject({ action: 'reject', reason: 'error_radius: 13.2667° > 5°' });
    const at = T('2026-02-07T05:51:51Z');
    const fin = s.step(packet(PACKETS.fermiFin), at);
    // Same thread (all cite the alert) but nothing active: a fresh trigger.
    expect(fin.prior).toMatchObject({ relation: 'followup', active: false });
    expect(fin.action).toBe('trigger');
    expect(fin.target).toMatchObject({ name: 'Fermi 792135758', ra: 160.45, dec: -34.44, error: 3.29 });
    expect(G.targetAltitude(160.45, -34.44, SITES.laSilla.latitude, SITES.laSilla.longitude, at)).toBeGreaterThan(80);
  });
});

describe('decide: LVK MS181101ab (mock event, role=test)', () => {
  const prelim = packet(PACKETS.lvkPrelim);
  const retraction = packet(PACKETS.lvkRetraction);

  it('ignored outside drill mode; in drill mode rejected: a sky map, no position', () => {
    expect(decide(prelim, rules(), T('2018-11-01T22:34:50Z')).action).toBe('ignore');
    const d = decide(prelim, rules({ accept: { drill: true } }), T('2018-11-01T22:34:50Z'));
    expect(d).toMatchObject({ action: 'reject', reason: 'position: no position, only a sky map (tiling sky maps is not supported)' });
  });

  it('knows an LVK retraction (AlertType=Retraction, cite=supersedes) as a retraction', () => {
    expect(isRetraction(retraction)).toBe(true);
    expect(retractedIvorns(retraction)).toContain('ivo://gwnet/LVC#MS181101ab-2-Preliminary');
    expect(isRetraction(prelim)).toBe(false);
    const d = decide(retraction, rules({ accept: { drill: true } }), T('2018-11-01T23:36:30Z'));
    expect(d.action).toBe('ignore');
    expect(d.retraction).toBe(true);
  });
});

describe('formatDecision', () => {
  it('prints every rule with its verdict and the decision', () => {
    const r = rules({ site: SITES.laPalma, observability: { window: { end: '24h' } } });
    const d = decide(packet(PACKETS.swiftBat), r, T('2022-09-30T11:12:20Z'), undefined, { full: true });
    const text = formatDecision(d);
    for (const rule of ['role', 'stream', 'packet_type', 'position', 'error_radius', 'importance', 'probability', 'declination', 'window', 'altitude', 'sun', 'moon', 'visibility']) {
      expect(text).toMatch(new RegExp(`\\[(ok  |FAIL|LATE| -  )\\] ${rule}\\b`));
    }
    expect(text).toMatch(/\[LATE\] sun +Sun at /);
    expect(text).toMatch(/^decision SCHEDULE: observable from 2022-10-01T00:4\d:\d\dZ/m);
  });

  it('evaluates visibility for --explain even when a filter already decided', () => {
    const r = rules({ accept: { streams: ['ivo://org.svom/fsc'] } });
    const bat = packet(PACKETS.swiftBat);
    const at = T('2022-09-30T11:12:20Z');
    expect(verdict(decide(bat, r, at), 'visibility')!.verdict).toBe('skip');
    expect(verdict(decide(bat, r, at, undefined, { full: true }), 'visibility')!.verdict).toBe('pass');
  });
});

describe('parseIsoUtc', () => {
  it('reads VOEvent times as UTC, with or without a zone, with microseconds', () => {
    expect(parseIsoUtc('2026-05-11T06:13:32.594000')!.toISOString()).toBe('2026-05-11T06:13:32.594Z');
    expect(parseIsoUtc('2026-05-11T06:14:19+00:00')!.toISOString()).toBe('2026-05-11T06:14:19.000Z');
    expect(parseIsoUtc('2018-11-01T22:22:46.654437Z')!.toISOString()).toBe('2018-11-01T22:22:46.654Z');
    expect(parseIsoUtc('yesterday')).toBeUndefined();
  });
});
