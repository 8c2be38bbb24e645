/**
 * Event threads (voevent/thread.ts): the relation rules and their effects as
 * readable tables, facts read from real packets and notices, and thread states
 * for the orders alerts really arrive in (a retraction before its alert, updates
 * that supersede, a VOEvent and a JSON notice of one superevent).
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import {
  EFFECTS, RELATION_RULES, ThreadIndex, factsOfJson, factsOfVOEvent, joinThreads, parse, relationOf, threadKeysOf, threadState,
  type AlertFacts, type Relation, type ThreadEntry,
} from '../voevent/index.ts';

const voe = (f: string) => factsOfVOEvent(parse(readFileSync(new URL(`./fixtures/voevents/${f}`, import.meta.url))));
const json = (f: string) => factsOfJson(JSON.parse(readFileSync(new URL(`./fixtures/gcn-json/${f}`, import.meta.url), 'utf8')))!;
const at = (f: AlertFacts, published: number): ThreadEntry => ({ ...f, published });

describe('relation rules (first match decides)', () => {
  const A = 'ivo://x.org/s#a';
  const B = 'ivo://x.org/s#b';
  // prettier-ignore
  const table: [string, Parameters<typeof relationOf>[0], Relation, string[]][] = [
    //  what                                         evidence                                                                                   relation      targets
    ['no citation, no alert type',                 { cites: [], role: 'observation', format: 'voevent' },                                     'initial',    []],
    ['cite="followup"',                            { cites: [{ ivorn: A, cite: 'followup' }], role: 'observation', format: 'voevent' },         'followup',   [A]],
    ['cite="supersedes"',                          { cites: [{ ivorn: A, cite: 'supersedes' }], role: 'observation', format: 'voevent' },       'supersedes', [A]],
    ['cite="retraction"',                          { cites: [{ ivorn: A, cite: 'retraction' }], role: 'observation', format: 'voevent' },       'retraction', [A]],
    ['retraction wins over followup',              { cites: [{ ivorn: A, cite: 'followup' }, { ivorn: B, cite: 'retraction' }], role: 'observation', format: 'voevent' }, 'retraction', [B]],
    ['LVK AlertType=Retraction citing supersedes', { cites: [{ ivorn: A, cite: 'supersedes' }], alertType: 'Retraction', role: 'observation', format: 'voevent' }, 'retraction', [A]],
    ['JSON alert_type RETRACTION',                 { cites: [], alertType: 'RETRACTION', role: 'observation', format: 'json' },                'retraction', []],
    ['JSON alert_type UPDATE',                     { cites: [], alertType: 'UPDATE', role: 'observation', format: 'json' },                    'supersedes', []],
    ['JSON alert_type PRELIMINARY',                { cites: [], alertType: 'PRELIMINARY', role: 'observation', format: 'json' },               'initial',    []],
    ['supersedes wins over followup',              { cites: [{ ivorn: A, cite: 'followup' }, { ivorn: B, cite: 'supersedes' }], role: 'observation', format: 'voevent' }, 'supersedes', [B]],
  ];
  it.each(table)('%s', (_what, evidence, relation, targets) => {
    expect(relationOf(evidence)).toMatchObject({ relation, targets });
  });

  it('ends with a rule that matches everything', () => {
    expect(RELATION_RULES.at(-1)!.relation).toBe('initial');
  });
});

describe('effects of each relation on the thread state', () => {
  it('is this table', () => {
    // prettier-ignore
    expect(EFFECTS).toEqual({
      //            retracts  localises  replacesTargets
      initial:    { retracts: false, localises: true,  replacesTargets: false },
      followup:   { retracts: false, localises: true,  replacesTargets: false },
      supersedes: { retracts: false, localises: true,  replacesTargets: true },
      retraction: { retracts: true,  localises: false, replacesTargets: false },
    });
  });
});

describe('facts of real alerts', () => {
  it('reads the LVK sequence of MS181101ab: each notice supersedes the previous, the last retracts', () => {
    const facts = ['1-EarlyWarning', '2-Preliminary', '3-Initial', '4-Update', '5-Retraction'].map((s) => voe(`MS181101ab-${s}.xml`));
    expect(facts.map((f) => f.relation)).toEqual(['initial', 'supersedes', 'supersedes', 'supersedes', 'retraction']);
    expect(new Set(facts.map((f) => f.eventId))).toEqual(new Set(['lvk:MS181101ab']));
    expect(facts[0]!.localisation).toMatchObject({ kind: 'skymap' });
    expect(facts[4]!.targets).toContain('ivo://gwnet/LVC#MS181101ab-4-Update');
  });

  it('reads igwn.gwalert JSON notices of the same superevent', () => {
    expect(json('MS181101ab-preliminary.json')).toMatchObject({ eventId: 'lvk:MS181101ab', relation: 'initial', role: 'test', localisation: { kind: 'skymap' } });
    expect(json('MS181101ab-retraction.json')).toMatchObject({ eventId: 'lvk:MS181101ab', relation: 'retraction' });
  });

  it('reads GCN unified-schema notices by mission and id, and ignores JSON that names no event', () => {
    expect(factsOfJson({ $schema: 'https://gcn.nasa.gov/schema/main/gcn/notices/swift/bat/guano.schema.json', id: [1118357], alert_type: 'initial', ra: 1, dec: 2, ra_dec_error: 0.1 }))
      .toMatchObject({ eventId: 'swift:1118357', relation: 'initial', localisation: { kind: 'circle', ra: 1, dec: 2, error: 0.1 } });
    expect(factsOfJson({ mission: 'IceCube', id: ['138632:31747601'], alert_type: 'retraction' })).toMatchObject({ eventId: 'icecube:138632:31747601', relation: 'retraction' });
    expect(factsOfJson({ ra: 1, dec: 2 })).toBeUndefined();
    expect(factsOfJson([1, 2])).toBeUndefined();
  });

  it('keys an alert by its IVORN, the IVORNs it cites and its mission event', () => {
    expect(threadKeysOf(voe('MS181101ab-2-Preliminary.xml'))).toEqual([
      'ivorn:ivo://gwnet/LVC#MS181101ab-2-Preliminary', 'ivorn:ivo://gwnet/LVC#MS181101ab-1-EarlyWarning', 'event:lvk:MS181101ab',
    ]);
  });
});

describe('thread states', () => {
  const alert = voe('gcn-notice-parser__svom_eclairs_303__sb26030408_eclairs-wakeup.xml');
  const retraction = voe('gcn-notice-parser__svom_eclairs_304__sb26030408_retraction.xml');

  it('a retraction that arrives before the alert it retracts still retracts it', () => {
    const idx = new ThreadIndex();
    const t1 = idx.add(at(retraction, 1000));
    expect(idx.state(t1)).toMatchObject({ retracted: true, retractedBy: retraction.ivorn });
    const t2 = idx.add(at(alert, 2000));
    expect(t2).toBe(t1);
    const s = idx.state(t1)!;
    expect(s).toMatchObject({ retracted: true, retractedBy: retraction.ivorn, eventIds: ['svom:sb26030408'] });
    expect(s.entries.map((e) => e.ivorn)).toEqual([retraction.ivorn, alert.ivorn]);
  });

  it('an update supersedes: the latest alert and localisation are the update\'s', () => {
    const seq = ['1-EarlyWarning', '2-Preliminary', '3-Initial', '4-Update'].map((s, i) => at(voe(`MS181101ab-${s}.xml`), 1000 * (i + 1)));
    // Delivered out of order: the state is the same.
    const s = threadState([seq[2]!, seq[0]!, seq[3]!, seq[1]!]);
    expect(s.retracted).toBe(false);
    expect(s.latest!.ivorn).toBe('ivo://gwnet/LVC#MS181101ab-4-Update');
    expect(s.localisation).toMatchObject({ kind: 'skymap', from: 'ivo://gwnet/LVC#MS181101ab-4-Update' });
    expect(s.superseded.sort()).toEqual(seq.slice(0, 3).map((e) => e.ivorn!).sort());
    expect(threadState([...seq, at(voe('MS181101ab-5-Retraction.xml'), 9000)])).toMatchObject({ retracted: true, retractedBy: 'ivo://gwnet/LVC#MS181101ab-5-Retraction' });
  });

  it('a VOEvent and a JSON notice of one superevent are one thread; a JSON retraction retracts it', () => {
    const idx = new ThreadIndex();
    const t = idx.add(at(voe('MS181101ab-2-Preliminary.xml'), 1));
    expect(idx.add(at(json('MS181101ab-retraction.json'), 2))).toBe(t);
    expect(idx.state(t)).toMatchObject({ retracted: true, eventIds: ['lvk:MS181101ab'] });
  });

  it('two threads merge when an alert links them (the oldest thread survives)', () => {
    const idx = new ThreadIndex();
    const a = idx.add(at(voe('fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml'), 1));
    const other = { ...voe('ivoa-std-VOEvent__voevent-ex1__v2.0-spec-example-RAPTOR.xml'), eventId: undefined };
    const b = idx.add(at(other, 2));
    expect(b).not.toBe(a);
    const link = { ...other, ivorn: 'ivo://x.org/link#1', eventId: 'swift:1118357', cites: [{ ivorn: other.ivorn!, cite: 'followup' }], relation: 'followup' as const, targets: [other.ivorn!] };
    expect(idx.add(at(link, 3))).toBe(a);
    expect(idx.threadOf(`ivorn:${other.ivorn}`)).toBe(a);
    expect(idx.state(a)!.entries).toHaveLength(3);
    expect(joinThreads(['t3', 't1', 't3'], 'tnew')).toEqual({ thread: 't1', merged: ['t3'] });
    expect(joinThreads([], 'tnew')).toEqual({ thread: 'tnew', merged: [] });
  });
});
