/**
 * Redaction of real SVOM packets (test/fixtures/voevents, provenance in SOURCES.md):
 * the result is still VOEvent 2.0 (fast validator and libxml2 against the XSD),
 * exactly what was asked is gone, nothing else changed, and coarsened positions
 * keep the truth inside the error circle.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { redact, RedactionError } from '../access-policy/redact.ts';
import { parseTree, serialize, validate, type XmlElement, type XmlNode } from '../voevent/index.ts';

const DIR = 'test/fixtures/voevents';
const SVOM = {
  eclairsWakeup: 'gcn-notice-parser__svom_eclairs_319__sb26051101_eclairs-wakeup.xml',
  eclairsSlew: 'gcn-notice-parser__svom_eclairs_320__sb26051101_slewing.xml',
  eclairsRetraction: 'gcn-notice-parser__svom_eclairs_304__sb26030408_retraction.xml',
  grm: 'gcn-notice-parser__svom_grm_353__sb26051101_grm-trigger.xml',
  mxt: 'gcn-notice-parser__svom_mxt_52__sb26051101_mxt-initial_qf4.xml',
};
const read = (f: string) => readFileSync(`${DIR}/${f}`, 'utf8');

const els = (e: XmlElement): XmlElement[] => e.children.filter((c: XmlNode): c is XmlElement => typeof c !== 'string');
const find = (e: XmlElement, ...path: string[]): XmlElement | undefined => {
  let cur: XmlElement | undefined = e;
  for (const p of path) cur = cur && els(cur).find((c) => c.name === p);
  return cur;
};
const text = (e: XmlElement | undefined) => (e?.children.filter((c) => typeof c === 'string').join('') ?? '').trim();
const paramNames = (xml: string) => [...xml.matchAll(/<Param name="([^"]+)"/g)].map((m) => m[1]);
const groupNames = (xml: string) => [...xml.matchAll(/<Group name="([^"]+)"/g)].map((m) => m[1]);
function position(xml: string): { ra: number; dec: number; err: number } {
  const pos = find(parseTree(xml), 'WhereWhen', 'ObsDataLocation', 'ObservationLocation', 'AstroCoords', 'Position2D')!;
  return { ra: Number(text(find(pos, 'Value2', 'C1'))), dec: Number(text(find(pos, 'Value2', 'C2'))), err: Number(text(find(pos, 'Error2Radius'))) };
}
/** Great-circle distance in degrees. */
function sep(a: { ra: number; dec: number }, b: { ra: number; dec: number }): number {
  const r = Math.PI / 180;
  const c = Math.sin(a.dec * r) * Math.sin(b.dec * r) + Math.cos(a.dec * r) * Math.cos(b.dec * r) * Math.cos((a.ra - b.ra) * r);
  return Math.acos(Math.min(1, c)) / r;
}
function expectValid(xml: string): void {
  const fast = validate(xml);
  expect(fast.errors, 'fast validator').toEqual([]);
  const xsd = validate(xml, { engine: 'xsd' });
  expect(xsd.errors, 'libxml2 + XSD').toEqual([]);
}

describe('redaction keeps a valid VOEvent 2.0', () => {
  for (const [name, file] of Object.entries(SVOM)) {
    it(`${name}: groups, params and position redacted, still valid`, () => {
      const src = read(file);
      expectValid(src);
      const { xml } = redact(src, { groups: ['Satellite_Info'], params: ['SNR', 'Burst_Id'], position_precision_deg: 1 });
      expectValid(xml);
      expect(groupNames(xml)).not.toContain('Satellite_Info');
      expect(paramNames(xml)).not.toContain('SNR');
      expect(paramNames(xml)).not.toContain('Burst_Id');
    });
  }

  it('an empty redaction changes nothing', () => {
    const src = read(SVOM.mxt);
    expect(redact(src, {}).xml).toBe(serialize(parseTree(src)));
  });
});

describe('removes exactly what it should', () => {
  const src = read(SVOM.mxt);

  it('groups by name, and nothing else', () => {
    const { xml, report } = redact(src, { groups: ['Satellite_Info', 'Detection_Info'] });
    expect(report).toEqual({ removedParams: [], removedGroups: ['Detection_Info', 'Satellite_Info'] });
    expect(groupNames(xml)).toEqual(['Svom_Identifiers', 'Target_Info']);
    // every other line of the packet is untouched
    const removed = ['SNR', 'Mean_Flux', 'Flux_Error', 'Use_VT_Attitude', 'Attitude_Ra', 'Attitude_Dec', 'Attitude_Roll', 'Sat_Longitude', 'Sat_Latitude', 'Sat_Altitude'];
    expect(paramNames(xml)).toEqual(paramNames(src).filter((p) => !removed.includes(p!)));
    const keep = serialize(parseTree(src)).split('\n').filter((l) => !/Group name="(Satellite|Detection)_Info"/.test(l) && !removed.some((p) => l.includes(`"${p}"`)));
    const out = xml.split('\n');
    expect(out.filter((l) => l.trim() !== '</Group>')).toEqual(keep.filter((l) => l.trim() !== '</Group>'));
  });

  it('params by name at the top of What and inside Groups; a Group left empty goes too', () => {
    const { xml, report } = redact(src, { params: ['Instrument', 'SNR', 'Mean_Flux', 'Flux_Error'] });
    expect(report.removedParams).toEqual(['Instrument', 'Detection_Info/SNR', 'Detection_Info/Mean_Flux', 'Detection_Info/Flux_Error']);
    expect(report.removedGroups).toEqual(['Detection_Info']);
    expect(paramNames(xml)).not.toContain('Instrument');
    expect(groupNames(xml)).not.toContain('Detection_Info');
    expect(paramNames(xml)).toContain('Packet_Type');
    expectValid(xml);
  });

  it('the IVORN, Who, How and Citations are kept (follow-ups still cite the same event)', () => {
    const { xml } = redact(src, { groups: ['Satellite_Info'], position_precision_deg: 0.5 });
    const a = parseTree(src);
    const b = parseTree(xml);
    expect(b.attrs.ivorn).toBe(a.attrs.ivorn);
    for (const part of ['Who', 'How', 'Citations']) expect(serialize(find(b, part)!)).toBe(serialize(find(a, part)!));
    expect(text(find(b, 'WhereWhen', 'ObsDataLocation', 'ObservationLocation', 'AstroCoords', 'Time', 'TimeInstant', 'ISOTime'))).toBe('2026-05-11T06:16:38.659000');
  });
});

describe('coarsens positions', () => {
  for (const [name, step] of [['mxt', 1], ['mxt', 0.5], ['mxt', 0.1], ['mxt', 0.25], ['eclairsWakeup', 2], ['eclairsSlew', 0.1]] as const) {
    it(`${name} to ${step}°: on the grid, and the new circle contains the old one`, () => {
      const src = read(SVOM[name]);
      const before = position(src);
      const { xml, report } = redact(src, { position_precision_deg: step });
      const after = position(xml);
      for (const c of [after.ra, after.dec]) expect(Math.abs(c / step - Math.round(c / step)), `${c} on a ${step}° grid`).toBeLessThan(1e-9);
      expect(after.dec).not.toBe(before.dec);
      expect(sep(before, after)).toBeLessThanOrEqual((step * Math.SQRT2) / 2 + 1e-9);
      // any true position within the old circle is within the new one
      expect(after.err).toBeGreaterThanOrEqual(before.err + sep(before, after) - 1e-9);
      expect(after.err).toBeLessThanOrEqual(before.err + step); // and not absurdly larger
      expect(report.position).toEqual({ from: [before.ra, before.dec, before.err], to: [after.ra, after.dec, after.err], unit: 'deg' });
      expectValid(xml);
    });
  }

  it('removes Params holding exact sky coordinates (Galactic_Lon/Lat) when coarsening, not otherwise', () => {
    const src = read(SVOM.mxt);
    expect(paramNames(src)).toEqual(expect.arrayContaining(['Galactic_Lon', 'Galactic_Lat']));
    expect(paramNames(redact(src, { position_precision_deg: 1 }).xml)).not.toEqual(expect.arrayContaining(['Galactic_Lon']));
    expect(paramNames(redact(src, { position_precision_deg: 1 }).xml)).not.toContain('Galactic_Lat');
    expect(paramNames(redact(src, { groups: ['Satellite_Info'] }).xml)).toContain('Galactic_Lon');
  });

  it('keeps an unknown error radius (GRM sends -1) as it is', () => {
    const src = read(SVOM.grm);
    expect(position(src).err).toBe(-1);
    const after = position(redact(src, { position_precision_deg: 1 }).xml);
    expect(after).toEqual({ ra: 224, dec: -42, err: -1 });
  });

  it('wraps right ascension at 360° and works in the packet\'s unit', () => {
    const src = read(SVOM.mxt).replace(/<C1>[^<]+<\/C1>/, '<C1>359.8</C1>');
    expect(position(redact(src, { position_precision_deg: 1 }).xml).ra).toBe(0);
    const rad = read(SVOM.mxt)
      .replace('<Position2D unit="deg">', '<Position2D unit="rad">')
      .replace(/<C1>[^<]+<\/C1>/, `<C1>${(197.9145 * Math.PI) / 180}</C1>`)
      .replace(/<C2>[^<]+<\/C2>/, `<C2>${(-33.812 * Math.PI) / 180}</C2>`)
      .replace(/<Error2Radius>[^<]+<\/Error2Radius>/, `<Error2Radius>${(0.0108 * Math.PI) / 180}</Error2Radius>`);
    const p = position(redact(rad, { position_precision_deg: 1 }).xml);
    expect((p.ra * 180) / Math.PI).toBeCloseTo(198, 6);
    expect((p.dec * 180) / Math.PI).toBeCloseTo(-34, 6);
    expect((p.err * 180) / Math.PI).toBeGreaterThan(0.0108 + sep({ ra: 197.9145, dec: -33.812 }, { ra: 198, dec: -34 }) - 1e-6);
  });
});

describe('refuses what it cannot redact into a valid packet', () => {
  it('not XML, not a VOEvent, not VOEvent 2.0', () => {
    expect(() => redact('<VOEvent', { groups: ['x'] })).toThrow(RedactionError);
    expect(() => redact('<entry xmlns="urn:x"><title>hi</title></entry>', { groups: ['x'] })).toThrow(/not a VOEvent/);
    const v11 = read(SVOM.mxt).replace('http://www.ivoa.net/xml/VOEvent/v2.0"', 'http://www.ivoa.net/xml/VOEvent/v1.1"');
    expect(() => redact(v11, { groups: ['x'] })).toThrow(/not a VOEvent 2\.0/);
  });

  it('an invalid packet stays refused after redaction, with the validation issues', () => {
    const broken = read(SVOM.mxt).replace(/ ivorn="[^"]+"/, '');
    try {
      redact(broken, { groups: ['Satellite_Info'] });
      throw new Error('accepted');
    } catch (e) {
      expect(e).toBeInstanceOf(RedactionError);
      expect((e as RedactionError).message).toMatch(/not a valid VOEvent 2\.0.*ivorn/);
      expect((e as RedactionError).issues.length).toBeGreaterThan(0);
    }
  });

  it('a position in a unit it cannot convert', () => {
    const odd = read(SVOM.mxt).replace('<Position2D unit="deg">', '<Position2D unit="furlong">');
    expect(() => redact(odd, { position_precision_deg: 1 })).toThrow(/unit "furlong"/);
  });
});
