/**
 * Telescope geometry (agents/telescope/visibility.ts, astronomy-engine) checked
 * against a second method (test/telescope-geometry.ts: Meeus' sidereal time and
 * precession, the Almanac's low-precision Sun and Moon), against the Sun and Moon
 * angles SVOM's ground segment put in its own notices, and against a sidereal
 * time worked by hand in Meeus' book.
 */
import { describe, expect, it } from 'vitest';
import { airmass, bodyDistance, conditionsAt, findVisibility, moonDistance, sunAltitude, targetAltAz } from '../agents/telescope/visibility.ts';
import { paramNumber } from '../voevent/index.ts';
import * as G from './telescope-geometry.ts';
import { PACKETS, SITES, packet } from './telescope-helpers.ts';

/** Saemundsson's refraction (arcmin → degrees) for a true altitude h, Meeus eq. 16.4. */
const refraction = (h: number) => 1.02 / Math.tan(((h + 10.3 / (h + 5.11)) * Math.PI) / 180) / 60;

/** A small deterministic PRNG (mulberry32) so the sampled cases are the same on every run. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the second method itself', () => {
  it('reproduces Meeus example 12.b: GMST on 1987 April 10 at 19:21:00 UT is 8h34m57.0896s', () => {
    const deg = G.gmst(new Date('1987-04-10T19:21:00Z'));
    const seconds = (deg / 15) * 3600;
    expect(seconds).toBeCloseTo(8 * 3600 + 34 * 60 + 57.0896, 2);
  });

  it('reproduces Meeus example 25.a: the Sun on 1992 October 13.0 TD at RA 198.38083°, Dec −7.78507°', () => {
    // TD − UT ≈ 59 s in 1992; the low-accuracy method is good to 0.01°.
    const s = G.sunRaDec(new Date(Date.UTC(1992, 9, 13, 0, 0, 0) - 59_000));
    expect(s.ra).toBeCloseTo(198.38083, 2);
    expect(s.dec).toBeCloseTo(-7.78507, 2);
  });
});

describe('target altitude', () => {
  it('Swift trigger 1125809 at Kitt Peak, 2022-09-30 11:12:20 UTC: near transit, by hand', () => {
    // By hand: GMST = 280.46061837° + 360.98564736629° × (JD − 2451545) → 11h 46m;
    // LMST = GMST − 111.5967° → 4h 20.1m; the burst's RA of date 64.96° = 4h 19.8m,
    // so the hour angle is ≈ +0.3 min: on the meridian, altitude ≈ 90° − |φ − δ| ≈ 90 − 18.4 = 71.6°.
    const t = new Date('2022-09-30T11:12:20Z');
    const lmstHours = G.lmst(t, SITES.kittPeak.longitude) / 15;
    expect(lmstHours).toBeCloseTo(4 + 20.1 / 60, 1);
    const byHand = 90 - Math.abs(SITES.kittPeak.latitude - G.precess(64.7373, 13.3517, t).dec);
    const alt = targetAltAz(SITES.kittPeak, { ra: 64.7373, dec: 13.3517 }, t, false).altitude;
    expect(Math.abs(alt - byHand)).toBeLessThan(0.05);
  });

  it('agrees with Meeus sidereal time + precession within 0.01° over 200 sampled sites, times and targets', () => {
    const rnd = prng(20260511);
    let worst = 0;
    for (let i = 0; i < 200; i++) {
      const site = { latitude: -60 + 120 * rnd(), longitude: -180 + 360 * rnd(), elevation: 3000 * rnd() };
      const target = { ra: 360 * rnd(), dec: -80 + 160 * rnd() };
      const t = new Date(Date.UTC(2015, 0, 1) + rnd() * 15 * 365.25 * 86400_000);
      const a = targetAltAz(site, target, t, false).altitude;
      const b = G.targetAltitude(target.ra, target.dec, site.latitude, site.longitude, t);
      worst = Math.max(worst, Math.abs(a - b));
    }
    // What is left is nutation and aberration, which the second method leaves out.
    expect(worst).toBeLessThan(0.01);
  });

  it('adds Saemundsson refraction when asked', () => {
    const t = new Date('2022-10-01T00:41:03Z');
    const geo = targetAltAz(SITES.laPalma, { ra: 64.7373, dec: 13.3517 }, t, false).altitude;
    const app = targetAltAz(SITES.laPalma, { ra: 64.7373, dec: 13.3517 }, t, true).altitude;
    expect(app - geo).toBeCloseTo(refraction(geo), 3);
    expect(app - geo).toBeGreaterThan(0.02); // ≈ 1.7′ at 30°
  });

  it('adds no refraction to a target below the horizon (issue 20: −17.31° stayed −17.31°, not −16.78°)', () => {
    // Scan a night for a target that sets: below REFRACTION_FLOOR apparent = geometric, above it apparent > geometric.
    let below = 0;
    let above = 0;
    for (let m = 0; m < 24 * 60; m += 20) {
      const t = new Date(Date.UTC(2022, 9, 1) + m * 60_000);
      const geo = targetAltAz(SITES.laPalma, { ra: 64.7373, dec: 13.3517 }, t, false).altitude;
      const app = targetAltAz(SITES.laPalma, { ra: 64.7373, dec: 13.3517 }, t, true).altitude;
      if (geo < -1) {
        expect(app).toBe(geo);
        below++;
      } else if (geo > 0) {
        expect(app).toBeGreaterThan(geo);
        above++;
      }
    }
    expect(below).toBeGreaterThan(10);
    expect(above).toBeGreaterThan(10);
  });

  it('airmass is sec z', () => {
    expect(airmass(90)).toBeCloseTo(1, 12);
    expect(airmass(30)).toBeCloseTo(2, 12);
    expect(airmass(0)).toBe(Infinity);
    expect(airmass(-5)).toBe(Infinity);
  });
});

describe('Sun and Moon', () => {
  it('Sun altitude agrees with Meeus ch. 25 within 0.02° over 200 samples', () => {
    const rnd = prng(7);
    let worst = 0;
    for (let i = 0; i < 200; i++) {
      const site = { latitude: -60 + 120 * rnd(), longitude: -180 + 360 * rnd(), elevation: 0 };
      const t = new Date(Date.UTC(2018, 0, 1) + rnd() * 10 * 365.25 * 86400_000);
      worst = Math.max(worst, Math.abs(sunAltitude(site, t) - G.sunAltitude(site.latitude, site.longitude, t)));
    }
    expect(worst).toBeLessThan(0.02);
  });

  it('target–Moon distance agrees with the Almanac low-precision Moon (topocentric) within 0.5°', () => {
    const rnd = prng(11);
    let worst = 0;
    for (let i = 0; i < 200; i++) {
      const site = { latitude: -60 + 120 * rnd(), longitude: -180 + 360 * rnd(), elevation: 0 };
      const target = { ra: 360 * rnd(), dec: -80 + 160 * rnd() };
      const t = new Date(Date.UTC(2018, 0, 1) + rnd() * 10 * 365.25 * 86400_000);
      worst = Math.max(worst, Math.abs(moonDistance(site, target, t) - G.moonDistance(target.ra, target.dec, site.latitude, site.longitude, t)));
    }
    expect(worst).toBeLessThan(0.5);
  });

  it.each([
    [PACKETS.svomWakeup, 'sb26051101'],
    [PACKETS.svomWakeupRetracted, 'sb26030408'],
  ])('matches the Moon_Angle and Sun_Angle SVOM computed for %s (%s)', (file, _burst) => {
    const ev = packet(file);
    const pos = ev.whereWhen!.position!;
    const t = new Date(ev.whereWhen!.time!.iso! + 'Z');
    // SVOM quotes two decimals, seen from the satellite in low Earth orbit (≲ 0.1° of lunar parallax).
    expect(Math.abs(bodyDistance('Moon', pos, t) - paramNumber(ev, 'Moon_Angle')!)).toBeLessThan(0.15);
    expect(Math.abs(bodyDistance('Sun', pos, t) - paramNumber(ev, 'Sun_Angle')!)).toBeLessThan(0.02);
  });
});

describe('findVisibility', () => {
  const limits = { minAltitude: 30, maxSunAltitude: -12, minMoonDistance: 30, refraction: true, step: 300_000 };
  const burst = { ra: 64.7373, dec: 13.3517 }; // Swift 1125809

  it('Kitt Peak at the Swift trigger: observable at once, until nautical dawn', () => {
    const from = new Date('2022-09-30T11:12:20Z');
    const r = findVisibility(SITES.kittPeak, burst, from, new Date(from.getTime() + 12 * 3600_000), limits);
    expect(r.window?.now).toBe(true);
    expect(r.window!.start).toEqual(from);
    const end = r.window!.end;
    // The second method puts the Sun's centre at −12° within a few seconds of the window's end.
    const before = G.sunAltitude(SITES.kittPeak.latitude, SITES.kittPeak.longitude, new Date(end.getTime() - 20_000));
    const after = G.sunAltitude(SITES.kittPeak.latitude, SITES.kittPeak.longitude, new Date(end.getTime() + 20_000));
    expect(before).toBeLessThan(-12);
    expect(after).toBeGreaterThan(-12);
    // Sunrise at Kitt Peak that day is about 13:16 UTC (06:16 MST); nautical dawn comes some 50 minutes earlier.
    expect(end.getTime()).toBeGreaterThan(Date.parse('2022-09-30T12:15Z'));
    expect(end.getTime()).toBeLessThan(Date.parse('2022-09-30T12:40Z'));
  });

  it('La Palma at the Swift trigger (late morning): the window opens when the burst climbs through 30° that night', () => {
    const from = new Date('2022-09-30T11:12:20Z');
    const r = findVisibility(SITES.laPalma, burst, from, new Date(from.getTime() + 24 * 3600_000), limits);
    expect(r.window?.now).toBe(false);
    const start = r.window!.start;
    // Independently: the geometric altitude plus refraction crosses 30° within 5 s of the start.
    const apparent = (t: Date) => {
      const h = G.targetAltitude(burst.ra, burst.dec, SITES.laPalma.latitude, SITES.laPalma.longitude, t);
      return h + refraction(h);
    };
    expect(apparent(new Date(start.getTime() - 5_000))).toBeLessThan(30);
    expect(apparent(new Date(start.getTime() + 5_000))).toBeGreaterThan(30);
    // ... at which time the Sun is far below −12° and the Moon far away (so altitude was the limit).
    expect(G.sunAltitude(SITES.laPalma.latitude, SITES.laPalma.longitude, start)).toBeLessThan(-40);
    expect(G.moonDistance(burst.ra, burst.dec, SITES.laPalma.latitude, SITES.laPalma.longitude, start)).toBeGreaterThan(100);
    // The window ends with morning nautical twilight.
    const end = r.window!.end;
    expect(G.sunAltitude(SITES.laPalma.latitude, SITES.laPalma.longitude, new Date(end.getTime() - 20_000))).toBeLessThan(-12);
    expect(G.sunAltitude(SITES.laPalma.latitude, SITES.laPalma.longitude, new Date(end.getTime() + 20_000))).toBeGreaterThan(-12);
  });

  it('explains why nothing was found', () => {
    const from = new Date('2026-05-11T06:14:19Z');
    const to = new Date(from.getTime() + 12 * 3600_000);
    // SVOM sb26051101 at Dec −33.9° never reaches 30° from Kitt Peak (φ = +32°: at most 90 − 65.8 = 24.2°).
    const low = findVisibility(SITES.kittPeak, { ra: 197.9295, dec: -33.8525 }, from, to, limits);
    expect(low.window).toBeUndefined();
    expect(low.reason).toMatch(/stays below 30\.0°/);
    expect(low.stats.maxAltitude).toBeLessThan(24.3);
    // A window that closed is said so.
    expect(findVisibility(SITES.kittPeak, burst, to, from, limits).reason).toMatch(/closed/);
  });

  it('honours min_duration: a stretch shorter than asked for is skipped', () => {
    const from = new Date('2022-09-30T11:12:20Z');
    const to = new Date(from.getTime() + 24 * 3600_000);
    const any = findVisibility(SITES.kittPeak, burst, from, to, limits);
    const first = any.window!.end.getTime() - any.window!.start.getTime();
    const long = findVisibility(SITES.kittPeak, burst, from, to, { ...limits, minDuration: first + 60_000 });
    expect(long.window!.start.getTime()).toBeGreaterThan(any.window!.end.getTime());
    expect(long.window!.end.getTime() - long.window!.start.getTime()).toBeGreaterThanOrEqual(first + 60_000);
  });

  it('conditionsAt reports each constraint', () => {
    const c = conditionsAt(SITES.sidingSpring, { ra: 197.9295, dec: -33.8525 }, new Date('2026-05-11T06:14:19Z'), limits);
    // 16:14 local time in New South Wales: the Sun is up.
    expect(c.ok.sun).toBe(false);
    expect(c.sunAltitude).toBeCloseTo(G.sunAltitude(SITES.sidingSpring.latitude, SITES.sidingSpring.longitude, c.at), 1);
    expect(c.visible).toBe(false);
  });
});
