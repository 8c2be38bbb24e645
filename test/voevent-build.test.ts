/** build(model) → canonical VOEvent 2.0 XML; round trips. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { build, coordSystem20 } from '../voevent/build.ts';
import { allParams } from '../voevent/missions.ts';
import type { VOEvent } from '../voevent/model.ts';
import { parse } from '../voevent/parse.ts';
import { validate } from '../voevent/validate.ts';
import { xsdIsValid } from '../voevent/xsd.ts';
import { corpus } from './voevent-helpers.ts';

const FULL: VOEvent = {
  ivorn: 'ivo://voxnet.test/alerts#evt-1',
  role: 'test',
  version: '2.0',
  who: {
    authorIVORN: 'ivo://voxnet.test/alerts',
    date: '2026-01-02T03:04:05Z',
    description: 'made by hand',
    reference: { uri: 'https://example.org/who' },
    author: { title: 'VOXnet', shortName: 'VX', contactEmail: 'a@b.c', contributors: ['one', 'two'] },
  },
  what: {
    params: [
      { name: 'Packet_Type', value: '61', ucd: 'meta.id', dataType: 'int' },
      { name: 'snr', value: '12.5', unit: 'sigma', dataType: 'float', descriptions: ['signal/noise'], references: [{ uri: 'https://x.y/snr', type: 'url' }] },
    ],
    groups: [{ name: 'g', type: 'Classification', params: [{ name: 'BNS', value: '0.9' }], descriptions: ['probs'] }],
    tables: [
      {
        name: 't',
        params: [{ name: 'tp', value: '1' }],
        fields: [{ name: 'a', unit: 'mag', ucd: 'phot.mag' }, { name: 'b' }],
        rows: [['1', 'x'], ['2', 'y & <z>']],
      },
    ],
    descriptions: ['what text'],
    references: [{ uri: 'https://example.org/skymap.fits', mimetype: 'application/fits', meaning: 'http://example.org/m' }],
  },
  whereWhen: {
    id: 'ww1',
    observatoryId: 'GEOLUN',
    coordSystemId: 'UTC-ICRS-GEO',
    time: { iso: '2026-01-02T03:00:00.5', scale: 'UTC', error: 0.1, unit: 's' },
    position: { ra: 359.99, dec: -89.5, error: 0.0027, name1: 'RA', name2: 'Dec' },
    descriptions: ['where'],
  },
  how: { descriptions: ['instrument'], references: [{ uri: 'https://example.org/how' }] },
  why: {
    importance: 0.5,
    expires: '2026-02-01T00:00:00',
    names: ['GRB 260102A'],
    concepts: ['process.variation.burst'],
    inferences: [{ probability: 0.75, relation: 'associated', names: ['NGC 1'], descriptions: ['host'] }],
  },
  citations: {
    eventIVORNs: [
      { ivorn: 'ivo://voxnet.test/alerts#evt-0', cite: 'supersedes' },
      { ivorn: 'ivo://voxnet.test/alerts#evt-00', cite: 'followup' },
    ],
    description: 'update',
  },
  description: 'top',
  reference: { uri: 'https://example.org/top' },
};

describe('build', () => {
  it('round-trips a model that uses every part: parse(build(m)) equals m, and the output is valid', () => {
    const xml = build(FULL);
    expect(parse(xml)).toEqual(FULL);
    expect(xsdIsValid(xml)).toBe(true);
    const r = validate(xml);
    expect(r.errors).toEqual([]);
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" version="2.0"')).toBe(true);
    expect(xml).toContain('<TD>y &amp; &lt;z&gt;</TD>');
  });

  it('round-trips every real packet model, and build(parse(x)) is valid and keeps every Param', () => {
    const { dir, files } = corpus();
    let checked = 0;
    for (const f of files) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      const m = parse(text);
      const xml = build(m);
      const again = parse(xml);
      if (m.version === '2.0') expect(again, f).toEqual(m);
      expect(allParams(again), f).toEqual(allParams(m));
      if (validate(text).valid) {
        checked++;
        expect(xsdIsValid(xml), f).toBe(true);
        expect(validate(xml).errors, f).toEqual([]);
        // Every Param survives, by name and value, in document order.
        const tags = [...text.matchAll(/<(?:\w+:)?Param\b[^>]*>/g)].map((x) => x[0]);
        expect(allParams(again).length, f).toBe(tags.length);
        const names = tags.map((t) => /\bname\s*=\s*"([^"]*)"/.exec(t)?.[1]).filter((n) => n !== undefined);
        expect(allParams(again).flatMap((p) => (p.name === undefined ? [] : [p.name])).sort(), f).toEqual(names.sort());
      }
    }
    expect(checked).toBeGreaterThan(35);
  });

  it('turns VOEvent 1.1 packets into valid VOEvent 2.0 (coordinate system names translated)', () => {
    const { dir } = corpus();
    for (const f of ['pygcn__gbm_flt_pos__EDGE-v1.1.xml', 'voevent-parse__SWIFT_xrt_position_v1.1_example__EDGE-v1.1.xml', 'perl-modules-for-voevent__LAT_Test_Pos_2008-08-21__EDGE-v1.1-test.xml']) {
      const xml = build(parse(fs.readFileSync(path.join(dir, f), 'utf8')));
      expect(xsdIsValid(xml), f).toBe(true);
    }
    expect(coordSystem20('FK5-UTC-GEO')).toBe('UTC-FK5-GEO');
    expect(coordSystem20('UTC-ICRS-TOPO')).toBe('UTC-ICRS-TOPO');
    expect(coordSystem20('nonsense')).toBeUndefined();
  });

  it('stays valid for minimal models (adds the children the schema requires)', () => {
    const xml = build({ ivorn: 'ivo://a.b/c#d', role: 'utility', version: '2.0', how: { descriptions: [], references: [] }, why: { inferences: [{}] } });
    expect(xsdIsValid(xml)).toBe(true);
    expect(build({ ivorn: 'ivo://a.b/c#d', role: 'test', version: '2.0' }, { pretty: false })).toBe(
      '<?xml version="1.0" encoding="UTF-8"?><voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" version="2.0" ivorn="ivo://a.b/c#d" role="test"/>\n',
    );
  });
});
