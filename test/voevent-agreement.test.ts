/**
 * Agreement with the official IVOA VOEvent 2.0 schema (../shared/data/schema/VOEvent-v2.0.xsd)
 * as libxml2 applies it: our schema (voevent/schema/VOEvent-v2.0.xsd) and the fast tree
 * validator must give the same valid/invalid verdict for every real packet, for
 * hundreds of generated mutations of real packets, and for a battery of lexical
 * values of each simple type the schema uses.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fastValidateTree } from '../voevent/fast-validate.ts';
import { parseTree, serialize } from '../voevent/tree.ts';
import { xsdIsValid } from '../voevent/xsd.ts';
import { OFFICIAL_XSD, corpus, prng, xmppElement } from './voevent-helpers.ts';
import { OPERATOR_NAMES, mutate } from './voevent-mutations.ts';

const haveOracle = fs.existsSync(OFFICIAL_XSD);
if (!haveOracle) {
  console.warn(`voevent agreement: official schema not found at ${OFFICIAL_XSD}; skipping the oracle tests`);
}

const official = (xml: string): boolean => xsdIsValid(xml, OFFICIAL_XSD);
const ours = (xml: string): boolean => xsdIsValid(xml);
const fastText = (xml: string): boolean => {
  try {
    return fastValidateTree(parseTree(xml)).length === 0;
  } catch {
    return false;
  }
};

describe.skipIf(!haveOracle)('agreement with the official VOEvent 2.0 schema', () => {
  const { dir, files } = corpus();

  it('has a real corpus with valid and invalid packets', () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
    const verdicts = files.map((f) => official(fs.readFileSync(path.join(dir, f), 'utf8')));
    expect(verdicts.filter(Boolean).length).toBeGreaterThan(30);
    expect(verdicts.filter((v) => !v).length).toBeGreaterThanOrEqual(5);
  });

  it('gives the official verdict for every real packet (our XSD, fast validator on text and on xmpp.js trees)', () => {
    const disagreements: string[] = [];
    for (const f of files) {
      const xml = fs.readFileSync(path.join(dir, f), 'utf8');
      const want = official(xml);
      const got = { ours: ours(xml), fast: fastText(xml), xmpp: fastValidateTree(xmppElement(xml)).length === 0 };
      for (const [k, v] of Object.entries(got)) if (v !== want) disagreements.push(`${f}: official=${want} ${k}=${v}`);
    }
    expect(disagreements).toEqual([]);
  });

  it('gives the official verdict for at least 300 mutations of real packets', () => {
    const rnd = prng(20240611);
    const sources = files
      .map((f) => fs.readFileSync(path.join(dir, f), 'utf8'))
      .filter((x) => official(x))
      .map((x) => parseTree(x));
    const perOp: Record<string, { n: number; valid: number }> = {};
    const disagreements: string[] = [];
    let total = 0;
    let valid = 0;
    const target = 40 * OPERATOR_NAMES.length;
    for (let attempt = 0; total < target && attempt < target * 3; attempt++) {
      const op = OPERATOR_NAMES[attempt % OPERATOR_NAMES.length]!;
      const src = sources[Math.floor(rnd() * sources.length)]!;
      const m = mutate(src, op, rnd);
      if (!m) continue;
      const xml = serialize(m.tree);
      const want = official(xml);
      const got = {
        ours: ours(xml),
        fastText: fastText(xml),
        fastTree: fastValidateTree(m.tree).length === 0,
      };
      for (const [k, v] of Object.entries(got)) {
        if (v !== want) disagreements.push(`${m.what}: official=${want} ${k}=${v}\n${xml.slice(0, 300)}`);
      }
      total++;
      if (want) valid++;
      const s = (perOp[op] ??= { n: 0, valid: 0 });
      s.n++;
      if (want) s.valid++;
    }
    expect(disagreements.slice(0, 5)).toEqual([]);
    expect(total).toBeGreaterThanOrEqual(300);
    // The mutations must exercise both verdicts, and every operator must have run.
    expect(valid).toBeGreaterThan(30);
    expect(total - valid).toBeGreaterThan(200);
    for (const op of OPERATOR_NAMES) expect(perOp[op]?.n ?? 0, op).toBeGreaterThan(10);
  });

  describe('simple types, value by value', () => {
    const esc = (s: string): string =>
      s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;').replace(/\t/g, '&#9;').replace(/\n/g, '&#10;');
    const packet = (o: { c1?: string; date?: string; ivorn?: string; prob?: string; id?: string; role?: string; expires?: string; version?: string }): string =>
      `<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" version="${esc(o.version ?? '2.0')}" ivorn="${esc(o.ivorn ?? 'ivo://a/b#c')}" role="${esc(o.role ?? 'test')}">` +
      `<Who><Date>${esc(o.date ?? '2020-01-01T00:00:00')}</Date></Who>` +
      `<WhereWhen id="${esc(o.id ?? 'x')}"><ObsDataLocation><ObservatoryLocation/><ObservationLocation><AstroCoordSystem/><AstroCoords>` +
      `<Position2D><Value2><C1>${esc(o.c1 ?? '1')}</C1><C2>0</C2></Value2><Error2Radius>1</Error2Radius></Position2D>` +
      `</AstroCoords></ObservationLocation></ObsDataLocation></WhereWhen>` +
      `<Why expires="${esc(o.expires ?? '2030-01-01T00:00:00')}"><Inference probability="${esc(o.prob ?? '0.5')}"><Name>x</Name></Inference></Why></voe:VOEvent>`;

    const cases: [string, string[]][] = [
      ['c1', ['1', '-1', '+1', '1.', '.5', '.', '', '  1  ', '1e5', '1E5', '1e', '1e+', '-1.5e-3', '+.5', 'INF', '-INF', '+INF', 'NaN', '-NaN', ' NaN', 'NaN ', ' INF', 'INF ', 'inf', '0x10', '1,5', '1.5.5', '1e5.5', '--1', '1d', '\t1\n', '1 2', '00001', '1e400', '٣']],
      ['prob', ['0', '1', '0.5', '1.0000001', '1.00000001', '1.00000006', '1.00000005', '-0', '1e0', 'NaN', 'INF', '2', ' 0.5', '-1e-50', '-1e-46', '1.1', '0.99999999999']],
      ['date', ['2020-01-01T00:00:00', '2020-01-01T00:00:00Z', '2020-01-01T00:00:00.5', '2020-01-01T00:00:00.', '2020-01-01T00:00:00+14:00', '2020-01-01T00:00:00+14:01', '2020-01-01T00:00:00-14:00', '2020-01-01T00:00:00+0000', '2020-01-01 00:00:00', '2020-01-01', '2020-01-01T00:00', '02020-01-01T00:00:00', '12020-01-01T00:00:00', '-2020-01-01T00:00:00', '+2020-01-01T00:00:00', '0000-01-01T00:00:00', '2020-02-29T00:00:00', '2019-02-29T00:00:00', '1900-02-29T00:00:00', '2000-02-29T00:00:00', '-0004-02-29T00:00:00', '2020-04-31T00:00:00', '2020-01-01T24:00:00', '2020-01-01T24:00:01', '2020-01-01T23:59:60', '2020-01-01T23:59:59.999999999999', ' 2020-01-01T00:00:00', '2020-01-01T00:00:00 ', '2020-01-01T00:00:00z', '2026-01--9130T00:00:00.00', '2020-01-01T00:00:00+01:60', '-0000-01-01T00:00:00']],
      ['expires', ['2020-01-01T00:00:00', ' 2020-01-01T00:00:00', '2020-01-01T00:00:00Z', 'soon']],
      ['ivorn', ['ivo://a/b#c', '', 'x', ' x ', 'a b', 'a#b#c', '%zz', '%2', '%20', 'http://[::1]/', 'http://[::1/', 'http://a:b/', '1:abc', 'a:b', '://x', '#', '##', 'ivo://refitt.org/voevent/#1', 'ivo://a/b#c d', 'é', 'a\\b', 'http://a/%', '[', 'a[b]', 'http://a/b[c]', 'a|b', 'mailto:x@y', 'http://a:99999999999/', 'http://a:2147483647/', 'http://a:2147483648/', 'urn:a:b', 'http://@/', '//', '\t']],
      ['id', ['x', '_x', 'x-1', 'x.1', '1x', '-x', 'x:y', 'x y', ' x ', '', 'é', 'x·', '·x']],
      ['role', ['test', ' test', 'test ', 'Test', '', 'utility']],
      ['version', ['2.0', ' 2.0 ', '2.0\t', '2.00', '2', '1.1', '']],
    ];
    for (const [field, values] of cases) {
      it(`${field}: same verdict as the official schema for ${values.length} values`, () => {
        const wrong: string[] = [];
        for (const v of values) {
          const xml = packet({ [field]: v });
          const want = official(xml);
          if (ours(xml) !== want) wrong.push(`${JSON.stringify(v)}: ours differs (official ${want})`);
          if (fastText(xml) !== want) wrong.push(`${JSON.stringify(v)}: fast differs (official ${want})`);
        }
        expect(wrong).toEqual([]);
      });
    }
  });
});
