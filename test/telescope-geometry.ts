/**
 * A second, independent way to compute the telescope geometry, for checking
 * agents/telescope/visibility.ts (which uses astronomy-engine): textbook formulas
 * from J. Meeus, "Astronomical Algorithms" (2nd ed.) and the Astronomical Almanac's
 * low-precision Sun and Moon, written here from those books, sharing no code with
 * astronomy-engine.
 *
 *   sidereal time      Meeus eq. 12.4 (IAU 1982 GMST)
 *   precession         Meeus eq. 21.3–21.4 (ζ, z, θ; J2000 → mean equator of date)
 *   altitude           sin h = sin φ sin δ + cos φ cos δ cos H (geometric, no refraction)
 *   Sun                Meeus ch. 25 low accuracy (≈ 0.01°)
 *   Moon               Astronomical Almanac low precision (≈ 0.3° in λ, 0.2° in β) + topocentric parallax
 *
 * Nutation (≤ 0.005°) and aberration (≤ 0.006°) are left out: tests allow for them.
 */
const D = Math.PI / 180;
const sin = (x: number) => Math.sin(x * D);
const cos = (x: number) => Math.cos(x * D);
const asin = (x: number) => Math.asin(x) / D;
const atan2 = (y: number, x: number) => Math.atan2(y, x) / D;
const norm360 = (x: number) => ((x % 360) + 360) % 360;

export function julianDay(t: Date): number {
  return t.getTime() / 86_400_000 + 2440587.5;
}

/** Greenwich mean sidereal time, degrees (Meeus 12.4). */
export function gmst(t: Date): number {
  const jd = julianDay(t);
  const T = (jd - 2451545.0) / 36525;
  return norm360(280.46061837 + 360.98564736629 * (jd - 2451545.0) + 0.000387933 * T * T - (T * T * T) / 38710000);
}

/** Local mean sidereal time, degrees, for a longitude east. */
export function lmst(t: Date, longitudeEast: number): number {
  return norm360(gmst(t) + longitudeEast);
}

/** J2000 (ICRS) RA/Dec → mean equator and equinox of date (Meeus 21.3–21.4). */
export function precess(ra: number, dec: number, t: Date): { ra: number; dec: number } {
  const T = (julianDay(t) - 2451545.0) / 36525;
  const zeta = (2306.2181 * T + 0.30188 * T * T + 0.017998 * T ** 3) / 3600;
  const z = (2306.2181 * T + 1.09468 * T * T + 0.018203 * T ** 3) / 3600;
  const theta = (2004.3109 * T - 0.42665 * T * T - 0.041833 * T ** 3) / 3600;
  const A = cos(dec) * sin(ra + zeta);
  const B = cos(theta) * cos(dec) * cos(ra + zeta) - sin(theta) * sin(dec);
  const C = sin(theta) * cos(dec) * cos(ra + zeta) + cos(theta) * sin(dec);
  return { ra: norm360(atan2(A, B) + z), dec: asin(C) };
}

/** Geometric altitude (degrees) of a position of date at hour angle from the site. */
export function altitudeOfDate(raDate: number, decDate: number, latitude: number, longitudeEast: number, t: Date): number {
  const H = lmst(t, longitudeEast) - raDate;
  return asin(sin(latitude) * sin(decDate) + cos(latitude) * cos(decDate) * cos(H));
}

/** Geometric altitude (degrees) of an ICRS target. */
export function targetAltitude(ra: number, dec: number, latitude: number, longitudeEast: number, t: Date): number {
  const p = precess(ra, dec, t);
  return altitudeOfDate(p.ra, p.dec, latitude, longitudeEast, t);
}

/** Sun's apparent RA/Dec of date (Meeus ch. 25, low accuracy). */
export function sunRaDec(t: Date): { ra: number; dec: number } {
  const T = (julianDay(t) - 2451545.0) / 36525;
  const L0 = 280.46646 + 36000.76983 * T + 0.0003032 * T * T;
  const M = 357.52911 + 35999.05029 * T - 0.0001537 * T * T;
  const C = (1.914602 - 0.004817 * T - 0.000014 * T * T) * sin(M) + (0.019993 - 0.000101 * T) * sin(2 * M) + 0.000289 * sin(3 * M);
  const omega = 125.04 - 1934.136 * T;
  const lambda = L0 + C - 0.00569 - 0.00478 * sin(omega);
  const eps0 = 23 + 26 / 60 + 21.448 / 3600 - (46.815 * T) / 3600;
  const eps = eps0 + 0.00256 * cos(omega);
  return { ra: norm360(atan2(cos(eps) * sin(lambda), cos(lambda))), dec: asin(sin(eps) * sin(lambda)) };
}

export function sunAltitude(latitude: number, longitudeEast: number, t: Date): number {
  const s = sunRaDec(t);
  return altitudeOfDate(s.ra, s.dec, latitude, longitudeEast, t);
}

function toVec(ra: number, dec: number, r = 1): [number, number, number] {
  return [r * cos(dec) * cos(ra), r * cos(dec) * sin(ra), r * sin(dec)];
}

function angle(a: [number, number, number], b: [number, number, number]): number {
  const dot = a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const na = Math.hypot(...a);
  const nb = Math.hypot(...b);
  return Math.acos(Math.max(-1, Math.min(1, dot / (na * nb)))) / D;
}

/** Moon's geocentric RA/Dec of date and distance in Earth radii (Astronomical Almanac low precision). */
export function moonRaDec(t: Date): { ra: number; dec: number; distance: number } {
  const T = (julianDay(t) - 2451545.0) / 36525;
  const lambda =
    218.32 + 481267.881 * T + 6.29 * sin(135.0 + 477198.87 * T) - 1.27 * sin(259.3 - 413335.36 * T) + 0.66 * sin(235.7 + 890534.22 * T) +
    0.21 * sin(269.9 + 954397.74 * T) - 0.19 * sin(357.5 + 35999.05 * T) - 0.11 * sin(186.5 + 966404.03 * T);
  const beta = 5.13 * sin(93.3 + 483202.02 * T) + 0.28 * sin(228.2 + 960400.89 * T) - 0.28 * sin(318.3 + 6003.15 * T) - 0.17 * sin(217.6 - 407332.21 * T);
  const parallax = 0.9508 + 0.0518 * cos(135.0 + 477198.87 * T) + 0.0095 * cos(259.3 - 413335.36 * T) + 0.0078 * cos(235.7 + 890534.22 * T) + 0.0028 * cos(269.9 + 954397.74 * T);
  const eps = 23.439291 - 0.0130042 * T;
  const l = cos(beta) * cos(lambda);
  const m = cos(eps) * cos(beta) * sin(lambda) - sin(eps) * sin(beta);
  const n = sin(eps) * cos(beta) * sin(lambda) + cos(eps) * sin(beta);
  return { ra: norm360(atan2(m, l)), dec: asin(n), distance: 1 / sin(parallax) };
}

/** Target–Moon distance (degrees) seen from the site (topocentric: the Moon moves up to 1° with the observer). */
export function moonDistance(ra: number, dec: number, latitude: number, longitudeEast: number, t: Date): number {
  const moon = moonRaDec(t);
  const mv = toVec(moon.ra, moon.dec, moon.distance);
  // Observer on a spherical Earth (1 Earth radius), in the equatorial frame of date.
  const ov = toVec(lmst(t, longitudeEast), latitude, 1);
  const topo: [number, number, number] = [mv[0] - ov[0], mv[1] - ov[1], mv[2] - ov[2]];
  const p = precess(ra, dec, t);
  return angle(toVec(p.ra, p.dec), topo);
}

/** Target–Moon distance (degrees) from the Earth's centre. */
export function moonDistanceGeocentric(ra: number, dec: number, t: Date): number {
  const moon = moonRaDec(t);
  const p = precess(ra, dec, t);
  return angle(toVec(p.ra, p.dec), toVec(moon.ra, moon.dec));
}

/** Target–Sun distance (degrees) from the Earth's centre. */
export function sunDistance(ra: number, dec: number, t: Date): number {
  const s = sunRaDec(t);
  const p = precess(ra, dec, t);
  return angle(toVec(p.ra, p.dec), toVec(s.ra, s.dec));
}
