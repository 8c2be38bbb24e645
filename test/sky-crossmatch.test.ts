/**
 * sky/crossmatch.ts against a brute-force oracle that shares none of its
 * machinery: per-target scalar ang2pix, a per-target search over NUNIQ tiles,
 * densities and credible levels recomputed from the map arrays.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { catalogFromArrays, readCatalogFile, type Catalog } from '../sky/catalog.ts';
import { circleSkyMap } from '../sky/circle.ts';
import { crossmatchCatalog, prepareCatalog, reportRows, topIndices } from '../sky/crossmatch.ts';
import * as hp from '../sky/healpix.ts';
import { readSkyMapFileSync } from '../sky/readers.ts';
import { SkyMap, TILE_AREA } from '../sky/skymap.ts';
import { CATALOGS, SKYMAPS, rng } from './sky-helpers.ts';

let map: SkyMap;
let cat: Catalog;
const N = 30_000;

beforeAll(() => {
  map = readSkyMapFileSync(join(SKYMAPS, 'userguide-bayestar.multiorder.fits'));
  const r = rng(2024);
  const d = map.densest();
  const ra: number[] = [];
  const dec: number[] = [];
  const dist: number[] = [];
  const weight: number[] = [];
  for (let i = 0; i < N; i++) {
    if (i % 3 === 0) {
      ra.push(d.ra + (r() - 0.5) * 10);
      dec.push(d.dec + (r() - 0.5) * 10);
    } else {
      ra.push(360 * r());
      dec.push((Math.asin(2 * r() - 1) * 180) / Math.PI);
    }
    dist.push(i % 10 === 0 ? NaN : 200 * r());
    weight.push(i % 17 === 0 ? NaN : Math.exp(r() * 3));
  }
  cat = catalogFromArrays({ ra, dec, dist, weight, ids: ra.map((_, i) => `gal${i}`), name: 'synthetic' });
  cat.columns.weight = 'w';
});

/** Oracle: the tile of a position by scalar ang2pix at each tile's own order and a map from NUNIQ to tile. */
function oracleTiles(m: SkyMap, c: Catalog): Int32Array {
  const byUniq = new Map<bigint, number>();
  for (let t = 0; t < m.ntiles; t++) byUniq.set(m.uniq(t), t);
  const orders = [...new Set(Array.from(m.order))];
  const out = new Int32Array(c.size).fill(-1);
  for (let i = 0; i < c.size; i++) {
    for (const o of orders) {
      const t = byUniq.get(hp.nest2uniq(o, hp.radec2pix(o, c.ra[i]!, c.dec[i]!)));
      if (t !== undefined) {
        out[i] = t;
        break;
      }
    }
  }
  return out;
}

/** Oracle credible levels: sort densities, cumulative normalised probability (ties inclusive). */
function oracleSearched(m: SkyMap): { prob: Map<number, number>; area: Map<number, number> } {
  const idx = Array.from({ length: m.ntiles }, (_, t) => t).sort((a, b) => m.probdensity[b]! - m.probdensity[a]!);
  let total = 0;
  for (let t = 0; t < m.ntiles; t++) total += m.probdensity[t]! * TILE_AREA[m.order[t]!]!;
  const prob = new Map<number, number>();
  const area = new Map<number, number>();
  let p = 0;
  let a = 0;
  for (let k = 0; k < idx.length; ) {
    let j = k;
    while (j < idx.length && m.probdensity[idx[j]!] === m.probdensity[idx[k]!]) {
      p += m.probdensity[idx[j]!]! * TILE_AREA[m.order[idx[j]!]!]!;
      a += TILE_AREA[m.order[idx[j]!]!]!;
      j++;
    }
    for (let q = k; q < j; q++) {
      prob.set(idx[q]!, p / total);
      area.set(idx[q]!, a * (180 / Math.PI) ** 2);
    }
    k = j;
  }
  return { prob, area };
}

function oracleScore(m: SkyMap, t: number, r: number, w: number, mode: '2d' | '3d'): number {
  if (t < 0 || !(w > 0)) return 0;
  const pd = m.probdensity[t]! / m.totalProbability;
  if (mode === '2d') return pd * w;
  if (!(r > 0)) return 0;
  const mu = m.distmu![t]!;
  const s = m.distsigma![t]!;
  const nm = m.distnorm![t]!;
  if (!Number.isFinite(mu) || !(s > 0) || !(nm > 0)) return 0;
  return ((pd * nm * Math.exp(-0.5 * ((r - mu) / s) ** 2)) / (s * Math.sqrt(2 * Math.PI))) * w;
}

describe('crossmatch against a brute-force oracle', () => {
  it('assigns every target to the tile that contains it, with ligo.skymap searched probability and area', () => {
    const prepared = prepareCatalog(cat);
    const m = crossmatchCatalog(map, prepared);
    const tiles = oracleTiles(map, cat);
    const { prob, area } = oracleSearched(map);
    for (let i = 0; i < N; i++) {
      expect(m.tile(i)).toBe(tiles[i]);
      expect(m.searchedProb(i)).toBeCloseTo(prob.get(tiles[i]!)!, 12);
      expect(m.searchedArea(i)).toBeCloseTo(area.get(tiles[i]!)!, 9);
      expect(m.probdensity(i)).toBe(map.probdensity[tiles[i]!]! / map.totalProbability);
    }
    // searched probability of the densest tile's centre = that tile's probability
    const d = map.densest();
    const one = crossmatchCatalog(map, prepareCatalog(catalogFromArrays({ ra: [d.ra], dec: [d.dec] })));
    expect(one.searchedProb(0)).toBeCloseTo(map.tileProb(d.tile), 15);
  });

  for (const mode of ['3d', '2d'] as const) {
    it(`${mode} scores, score sum and top 50 equal the oracle's`, () => {
      const prepared = prepareCatalog(cat);
      const m = crossmatchCatalog(map, prepared, { rank: mode });
      expect(m.rankMode).toBe(mode);
      const tiles = oracleTiles(map, cat);
      const want = Float64Array.from({ length: N }, (_, i) => oracleScore(map, tiles[i]!, cat.dist[i]!, cat.weight[i]!, mode));
      let sum = 0;
      for (let i = 0; i < N; i++) {
        sum += want[i]!;
        // exp() of arguments up to ~10³: a last-bit difference in the argument is ~1e-13 relative
        if (want[i]! > 1e-290) expect(Math.abs(m.score(i) / want[i]! - 1)).toBeLessThan(1e-10);
        else if (want[i]! > 0) expect(m.score(i)).toBeLessThan(1e-280); // subnormal range
        else expect(m.score(i)).toBe(0);
      }
      expect(Math.abs(m.scoreSum / sum - 1)).toBeLessThan(1e-12);
      expect(m.top(50)).toEqual(topIndices(want, 50));
      expect(m.top(2000)).toEqual(topIndices(want, 2000)); // beyond the kept rows: rescan
      expect(m.withDistance).toBe(Array.from(cat.dist).filter((r) => r > 0).length);
      // counts inside credible regions
      const { prob } = oracleSearched(map);
      expect(m.countWithin(0.9)).toBe(Array.from(tiles).filter((t) => prob.get(t)! <= 0.9).length);
    });
  }

  it('a million-galaxy catalogue (negligible-tile skip active) still ranks exactly', () => {
    const r = rng(5);
    const n = 200_000;
    const ra = new Float64Array(n);
    const dec = new Float64Array(n);
    const dist = new Float64Array(n);
    const weight = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ra[i] = 360 * r();
      dec[i] = (Math.asin(2 * r() - 1) * 180) / Math.PI;
      dist[i] = 150 * r();
      weight[i] = r();
    }
    const c = catalogFromArrays({ ra, dec, dist, weight });
    const m = crossmatchCatalog(map, prepareCatalog(c));
    const all = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      all[i] = oracleScore(map, map.findTile(ra[i]!, dec[i]!), dist[i]!, weight[i]!, '3d');
      sum += all[i]!;
    }
    expect(m.top(100)).toEqual(topIndices(all, 100));
    expect(Math.abs(m.scoreSum / sum - 1)).toBeLessThan(1e-12);
  });

  it('targets outside a partial map get no tile, zero score and null credible levels', () => {
    // keep only the tiles of the 90% region
    const keep = Array.from(map.credibleTiles(0.9));
    const part = new SkyMap({
      order: Uint8Array.from(keep, (t) => map.order[t]!),
      ipixHi: Uint32Array.from(keep, (t) => Number(map.ipix(t) >> 32n)),
      ipixLo: Uint32Array.from(keep, (t) => Number(map.ipix(t) & 0xffffffffn)),
      probdensity: Float64Array.from(keep, (t) => map.probdensity[t]!),
      distmu: Float64Array.from(keep, (t) => map.distmu![t]!),
      distsigma: Float64Array.from(keep, (t) => map.distsigma![t]!),
      distnorm: Float64Array.from(keep, (t) => map.distnorm![t]!),
      meta: { ordering: 'TILES', warnings: [] },
    });
    const m = crossmatchCatalog(part, prepareCatalog(cat));
    const tiles = oracleTiles(part, cat);
    let outside = 0;
    for (let i = 0; i < N; i++) {
      expect(m.tile(i)).toBe(tiles[i]);
      if (tiles[i]! < 0) {
        outside++;
        expect(m.score(i)).toBe(0);
        expect(m.searchedProb(i)).toBeNaN();
      }
    }
    expect(outside).toBeGreaterThan(N / 2);
    const rows = reportRows(m, [tiles.findIndex((t) => t < 0)]);
    expect(rows[0]).toMatchObject({ searchedProb: null, searchedArea: null, probdensity: 0, score: 0 });
  });

  it('maps with tiles finer than order 13 trigger the full order-29 sort and stay exact', () => {
    const circle = circleSkyMap({ ra: 150.1, dec: 2.2, radius: 1 / 3600, profile: 'fisher' }); // 1″ → order ~20
    expect(circle.maxOrder).toBeGreaterThan(13);
    const r = rng(11);
    const ra = Array.from({ length: 5000 }, () => 150.1 + (r() - 0.5) * 0.002);
    const dec = Array.from({ length: 5000 }, () => 2.2 + (r() - 0.5) * 0.002);
    const c = catalogFromArrays({ ra, dec });
    const prepared = prepareCatalog(c);
    expect(prepared.sortOrder).toBe(13);
    const m = crossmatchCatalog(circle, prepared);
    for (let i = 0; i < c.size; i++) expect(m.tile(i)).toBe(circle.findTile(ra[i]!, dec[i]!));
    expect(m.rankMode).toBe('2d');
  });
});

describe('reports', () => {
  it('GLADE+ sample reports are JSON-safe and consistent', async () => {
    const glade = await readCatalogFile(join(CATALOGS, 'skyportal-GLADE+_first100.csv'), { weightColumn: 'B_Abs', weightIsMagnitude: true });
    const m = crossmatchCatalog(map, prepareCatalog(glade));
    const top = m.top(10);
    const rows = reportRows(m, top);
    expect(rows.map((x) => x.rank)).toEqual(rows.map((_, k) => k + 1));
    for (const x of rows) {
      expect(JSON.parse(JSON.stringify(x))).toEqual(x);
      expect(x.prob).toBeCloseTo(x.score / m.scoreSum, 15);
      expect(x.id).toBe(glade.ids[x.row]);
      const d = map.densest();
      expect(x.offset).toBeCloseTo((hp.angularDistance(x.ra, x.dec, d.ra, d.dec) * 180) / Math.PI, 12);
    }
    for (let k = 1; k < rows.length; k++) expect(rows[k]!.score).toBeLessThanOrEqual(rows[k - 1]!.score);
  });
});
