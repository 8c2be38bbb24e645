/** validate(text) / validateElement(tree): schema + semantic findings with positions. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatIssue } from '../voevent/issues.ts';
import { validate, validateElement } from '../voevent/validate.ts';
import { corpus, fixture, xmppElement } from './voevent-helpers.ts';

const SVOM = fixture('gcn-notice-parser__svom_eclairs_320__sb26051101_slewing.xml');

function lineOf(text: string, needle: string): number {
  const i = text.indexOf(needle);
  if (i === -1) throw new Error(`not found: ${needle}`);
  return text.slice(0, i).split('\n').length;
}

describe('validate on the real corpus', () => {
  it('accepts the schema-valid 2.0 packets and rejects 1.1, 2.1 and namespace-less ones, on both engines', () => {
    const { dir, files } = corpus();
    const invalid: Record<string, string[]> = { fast: [], xsd: [] };
    for (const f of files) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      for (const engine of ['fast', 'xsd'] as const) if (!validate(text, { engine }).valid) invalid[engine]!.push(f);
    }
    const expected = [
      'ivoa-std-VOEvent__voevent-ex2__EDGE-v2.1-prediction.xml',
      'perl-modules-for-voevent__LAT_Test_Pos_2008-08-21__EDGE-v1.1-test.xml',
      'pygcn__gbm_flt_pos__EDGE-v1.1.xml',
      'pygcn__kill_socket__EDGE-v1.1-no-local-id.xml',
      'voevent-parse__SWIFT_xrt_position_v1.1_example__EDGE-v1.1.xml',
      'voevent-parse__no_namespace_packet__EDGE-invalid-no-namespace.xml',
    ];
    expect(invalid.fast).toEqual(expected);
    expect(invalid.xsd).toEqual(expected);
  });

  it('explains why a 1.1 packet and a namespace-less packet fail', () => {
    const v11 = validate(fixture('pygcn__gbm_flt_pos__EDGE-v1.1.xml'));
    expect(v11.errors[0]!.message).toMatch(/VOEvent 1\.1 packet/);
    const noNs = validate(fixture('voevent-parse__no_namespace_packet__EDGE-invalid-no-namespace.xml'));
    expect(noNs.errors[0]!.message).toMatch(/has no namespace/);
    expect(noNs.errors[0]!.line).toBe(1);
  });

  it('gives the same findings for an xmpp.js element as for the text (without positions)', () => {
    const bad = SVOM.replace('<C1>197.9295</C1>', '<C1>abc</C1>').replace('role="observation"', 'role="alert"');
    const fromText = validate(bad);
    const fromTree = validateElement(xmppElement(bad));
    expect(fromText.valid).toBe(false);
    expect(fromTree.errors.map((e) => [e.path, e.message])).toEqual(fromText.errors.map((e) => [e.path, e.message]));
    expect(fromTree.errors.every((e) => e.line === 0)).toBe(true);
    expect(fromText.errors.every((e) => e.line > 0)).toBe(true);
  });
});

describe('schema findings name line, column and field', () => {
  it('reports a non-numeric coordinate at its element', () => {
    const bad = SVOM.replace('<C1>197.9295</C1>', '<C1>197.9.295</C1>');
    for (const engine of ['fast', 'xsd'] as const) {
      const r = validate(bad, { engine });
      expect(r.valid).toBe(false);
      const e = r.errors[0]!;
      expect(e.kind).toBe('schema');
      expect(e.line).toBe(lineOf(bad, '<C1>197.9.295'));
      expect(e.column).toBe(bad.split('\n')[e.line - 1]!.indexOf('<C1>') + 1);
      expect(e.message).toMatch(/197\.9\.295/);
      if (engine === 'fast') expect(e.path).toBe('/VOEvent/WhereWhen/ObsDataLocation/ObservationLocation/AstroCoords/Position2D/Value2/C1');
    }
    const line = formatIssue(validate(bad).errors[0]!, 'svom.xml');
    expect(line).toMatch(/^svom\.xml:\d+:\d+: \/VOEvent\/WhereWhen\/.*\/C1: '197\.9\.295' is not a valid xs:float$/);
  });

  it('reports a bad role at the attribute', () => {
    const bad = SVOM.replace('role="observation"', 'role="alert"');
    const e = validate(bad).errors[0]!;
    expect(e.path).toBe('/VOEvent@role');
    expect(e.line).toBe(lineOf(bad, 'role="alert"'));
    expect(e.column).toBe(3);
  });

  it('reports missing required attributes, misplaced and duplicate elements', () => {
    const noVersion = validate(SVOM.replace('version="2.0"', ''));
    expect(noVersion.errors.map((e) => e.message)).toContain("required attribute 'version' is missing");
    const misplaced = validate(SVOM.replace('<Citations>', '<Citations><Description>x</Description>'));
    expect(misplaced.errors[0]!.message).toMatch(/<Description> is not expected before the first <EventIVORN>/);
    const dup = validate(SVOM.replace('<How>', '<Who/><How>'));
    expect(dup.errors[0]!.message).toMatch(/at most one <Who>/);
    const qualified = validate(SVOM.replace('<How>', '<How xmlns="http://www.ivoa.net/xml/VOEvent/v2.0">'));
    expect(qualified.errors[0]!.message).toMatch(/must be in no namespace/);
  });
});

describe('semantic checks', () => {
  const cases: [string, (x: string) => string, RegExp, string][] = [
    ['IVORN without #local', (x) => x.replace('ivorn="ivo://org.svom/fsc#sb26051101_slewing"', 'ivorn="ivo://org.svom/fsc"'), /has no '#local_ID' part/, '/VOEvent@ivorn'],
    ['IVORN with a bad scheme', (x) => x.replace('ivorn="ivo://org.svom/fsc#sb26051101_slewing"', 'ivorn="http://org.svom/fsc#x"'), /does not start with 'ivo:\/\/'/, '/VOEvent@ivorn'],
    ['duplicate Param in a Group', (x) => x.replace('<Param name="Burst_Id"', '<Param name="Notice_Level" value="N2"/><Param name="Burst_Id"'), /duplicate Param name 'Notice_Level' in Group 'Svom_Identifiers'/, '/VOEvent/What/Group[1]/Param[2]@name'],
    ['empty EventIVORN', (x) => x.replace('>ivo://org.svom/fsc#sb26051101_grm-trigger<', '><'), /EventIVORN is empty/, '/VOEvent/Citations/EventIVORN[1]'],
    ['cited IVORN malformed', (x) => x.replace('>ivo://org.svom/fsc#sb26051101_grm-trigger<', '>sb26051101_grm-trigger<'), /cited IVORN/, '/VOEvent/Citations/EventIVORN[1]'],
    ['ISOTime not ISO-8601', (x) => x.replace('2026-05-11T06:13:32.594000', '2026-05-11 06:13:32'), /not an ISO-8601 date-time/, '/VOEvent/WhereWhen/ObsDataLocation/ObservationLocation/AstroCoords/Time/TimeInstant/ISOTime'],
    ['RA out of range', (x) => x.replace('<C1>197.9295</C1>', '<C1>360.5</C1>'), /RA 360\.5 is outside \[0, 360\)/, '/VOEvent/WhereWhen/ObsDataLocation/ObservationLocation/AstroCoords/Position2D/Value2/C1'],
    ['Dec out of range', (x) => x.replace('<C2>-33.8525</C2>', '<C2>-90.5</C2>'), /Dec -90\.5 is outside \[-90, 90\]/, '/VOEvent/WhereWhen/ObsDataLocation/ObservationLocation/AstroCoords/Position2D/Value2/C2'],
    ['negative Error2Radius', (x) => x.replace('<Error2Radius>0.0406</Error2Radius>', '<Error2Radius>-0.5</Error2Radius>'), /Error2Radius -0\.5 must be >= 0/, '/VOEvent/WhereWhen/ObsDataLocation/ObservationLocation/AstroCoords/Position2D/Error2Radius'],
    ['importance above 1', (x) => x.replace('</How>', '</How><Why importance="1.5"><Name>x</Name></Why>'), /importance 1\.5 is outside \[0, 1\]/, '/VOEvent/Why@importance'],
  ];
  for (const [label, mutate, re, pathWant] of cases) {
    it(`${label}: an error at its field, while the schema accepts it`, () => {
      const bad = mutate(SVOM);
      expect(bad).not.toBe(SVOM);
      const schemaOnly = validate(bad, { semantic: false });
      expect(schemaOnly.valid).toBe(true);
      const r = validate(bad);
      expect(r.valid).toBe(false);
      const e = r.errors.find((x) => re.test(x.message));
      expect(e, JSON.stringify(r.errors)).toBeDefined();
      expect(e!.kind).toBe('semantic');
      expect(e!.path).toBe(pathWant);
      expect(e!.line).toBeGreaterThan(1);
      expect(e!.column).toBeGreaterThan(0);
    });
  }

  it('probability outside [0,1] is caught (by the schema, smallFloat)', () => {
    const bad = SVOM.replace('</How>', '</How><Why><Inference probability="1.2"><Name>x</Name></Inference></Why>');
    const r = validate(bad);
    expect(r.valid).toBe(false);
    expect(r.errors.some((e) => e.path === '/VOEvent/Why/Inference@probability' && /outside \[0, 1\]/.test(e.message))).toBe(true);
  });

  it('RA/Dec ranges apply to equatorial systems only, and Error2Radius -1 is a warning', () => {
    const geod = fixture('voevent-parse__springboro_event_2022-03-30__EDGE-Position3D.xml');
    expect(validate(geod).valid).toBe(true);
    const grm = validate(fixture('gcn-notice-parser__svom_grm_353__sb26051101_grm-trigger.xml'));
    expect(grm.valid).toBe(true);
    expect(grm.warnings.map((w) => w.message)).toContain('Error2Radius -1 (read as "no error estimate")');
  });
});
