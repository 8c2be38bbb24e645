/** sky/moc.ts: IVOA MOC parsing/serialisation (mocpy samples), set algebra, coverage of maps and circles. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as hp from '../sky/healpix.ts';
import { Moc, MocError, readMocFits } from '../sky/moc.ts';
import { readSkyMapFileSync } from '../sky/readers.ts';
import { MOCS, SKYMAPS, rng } from './sky-helpers.ts';

const FULL = 4 * Math.PI;
const r = rng(99);

describe('IVOA MOC serialisations (mocpy samples)', () => {
  it('the 2.0 ASCII sample parses and serialises back byte for byte', () => {
    const text = readFileSync(join(MOCS, 'mocpy-smoc.ascii.txt'), 'utf8').trim();
    const m = Moc.parseAscii(text);
    expect(m.toAscii()).toBe(text);
    expect(m.maxOrder).toBe(29);
    expect(m.cells()).toHaveLength(10);
  });

  it('SMOC.fits (NUNIQ, 1K) is the same MOC as smoc.ascii.txt', () => {
    const f = readMocFits(readFileSync(join(MOCS, 'mocpy-SMOC.fits')));
    const a = Moc.parseAscii(readFileSync(join(MOCS, 'mocpy-smoc.ascii.txt'), 'utf8'));
    expect(f.equals(a)).toBe(true);
    expect(f.toAscii()).toBe('3/3 10 4/16-18 22 5/19-20 17/222 28/123456789 29/');
    expect(f.uniq()).toHaveLength(10);
    expect(Moc.fromUniq(f.uniq()).equals(f)).toBe(true);
  });

  it('polygon_moc.fits (ORDERING RANGE, MOCORD_S 9) round-trips through ASCII', () => {
    const m = readMocFits(readFileSync(join(MOCS, 'mocpy-polygon_moc.fits')));
    expect(m.maxOrder).toBe(9);
    expect(m.ranges.length / 2).toBe(395);
    const back = Moc.parseAscii(m.toAscii());
    expect(back.equals(m)).toBe(true);
    expect(m.cells().every((c) => c.order <= 9)).toBe(true);
  });

  it('MOC 1.x comma lists parse; bad input is a clear error', () => {
    expect(Moc.parseAscii('1/1,3-4 2/4,25').equals(Moc.parseAscii('1/1 3-4 2/4 25'))).toBe(true);
    expect(() => Moc.parseAscii('')).toThrow(/empty/);
    expect(() => Moc.parseAscii('12')).toThrow(/must start with 'order\//);
    expect(() => Moc.parseAscii('1/48')).toThrow(/out of range/);
    expect(() => Moc.parseAscii('30/1')).toThrow(/order 30/);
    expect(() => Moc.parseAscii('3/a-b')).toThrow(MocError);
    expect(() => Moc.parseAscii('3/5-2')).toThrow(/out of range/);
  });

  it('canonical form: adjacent cells merge into their parent', () => {
    const m = Moc.fromCells([0n, 1n, 2n, 3n].map((ipix) => ({ order: 1, ipix })));
    expect(m.toAscii()).toBe('0/0 1/');
    expect(Moc.fullSky().toAscii()).toBe('0/0-11');
    expect(Moc.empty(5).toAscii()).toBe('5/');
  });
});

describe('set algebra', () => {
  const randomMoc = () => {
    const cells = Array.from({ length: 30 }, () => {
      const order = 2 + Math.floor(r() * 8);
      return { order, ipix: BigInt(Math.floor(r() * hp.order2npix(order))) };
    });
    return Moc.fromCells(cells);
  };
  it('union, intersection, difference and complement satisfy the set identities', () => {
    for (let i = 0; i < 20; i++) {
      const a = randomMoc();
      const b = randomMoc();
      const u = a.union(b);
      const x = a.intersection(b);
      expect(u.area() + x.area()).toBeCloseTo(a.area() + b.area(), 12);
      expect(a.difference(b).union(x).equals(a)).toBe(true);
      expect(a.complement().complement().equals(a)).toBe(true);
      expect(a.union(a.complement()).equals(Moc.fullSky())).toBe(true);
      expect(a.intersection(a.complement()).isEmpty).toBe(true);
      expect(x.intersection(a).equals(x)).toBe(true);
      for (const c of x.cells().slice(0, 5)) {
        const p = hp.pix2radec(c.order, c.ipix);
        expect(a.contains(p.ra, p.dec) && b.contains(p.ra, p.dec)).toBe(true);
      }
    }
    expect(Moc.fullSky().area()).toBeCloseTo(FULL, 12);
  });

  it('degrade covers the original', () => {
    const a = randomMoc();
    const d = a.degrade(3);
    expect(d.intersection(a).equals(a)).toBe(true);
    expect(d.cells().every((c) => c.order <= 3)).toBe(true);
  });
});

describe('coverage of circles and sky maps', () => {
  it('circle MOC: exact mode approaches the cap area, inclusive mode covers it', () => {
    const capDeg2 = (radius: number) => 2 * Math.PI * (1 - Math.cos((radius * Math.PI) / 180)) * (180 / Math.PI) ** 2;
    for (const [radius, order] of [
      [2, 10],
      [10, 8],
      [0.01, 18],
    ] as const) {
      const ex = Moc.fromCircle(210.5, -33.2, radius, order, { inclusive: false });
      const inc = Moc.fromCircle(210.5, -33.2, radius, order);
      expect(ex.areaDeg2() / capDeg2(radius)).toBeGreaterThan(0.97);
      expect(ex.areaDeg2() / capDeg2(radius)).toBeLessThan(1.03);
      expect(inc.intersection(ex).equals(ex)).toBe(true);
      expect(inc.contains(210.5, -33.2)).toBe(true);
      // points on the circle's edge are inside the inclusive MOC
      for (let k = 0; k < 36; k++) {
        const pa = (k / 36) * 2 * Math.PI;
        const d = (radius * 0.999 * Math.PI) / 180;
        const dec0 = (-33.2 * Math.PI) / 180;
        const dec = Math.asin(Math.sin(dec0) * Math.cos(d) + Math.cos(dec0) * Math.sin(d) * Math.cos(pa));
        const ra = 210.5 + (Math.atan2(Math.sin(pa) * Math.sin(d) * Math.cos(dec0), Math.cos(d) - Math.sin(dec0) * Math.sin(dec)) * 180) / Math.PI;
        expect(inc.contains(ra, (dec * 180) / Math.PI)).toBe(true);
      }
    }
  });

  it('90% credible MOC of the BAYESTAR map: ≤ 90% probability, area just under 30.98 deg², serialisable', () => {
    const map = readSkyMapFileSync(join(SKYMAPS, 'userguide-bayestar.multiorder.fits'));
    const m = Moc.fromSkyMap(map, 0.9);
    const p = m.probability(map);
    expect(p).toBeLessThanOrEqual(0.9);
    expect(p).toBeGreaterThan(0.899);
    expect(m.areaDeg2()).toBeLessThanOrEqual(map.credibleArea(0.9));
    expect(m.areaDeg2()).toBeGreaterThan(30.9);
    expect(m.maxOrder).toBe(11);
    expect(Moc.parseAscii(m.toAscii()).equals(m)).toBe(true);
    const d = map.densest();
    expect(m.contains(d.ra, d.dec)).toBe(true);
    // probability inside a MOC equals the sum over the tiles it covers
    const m50 = Moc.fromSkyMap(map, 0.5);
    let direct = 0;
    for (const t of map.credibleTiles(0.5)) if (map.ranking().searchedProb[t]! <= 0.5) direct += map.tileProb(t);
    expect(m50.probability(map)).toBeCloseTo(direct / map.totalProbability, 12);
    expect(Moc.fullSky().probability(map)).toBeCloseTo(1, 12);
    expect(() => Moc.fromSkyMap(map, 0)).toThrow(MocError);
  });
});
