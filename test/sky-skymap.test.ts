/**
 * Sky-map reading and derived quantities against known values of the sample maps
 * (test/fixtures/skymaps/SOURCES.md: A50/A90 and max-P positions computed with
 * healpy/astropy), plus reader paths (bytes, base64, alert, gzip, RING, vector
 * rows) and malformed input.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { conditionalMoments } from '../sky/distance.ts';
import * as hp from '../sky/healpix.ts';
import { readSkyMapAny, readSkyMapBase64, readSkyMapBytes, readSkyMapFileSync, readSkyMapFromAlert } from '../sky/readers.ts';
import { SkyMap, SkyMapError, TILE_AREA } from '../sky/skymap.ts';
import { MOCS, SKYMAPS, makeBintableFits } from './sky-helpers.ts';

const BAYESTAR = join(SKYMAPS, 'userguide-bayestar.multiorder.fits');
const COMBINED = join(SKYMAPS, 'userguide-combined-ext.multiorder.fits');
const GW190425 = join(SKYMAPS, 'skyportal-G330561-GW190425-bayestar.flat-nside256.fits.gz');
const IPN = join(SKYMAPS, 'skyportal-GRB220617A_IPN_map_hpx.ring-nside2048.fits.gz');

let bayestar: SkyMap;
beforeAll(() => {
  bayestar = readSkyMapFileSync(BAYESTAR);
});

describe('userguide BAYESTAR multi-order map (MS181101ab)', () => {
  it('has the header metadata', () => {
    const m = bayestar.meta;
    expect(m.ordering).toBe('NUNIQ');
    expect(m.object).toBe('MS181101ab');
    expect(m.instruments).toEqual(['H1', 'L1', 'V1']);
    expect(m.dateObs).toBe('2018-11-01T22:22:46.654437');
    expect(m.creator).toBe('BAYESTAR');
    expect(m.distMean).toBeCloseTo(39.76999609489013, 10);
    expect(m.header?.MOCORDER).toBe(11);
    expect(bayestar.ntiles).toBe(19200);
    expect([bayestar.minOrder, bayestar.maxOrder]).toEqual([4, 11]);
  });

  it('90% area 30.98 deg², 50% area 8.90 deg²', () => {
    expect(bayestar.credibleArea(0.9).toFixed(2)).toBe('30.98');
    expect(bayestar.credibleArea(0.5).toFixed(2)).toBe('8.90');
    expect(bayestar.credibleArea(0)).toBe(0);
    expect(bayestar.credibleArea(1)).toBeCloseTo(41252.96, 1);
  });

  it('densest tile at RA 194.3042°, Dec −17.8569°', () => {
    const d = bayestar.densest();
    expect(d.ra.toFixed(4)).toBe('194.3042');
    expect(d.dec.toFixed(4)).toBe('-17.8569');
    expect(d.order).toBe(11);
    expect(bayestar.findTile(d.ra, d.dec)).toBe(d.tile);
    expect(bayestar.ranking().byDensity[0]).toBe(d.tile);
    expect(hp.uniq2nest(d.uniq).order).toBe(11);
  });

  it('is normalised, covers the whole sky once, tiles sorted by range', () => {
    expect(bayestar.totalProbability).toBeCloseTo(1, 12);
    expect(bayestar.coveredArea).toBeCloseTo(4 * Math.PI, 10);
    for (let t = 1; t < bayestar.ntiles; t++) {
      const [eh, el] = bayestar.tileEnd(t - 1);
      expect(eh === bayestar.startHi[t] && el === bayestar.startLo[t]).toBe(true); // contiguous
    }
    // every tile contains its own centre
    for (let t = 0; t < bayestar.ntiles; t += 37) {
      const c = bayestar.tileCentre(t);
      expect(bayestar.findTile(c.ra, c.dec)).toBe(t);
    }
  });

  it('DISTNORM equals the normalisation of the DISTMU/DISTSIGMA ansatz in every tile', () => {
    let checked = 0;
    for (let t = 0; t < bayestar.ntiles; t++) {
      const mu = bayestar.distmu![t]!;
      const sigma = bayestar.distsigma![t]!;
      const norm = bayestar.distnorm![t]!;
      if (!Number.isFinite(mu)) {
        expect(norm).toBe(0);
        continue;
      }
      expect(conditionalMoments(mu, sigma).norm / norm - 1).toBeLessThan(1e-9);
      checked++;
    }
    expect(checked).toBeGreaterThan(19000);
  });

  it('sky-marginal distance 39.77 ± 8.31 Mpc, as DISTMEAN/DISTSTD in the header', () => {
    const d = bayestar.distance()!;
    expect(d.mean).toBeCloseTo(39.77, 2);
    expect(d.std).toBeCloseTo(8.31, 2);
  });

  it('searched probability and area per tile follow the greedy ranking', () => {
    const { byDensity, cumProb, cumArea, searchedProb, searchedArea } = bayestar.ranking();
    for (let k = 1; k < byDensity.length; k++) {
      expect(bayestar.probdensity[byDensity[k]!]!).toBeLessThanOrEqual(bayestar.probdensity[byDensity[k - 1]!]!);
      expect(cumProb[k]!).toBeGreaterThanOrEqual(cumProb[k - 1]!);
    }
    expect(cumProb[cumProb.length - 1]).toBeCloseTo(1, 12);
    const t0 = byDensity[0]!;
    expect(searchedProb[t0]).toBeCloseTo(bayestar.tileProb(t0), 15);
    expect(searchedArea[t0]).toBeCloseTo(TILE_AREA[bayestar.order[t0]!]!, 15);
    expect(cumArea[cumArea.length - 1]).toBeCloseTo(4 * Math.PI, 10);
    // the 90% credible tiles hold ≥ 90% and the area matches within one tile
    const tiles = bayestar.credibleTiles(0.9);
    let p = 0;
    for (const t of tiles) p += bayestar.tileProb(t);
    expect(p).toBeGreaterThanOrEqual(0.9);
  });
});

describe('other sample maps', () => {
  it('combined GW×Fermi map: 90% area 27.71 deg², 50% 8.29 deg²', () => {
    const m = readSkyMapFileSync(COMBINED);
    expect(m.credibleArea(0.9).toFixed(2)).toBe('27.71');
    expect(m.credibleArea(0.5).toFixed(2)).toBe('8.29');
    expect(m.meta.instruments).toEqual(['Fermi', 'H1', 'L1', 'V1']);
    expect(m.meta.header?.MOC).toBe(true);
  });

  it('flat NESTED gzip map (GW190425, NSIDE 256): A90 ≈ 10183 deg², merged losslessly back to 19,200 tiles', () => {
    const m = readSkyMapFileSync(GW190425);
    expect(m.meta.ordering).toBe('NESTED');
    expect(m.meta.sourceNside).toBe(256);
    expect(m.meta.sourceRows).toBe(786432);
    expect(m.meta.object).toBe('G330561');
    expect(Math.round(m.credibleArea(0.9))).toBe(10183);
    expect(m.ntiles).toBe(19200);
    const flat = readSkyMapFileSync(GW190425, { merge: false });
    expect(flat.ntiles).toBe(786432);
    expect(flat.maxOrder).toBe(8);
    for (const level of [0.1, 0.5, 0.9, 0.99]) expect(m.credibleArea(level)).toBeCloseTo(flat.credibleArea(level), 6);
    expect(m.distance()!.mean).toBeCloseTo(flat.distance()!.mean, 9);
    expect(m.distance()!.mean).toBeCloseTo(154.62, 1); // header DISTMEAN 154.619
    // every pixel of the flat map has the merged map's value at its centre
    for (let p = 0; p < 786432; p += 997) {
      const c = hp.pix2radec(8, p);
      expect(m.probdensity[m.findTile(c.ra, c.dec)]).toBe(flat.probdensity[flat.findTile(c.ra, c.dec)]);
    }
  });

  it('flat RING map with vector rows (GRB 220617A IPN, NSIDE 2048, 1024E)', () => {
    const m = readSkyMapFileSync(IPN);
    expect(m.meta.ordering).toBe('RING');
    expect(m.meta.sourceNside).toBe(2048);
    expect(m.meta.sourceRows).toBe(50331648);
    expect(m.hasDistance).toBe(false);
    expect(m.coveredArea).toBeCloseTo(4 * Math.PI, 9);
    // values computed with healpy.read_map(nest=True): sum, A50, A90 and the max pixel
    expect(m.totalProbability).toBeCloseTo(1.000000003523515, 9);
    expect(m.credibleArea(0.5)).toBeCloseTo(0.026462660626908475, 6);
    expect(m.credibleArea(0.9)).toBeCloseTo(0.088044295097606, 6);
    const d = m.densest();
    expect(d.ra).toBeCloseTo(156.86279296875, 6);
    expect(d.dec).toBeCloseTo(15.558919085303273, 6);
  }, 60_000);
});

describe('reading from bytes, base64 and igwn.gwalert notices', () => {
  const bytes = new Uint8Array(readFileSync(BAYESTAR));
  it('bytes, gzipped bytes and base64 give the same map', () => {
    for (const m of [readSkyMapBytes(bytes), readSkyMapBytes(gzipSync(bytes)), readSkyMapBase64(Buffer.from(bytes).toString('base64'))]) {
      expect(m.ntiles).toBe(19200);
      expect(m.credibleArea(0.9)).toBe(bayestar.credibleArea(0.9));
    }
  });

  it('reads the skymap field of an alert (object or JSON text) and names the map after it', () => {
    const alert = {
      alert_type: 'PRELIMINARY',
      superevent_id: 'MS181101ab',
      event: { skymap: Buffer.from(bytes).toString('base64') },
    };
    for (const m of [readSkyMapFromAlert(alert), readSkyMapFromAlert(JSON.stringify(alert)), readSkyMapAny(new TextEncoder().encode(JSON.stringify(alert)))]) {
      expect(m.credibleArea(0.9).toFixed(2)).toBe('30.98');
      expect(m.meta.object).toBe('MS181101ab');
    }
  });

  it('an alert without a sky map (retraction) is a clear error', () => {
    expect(() => readSkyMapFromAlert({ superevent_id: 'S1', alert_type: 'RETRACTION', event: null })).toThrow(/S1 \(RETRACTION\) carries no sky map/);
    expect(() => readSkyMapFromAlert('{not json')).toThrow(/not valid JSON/);
  });
});

describe('malformed sky maps give clear errors', () => {
  const uniq = (o: number, p: number) => 4 * 4 ** o + p;
  const base = (cols: Parameters<typeof makeBintableFits>[0], cards: Parameters<typeof makeBintableFits>[1] = [['PIXTYPE', 'HEALPIX'], ['ORDERING', 'NUNIQ'], ['COORDSYS', 'C']]) =>
    makeBintableFits(cols, cards);
  const full = Array.from({ length: 12 }, (_, p) => uniq(0, p));

  it('a well-formed minimal NUNIQ map reads', () => {
    const m = readSkyMapBytes(base([{ name: 'UNIQ', tform: 'K', data: full }, { name: 'PROBDENSITY', tform: 'D', data: full.map(() => 1 / (4 * Math.PI)) }]));
    expect(m.ntiles).toBe(12);
    expect(m.credibleArea(0.5)).toBeCloseTo(41252.96 / 2, 1);
  });

  const cases: [string, () => unknown, RegExp][] = [
    ['random bytes', () => readSkyMapAny(Uint8Array.from({ length: 3000 }, (_, i) => (i * 7919) % 256)), /not a FITS file or an igwn.gwalert/],
    ['empty file', () => readSkyMapAny(new Uint8Array(0)), /file is empty/],
    ['invalid base64', () => readSkyMapBase64('not base64 at all!'), /not valid base64/],
    ['truncated file', () => readSkyMapBytes(new Uint8Array(readFileSync(BAYESTAR)).subarray(0, 100_000), { source: 'cut.fits' }), /cut.fits: .*data truncated/],
    ['a MOC instead of a sky map', () => readSkyMapFileSync(join(MOCS, 'mocpy-SMOC.fits')), /no PROBDENSITY column \(is this a MOC/],
    ['no HEALPix table', () => readSkyMapBytes(makeBintableFits([{ name: 'X', tform: 'D', data: [1] }])), /no HEALPix binary table/],
    ['bad UNIQ', () => readSkyMapBytes(base([{ name: 'UNIQ', tform: 'K', data: [2] }, { name: 'PROBDENSITY', tform: 'D', data: [1] }])), /invalid UNIQ value 2 in row 1/],
    [
      'overlapping tiles',
      () => readSkyMapBytes(base([{ name: 'UNIQ', tform: 'K', data: [...full, uniq(1, 5)] }, { name: 'PROBDENSITY', tform: 'D', data: [...full, 0].map(() => 0.1) }])),
      /tiles overlap: NUNIQ 5 contains NUNIQ 21/,
    ],
    ['negative density', () => readSkyMapBytes(base([{ name: 'UNIQ', tform: 'K', data: full }, { name: 'PROBDENSITY', tform: 'D', data: full.map((_, i) => (i === 3 ? -1 : 1)) }])), /tile 3: probability density -1/],
    ['zero probability', () => readSkyMapBytes(base([{ name: 'UNIQ', tform: 'K', data: full }, { name: 'PROBDENSITY', tform: 'D', data: full.map(() => 0) }])), /zero total probability/],
    ['NUNIQ without UNIQ', () => readSkyMapBytes(base([{ name: 'PROBDENSITY', tform: 'D', data: [1] }])), /no UNIQ column/],
    ['unknown ORDERING', () => readSkyMapBytes(base([{ name: 'PROB', tform: 'D', data: [1] }], [['PIXTYPE', 'HEALPIX'], ['ORDERING', 'SPIRAL']])), /unknown ORDERING 'SPIRAL'/],
    ['galactic coordinates', () => readSkyMapBytes(base([{ name: 'PROB', tform: 'D', data: full }], [['PIXTYPE', 'HEALPIX'], ['ORDERING', 'NESTED'], ['COORDSYS', 'G']])), /COORDSYS 'G' is not celestial/],
    ['flat map of the wrong size', () => readSkyMapBytes(base([{ name: 'PROB', tform: 'D', data: [1, 2, 3] }], [['PIXTYPE', 'HEALPIX'], ['ORDERING', 'NESTED'], ['NSIDE', 1]])), /map has 3 pixels but NSIDE 1/],
    ['NSIDE not a power of two', () => readSkyMapBytes(base([{ name: 'PROB', tform: 'D', data: Array(12 * 9).fill(1) }], [['PIXTYPE', 'HEALPIX'], ['ORDERING', 'RING'], ['NSIDE', 3]])), /invalid NSIDE 3/],
    ['flat map without NSIDE or 12·nside² pixels', () => readSkyMapBytes(base([{ name: 'PROB', tform: 'D', data: [1, 2, 3] }], [['PIXTYPE', 'HEALPIX'], ['ORDERING', 'RING']])), /NSIDE keyword missing and 3 pixels/],
  ];
  for (const [name, fn, re] of cases) {
    it(name, () => {
      expect(fn).toThrow(SkyMapError);
      expect(fn).toThrow(re);
    });
  }

  it('flat maps: implicit RING equals the same map written NESTED; explicit partial maps; UNSEEN', () => {
    const o = 2;
    const n = hp.order2npix(o);
    const nest = Array.from({ length: n }, (_, p) => p + 1); // distinct values
    const ring = Array.from({ length: n }, (_, q) => nest[Number(hp.ring2nest(o, q))]!);
    const a = readSkyMapBytes(base([{ name: 'PROB', tform: 'D', data: nest }], [['PIXTYPE', 'HEALPIX'], ['ORDERING', 'NESTED'], ['NSIDE', 4]]));
    const b = readSkyMapBytes(base([{ name: 'PROB', tform: 'D', data: ring }], [['PIXTYPE', 'HEALPIX'], ['ORDERING', 'RING'], ['NSIDE', 4]]));
    expect(Array.from(b.probdensity)).toEqual(Array.from(a.probdensity));
    // explicit partial map: two pixels; the rest of the sky is simply not covered
    const c = readSkyMapBytes(
      base([{ name: 'PIXEL', tform: 'J', data: [100, 5] }, { name: 'PROB', tform: 'D', data: [0.75, 0.25] }], [['PIXTYPE', 'HEALPIX'], ['ORDERING', 'RING'], ['NSIDE', 4], ['INDXSCHM', 'EXPLICIT']]),
    );
    expect(c.ntiles).toBe(2);
    expect(c.findTile(hp.pix2radec(o, hp.ring2nest(o, 100)).ra, hp.pix2radec(o, hp.ring2nest(o, 100)).dec)).toBeGreaterThanOrEqual(0);
    expect(c.coveredArea).toBeCloseTo(2 * hp.pixelArea(o), 12);
    // healpy's UNSEEN marker counts as zero probability, with a warning
    const d = readSkyMapBytes(base([{ name: 'PROB', tform: 'E', data: nest.map((v, i) => (i === 0 ? -1.6375e30 : v)) }], [['PIXTYPE', 'HEALPIX'], ['ORDERING', 'NESTED']]));
    expect(d.meta.warnings[0]).toMatch(/1 pixels with NaN\/UNSEEN probability treated as 0/);
    expect(d.meta.warnings.join()).toBe('1 pixels with NaN/UNSEEN probability treated as 0');
  });
});
