/**
 * The filter language (filter/): parse errors name the column; evaluation over
 * real alerts (Swift, SVOM, LVK VOEvents; an igwn.gwalert JSON notice with its
 * sky map) as tables; three-valued logic (a missing value never accepts).
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { FilterError, compileFilter, parseFilter, subjectOf, type Subject } from '../filter/index.ts';

const fx = (f: string) => readFileSync(new URL(`./fixtures/${f}`, import.meta.url), 'utf8');
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const S: Record<string, Subject> = {
  swift: subjectOf(fx('voevents/fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml')), // RA 225.02 Dec -69.50 ± 0.05, importance 0.9
  svom: subjectOf(fx('voevents/gcn-notice-parser__svom_eclairs_319__sb26051101_eclairs-wakeup.xml')), // RA 197.93 Dec -33.85 ± 0.04
  lvk: subjectOf(fx('voevents/MS181101ab-2-Preliminary.xml')), // role test, sky map by URL only
  gw: subjectOf(`<json xmlns="urn:xmpp:json:0">${esc(fx('gcn-json/MS181101ab-preliminary.json'))}</json>`), // inline sky map, 90% ≈ 31 deg²
  other: subjectOf('<entry xmlns="urn:example"><title>not an alert</title></entry>'),
};
const NAMES = Object.keys(S);

describe('parse errors name the column', () => {
  // prettier-ignore
  const table: [string, number, RegExp][] = [
    ['role = ',                           8,  /expected a value but found the end/],
    ['role = "observation" and',          25, /expected a value but found the end/],
    ['(role = "test"',                    15, /expected '\)' but found the end/],
    ['rol = "test"',                      1,  /unknown field 'rol'/],
    ['role = "test" importance > 1',      15, /expected 'and', 'or' or the end of the filter but found 'importance'/],
    ['param = 1',                         1,  /'param' needs a name/],
    ['group.Only = 1',                    1,  /group.GROUP.NAME/],
    ['role = "unterminated',              8,  /unterminated string/],
    ['role # 1',                          6,  /unexpected character '#'/],
    ['cone(1, 2) ',                       1,  /cone\(\) takes three numbers/],
    ['inside(cone(10, 95, 1))',           17, /dec must be in \[-90, 90\]/],
    ['inside(cone(10, 20, 0))',           21, /radius must be in \(0, 180\]/],
    ['inside(moc("3/x"))',                12, /invalid MOC/],
    ['inside(role)',                      8,  /inside\(\) takes a region/],
    ['near(cone(1, 2, 3))',               1,  /unknown function near\(\)/],
    ['role ~ "("',                        8,  /invalid regular expression/],
    ['role in "test"',                    9,  /'in' needs a list/],
    ['cone(1, 2, 3)',                     1,  /a region alone is not a condition/],
    ['cone(1, 2, 3) = 1',                 1,  /a region is used inside/],
  ];
  it.each(table)('%s → column %i', (text, column, message) => {
    let err: unknown;
    try {
      parseFilter(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FilterError);
    expect((err as FilterError).column).toBe(column);
    expect((err as FilterError).message).toMatch(message);
    expect((err as FilterError).message).toContain(`column ${column}`);
  });

  it('refuses a filter that is too long or nests too deep', () => {
    expect(() => parseFilter('role = "x" or '.repeat(2000) + 'role = "y"')).toThrow(/longer than/);
    expect(() => parseFilter('('.repeat(100) + 'role = "x"' + ')'.repeat(100))).toThrow(/nests more than/);
  });
});

describe('evaluation on real alerts', () => {
  // prettier-ignore
  const table: [string, string[]][] = [
    //  filter                                                          accepted
    ['role = "observation"',                                            ['swift', 'svom']],
    ['role in ["observation", "test"]',                                 ['swift', 'svom', 'lvk', 'gw']],
    ['not role = "test"',                                               ['swift', 'svom']],
    ['importance >= 0.8',                                               ['swift']],
    ['param.Packet_Type = 61',                                          ['swift']],
    ['param.Packet_Type in [61, 202]',                                  ['swift', 'svom']],
    ['group.Svom_Identifiers.Burst_Id ~ "^sb2605"',                     ['svom']],
    ['mission = "lvk"',                                                 ['lvk', 'gw']],
    ['event = "lvk:MS181101ab" and alert_type = "preliminary"',        ['lvk', 'gw']],
    ['relation = "supersedes"',                                         ['lvk']],
    ['json.event.significant and json.event.far < 1e-6',                ['gw']],
    ['json.superevent_id ~ "^MS"',                                      ['gw']],
    ['stream = "ivo://nasa.gsfc.gcn/SWIFT"',                            ['swift']],
    ['error < 0.045',                                                   ['svom']],
    ['area90 < 50',                                                     ['swift', 'svom', 'gw']],
    ['inside(cone(225, -69.5, 1))',                                     ['swift']],
    ['inside(cone(197.9, -33.9, 0.2)) or inside(cone(225, -69.5, 1))',  ['swift', 'svom']],
    ['inside(cone(194.3, -17.9, 5))',                                   ['gw']],
    ['prob(cone(194.3, -17.9, 10)) >= 0.5',                             ['gw']],
    ['prob(cone(194.3, -17.9, 10)) >= 0.999',                           []],
    ['prob(cone(225.0208, -69.4969, 1)) >= 0.9',                        ['swift']],
    ['inside(moc("0/0-11")) and not inside(moc("0/0-11")) ',             []],
    ['inside(moc("0/0-11"))',                                           ['swift', 'svom', 'gw']],
  ];
  it.each(table)('%s', (text, accepted) => {
    const f = compileFilter(text);
    expect(NAMES.filter((n) => f.accepts(S[n]!))).toEqual(accepted);
  });

  it('a missing value is unknown: neither the filter nor its negation accepts', () => {
    for (const text of ['importance >= 0', 'param.No_Such_Param = 1', 'json.event.far < 1', 'inside(cone(0, 0, 180))']) {
      const f = compileFilter(text);
      const g = compileFilter(`not (${text})`);
      expect(f.accepts(S.other!) || g.accepts(S.other!), text).toBe(false);
    }
    // ... but "or" with a true side accepts, as in SQL.
    expect(compileFilter('importance >= 0 or role = "test"').accepts(S.lvk!)).toBe(true);
  });
});
