/** sky/catalog.ts: CSV parsing, column detection, GLADE+ formats, streaming files. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { CatalogError, CsvParser, GLADE_PLUS_COLUMNS, catalogFromArrays, parseAngle, parseCatalog, readCatalogFile } from '../sky/catalog.ts';
import { CATALOGS } from './sky-helpers.ts';

const tmp = mkdtempSync(join(tmpdir(), 'voxnet-cat-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('CSV parser', () => {
  const text = 'a,b,c\r\n1,"x, y",3\n"he said ""hi""",,"multi\nline"\n\nlast,row,end';
  const want = [
    ['a', 'b', 'c'],
    ['1', 'x, y', '3'],
    ['he said "hi"', '', 'multi\nline'],
    ['last', 'row', 'end'],
  ];
  it('handles quotes, escaped quotes, CRLF, embedded newlines and blank lines', () => {
    const rows: string[][] = [];
    const p = new CsvParser((f) => rows.push(f));
    p.push(text);
    p.end();
    expect(rows).toEqual(want);
  });
  it('gives the same records however the input is chunked (quotes split across chunks)', () => {
    for (const size of [1, 2, 3, 7]) {
      const rows: string[][] = [];
      const p = new CsvParser((f) => rows.push(f));
      for (let i = 0; i < text.length; i += size) p.push(text.slice(i, i + size));
      p.end();
      expect(rows).toEqual(want);
    }
  });
  it('reports an unterminated quote', () => {
    const p = new CsvParser(() => {});
    p.push('a,"open\n');
    expect(() => p.end()).toThrow(/unterminated quoted field/);
  });
});

describe('angles', () => {
  it('parses degrees and sexagesimal RA (hours) / Dec (degrees)', () => {
    expect(parseAngle('123.456', true)).toBe(123.456);
    expect(parseAngle('1e1', false)).toBe(10);
    expect(parseAngle('12:30:00', true)).toBeCloseTo(187.5, 12);
    expect(parseAngle('12h30m00.0s', true)).toBeCloseTo(187.5, 12);
    expect(parseAngle('-05:30:00', false)).toBeCloseTo(-5.5, 12);
    expect(parseAngle('-00:30:00', false)).toBeCloseTo(-0.5, 12);
    expect(parseAngle('north', false)).toBeNaN();
  });
});

describe('catalogue columns', () => {
  it('finds RA/Dec/distance/name by common names, skips unusable rows with a warning', () => {
    const c = parseCatalog('name,RAJ2000,DEJ2000,DistMpc,extra\ng1,10.5,-20,40,x\ng2,370,0,,y\nbad,abc,0,1,z\ng3,12:00:00,+45:00:00,-3,w\n');
    expect(c.columns).toMatchObject({ ra: 'RAJ2000', dec: 'DEJ2000', dist: 'DistMpc', id: ['name'], weight: null });
    expect(c.size).toBe(3);
    expect(c.ids).toEqual(['g1', 'g2', 'g3']);
    expect(Array.from(c.ra)).toEqual([10.5, 10, 180]);
    expect(c.dec[2]).toBe(45);
    expect(Array.from(c.dist).map((x) => (Number.isNaN(x) ? null : x))).toEqual([40, null, null]); // missing / non-positive → unknown
    expect(Array.from(c.weight)).toEqual([1, 1, 1]);
    expect(c.skipped).toBe(1);
    expect(c.warnings[0]).toMatch(/1 rows without valid RA\/Dec skipped \(e.g. lines 4\)/);
  });

  it('explicit columns, weights and magnitude weights', () => {
    const text = 'id,x,y,d,mass,mag\na,1,2,3,1e10,-20\nb,4,5,6,,-21\n';
    const c = parseCatalog(text, { raColumn: 'x', decColumn: 'y', distColumn: 'd', weightColumn: 'mass', idColumns: ['id'] });
    expect(Array.from(c.weight).map((w) => (Number.isNaN(w) ? null : w))).toEqual([1e10, null]);
    expect(c.warnings.join()).toMatch(/1 rows have no mass weight/);
    const m = parseCatalog(text, { raColumn: 'x', decColumn: 'y', weightColumn: 'mag', weightIsMagnitude: true });
    expect(m.weight[1]! / m.weight[0]!).toBeCloseTo(10 ** 0.4, 12);
    expect(m.columns.weightIsMagnitude).toBe(true);
    expect(() => parseCatalog(text, { raColumn: 'nope' })).toThrow(/no column 'nope' for RA/);
    expect(() => parseCatalog('foo,bar\n1,2\n')).toThrow(/cannot find RA\/Dec columns/);
    expect(() => parseCatalog('')).toThrow(CatalogError);
  });

  it('limit stops early; catalogFromArrays validates', () => {
    const text = 'ra,dec\n' + Array.from({ length: 100 }, (_, i) => `${i},${i % 90}`).join('\n');
    expect(parseCatalog(text, { limit: 10 }).size).toBe(10);
    expect(catalogFromArrays({ ra: [1, -1], dec: [0, 0] }).ra[1]).toBe(359);
    expect(() => catalogFromArrays({ ra: [1], dec: [100] })).toThrow(/invalid position/);
  });
});

describe('sample catalogues', () => {
  it('GLADE+ CSV and native GLADE+.txt give the same catalogue', async () => {
    const csv = await readCatalogFile(join(CATALOGS, 'skyportal-GLADE+_first100.csv'), { weightColumn: 'B_Abs', weightIsMagnitude: true });
    const txt = await readCatalogFile(join(CATALOGS, 'skyportal-GLADE+_first100.txt'), { weightColumn: 'B_Abs', weightIsMagnitude: true });
    expect(csv.size).toBe(txt.size);
    expect(csv.size).toBeGreaterThanOrEqual(100);
    expect(csv.ids).toEqual(txt.ids);
    expect(Array.from(csv.ra)).toEqual(Array.from(txt.ra));
    expect(Array.from(csv.dec)).toEqual(Array.from(txt.dec));
    expect(Array.from(csv.dist).map(String)).toEqual(Array.from(txt.dist).map(String));
    expect(csv.columns).toMatchObject({ ra: 'RA', dec: 'DEC', dist: 'd_L' });
    expect(txt.columns.id[0]).toBe(GLADE_PLUS_COLUMNS[2]);
    expect(csv.ids[0]).toBe('NGC4736'); // GWGC name first
    expect(csv.ra[0]).toBe(192.721451);
    expect(csv.dist[0]).toBe(4.392418);
  });

  it('CLU mini: names with spaces, distmpc, stellar-mass weights', async () => {
    const c = await readCatalogFile(join(CATALOGS, 'skyportal-CLU_mini.csv'), { weightColumn: 'mstar' });
    expect(c.size).toBe(10);
    expect(c.ids[0]).toBe('6dFgs gJ0001313-055904');
    expect(c.dist[1]).toBeCloseTo(175.22024536132812, 12);
    expect(c.weight[1]).toBeCloseTo(19468772606.159004, 3);
  });

  it('ZTF field grid: unnamed index column, ID, no distances', async () => {
    const c = await readCatalogFile(join(CATALOGS, 'skyportal-ZTF_Fields.csv'));
    expect(c.size).toBe(1778);
    expect(c.columns.id).toEqual(['ID']);
    expect(c.columns.dist).toBeNull();
    expect(c.ids[0]).toBe('1.0');
    expect(c.dec[0]).toBe(-89.05);
  });

  it('streams gzip files and files larger than one read chunk', async () => {
    const rows = Array.from({ length: 50_000 }, (_, i) => `"g${i}",${(i * 7.3) % 360},${((i * 13) % 180) - 90 + 0.5},${1 + (i % 500)}`);
    const text = 'name,ra,dec,dist\n' + rows.join('\n') + '\n';
    writeFileSync(join(tmp, 'big.csv.gz'), gzipSync(text));
    writeFileSync(join(tmp, 'big.csv'), text);
    const a = await readCatalogFile(join(tmp, 'big.csv.gz'));
    const b = await readCatalogFile(join(tmp, 'big.csv'));
    expect(a.size).toBe(50_000);
    expect(a.ids[49_999]).toBe('g49999');
    expect(Array.from(a.ra)).toEqual(Array.from(b.ra));
    expect((await readCatalogFile(join(tmp, 'big.csv'), { limit: 123 })).size).toBe(123);
    await expect(readCatalogFile(join(tmp, 'missing.csv'))).rejects.toThrow(/missing.csv/);
  });
});
