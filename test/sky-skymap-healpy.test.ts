/**
 * Sky maps and crossmatch results against healpy + numpy (Debian python3-healpy,
 * /usr/bin/python3): flat-map reading (NESTED and RING/vector rows), credible
 * areas and peaks, and a ligo.skymap-style crossmatch of the multi-order map.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogFromArrays } from '../sky/catalog.ts';
import { crossmatchCatalog, prepareCatalog } from '../sky/crossmatch.ts';
import { readSkyMapFileSync } from '../sky/readers.ts';
import type { SkyMap } from '../sky/skymap.ts';
import { PYTHON, REPO, SKYMAPS, healpyAvailable, rng } from './sky-helpers.ts';

const healpy = healpyAvailable();
const FLAT = [join(SKYMAPS, 'skyportal-G330561-GW190425-bayestar.flat-nside256.fits.gz'), join(SKYMAPS, 'skyportal-GRB220617A_IPN_map_hpx.ring-nside2048.fits.gz')];
const N = 5000;
const dir = mkdtempSync(join(tmpdir(), 'voxnet-skymap-oracle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Resp = {
  flat: { sum: number; a50: number; a90: number; ra: number; dec: number; density: number[] }[];
  multi: { tile_uniq: string[]; searched_prob: number[]; searched_area: number[]; probdensity: number[]; dpdv: number[] };
};
let resp: Resp;
let multi: SkyMap;
const r = rng(31);
const ra = Float64Array.from({ length: N }, (_, i) => (i < N / 2 ? 194.3 + (r() - 0.5) * 10 : 360 * r()));
const dec = Float64Array.from({ length: N }, (_, i) => (i < N / 2 ? -17.9 + (r() - 0.5) * 10 : (Math.asin(2 * r() - 1) * 180) / Math.PI));
const dist = Float64Array.from({ length: N }, () => 10 + 100 * r());

beforeAll(() => {
  if (!healpy.ok) return;
  multi = readSkyMapFileSync(join(SKYMAPS, 'userguide-bayestar.multiorder.fits'));
  const w = (name: string, a: ArrayBufferView) => writeFileSync(join(dir, name), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  w('ra', ra);
  w('dec', dec);
  w('dist', dist);
  w('uniq', BigInt64Array.from({ length: multi.ntiles }, (_, t) => multi.uniq(t)));
  w('probdensity', multi.probdensity);
  w('distmu', multi.distmu!);
  w('distsigma', multi.distsigma!);
  w('distnorm', multi.distnorm!);
  writeFileSync(
    join(dir, 'request.json'),
    JSON.stringify({ flat: FLAT, ra: 'ra', dec: 'dec', dist: 'dist', uniq: 'uniq', probdensity: 'probdensity', distmu: 'distmu', distsigma: 'distsigma', distnorm: 'distnorm' }),
  );
  const p = spawnSync(PYTHON, [resolve(REPO, 'test/sky-skymap-oracle.py'), dir], { encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`healpy oracle failed: ${p.stderr}`);
  resp = JSON.parse(readFileSync(join(dir, 'response.json'), 'utf8'));
}, 180_000);

describe.skipIf(!healpy.ok)(`sky maps vs healpy.read_map (${healpy.reason})`, () => {
  FLAT.forEach((file, k) => {
    it(`${file.split('/').pop()}: total, A50, A90, peak and densities at ${N} positions`, () => {
      const m = readSkyMapFileSync(file);
      const o = resp.flat[k]!;
      expect(m.totalProbability).toBeCloseTo(o.sum, 12);
      expect(m.credibleArea(0.5)).toBeCloseTo(o.a50, 8);
      expect(m.credibleArea(0.9)).toBeCloseTo(o.a90, 8);
      const d = m.densest();
      expect(d.ra).toBeCloseTo(o.ra, 9);
      expect(d.dec).toBeCloseTo(o.dec, 9);
      for (let i = 0; i < N; i++) {
        const t = m.findTile(ra[i]!, dec[i]!);
        const want = o.density[i]!;
        if (want === 0) expect(m.probdensity[t]).toBe(0);
        else expect(m.probdensity[t]! / want).toBeCloseTo(1, 6); // float32 source columns
      }
    }, 60_000);
  });

  it(`crossmatch of the multi-order map equals a ligo.skymap-style numpy computation at ${N} positions`, () => {
    const c = catalogFromArrays({ ra, dec, dist });
    const m = crossmatchCatalog(multi, prepareCatalog(c), { rank: '3d' });
    const o = resp.multi;
    for (let i = 0; i < N; i++) {
      expect(multi.uniq(m.tile(i)).toString()).toBe(o.tile_uniq[i]);
      expect(m.searchedProb(i)).toBeCloseTo(o.searched_prob[i]!, 12);
      expect(m.searchedArea(i)).toBeCloseTo(o.searched_area[i]!, 8);
      expect(m.probdensity(i) / o.probdensity[i]!).toBeCloseTo(1, 12);
      const want = o.dpdv[i]!;
      if (want > 1e-290) expect(m.probdensityVol(i) / want).toBeCloseTo(1, 9);
    }
  });
});

if (!healpy.ok) {
  describe('sky maps vs healpy', () => {
    it.skip(`healpy comparison ${healpy.reason}`, () => {});
  });
}
