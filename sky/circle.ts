/**
 * Circular localisations (GRB / X-ray / neutrino error circles) as multi-order
 * sky maps, so that they go through the same credible-level, MOC and crossmatch
 * machinery as LVK maps.
 *
 * profile 'fisher' (default): the Fisher–von Mises distribution, the spherical
 *   analogue of a circular Gaussian, with κ chosen so that `containment` of the
 *   probability lies within `radius`.
 * profile 'tophat': uniform inside the circle, zero outside.
 */
import { MAX_ORDER, angularDistance, pix2radec } from './healpix.ts';
import { Moc } from './moc.ts';
import { SkyMap, type SkyMapMeta, TILE_AREA } from './skymap.ts';
import { fromBig } from './u64.ts';

const DEG = Math.PI / 180;

export type CircleLocalisation = {
  ra: number;
  dec: number;
  /** Radius in degrees. */
  radius: number;
  /** Fraction of probability inside `radius` for the Fisher profile (default 0.9). */
  containment?: number;
  profile?: 'fisher' | 'tophat';
  /** OBJECT name for the summary. */
  name?: string;
};

/** κ of a Fisher distribution holding `c` of its probability within angle r (rad). */
export function fisherKappa(r: number, c: number): number {
  const f = (k: number) => -Math.expm1(-k * (1 - Math.cos(r))) / -Math.expm1(-2 * k) - c;
  // P(r) increases with κ; bracket and bisect in log κ
  let lo = 1e-9;
  let hi = 1e3;
  while (f(hi) < 0) hi *= 10;
  if (f(lo) > 0) return lo;
  for (let i = 0; i < 200; i++) {
    const m = Math.sqrt(lo * hi);
    if (f(m) < 0) lo = m;
    else hi = m;
    if (hi / lo < 1 + 1e-14) break;
  }
  return Math.sqrt(lo * hi);
}

/** Fisher density (sr⁻¹) at angular distance d (rad). */
function fisherDensity(kappa: number, d: number): number {
  return (kappa / (2 * Math.PI * -Math.expm1(-2 * kappa))) * Math.exp(kappa * (Math.cos(d) - 1));
}

/** Builds a multi-order sky map for an error circle. */
export function circleSkyMap(c: CircleLocalisation): SkyMap {
  const { ra, dec, radius } = c;
  if (!(Number.isFinite(ra) && dec >= -90 && dec <= 90)) throw new RangeError(`invalid circle centre ${ra}, ${dec}`);
  if (!(radius > 0 && radius <= 180)) throw new RangeError(`circle radius must be in (0, 180] degrees, got ${radius}`);
  const profile = c.profile ?? 'fisher';
  const containment = c.containment ?? 0.9;
  if (!(containment > 0 && containment < 1)) throw new RangeError(`containment must be in (0, 1), got ${containment}`);
  const r = radius * DEG;
  const tiles: { order: number; hi: number; lo: number; density: number }[] = [];
  const meta: SkyMapMeta = {
    ordering: 'CIRCLE',
    warnings: [],
    ...(c.name ? { object: c.name } : {}),
    header: { RA: ra, DEC: dec, RADIUS: radius, PROFILE: profile, ...(profile === 'fisher' ? { CONTAIN: containment } : {}) },
  };
  const push = (moc: Moc, density: (o: number, ipix: bigint) => number) => {
    for (const cell of moc.cells()) {
      const [hi, lo] = fromBig(cell.ipix);
      tiles.push({ order: cell.order, hi, lo, density: density(cell.order, cell.ipix) });
    }
  };
  // resolve the profile with pixels a few times smaller than its scale
  const scale = profile === 'fisher' ? Math.min(r, 1 / Math.sqrt(fisherKappa(r, containment))) : r;
  // (pixel size ≈ 1.0233 rad / 2^order; a top-hat needs a finer edge than a smooth profile)
  const perScale = profile === 'fisher' ? 4 : 16;
  const order = Math.max(3, Math.min(MAX_ORDER - 2, Math.ceil(Math.log2((perScale * 1.0233) / scale))));
  if (profile === 'tophat') {
    let core = Moc.fromCircle(ra, dec, radius, order, { inclusive: false });
    if (core.isEmpty) core = Moc.fromCircle(ra, dec, radius, order, { inclusive: true });
    const density = 1 / core.area();
    push(core, () => density);
    push(core.complement(), () => 0);
  } else {
    const kappa = fisherKappa(r, containment);
    // beyond rmax the density is < 1e-12 of its peak
    const rmax = Math.min(Math.PI, Math.acos(Math.max(-1, 1 - 27.6 / kappa)));
    const core = Moc.fromCircle(ra, dec, rmax / DEG, order, { inclusive: true });
    const centreDensity = (o: number, ipix: bigint) => {
      const p = pix2radec(o, ipix);
      return fisherDensity(kappa, angularDistance(ra, dec, p.ra, p.dec));
    };
    // core at full resolution (no merged interior cells: the density varies)
    for (let i = 0; i < core.ranges.length; i += 2) {
      const s = BigInt(2 * (MAX_ORDER - order));
      for (let p = core.ranges[i]! >> s; p < core.ranges[i + 1]! >> s; p++) {
        const [hi, lo] = fromBig(p);
        tiles.push({ order, hi, lo, density: centreDensity(order, p) });
      }
    }
    push(core.complement(), centreDensity);
  }
  // normalise the pixelised density
  let total = 0;
  for (const t of tiles) total += t.density * TILE_AREA[t.order]!;
  const n = tiles.length;
  return new SkyMap({
    order: Uint8Array.from(tiles, (t) => t.order),
    ipixHi: Uint32Array.from(tiles, (t) => t.hi),
    ipixLo: Uint32Array.from(tiles, (t) => t.lo),
    probdensity: Float64Array.from(tiles, (t) => t.density / total),
    meta: { ...meta, sourceRows: n },
  });
}
