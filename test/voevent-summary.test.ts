/** summary(), IVORN helpers, citation chains and the mission readers. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CitationIndex, ivornProblem, parseIvorn, streamId } from '../voevent/ivorn.ts';
import { detectMission, fermi, icecube, lvk, paramBool, paramNumber, svom, swift } from '../voevent/missions.ts';
import { parse } from '../voevent/parse.ts';
import { formatRadius, summary } from '../voevent/summary.ts';
import { corpus, fixture } from './voevent-helpers.ts';

const load = (f: string) => parse(fixture(f));

describe('summary', () => {
  it('names mission/instrument, event id, role, position ± error, time and citations', () => {
    expect(summary(load('gcn-notice-parser__svom_eclairs_320__sb26051101_slewing.xml'))).toBe(
      "SVOM/ECLAIRs sb26051101 [observation] ivo://org.svom/fsc#sb26051101_slewing RA 197.9295 Dec -33.8525 ±2.4' at 2026-05-11T06:13:32.594000; follows up sb26051101_grm-trigger (+2 more)",
    );
    expect(summary(load('skyportal__SWIFT_1125809-104__XRT_Pos.xml'))).toBe(
      'Swift/XRT 1125809 [observation] ivo://nasa.gsfc.gcn/SWIFT#XRT_Pos_1125809-104 RA 64.7149 Dec 13.35 ±4.7" at 2022-09-30T11:14:42.14; follows up BAT_GRB_Pos_1125809-092',
    );
    expect(summary(load('gcn-notice-parser__lvc_retraction_16007__MS260203s-3-Retraction.xml'))).toMatch(
      /^LVK MS260203s \[test\] ivo:\/\/gwnet\/LVC#MS260203s-3-Retraction at 2026-02-03T18:45:18\.811408Z; Retraction; RETRACTS MS260203s-2-Preliminary \(\+1 more\)$/,
    );
    expect(summary(load('skyportal__GW190814__S190814bv-5-Update.xml'))).toMatch(/^LVK\/H1,L1,V1 S190814bv \[observation\] .* sky map at .*; Update; FAR 2\.03e-33 Hz; supersedes S190814bv-4-Update \(\+3 more\)$/);
  });

  it('is one line for every real packet', () => {
    const { dir, files } = corpus();
    for (const f of files) {
      const s = summary(parse(fs.readFileSync(path.join(dir, f))));
      expect(s, f).not.toMatch(/\n/);
      expect(s, f).toMatch(/\[(observation|test|prediction|utility)\] ivo:\/\//);
    }
  });

  it('formats error radii in degrees, arcminutes or arcseconds', () => {
    expect(formatRadius(3.29)).toBe('3.29°');
    expect(formatRadius(0.05)).toBe("3'");
    expect(formatRadius(0.0013)).toBe('4.7"');
  });
});

describe('IVORNs and citation chains', () => {
  it('splits IVORNs and gives the stream id', () => {
    expect(parseIvorn('ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-182')).toEqual({
      authority: 'nasa.gsfc.gcn', path: 'SWIFT', local: 'BAT_GRB_Pos_1118357-182', stream: 'ivo://nasa.gsfc.gcn/SWIFT',
    });
    expect(streamId('ivo://gwnet/LVC#S190425z-1-Initial')).toBe('ivo://gwnet/LVC');
    expect(streamId(load('fourpiskytools__test_packet.xml'))).toBe('ivo://voevent.organization.tld/TEST');
    expect(ivornProblem('ivo://refitt.org/voevent/#1')).toBeUndefined();
    expect(ivornProblem('ivo://ab/x#1')).toMatch(/authority/);
    expect(ivornProblem('ivo://abc/x#')).toMatch(/empty local ID/);
    expect(ivornProblem('ivo://abc/x#a b')).toMatch(/whitespace/);
  });

  it('follows supersedes chains and finds the latest of the LVK MS181101ab thread', () => {
    const idx = new CitationIndex(['1-EarlyWarning', '3-Initial', '2-Preliminary', '4-Update', '5-Retraction'].map((s) => load(`MS181101ab-${s}.xml`)));
    const u = 'ivo://gwnet/LVC#MS181101ab-';
    expect(idx.chain(`${u}4-Update`, 'supersedes')).toEqual([`${u}4-Update`, `${u}3-Initial`, `${u}2-Preliminary`, `${u}1-EarlyWarning`]);
    expect(idx.supersededBy(`${u}1-EarlyWarning`).sort()).toEqual([`${u}2-Preliminary`, `${u}3-Initial`, `${u}4-Update`, `${u}5-Retraction`]);
    expect(idx.latest(`${u}1-EarlyWarning`)).toBe(`${u}5-Retraction`);
    expect(idx.thread(`${u}3-Initial`)).toEqual([1, 2, 3, 4, 5].map((n) => `${u}${n}-${['EarlyWarning', 'Preliminary', 'Initial', 'Update', 'Retraction'][n - 1]}`));
  });

  it('knows what a retraction retracts', () => {
    const idx = new CitationIndex([
      load('gcn-notice-parser__svom_eclairs_303__sb26030408_eclairs-wakeup.xml'),
      load('gcn-notice-parser__svom_eclairs_304__sb26030408_retraction.xml'),
    ]);
    expect(idx.isRetracted('ivo://org.svom/fsc#sb26030408_eclairs-wakeup')).toBe(true);
    expect(idx.retractedBy('ivo://org.svom/fsc#sb26030408_eclairs-wakeup')).toEqual(['ivo://org.svom/fsc#sb26030408_retraction']);
    expect(idx.isRetracted('ivo://org.svom/fsc#sb26030408_retraction')).toBe(false);
    // The wakeup cites a notice that is not in the index: it is still part of the thread.
    expect(idx.thread('ivo://org.svom/fsc#sb26030408_retraction')).toContain('ivo://org.svom/fsc#sb26030408_not-slewing');
  });
});

describe('mission readers', () => {
  it('SVOM: Packet_Type, Burst_Id, Notice_Level', () => {
    const ev = load('gcn-notice-parser__svom_mxt_52__sb26051101_mxt-initial_qf4.xml');
    expect(detectMission(ev)).toBe('SVOM');
    expect(svom(ev)).toEqual({ packetType: 209, instrument: 'MXT', burstId: 'sb26051101', noticeLevel: 'N2m', alertT0: '2026-05-11T06:13:32.534Z', snr: 255 });
    expect(swift(ev)).toBeUndefined();
  });

  it('Swift: TrigID and GRB flags', () => {
    const ev = load('fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml');
    expect(swift(ev)).toMatchObject({ packetType: 61, instrument: 'BAT', trigId: 1118357, rateSignif: 55.93, imageSignif: 10, grbIdentified: true, startrackLost: false, notAGrb: false });
    expect(paramNumber(ev, 'Soln_Status')).toBe(3);
    expect(paramBool(ev, 'Point_Source', 'Solution_Status')).toBe(true);
  });

  it('Fermi: GBM trigger and classification', () => {
    const ev = load('gcn-notice-parser__fermi_gbm_flt_pos_8126__trig792135758.xml');
    expect(fermi(ev)).toMatchObject({ packetType: 111, instrument: 'GBM', trigId: 792135758, sequence: 44, signif: 6.4, mostLikelyIndex: 4, mostLikelyProb: 72 });
    expect(fermi(ev)!.lightCurveUrl).toMatch(/glg_lc_medres34_bn260207238\.gif$/);
  });

  it('LVK: GraceID, alert type, FAR, classification and sky map', () => {
    const ev = load('skyportal__GW190425_initial__S190425z-1-Initial.xml');
    const info = lvk(ev)!;
    expect(info).toMatchObject({ graceId: 'S190425z', alertType: 'Initial', instruments: ['L1', 'V1'], group: 'CBC' });
    expect(info.far).toBeGreaterThan(0);
    expect(info.classification!.BNS).toBeGreaterThan(0.9);
    expect(Object.keys(info.properties!)).toEqual(expect.arrayContaining(['HasNS', 'HasRemnant']));
    expect(info.skymapUrl).toMatch(/\.fits/);
  });

  it('IceCube: run/event id, signalness, energy', () => {
    const ev = load('fink-mm__icecube_voevent_number_45412__AMON_ICECUBE_GOLD.xml');
    expect(detectMission(ev)).toBe('IceCube');
    expect(icecube(ev)).toEqual({
      packetType: 173, stream: 'GOLD', runId: 137467, eventId: 64735045, signalness: 0.7949, far: 0.2464, energy: 352.6956,
      error90: 0.6596, error50: 0.2569, revision: 0,
    });
  });
});
