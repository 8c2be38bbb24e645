/** sky/healpix.ts on its own: invariants that must hold at every order, independent of healpy. */
import { describe, expect, it } from 'vitest';
import * as hp from '../sky/healpix.ts';
import { randomBigBelow, rng } from './sky-helpers.ts';

const r = rng(7);
const DEG = Math.PI / 180;

describe('orders, nside, npix, areas', () => {
  it('converts nside and order both ways and rejects invalid values', () => {
    for (let o = 0; o <= 29; o++) {
      expect(hp.nside2order(hp.order2nside(o))).toBe(o);
      expect(hp.order2npix(o)).toBe(12 * 4 ** o);
      expect(hp.pixelArea(o) * hp.order2npix(o)).toBeCloseTo(4 * Math.PI, 12);
    }
    expect(hp.order2npix(29)).toBe(3458764513820540928); // exact as a double
    for (const bad of [0, 3, 6, 2 ** 30, 1.5, -2]) expect(() => hp.nside2order(bad)).toThrow(RangeError);
    for (const bad of [-1, 30, 2.5]) expect(() => hp.order2nside(bad)).toThrow(/order/);
    expect(hp.pixelAreaDeg2(0)).toBeCloseTo(41252.96124941928 / 12, 9);
  });

  it('max_pixrad shrinks by ~2 per order and bounds the centre-to-corner distance', () => {
    for (let o = 1; o <= 29; o++) expect(hp.maxPixrad(o - 1) / hp.maxPixrad(o)).toBeGreaterThan(1.7);
    // every centre is within max_pixrad of points inside the pixel: sample pixel-centre neighbours' midpoints
    const o = 6;
    for (let i = 0; i < 200; i++) {
      const p = randomBigBelow(r, BigInt(hp.order2npix(o)));
      const c = hp.pix2ang(o, p);
      // children centres lie inside the parent
      for (let k = 0n; k < 4n; k++) {
        const cc = hp.pix2ang(o + 1, 4n * p + k);
        const d = Math.acos(Math.min(1, dot(hp.ang2vec(c.theta, c.phi), hp.ang2vec(cc.theta, cc.phi))));
        expect(d).toBeLessThan(hp.maxPixrad(o));
      }
    }
  });
});

function dot(a: hp.Vec3, b: hp.Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

describe('nested indices at every order, exact to order 29', () => {
  it('pix2ang then ang2pix returns the pixel; the number path agrees up to order 24', () => {
    for (let o = 0; o <= 29; o++) {
      const npix = BigInt(hp.order2npix(o));
      for (const p of [0n, npix - 1n, ...Array.from({ length: 300 }, () => randomBigBelow(r, npix))]) {
        const a = hp.pix2ang(o, p);
        expect(hp.ang2pix(o, a.theta, a.phi)).toBe(p);
        if (o <= hp.MAX_NUMBER_ORDER) expect(hp.ang2pixNumber(o, a.theta, a.phi)).toBe(Number(p));
      }
    }
  });

  it('keeps the low bits at order 29 (indices above 2^53 are not rounded)', () => {
    const p = 3458764513820540927n; // last pixel at order 29
    expect(hp.ang2pix(29, ...Object.values(hp.pix2ang(29, p)) as [number, number])).toBe(p);
    const q = (1n << 60n) + 12345n;
    expect(hp.ang2pix(29, hp.pix2ang(29, q).theta, hp.pix2ang(29, q).phi)).toBe(q);
    expect(hp.nest2ring(29, hp.ring2nest(29, q))).toBe(q);
  });

  it('children of a pixel are 4p..4p+3 and contain its sub-areas', () => {
    for (let o = 0; o < 29; o += 3) {
      const p = randomBigBelow(r, BigInt(hp.order2npix(o)));
      for (let k = 0n; k < 4n; k++) {
        const c = hp.pix2ang(o + 1, 4n * p + k);
        expect(hp.ang2pix(o, c.theta, c.phi)).toBe(p);
      }
    }
  });

  it('RA/Dec helpers: pix2radec/radec2pix round trip and RA in [0, 360)', () => {
    for (let i = 0; i < 500; i++) {
      const ra = 360 * r();
      const dec = (Math.asin(2 * r() - 1) * 180) / Math.PI;
      const p = hp.radec2pix(29, ra, dec);
      const c = hp.pix2radec(29, p);
      expect(c.ra).toBeGreaterThanOrEqual(0);
      expect(c.ra).toBeLessThan(360);
      expect(hp.angularDistance(ra, dec, c.ra, c.dec)).toBeLessThan(hp.maxPixrad(29) * 1.01);
    }
  });

  it('the order-29 bulk path equals the scalar path, flags invalid rows', () => {
    const n = 5000;
    const ra = Array.from({ length: n }, () => 360 * r());
    const dec = Array.from({ length: n }, () => (Math.asin(2 * r() - 1) * 180) / Math.PI);
    ra.push(NaN, 10, 10);
    dec.push(0, 91, NaN);
    const hi = new Uint32Array(n + 3);
    const lo = new Uint32Array(n + 3);
    hp.radec2nest29Bulk(ra, dec, hi, lo);
    for (let i = 0; i < n; i++) expect(hp.hiLoToBigInt(hi[i]!, lo[i]!)).toBe(hp.radec2pix(29, ra[i]!, dec[i]!));
    for (let i = n; i < n + 3; i++) expect([hi[i], lo[i]]).toEqual([0xffffffff, 0xffffffff]);
  });

  it('rejects out-of-range pixels and angles', () => {
    expect(() => hp.pix2ang(0, 12)).toThrow(/out of range/);
    expect(() => hp.pix2ang(29, 12n * 4n ** 29n)).toThrow(/out of range/);
    expect(() => hp.pix2ang(3, -1)).toThrow(RangeError);
    expect(() => hp.pix2ang(3, 1.5)).toThrow(RangeError);
    expect(() => hp.ang2pix(3, -0.1, 0)).toThrow(/theta/);
    expect(() => hp.ang2pix(3, 4, 0)).toThrow(/theta/);
    expect(() => hp.ring2nest(2, 192)).toThrow(/out of range/);
  });
});

describe('RING scheme, NUNIQ, neighbours', () => {
  it('ring2nest and nest2ring are inverse permutations (whole map at low order, samples to 29)', () => {
    for (let o = 0; o <= 4; o++) {
      const n = hp.order2npix(o);
      const seen = new Set<bigint>();
      for (let p = 0; p < n; p++) {
        const q = hp.nest2ring(o, p);
        seen.add(q);
        expect(hp.ring2nest(o, q)).toBe(BigInt(p));
      }
      expect(seen.size).toBe(n);
    }
    for (let o = 5; o <= 29; o++) {
      const npix = BigInt(hp.order2npix(o));
      for (let i = 0; i < 200; i++) {
        const p = randomBigBelow(r, npix);
        expect(hp.ring2nest(o, hp.nest2ring(o, p))).toBe(p);
      }
    }
  });

  it('RING indices run by decreasing colatitude', () => {
    const o = 3;
    let last = -1;
    for (let p = 0; p < hp.order2npix(o); p++) {
      const t = hp.pix2angRing(o, p).theta;
      expect(t).toBeGreaterThanOrEqual(last - 1e-12);
      last = t;
    }
  });

  it('NUNIQ encodes and decodes at every order, including the largest values', () => {
    for (let o = 0; o <= 29; o++) {
      const npix = BigInt(hp.order2npix(o));
      for (const p of [0n, npix - 1n, randomBigBelow(r, npix)]) {
        const u = hp.nest2uniq(o, p);
        expect(u).toBe(4n * 4n ** BigInt(o) + p);
        expect(hp.uniq2nest(u)).toEqual({ order: o, ipix: p });
      }
    }
    expect(hp.uniq2nest(4)).toEqual({ order: 0, ipix: 0n });
    for (const bad of [0, 3, 0n, 1n << 62n]) expect(() => hp.uniq2nest(bad)).toThrow(/NUNIQ/);
  });

  it('neighbours are mutual, distinct and adjacent; 8 everywhere except the 8-ring corners', () => {
    for (const o of [0, 1, 2, 5, 12, 29]) {
      const npix = BigInt(hp.order2npix(o));
      const sample = o <= 2 ? Array.from({ length: Number(npix) }, (_, i) => BigInt(i)) : Array.from({ length: 300 }, () => randomBigBelow(r, npix));
      for (const p of sample) {
        const nb = hp.neighbours(o, p);
        expect(nb).toHaveLength(8);
        const real = nb.filter((q) => q >= 0n);
        if (o > 0) expect(real.length).toBeGreaterThanOrEqual(7);
        if (o > 0) expect(new Set(real).size).toBe(real.length);
        for (const q of real) {
          expect(q).not.toBe(p);
          if (o > 0) expect(hp.neighbours(o, q)).toContain(p);
          const a = hp.pix2radec(o, p);
          const b = hp.pix2radec(o, q);
          expect(hp.angularDistance(a.ra, a.dec, b.ra, b.dec)).toBeLessThan(2.2 * hp.maxPixrad(o));
        }
      }
    }
    // RING neighbours are the NESTED neighbours renumbered
    for (let i = 0; i < 200; i++) {
      const p = randomBigBelow(r, BigInt(hp.order2npix(8)));
      const viaRing = hp.neighbours(8, hp.nest2ring(8, p), 'ring').map((q) => (q < 0n ? q : hp.ring2nest(8, q)));
      expect(viaRing).toEqual(hp.neighbours(8, p));
    }
  });
});

describe('query_disc and query_polygon', () => {
  function centresInside(o: number, f: (v: hp.Vec3) => boolean): bigint[] {
    const out: bigint[] = [];
    for (let p = 0; p < hp.order2npix(o); p++) if (f(hp.pix2vec(o, p))) out.push(BigInt(p));
    return out;
  }

  it('exact query_disc is the set of pixels whose centres are within the radius (brute force, order 5)', () => {
    const o = 5;
    for (let i = 0; i < 10; i++) {
      const ra = 360 * r();
      const dec = (Math.asin(2 * r() - 1) * 180) / Math.PI;
      const rad = (1 + 40 * r()) * DEG;
      const c = hp.radec2vec(ra, dec);
      const want = centresInside(o, (v) => dot(v, c) > Math.cos(rad) + 1e-12 || (dot(v, c) >= Math.cos(rad) - 1e-12 && false));
      const got = hp.rangesToPixels(hp.queryDiscRadec(o, ra, dec, rad / DEG));
      expect(got).toEqual(want);
      // inclusive is a superset that also contains every pixel touching the disc
      const inc = new Set(hp.rangesToPixels(hp.queryDiscRadec(o, ra, dec, rad / DEG, { inclusive: true })));
      for (const p of got) expect(inc.has(p)).toBe(true);
      for (const p of centresInside(o, (v) => dot(v, c) > Math.cos(rad + hp.maxPixrad(o) * 0.5))) {
        // pixels with centres within radius + half a pixel radius overlap the disc
        if (dot(hp.pix2vec(o, p), c) > Math.cos(rad)) expect(inc.has(p)).toBe(true);
      }
    }
  });

  it('covers the whole sphere for radius ≥ π, nothing for radius 0 away from centres', () => {
    const all = hp.queryDisc(4, 1, 1, Math.PI);
    expect(hp.rangesPixelCount(all)).toBe(BigInt(hp.order2npix(4)));
    expect(hp.rangesPixelCount(hp.queryDisc(4, 1.2345, 0.4321, 0))).toBe(0n);
    expect(() => hp.queryDisc(4, 1, 1, -1)).toThrow(RangeError);
    expect(() => hp.queryDisc(28, 1, 1, 0.1, { inclusive: true, fact: 4 })).toThrow(/oversampling/);
    expect(() => hp.queryDisc(3, 1, 1, 0.1, { inclusive: true, fact: 3 })).toThrow(/power of 2/);
  });

  it('query_disc at order 29 returns exact bigint ranges', () => {
    const res = hp.queryDiscRadec(29, 123.4, -56.7, 0.5 / 3600); // 0.5 arcsec
    const n = hp.rangesPixelCount(res);
    const expected = (Math.PI * (0.5 / 3600 * DEG) ** 2) / hp.pixelArea(29);
    expect(Number(n) / expected).toBeGreaterThan(0.97);
    expect(Number(n) / expected).toBeLessThan(1.03);
    for (const v of res.ranges) expect(v < 12n * 4n ** 29n).toBe(true);
  });

  it('query_polygon (convex) is the set of centres inside all edge planes; either orientation', () => {
    const o = 6;
    const verts = [
      [10, 10],
      [30, 12],
      [32, 30],
      [12, 28],
    ].map(([a, d]) => hp.radec2vec(a!, d!));
    const inside = (v: hp.Vec3) =>
      verts.every((a, i) => {
        const b = verts[(i + 1) % verts.length]!;
        const n: hp.Vec3 = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
        return dot(n, v) > 0;
      });
    const want = centresInside(o, inside);
    expect(hp.rangesToPixels(hp.queryPolygon(o, verts))).toEqual(want);
    expect(hp.rangesToPixels(hp.queryPolygon(o, [...verts].reverse()))).toEqual(want);
    const inc = new Set(hp.rangesToPixels(hp.queryPolygon(o, verts, { inclusive: true })));
    for (const p of want) expect(inc.has(p)).toBe(true);
  });

  it('rejects degenerate and non-convex polygons; queryPolygonAny handles non-convex ones', () => {
    const o = 7;
    const L = [
      [0, 0],
      [20, 0],
      [20, 8],
      [8, 8],
      [8, 20],
      [0, 20],
    ].map(([a, d]) => hp.radec2vec(a! + 0.1234, d! + 0.0731)); // keep edges off the rings/meridians of pixel centres
    expect(() => hp.queryPolygon(o, L)).toThrow(/not convex/);
    expect(() => hp.queryPolygon(o, [L[0]!, L[1]!])).toThrow(/not enough/);
    expect(() => hp.queryPolygon(o, [hp.radec2vec(0, 0), hp.radec2vec(10, 0), hp.radec2vec(20, 0)])).toThrow(/degenerate/);
    // brute force: gnomonic projection maps great-circle edges to straight lines
    const c = hp.radec2vec(10, 10);
    const e1: hp.Vec3 = [-Math.sin(10 * DEG), Math.cos(10 * DEG), 0];
    const e2: hp.Vec3 = [c[1] * e1[2] - c[2] * e1[1], c[2] * e1[0] - c[0] * e1[2], c[0] * e1[1] - c[1] * e1[0]];
    const proj = (v: hp.Vec3): [number, number] => [dot(v, e1) / dot(v, c), dot(v, e2) / dot(v, c)];
    const poly = L.map(proj);
    const inPoly = (v: hp.Vec3) => {
      if (dot(v, c) <= 0.5) return false;
      const [x, y] = proj(v);
      let inside = false;
      for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
        const [xi, yi] = poly[i]!;
        const [xj, yj] = poly[j]!;
        if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
      }
      return inside;
    };
    const want = centresInside(o, inPoly);
    const got = hp.rangesToPixels(hp.queryPolygonAny(o, L));
    expect(want.length).toBeGreaterThan(1000);
    expect(got).toEqual(want);
  });
});
