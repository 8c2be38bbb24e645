/** sky/circle.ts: error circles as sky maps. */
import { describe, expect, it } from 'vitest';
import { circleSkyMap, fisherKappa } from '../sky/circle.ts';
import * as hp from '../sky/healpix.ts';
import { Moc } from '../sky/moc.ts';

const capDeg2 = (r: number) => 2 * Math.PI * (1 - Math.cos((r * Math.PI) / 180)) * (180 / Math.PI) ** 2;

describe('error circles', () => {
  it('Fisher κ holds the requested containment within the radius', () => {
    for (const [r, c] of [
      [0.01, 0.9],
      [1, 0.5],
      [10, 0.9],
      [60, 0.68],
    ] as const) {
      const k = fisherKappa((r * Math.PI) / 180, c);
      const p = -Math.expm1(-k * (1 - Math.cos((r * Math.PI) / 180))) / -Math.expm1(-2 * k);
      expect(p).toBeCloseTo(c, 10);
    }
  });

  for (const [ra, dec, radius] of [
    [194.3, -17.85, 2],
    [0.2, 89.5, 5], // near the pole, across RA = 0
    [300, 10, 3 / 3600], // 3 arcsec: deep orders
  ] as const) {
    it(`Fisher circle at (${ra}, ${dec}) r = ${radius}°: 90% area = cap area, peak at the centre, normalised`, () => {
      const m = circleSkyMap({ ra, dec, radius, containment: 0.9, name: 'GRB test' });
      expect(m.meta.ordering).toBe('CIRCLE');
      expect(m.meta.object).toBe('GRB test');
      expect(m.totalProbability).toBeCloseTo(1, 12);
      expect(m.coveredArea).toBeCloseTo(4 * Math.PI, 9);
      expect(m.credibleArea(0.9) / capDeg2(radius)).toBeGreaterThan(0.97);
      expect(m.credibleArea(0.9) / capDeg2(radius)).toBeLessThan(1.03);
      const d = m.densest();
      expect((hp.angularDistance(d.ra, d.dec, ra, dec) * 180) / Math.PI).toBeLessThan(radius / 4);
      // probability inside the circle itself ≈ containment
      const order = Math.min(29, m.maxOrder + 2);
      expect(Moc.fromCircle(ra, dec, radius, order, { inclusive: false }).probability(m)).toBeCloseTo(0.9, 1);
    });
  }

  it('top-hat circle: uniform inside, nothing outside', () => {
    const m = circleSkyMap({ ra: 45, dec: 30, radius: 4, profile: 'tophat' });
    expect(m.credibleArea(1) / capDeg2(4)).toBeCloseTo(1, 1);
    expect(m.credibleArea(0.5) / capDeg2(4)).toBeCloseTo(0.5, 1);
    expect(m.probdensity[m.findTile(45, 30)]).toBeGreaterThan(0);
    expect(m.probdensity[m.findTile(45, 40)]).toBe(0);
    expect(m.hasDistance).toBe(false);
  });

  it('rejects bad circles', () => {
    expect(() => circleSkyMap({ ra: 0, dec: 95, radius: 1 })).toThrow(/centre/);
    expect(() => circleSkyMap({ ra: 0, dec: 0, radius: 0 })).toThrow(/radius/);
    expect(() => circleSkyMap({ ra: 0, dec: 0, radius: 1, containment: 1 })).toThrow(/containment/);
  });
});
