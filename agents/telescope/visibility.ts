/**
 * Where things are in the telescope's sky, from astronomy-engine: target altitude
 * and airmass, Sun altitude, target–Moon distance, and the next stretch of time
 * within a window when all observing constraints hold (stepping, then bisection
 * on each edge to one second).
 *
 * Targets are ICRS (≈ J2000 mean equator, the frame of VOEvent positions) in
 * degrees. Target altitudes are topocentric and, with `refraction`, apparent
 * (Saemundsson's formula as astronomy-engine applies it); the Sun's is geometric. Airmass is sec z (plane-parallel),
 * the quantity observatory schedulers such as LCO's compare with max_airmass.
 */
import {
  AngleBetween, Body, Equator, GeoVector, Horizon, HorizonFromVector, MakeTime, Observer, RotateVector, Rotation_EQJ_HOR,
  Spherical, VectorFromSphere, type AstroTime,
} from 'astronomy-engine';
import type { Observability, Site } from './rules.ts';

export interface SkyTarget {
  /** ICRS right ascension, degrees. */
  ra: number;
  /** ICRS declination, degrees. */
  dec: number;
}

export interface Conditions {
  at: Date;
  /** Target altitude, degrees (apparent when refraction is on). */
  altitude: number;
  /** Target azimuth, degrees east of north. */
  azimuth: number;
  /** sec z, Infinity at or below the horizon. */
  airmass: number;
  sunAltitude: number;
  moonDistance: number;
  ok: { altitude: boolean; sun: boolean; moon: boolean };
  visible: boolean;
}

export type Limits = Pick<Observability, 'minAltitude' | 'maxSunAltitude' | 'minMoonDistance' | 'refraction'>;

const RAD = Math.PI / 180;

/** Plane-parallel airmass sec z for an altitude in degrees. */
export function airmass(altitudeDeg: number): number {
  return altitudeDeg <= 0 ? Infinity : 1 / Math.sin(altitudeDeg * RAD);
}

function observerOf(site: Site): Observer {
  return new Observer(site.latitude, site.longitude, site.elevation);
}

function time(t: Date): AstroTime {
  return MakeTime(t);
}

/** Below this geometric altitude (degrees) no refraction is added: the target is under the horizon. */
export const REFRACTION_FLOOR = -1;

/**
 * Target altitude and azimuth (degrees) seen from the site at t. With `refraction`, the
 * apparent altitude (astronomy-engine's "normal" refraction) for targets at or above
 * REFRACTION_FLOOR; a target further below the horizon keeps its geometric altitude
 * (refraction bends light that reaches the observer; astronomy-engine would otherwise
 * lift a target at −17.3° to −16.8°, which means nothing and is not what anyone reads).
 */
export function targetAltAz(site: Site, target: SkyTarget, t: Date, refraction = true): { altitude: number; azimuth: number } {
  const at = time(t);
  const vec = RotateVector(Rotation_EQJ_HOR(at, observerOf(site)), VectorFromSphere(new Spherical(target.dec, target.ra, 1), at));
  const geometric = HorizonFromVector(vec, null as unknown as string);
  const hor = refraction && geometric.lat >= REFRACTION_FLOOR ? HorizonFromVector(vec, 'normal') : geometric;
  return { altitude: hor.lat, azimuth: hor.lon };
}

/**
 * Geometric altitude of the Sun's centre (degrees) seen from the site at t. Twilight
 * (civil −6°, nautical −12°, astronomical −18°) is defined on this altitude, without
 * refraction (astronomy-engine's "normal" refraction would add ~0.6° at −12°).
 */
export function sunAltitude(site: Site, t: Date): number {
  const at = time(t);
  const obs = observerOf(site);
  const eq = Equator(Body.Sun, at, obs, true, true);
  return Horizon(at, obs, eq.ra, eq.dec).altitude;
}

/**
 * Angular distance (degrees) between the target and the Sun or Moon, seen from the
 * site at t (geocentric when no site is given: what mission notices quote).
 */
export function bodyDistance(body: 'Sun' | 'Moon', target: SkyTarget, t: Date, site?: Site): number {
  const at = time(t);
  const vec = site ? Equator(Body[body], at, observerOf(site), false, true).vec : GeoVector(Body[body], at, true);
  return AngleBetween(VectorFromSphere(new Spherical(target.dec, target.ra, 1), at), vec);
}

/** Angular distance (degrees) between the target and the Moon as seen from the site at t. */
export function moonDistance(site: Site, target: SkyTarget, t: Date): number {
  return bodyDistance('Moon', target, t, site);
}

/** Every constraint at one instant. */
export function conditionsAt(site: Site, target: SkyTarget, t: Date, limits: Limits): Conditions {
  const { altitude, azimuth } = targetAltAz(site, target, t, limits.refraction);
  const sun = sunAltitude(site, t);
  const moon = moonDistance(site, target, t);
  const ok = { altitude: altitude >= limits.minAltitude, sun: sun <= limits.maxSunAltitude, moon: moon >= limits.minMoonDistance };
  return { at: t, altitude, azimuth, airmass: airmass(altitude), sunAltitude: sun, moonDistance: moon, ok, visible: ok.altitude && ok.sun && ok.moon };
}

/** Whether the target is observable at t (cheapest constraint first). */
export function isVisible(site: Site, target: SkyTarget, t: Date, limits: Limits): boolean {
  if (targetAltAz(site, target, t, limits.refraction).altitude < limits.minAltitude) return false;
  if (sunAltitude(site, t) > limits.maxSunAltitude) return false;
  return limits.minMoonDistance <= 0 || moonDistance(site, target, t) >= limits.minMoonDistance;
}

export interface VisibilityWindow {
  /** First observable instant in [from, to]. */
  start: Date;
  /** First instant after start when it stops being observable, or `to`. */
  end: Date;
  /** Observable at `from` itself. */
  now: boolean;
  /** Conditions at start. */
  atStart: Conditions;
}

export interface VisibilitySearch {
  window?: VisibilityWindow;
  /** Why nothing was found (when window is undefined). */
  reason?: string;
  /** Extremes seen while stepping through [from, to]. */
  stats: { maxAltitude: number; minSunAltitude: number; samples: number };
}

const PRECISION_MS = 1000;

/** Bisect between a (state !want) and b (state want) to PRECISION_MS; returns the first instant with state want. */
function bisect(a: number, b: number, want: boolean, f: (t: number) => boolean): number {
  while (b - a > PRECISION_MS) {
    const mid = Math.floor((a + b) / 2);
    if (f(mid) === want) b = mid;
    else a = mid;
  }
  return b;
}

/**
 * The first stretch in [from, to] during which every constraint holds (and which lasts
 * at least minDuration, unless it runs into `to`). Sampling every `step`, then bisecting
 * each edge: stretches shorter than a step between two samples can be missed, so keep
 * the step well below the shortest stretch that matters (5 minutes is the default).
 */
export function findVisibility(site: Site, target: SkyTarget, from: Date, to: Date, limits: Limits & { step: number; minDuration?: number }): VisibilitySearch {
  const f = (t: number) => isVisible(site, target, new Date(t), limits);
  const t0 = from.getTime();
  const t1 = to.getTime();
  const step = Math.max(PRECISION_MS, limits.step);
  const minDuration = limits.minDuration ?? 0;
  const stats = { maxAltitude: -90, minSunAltitude: 90, samples: 0 };
  let altOkInDark = false;
  let altOk = false;
  const sample = (t: number): boolean => {
    const c = conditionsAt(site, target, new Date(t), limits);
    stats.samples++;
    stats.maxAltitude = Math.max(stats.maxAltitude, c.altitude);
    stats.minSunAltitude = Math.min(stats.minSunAltitude, c.sunAltitude);
    if (c.ok.altitude) altOk = true;
    if (c.ok.altitude && c.ok.sun) altOkInDark = true;
    return c.visible;
  };
  if (t1 < t0) return { reason: 'the observing window has closed', stats };

  let t = t0;
  let start: number | undefined = sample(t0) ? t0 : undefined;
  for (;;) {
    if (start === undefined) {
      // Not observable at t: step forward to the next rising edge.
      if (t >= t1) break;
      const next = Math.min(t + step, t1);
      if (sample(next)) start = bisect(t, next, true, f);
      t = next;
      continue;
    }
    // Observable from start through t: step forward to the setting edge.
    let end = t1;
    while (t < t1) {
      const next = Math.min(t + step, t1);
      if (!sample(next)) {
        end = bisect(t, next, false, f);
        break;
      }
      t = next;
    }
    if (end - start >= minDuration) {
      return { window: { start: new Date(start), end: new Date(end), now: start === t0, atStart: conditionsAt(site, target, new Date(start), limits) }, stats };
    }
    if (end >= t1) break;
    start = undefined;
    t = end;
  }
  let reason: string;
  if (!altOk) reason = `the target stays below ${limits.minAltitude.toFixed(1)}° (highest ${stats.maxAltitude.toFixed(1)}°)`;
  else if (!altOkInDark) reason = `the target is above ${limits.minAltitude.toFixed(1)}° only while the Sun is above ${limits.maxSunAltitude}°`;
  else if (minDuration > 0) reason = `no observable stretch of at least ${Math.round(minDuration / 60000)} min (altitude, Sun and Moon limits together)`;
  else reason = `the target is within ${limits.minMoonDistance}° of the Moon whenever it is high enough in a dark sky`;
  return { reason: `not observable before the window closes at ${new Date(t1).toISOString()}: ${reason}`, stats };
}
