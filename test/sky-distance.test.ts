/** sky/distance.ts: the distance ansatz against direct numerical integration. */
import { describe, expect, it } from 'vitest';
import { conditionalCdf, conditionalMoments, conditionalPdf, densityPerVolume, erfc, erfcx, marginalMoments, normCdf } from '../sky/distance.ts';

/** ∫_0^R f(r) dr by composite Simpson with n intervals. */
function simpson(f: (r: number) => number, R: number, n = 20000): number {
  const h = R / n;
  let s = f(0) + f(R);
  for (let i = 1; i < n; i++) s += f(i * h) * (i % 2 ? 4 : 2);
  return (s * h) / 3;
}

describe('normal distribution helpers', () => {
  it('erfc and Φ at reference values', () => {
    // reference values from the C library (Python math.erfc)
    const ref: [number, number][] = [
      [-3, 1.9999779095030015],
      [-0.5, 1.5204998778130465],
      [0, 1],
      [0.3, 0.6713732405408726],
      [1, 0.15729920705028513],
      [2.5, 0.0004069520174449589],
      [5, 1.5374597944280351e-12],
      [10, 2.088487583762545e-45],
      [26, 5.663192408856143e-296],
    ];
    for (const [x, v] of ref) expect(Math.abs(erfc(x) - v) / v).toBeLessThan(1e-13);
    // asymptotic series 1/(x√π)·(1 − 1/(2x²) + 3/(4x⁴) − 15/(8x⁶) + 105/(16x⁸))
    expect(erfcx(30) / ((1 / (30 * Math.sqrt(Math.PI))) * (1 - 1 / 1800 + 3 / (4 * 30 ** 4) - 15 / (8 * 30 ** 6) + 105 / (16 * 30 ** 8))) - 1).toBeLessThan(1e-12);
    expect(erfc(-30)).toBe(2);
    expect(normCdf(0)).toBe(0.5);
    expect(normCdf(1.959963984540054)).toBeCloseTo(0.975, 12);
  });
});

describe('conditional distance distribution p(r) = norm · r² · N(r; μ, σ)', () => {
  const cases: [number, number][] = [
    [40, 8],
    [100, 30],
    [5, 20], // μ/σ small
    [-20, 15], // negative μ: mass piled up near r = 0
    [500, 5],
  ];
  for (const [mu, sigma] of cases) {
    it(`μ = ${mu}, σ = ${sigma}: norm, mean, std and CDF match numerical integration`, () => {
      const { mean, std, norm } = conditionalMoments(mu, sigma);
      const R = Math.max(mu, 0) + 12 * sigma;
      const pdf = (r: number) => conditionalPdf(r, mu, sigma, norm);
      expect(simpson(pdf, R)).toBeCloseTo(1, 9);
      expect(simpson((r) => r * pdf(r), R)).toBeCloseTo(mean, 6);
      const m2 = simpson((r) => r * r * pdf(r), R);
      expect(Math.sqrt(m2 - mean * mean)).toBeCloseTo(std, 5);
      for (const q of [0.3, 0.7, 1, 1.4]) {
        const r = Math.max(1e-3, mean * q);
        expect(conditionalCdf(r, mu, sigma, norm)).toBeCloseTo(simpson(pdf, r), 8);
      }
      expect(conditionalCdf(R * 3, mu, sigma, norm)).toBeCloseTo(1, 12);
      expect(conditionalCdf(0, mu, sigma, norm)).toBe(0);
    });
  }

  it('invalid parameters (pixels without distance information) give ligo.skymap sentinels', () => {
    expect(conditionalMoments(Infinity, 1)).toEqual({ mean: Infinity, std: 1, norm: 0 });
    expect(conditionalMoments(10, 0)).toEqual({ mean: Infinity, std: 1, norm: 0 });
    expect(densityPerVolume(1, 10, Infinity, 1, 0)).toBe(0);
  });

  it('dP/dV = dP/dΩ · p(r|Ω) / r²', () => {
    const { norm } = conditionalMoments(40, 8);
    for (const r of [10, 35, 60]) expect(densityPerVolume(2.5, r, 40, 8, norm)).toBeCloseTo((2.5 * conditionalPdf(r, 40, 8, norm)) / (r * r), 15);
  });

  it('sky-marginal moments: mixture mean and variance, renormalised over valid tiles', () => {
    const a = conditionalMoments(40, 8);
    const b = conditionalMoments(80, 10);
    const res = marginalMoments([0.25, 0.75, 0.1], [40, 80, Infinity], [8, 10, 1])!;
    const w = [0.25, 0.75];
    const mean = w[0]! * a.mean + w[1]! * b.mean;
    const m2 = w[0]! * (a.std ** 2 + a.mean ** 2) + w[1]! * (b.std ** 2 + b.mean ** 2);
    expect(res.mean).toBeCloseTo(mean, 12);
    expect(res.std).toBeCloseTo(Math.sqrt(m2 - mean * mean), 10);
    expect(marginalMoments([1], [Infinity], [1])).toBeNull();
  });
});
