/** sky/fields.ts: footprints, rotation onto field centres, probability covered per field. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { catalogFromArrays, readCatalogFile } from '../sky/catalog.ts';
import {
  FootprintError,
  circleFootprint,
  cumulativeCoverage,
  fieldCoverage,
  fieldMoc,
  footprintAt,
  parseRegions,
  prepareFields,
  rectangleFootprint,
  rotateOffset,
} from '../sky/fields.ts';
import * as hp from '../sky/healpix.ts';
import { Moc, mocProbability } from '../sky/moc.ts';
import { readSkyMapFileSync } from '../sky/readers.ts';
import type { SkyMap } from '../sky/skymap.ts';
import { CATALOGS, SKYMAPS, rng } from './sky-helpers.ts';

let map: SkyMap;
beforeAll(() => {
  map = readSkyMapFileSync(join(SKYMAPS, 'userguide-bayestar.multiorder.fits'));
});

describe('footprints', () => {
  it('parses the ZTF (64 CCD quadrants) and DECam (one closed 49-gon) DS9 regions around (0, 0)', () => {
    const ztf = parseRegions(readFileSync(join(CATALOGS, 'skyportal-ZTF_Region.reg'), 'utf8'));
    expect(ztf.polygons).toHaveLength(64);
    expect(ztf.polygons.every((p) => p.length === 4)).toBe(true);
    // RA 359.x is an offset of −0.x
    expect(Math.min(...ztf.polygons.flat().map((v) => v.ra))).toBeLessThan(-3);
    const decam = parseRegions(readFileSync(join(CATALOGS, 'skyportal-DECam_Region.reg'), 'utf8'));
    expect(decam.polygons).toHaveLength(1);
    expect(decam.polygons[0]!.length).toBe(50);
    expect(decam.polygons[0]![49]).toEqual(decam.polygons[0]![0]);
  });

  it('circle, box, arcmin/arcsec lengths; unsupported input is an error', () => {
    const f = parseRegions('# comment\nicrs; circle(0,0,30\') ; box(0,0,2,1,0)');
    expect(f.circles).toEqual([0.5]);
    expect(f.polygons[0]).toHaveLength(4);
    expect(parseRegions('circle(0,0,36")').circles[0]).toBeCloseTo(0.01, 12);
    expect(() => parseRegions('galactic\ncircle(0,0,1)')).toThrow(/not supported/);
    expect(() => parseRegions('ellipse(0,0,1,2,0)')).toThrow(/unsupported region line/);
    expect(() => parseRegions('circle(10,0,1)')).toThrow(/centred on \(0, 0\)/);
    expect(() => parseRegions('# nothing')).toThrow(FootprintError);
    expect(() => circleFootprint(0)).toThrow(FootprintError);
    expect(() => rectangleFootprint(1, 100)).toThrow(FootprintError);
  });

  it('rotation puts (0, 0) on the field centre and preserves angles and orientation', () => {
    const r = rng(3);
    for (let i = 0; i < 100; i++) {
      const ra0 = 360 * r();
      const dec0 = 170 * r() - 85;
      const c = hp.vec2ang(rotateOffset(0, 0, ra0, dec0));
      expect(hp.angularDistance(ra0, dec0, (c.phi * 180) / Math.PI, 90 - (c.theta * 180) / Math.PI)).toBeLessThan(1e-12);
      const [a, b] = [
        { ra: 0.5, dec: -0.3 },
        { ra: -0.2, dec: 0.7 },
      ];
      const [pa, pb] = footprintAt({ polygons: [[a!, b!]], circles: [] }, ra0, dec0)[0]!;
      expect(hp.angularDistance(pa!.ra, pa!.dec, pb!.ra, pb!.dec)).toBeCloseTo(hp.angularDistance(a!.ra, a!.dec, b!.ra, b!.dec), 12);
      expect(hp.angularDistance(pa!.ra, pa!.dec, ra0, dec0)).toBeCloseTo(hp.angularDistance(a!.ra, a!.dec, 0, 0), 12);
    }
    // north stays north
    const [[n]] = footprintAt({ polygons: [[{ ra: 0, dec: 1 }]], circles: [] }, 100, 20) as [[{ ra: number; dec: number }]];
    expect(n.dec).toBeCloseTo(21, 10);
    expect(n.ra).toBeCloseTo(100, 10);
  });
});

describe('probability covered by fields', () => {
  it('the fast order-24 path equals the exact bigint MOC integral, and a circular FoV equals a disc', async () => {
    const d = map.densest();
    const r = rng(8);
    const ra = [d.ra, ...Array.from({ length: 20 }, () => d.ra + (r() - 0.5) * 8), 10];
    const dec = [d.dec, ...Array.from({ length: 20 }, () => d.dec + (r() - 0.5) * 8), 60];
    const grid = catalogFromArrays({ ra, dec, ids: ra.map((_, i) => `F${i}`) });
    for (const fp of [circleFootprint(1.1), rectangleFootprint(3, 2), parseRegions(readFileSync(join(CATALOGS, 'skyportal-ZTF_Region.reg'), 'utf8'))]) {
      const fields = prepareFields(grid, fp, 10);
      const cov = fieldCoverage(map, fields, 0);
      for (let f = 0; f < grid.size; f++) {
        expect(cov[f]).toBeCloseTo(mocProbability(map, fields.moc(f)) / map.totalProbability, 12);
      }
      expect(cov[grid.size - 1]).toBeLessThan(1e-6); // far away
    }
    // circle FoV = exact disc query at the same order
    const fields = prepareFields(grid, circleFootprint(1.1), 11);
    const disc = Moc.fromCircle(d.ra, d.dec, 1.1, 11, { inclusive: false });
    expect(fieldCoverage(map, fields)[0]).toBeCloseTo(disc.probability(map), 12);
    expect(fields.moc(0).equals(disc)).toBe(true);
  });

  it('only fields near the credible region are rasterised; the rest get a negligible estimate', async () => {
    const ztf = await readCatalogFile(join(CATALOGS, 'skyportal-ZTF_Fields.csv'));
    const fp = parseRegions(readFileSync(join(CATALOGS, 'skyportal-ZTF_Region.reg'), 'utf8'));
    const fields = prepareFields(ztf, fp, 9);
    const cov = fieldCoverage(map, fields);
    expect(fields.rasterised).toBeGreaterThan(5);
    expect(fields.rasterised).toBeLessThan(200);
    let farTotal = 0;
    const exact = new Set<number>();
    for (let f = 0; f < ztf.size; f++) {
      // rasterised fields are exactly those whose MOC is cached; their coverage is exact
      const near = (fields as unknown as { r24Cache: (Float64Array | undefined)[] }).r24Cache[f] !== undefined;
      if (near) exact.add(f);
      else farTotal += cov[f]!;
    }
    expect(farTotal).toBeLessThan(1e-5);
    // the best field covers about half of this map (ZTF field 321 at 192.25, −17.05)
    let best = 0;
    for (let f = 1; f < ztf.size; f++) if (cov[f]! > cov[best]!) best = f;
    expect(ztf.ids[best]).toBe('321.0');
    expect(cov[best]).toBeGreaterThan(0.45);
    expect(cov[best]).toBeLessThan(0.55);
    // cumulative coverage of the top fields grows, never exceeds the sum, and counts overlaps once
    const order = Array.from(cov.keys()).sort((a, b) => cov[b]! - cov[a]!).slice(0, 5);
    const cum = cumulativeCoverage(map, fields, order);
    let sum = 0;
    for (let k = 0; k < cum.length; k++) {
      sum += cov[order[k]!]!;
      expect(cum[k]!).toBeLessThanOrEqual(sum + 1e-12);
      if (k > 0) expect(cum[k]!).toBeGreaterThanOrEqual(cum[k - 1]!);
    }
    expect(cum[0]).toBeCloseTo(cov[order[0]!]!, 12);
    expect(cum[cum.length - 1]).toBeLessThan(1);
  });

  it('footprint area: ZTF ≈ 47 deg² of CCDs, DECam ≈ 3.8 deg²', () => {
    const ztf = prepareFields(catalogFromArrays({ ra: [0], dec: [0] }), parseRegions(readFileSync(join(CATALOGS, 'skyportal-ZTF_Region.reg'), 'utf8')), 12);
    const decam = prepareFields(catalogFromArrays({ ra: [0], dec: [0] }), parseRegions(readFileSync(join(CATALOGS, 'skyportal-DECam_Region.reg'), 'utf8')), 12);
    const deg2 = (sr: number) => sr * (180 / Math.PI) ** 2;
    expect(deg2(ztf.footprintArea)).toBeGreaterThan(44);
    expect(deg2(ztf.footprintArea)).toBeLessThan(48);
    expect(deg2(decam.footprintArea)).toBeCloseTo(Math.PI * 1.1 ** 2, 0);
    // the same footprint at another position has the same area (rotation invariance) to pixel precision
    const moved = fieldMoc(parseRegions(readFileSync(join(CATALOGS, 'skyportal-DECam_Region.reg'), 'utf8')), 123, -45, 12);
    expect(moved.area() / decam.footprintArea).toBeCloseTo(1, 2);
  });
});
