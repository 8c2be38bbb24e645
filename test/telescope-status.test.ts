/** The status VOEvent: valid against the official schema, cites the alert, says what happened. */
import { describe, expect, it } from 'vitest';
import { decide } from '../agents/telescope/decide.ts';
import { statusEvent, statusXml } from '../agents/telescope/status.ts';
import { getParam, parse, paramValue, validate } from '../voevent/index.ts';
import { PACKETS, SITES, packet, rules } from './telescope-helpers.ts';

describe('status VOEvent', () => {
  const bat = packet(PACKETS.swiftBat);
  const r = rules({ site: SITES.kittPeak });
  const at = new Date('2022-09-30T11:12:20Z');

  it('a trigger: valid VOEvent 2.0 (libxml2 + XSD) citing the alert as followup', () => {
    const d = decide(bat, r, at);
    const xml = statusXml({ status: 'triggered', alert: bat, decision: d, rules: r, requestId: '123', attempts: 1, now: new Date('2022-09-30T11:12:21Z') });
    expect(validate(xml, { engine: 'xsd' }).errors).toEqual([]);
    const ev = parse(xml);
    expect(ev.role).toBe('utility');
    expect(ev.ivorn).toMatch(/^ivo:\/\/voxnet\.test\/telescope\/T1#BAT_GRB_Pos_1125809-092_triggered_20220930T111221\.000Z_\d{3}$/);
    expect(ev.who?.authorIVORN).toBe('ivo://voxnet.test/telescope/T1');
    expect(ev.citations?.eventIVORNs).toEqual([{ ivorn: bat.ivorn, cite: 'followup' }]);
    expect(paramValue(ev, 'Status')).toBe('triggered');
    expect(paramValue(ev, 'Request_Id')).toBe('123');
    expect(paramValue(ev, 'Observation_Type')).toBe('RAPID_RESPONSE');
    expect(paramValue(ev, 'Window_Start')).toBe('2022-09-30T11:12:20.000Z');
    expect(paramValue(ev, 'Reason')).toMatch(/^observable now/);
    expect(Number(paramValue(ev, 'Altitude', 'Conditions_At_Window_Start'))).toBeGreaterThan(70);
    expect(getParam(ev, 'visibility', 'Verdicts')).toMatchObject({ value: 'pass', descriptions: [expect.stringMatching(/observable now until/)] });
    expect(ev.whereWhen?.position).toMatchObject({ ra: 64.7373, dec: 13.3517, error: 0.05 });
  });

  it('a rejection carries the reason; a test alert gets a test status', () => {
    const test = packet(PACKETS.swiftBatTest);
    const drill = rules({ accept: { drill: true, max_error_radius: 0.01 } , site: SITES.laSilla });
    const d = decide(test, { ...drill, streams: [] }, new Date('2026-02-07T09:52:40Z'));
    expect(d.action).toBe('reject');
    const ev = statusEvent({ status: 'rejected', alert: test, decision: d, rules: drill });
    expect(ev.role).toBe('test');
    expect(paramValue(ev, 'Reason')).toBe('error_radius: 0.0500° > 0.01°');
    expect(paramValue(ev, 'Window_Start')).toBeUndefined();
  });

  it('a status without a position (LVK sky map) is still valid', () => {
    const lvk = packet(PACKETS.lvkPrelim);
    const drill = rules({ accept: { drill: true } });
    const d = decide(lvk, drill, new Date('2018-11-01T22:34:50Z'));
    const xml = statusXml({ status: 'rejected', alert: lvk, decision: d, rules: drill });
    expect(validate(xml, { engine: 'xsd' }).valid).toBe(true);
    expect(parse(xml).whereWhen).toBeUndefined();
  });

  it('a failure says which action failed and why', () => {
    const d = decide(bat, r, at);
    const ev = statusEvent({ status: 'failed', alert: bat, decision: d, rules: r, error: 'POST http://x/: HTTP 503 (after 3 attempts)', attempts: 3 });
    expect(paramValue(ev, 'Status')).toBe('failed');
    expect(paramValue(ev, 'Reason')).toBe('trigger failed: POST http://x/: HTTP 503 (after 3 attempts)');
    expect(paramValue(ev, 'Attempts')).toBe('3');
  });
});
