/**
 * The LVK distance ansatz (Singer et al. 2016, ApJL 829 L15): along each line of
 * sight, p(r | Ω) = DISTNORM · r² · N(r; DISTMU, DISTSIGMA) for r > 0.
 * Conditional and sky-marginal moments, the 3D density dP/dV, and the normal
 * distribution functions they need.
 */

const SQRT2 = Math.SQRT2;
const SQRTPI = Math.sqrt(Math.PI);
const INV_SQRT2PI = 1 / Math.sqrt(2 * Math.PI);

/** Scaled complementary error function exp(x²)·erfc(x), accurate to ~1e-15 relative. */
export function erfcx(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) {
    // erfc(x) = 2 - erfc(-x)
    if (x < -26.6) return Infinity;
    return 2 * Math.exp(x * x) - erfcx(-x);
  }
  if (x < 2) {
    // erf by its Maclaurin series, then exp(x²)(1 - erf)
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.exp(x2) * (1 - (2 / SQRTPI) * sum);
  }
  // continued fraction erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))) by modified Lentz
  const tiny = 1e-300;
  let f = x;
  let C = f;
  let D = 0;
  for (let k = 1; k < 5000; k++) {
    const a = k / 2;
    D = x + a * D;
    D = D === 0 ? tiny : D;
    C = x + a / C;
    C = C === 0 ? tiny : C;
    D = 1 / D;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return 1 / (SQRTPI * f);
}

export function erfc(x: number): number {
  if (x < 0) return 2 - erfc(-x);
  if (x > 27) return 0;
  return Math.exp(-x * x) * erfcx(x);
}

/** Standard normal density φ(x). */
export function normPdf(x: number): number {
  return INV_SQRT2PI * Math.exp(-0.5 * x * x);
}

/** Standard normal CDF Φ(x). */
export function normCdf(x: number): number {
  return 0.5 * erfc(-x / SQRT2);
}

/**
 * J_k(a) = ∫_0^∞ t^k φ(t − a) dt for k = 2, 3, 4, divided by a common positive
 * factor (they are only used in ratios) plus log of that factor.
 */
function truncatedMoments(a: number): { j2: number; j3: number; j4: number; logScale: number } {
  let R: number; // Φ(a)/φ(a), Mills-type ratio; used for a < 0 to avoid underflow
  let logScale: number;
  let P: number;
  let Q: number;
  if (a < 0) {
    R = Math.sqrt(Math.PI / 2) * erfcx(-a / SQRT2);
    logScale = Math.log(INV_SQRT2PI) - 0.5 * a * a; // log φ(a)
    P = R;
    Q = 1;
  } else {
    P = normCdf(a);
    Q = normPdf(a);
    logScale = 0;
  }
  const a2 = a * a;
  return {
    j2: (a2 + 1) * P + a * Q,
    j3: (a2 * a + 3 * a) * P + (a2 + 2) * Q,
    j4: (a2 * a2 + 6 * a2 + 3) * P + (a2 * a + 5 * a) * Q,
    logScale,
  };
}

export type DistanceMoments = { mean: number; std: number; norm: number };

/**
 * Mean, standard deviation and normalisation (DISTNORM) of the conditional
 * distance distribution for ansatz parameters (mu, sigma).
 * Invalid parameters (sigma ≤ 0 or non-finite, as in pixels without distance
 * information: DISTMU = inf) give { mean: Infinity, std: 1, norm: 0 } like ligo.skymap.
 */
export function conditionalMoments(mu: number, sigma: number): DistanceMoments {
  if (!(Number.isFinite(mu) && Number.isFinite(sigma) && sigma > 0)) return { mean: Infinity, std: 1, norm: 0 };
  const a = mu / sigma;
  const { j2, j3, j4, logScale } = truncatedMoments(a);
  const mean = (sigma * j3) / j2;
  const m2 = (sigma * sigma * j4) / j2;
  const std = Math.sqrt(Math.max(0, m2 - mean * mean));
  const norm = 1 / (sigma * sigma * j2 * Math.exp(logScale));
  return { mean, std, norm };
}

/** 3D probability density dP/dV (Mpc⁻³) at distance r given the 2D density (sr⁻¹) and the tile's ansatz. */
export function densityPerVolume(probdensity: number, r: number, mu: number, sigma: number, norm: number): number {
  if (!(r > 0) || !(sigma > 0) || !Number.isFinite(mu) || !(norm > 0)) return 0;
  const x = (r - mu) / sigma;
  return (probdensity * norm * INV_SQRT2PI * Math.exp(-0.5 * x * x)) / sigma;
}

/** Conditional distance density p(r | Ω) = norm · r² · N(r; mu, sigma) (Mpc⁻¹). */
export function conditionalPdf(r: number, mu: number, sigma: number, norm: number): number {
  if (!(r > 0) || !(sigma > 0) || !Number.isFinite(mu)) return 0;
  const x = (r - mu) / sigma;
  return (norm * r * r * INV_SQRT2PI * Math.exp(-0.5 * x * x)) / sigma;
}

/** Conditional distance CDF P(r' ≤ r | Ω) in closed form. */
export function conditionalCdf(r: number, mu: number, sigma: number, norm: number): number {
  if (!(sigma > 0) || !Number.isFinite(mu) || !(norm > 0)) return NaN;
  if (r <= 0) return 0;
  const a = mu / sigma;
  const T = r / sigma;
  // F_k(T) = ∫_0^T t^k φ(t − a) dt
  const F0 = normCdf(T - a) - normCdf(-a);
  const F1 = a * F0 + normPdf(a) - normPdf(T - a);
  const F2 = a * F1 + F0 - T * normPdf(T - a);
  return Math.min(1, Math.max(0, norm * sigma * sigma * F2));
}

/**
 * Sky-marginal distance mean and standard deviation (ligo.skymap
 * parameters_to_marginal_moments), weighting each tile by its probability; tiles
 * without valid distance parameters are left out and the rest renormalised.
 */
export function marginalMoments(prob: ArrayLike<number>, mu: ArrayLike<number>, sigma: ArrayLike<number>): { mean: number; std: number } | null {
  let w = 0;
  let rbar = 0;
  let r2bar = 0;
  for (let i = 0; i < prob.length; i++) {
    const p = prob[i]!;
    if (!(p > 0) || !Number.isFinite(mu[i]!) || !(sigma[i]! > 0) || !Number.isFinite(sigma[i]!)) continue;
    const m = conditionalMoments(mu[i]!, sigma[i]!);
    if (!Number.isFinite(m.mean)) continue;
    w += p;
    rbar += p * m.mean;
    r2bar += p * (m.std * m.std + m.mean * m.mean);
  }
  if (!(w > 0)) return null;
  rbar /= w;
  r2bar /= w;
  return { mean: rbar, std: Math.sqrt(Math.max(0, r2bar - rbar * rbar)) };
}
