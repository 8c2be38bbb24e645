/** parse(text) and fromElement(tree) → the typed model. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import xml from '@xmpp/xml';
import { VOEventParseError, fromElement, parse } from '../voevent/parse.ts';
import { corpus, fixture, xmppElement } from './voevent-helpers.ts';

describe('parse', () => {
  it('reads an SVOM packet completely', () => {
    const ev = parse(fixture('gcn-notice-parser__svom_eclairs_320__sb26051101_slewing.xml'));
    expect(ev.ivorn).toBe('ivo://org.svom/fsc#sb26051101_slewing');
    expect(ev.role).toBe('observation');
    expect(ev.version).toBe('2.0');
    expect(ev.who).toEqual({
      authorIVORN: 'ivo://org.svom/fsc',
      date: '2026-05-11T06:18:19+00:00',
      author: { title: 'SVOM French Science Center', shortName: 'FSC', contactName: 'Henri Louvin', contactEmail: 'svom-contact@cea.fr' },
    });
    expect(ev.what!.params.map((p) => p.name)).toEqual(['Packet_Type', 'Pkt_Ser_Num', 'Instrument']);
    expect(ev.what!.params[0]).toEqual({ name: 'Packet_Type', value: '204', ucd: 'meta.id' });
    expect(ev.what!.groups.map((g) => g.name)).toEqual(['Svom_Identifiers', 'Detection_Info', 'Target_Info', 'Satellite_Info']);
    expect(ev.what!.groups[1]!.params[0]).toEqual({ name: 'SNR', value: '55.22', unit: 'sigma', ucd: 'stat.snr' });
    expect(ev.whereWhen).toEqual({
      observatoryId: 'GEOLEO',
      coordSystemId: 'UTC-ICRS-GEO',
      time: { iso: '2026-05-11T06:13:32.594000', unit: 's' },
      position: { ra: 197.9295, dec: -33.8525, error: 0.0406, name1: 'RA', name2: 'Dec' },
    });
    expect(ev.how).toEqual({
      descriptions: ['N1e notice, data from ECLAIRs'],
      references: [{ uri: 'https://www.svom.eu/en/telescope-eclairs-en/' }],
    });
    expect(ev.citations!.eventIVORNs).toEqual([
      { ivorn: 'ivo://org.svom/fsc#sb26051101_grm-trigger', cite: 'followup' },
      { ivorn: 'ivo://org.svom/fsc#sb26051101_eclairs-preliminary', cite: 'followup' },
      { ivorn: 'ivo://org.svom/fsc#sb26051101_eclairs-wakeup', cite: 'followup' },
    ]);
  });

  it('reads Why/Inference, Tables, Time error and WhereWhen id (the 2.0 spec example)', () => {
    const ev = parse(fixture('ivoa-std-VOEvent__voevent-ex1__v2.0-spec-example-RAPTOR.xml'));
    expect(ev.whereWhen!.id).toBe('Raptor-2455100');
    expect(ev.whereWhen!.time).toEqual({ iso: '2009-09-25T12:00:00', error: 0 });
    const table = ev.what!.tables[0]!;
    expect(table.fields.map((f) => f.name)).toEqual(['(m-M)', 'err(m-M)', 'D', 'REFCODE']);
    expect(table.rows[0]).toEqual(['33.16', '0.38', '51.3', '1997ApJS..109..333W']);
    expect(table.rows.length).toBeGreaterThanOrEqual(4);
    expect(ev.why).toEqual({
      concepts: ['http://ivoat.ivoa.net/process.variation.burst;em.opt'],
      descriptions: ['Looks like a SN'],
      inferences: [{ relation: 'associated', probability: 0.99, names: ['NGC0931'] }],
    });
    expect(parse(fixture('gwcelery-swift_grb_gcn.xml')).why!.importance).toBeTypeOf('number');
    expect(ev.citations!.eventIVORNs[0]).toEqual({ ivorn: 'ivo://raptor.lanl/VOEvent#235649408', cite: 'followup' });
  });

  it('reads Position3D (REFITT, UTC-GEOD-TOPO)', () => {
    const ev = parse(fixture('voevent-parse__springboro_event_2022-03-30__EDGE-Position3D.xml'));
    expect(ev.whereWhen!.position).toBeUndefined();
    expect(ev.whereWhen!.position3d).toEqual({ c1: 40.585, c2: -86.781, c3: 200, unit: 'deg', name1: 'LONG', name2: 'LAT', name3: 'ELEV' });
  });

  it('reads VOEvent 1.1 packets (STC-namespaced WhereWhen) into the same model', () => {
    const ev = parse(fixture('pygcn__gbm_flt_pos__EDGE-v1.1.xml'));
    expect(ev.version).toBe('1.1');
    expect(ev.who!.authorIVORN).toBe('ivo://nasa.gsfc.tan/gcn');
    expect(ev.who!.date).toBe('2011-09-04T03:54:51');
    expect(ev.whereWhen!.coordSystemId).toBe('FK5-UTC-GEO');
    expect(ev.whereWhen!.position!.ra).toBeCloseTo(193, 6);
    expect(ev.whereWhen!.time!.iso).toMatch(/^2011-09-04T03:54:36/);
    expect(ev.what!.params.find((p) => p.name === 'TrigID')!.value).toBe('336801278');
    const kill = parse(fixture('pygcn__kill_socket__EDGE-v1.1-no-local-id.xml'));
    expect(kill).toEqual({ ivorn: 'ivo://nasa.gsfc.gcn/gcn', role: 'observation', version: '1.1', what: { params: [{ name: 'Packet_Type', value: '4' }], groups: [], tables: [] } });
  });

  it('reads packets with any root prefix, or none', () => {
    const noNs = parse(fixture('voevent-parse__no_namespace_packet__EDGE-invalid-no-namespace.xml'));
    expect(noNs.ivorn).toMatch(/^ivo:\/\/com\.dc3/);
    const a = fixture('fourpiskytools__test_packet.xml');
    const b = a.replace(/voe:VOEvent/g, 'v:VOEvent').replace('xmlns:voe=', 'xmlns:v=');
    const c = a.replace(/voe:VOEvent/g, 'VOEvent').replace('xmlns:voe=', 'xmlns=');
    expect(parse(b)).toEqual(parse(a));
    expect(parse(c)).toEqual(parse(a));
  });

  it('defaults role to observation (the schema default) and converts radians to degrees', () => {
    const ev = parse(
      '<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" version="2.0" ivorn="ivo://x.y/z#1"><WhereWhen><ObsDataLocation><ObservatoryLocation/>' +
        '<ObservationLocation><AstroCoordSystem id="UTC-ICRS-TOPO"/><AstroCoords><Position2D unit="rad"><Value2><C1>3.141592653589793</C1><C2>-0.5</C2></Value2>' +
        '<Error2Radius>0.01</Error2Radius></Position2D></AstroCoords></ObservationLocation></ObsDataLocation></WhereWhen></voe:VOEvent>',
    );
    expect(ev.role).toBe('observation');
    expect(ev.whereWhen!.position!.ra).toBeCloseTo(180, 9);
    expect(ev.whereWhen!.position!.dec).toBeCloseTo(-28.6478897565, 8);
    expect(ev.whereWhen!.position!.error).toBeCloseTo(0.572957795, 8);
  });

  it('takes a Param value from <Value> when there is no value attribute', () => {
    const ev = parse('<VOEvent version="2.0" ivorn="ivo://a.b/c#d"><What><Param name="x"><Value> 42 </Value><Description>d</Description></Param></What></VOEvent>');
    expect(ev.what!.params[0]).toEqual({ name: 'x', value: '42', descriptions: ['d'] });
  });

  it('refuses a root that is not VOEvent', () => {
    expect(() => parse('<Transport/>')).toThrow(VOEventParseError);
  });
});

describe('fromElement on xmpp.js trees (no reparsing)', () => {
  it('gives the same model as parse(text) for every real packet', () => {
    const { dir, files } = corpus();
    for (const f of files) {
      const text = fs.readFileSync(path.join(dir, f), 'utf8');
      expect(fromElement(xmppElement(text)), f).toEqual(parse(text));
    }
  });

  it('reads an element built with xml()', () => {
    const el = xml(
      'voe:VOEvent',
      { 'xmlns:voe': 'http://www.ivoa.net/xml/VOEvent/v2.0', version: '2.0', ivorn: 'ivo://example.org/test#1', role: 'test' },
      xml('What', {}, xml('Param', { name: 'Packet_Type', value: '61' })),
      xml('Citations', {}, xml('EventIVORN', { cite: 'supersedes' }, 'ivo://example.org/test#0')),
    );
    expect(fromElement(el)).toEqual({
      ivorn: 'ivo://example.org/test#1',
      role: 'test',
      version: '2.0',
      what: { params: [{ name: 'Packet_Type', value: '61' }], groups: [], tables: [] },
      citations: { eventIVORNs: [{ ivorn: 'ivo://example.org/test#0', cite: 'supersedes' }] },
    });
  });
});
