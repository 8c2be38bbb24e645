/**
 * The sky view: where an alert's localisation comes from (an igwn.gwalert's
 * base64 multi-order FITS, a VOEvent's sky-map URL, a VOEvent error circle),
 * reading it with sky/ (the same HEALPix and FITS code the crossmatch agent
 * uses), and drawing it on a Mollweide all-sky projection with its 50 % and
 * 90 % credible contours, the alert's position and the crossmatch agent's top
 * galaxies. The drawing is an RGBA pixel buffer (pure, testable without a
 * browser); the page puts it on a canvas.
 */
import { readSkyMapBytes } from '../../sky/readers.ts';
import { circleSkyMap } from '../../sky/circle.ts';
import { isGzip } from '../../sky/fits.ts';
import { radec2nest29Bulk } from '../../sky/healpix.ts';
import type { SkyMap } from '../../sky/skymap.ts';
import { lvk } from '../../voevent/missions.ts';
import type { Alert } from './alert.ts';

export type Localisation =
  | { kind: 'circle'; ra: number; dec: number; radius: number; containment?: number }
  | { kind: 'base64'; data: string; name?: string }
  | { kind: 'url'; url: string };

/**
 * Where the alert's localisation is, best first: a sky map carried in the alert,
 * a sky-map URL (which the browser may be unable to fetch), an error circle.
 */
export function localisationsOf(a: Alert): Localisation[] {
  const out: Localisation[] = [];
  const web = (u: string | undefined) => (u && /^https?:\/\//i.test(u) ? u : undefined);
  if (a.kind === 'json' && a.json) {
    const j = a.json;
    const ev = j.event as Record<string, unknown> | undefined;
    const sky = ev && typeof ev.skymap === 'string' ? ev.skymap : undefined;
    if (sky) out.push({ kind: 'base64', data: sky, ...(typeof j.superevent_id === 'string' ? { name: j.superevent_id } : {}) });
    const url = web(typeof j.healpix_url === 'string' ? j.healpix_url : undefined);
    if (url) out.push({ kind: 'url', url });
    // GCN JSON notices: ra_dec_error with its containment_probability (default 90 %)
    const err = typeof j.ra_dec_error === 'number' ? j.ra_dec_error : undefined;
    const cp = typeof j.containment_probability === 'number' && j.containment_probability > 0 && j.containment_probability < 1 ? j.containment_probability : 0.9;
    if (typeof j.ra === 'number' && typeof j.dec === 'number' && err && err > 0) out.push({ kind: 'circle', ra: j.ra, dec: j.dec, radius: Math.min(err, 180), containment: cp });
  } else if (a.voevent) {
    // LVK's skymap_fits Param, without the ",0" HDU suffix LVK appends
    const url = web(lvk(a.voevent)?.skymapUrl?.trim().replace(/,\d+$/, ''));
    if (url) out.push({ kind: 'url', url });
    const p = a.voevent.whereWhen?.position;
    if (p && p.error > 0 && !(p.ra === 0 && p.dec === 0)) out.push({ kind: 'circle', ra: p.ra, dec: p.dec, radius: Math.min(p.error, 180) });
  }
  return out;
}

/** The preferred localisation of the alert, if it has one. */
export function localisationOf(a: Alert): Localisation | undefined {
  return localisationsOf(a)[0];
}

function base64Bytes(b64: string): Uint8Array {
  const bin = atob(b64.replace(/\s+/g, ''));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Reads the localisation into a sky map (error circles as a Fisher profile holding `containment`, default 90 %, inside the radius). */
export async function loadSkyMap(loc: Localisation, fetchFn: typeof fetch = fetch): Promise<SkyMap> {
  if (loc.kind === 'circle') return circleSkyMap({ ra: loc.ra, dec: loc.dec, radius: loc.radius, containment: loc.containment ?? 0.9 });
  let bytes: Uint8Array;
  if (loc.kind === 'base64') bytes = base64Bytes(loc.data);
  else {
    const r = await fetchFn(loc.url, { signal: AbortSignal.timeout(30_000) });
    if (!r.ok) throw new Error(`sky map ${loc.url}: HTTP ${r.status}`);
    bytes = new Uint8Array(await r.arrayBuffer());
  }
  if (isGzip(bytes)) bytes = await gunzip(bytes);
  return readSkyMapBytes(bytes, { source: loc.kind === 'url' ? loc.url : loc.name });
}

// ------------------------------------------------------------------ projections

const SQRT2 = Math.SQRT2;
const RAD = Math.PI / 180;

/** Canvas pixel ↔ sky position; unproject gives undefined off the projection. */
export interface Projection {
  readonly width: number;
  readonly height: number;
  unproject(px: number, py: number): { ra: number; dec: number } | undefined;
  project(ra: number, dec: number): { x: number; y: number };
  /** Graticule spacing in degrees. */
  readonly gridStep: number;
}

/**
 * Astronomical Mollweide (equal-area all-sky): RA 180° at the centre, RA
 * increasing to the left (east left, as the sky is seen), Dec up. The ellipse
 * fills width × height with width = 2 height.
 */
export class Mollweide implements Projection {
  readonly gridStep = 30;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {}

  unproject(px: number, py: number): { ra: number; dec: number } | undefined {
    const x = ((px + 0.5) / this.width - 0.5) * 4 * SQRT2;
    const y = (0.5 - (py + 0.5) / this.height) * 2 * SQRT2;
    if ((x * x) / 8 + (y * y) / 2 > 1 + 1e-9) return undefined;
    const theta = Math.asin(Math.max(-1, Math.min(1, y / SQRT2)));
    const dec = Math.asin(Math.max(-1, Math.min(1, (2 * theta + Math.sin(2 * theta)) / Math.PI)));
    const lon = Math.max(-Math.PI, Math.min(Math.PI, (Math.PI * x) / (2 * SQRT2 * Math.cos(theta))));
    if (!Number.isFinite(lon)) return undefined;
    const ra = (((180 - lon / RAD) % 360) + 360) % 360;
    return { ra, dec: dec / RAD };
  }

  project(ra: number, dec: number): { x: number; y: number } {
    const phi = dec * RAD;
    let lon = (180 - ra) * RAD;
    lon = Math.atan2(Math.sin(lon), Math.cos(lon));
    let t = phi;
    if (Math.abs(phi) < Math.PI / 2 - 1e-9) {
      for (let i = 0; i < 50; i++) {
        const d = -(2 * t + Math.sin(2 * t) - Math.PI * Math.sin(phi)) / (2 + 2 * Math.cos(2 * t));
        t += d;
        if (Math.abs(d) < 1e-10) break;
      }
    }
    const x = ((2 * SQRT2) / Math.PI) * lon * Math.cos(t);
    const y = SQRT2 * Math.sin(t);
    return { x: (x / (4 * SQRT2) + 0.5) * this.width - 0.5, y: (0.5 - y / (2 * SQRT2)) * this.height - 0.5 };
  }
}

/**
 * A zoom on one place of the sky: the gnomonic (tangent-plane) projection
 * centred on (ra0, dec0), `fov` degrees across the width, east left, north up.
 */
export class Gnomonic implements Projection {
  readonly gridStep: number;
  private readonly scale: number;
  constructor(
    readonly width: number,
    readonly height: number,
    readonly ra0: number,
    readonly dec0: number,
    readonly fov: number,
  ) {
    this.scale = width / (2 * Math.tan((fov / 2) * RAD));
    const steps = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30];
    this.gridStep = steps.find((s) => fov / s <= 8) ?? 30;
  }

  unproject(px: number, py: number): { ra: number; dec: number } {
    const x = -(px + 0.5 - this.width / 2) / this.scale;
    const y = (this.height / 2 - py - 0.5) / this.scale;
    const d0 = this.dec0 * RAD;
    const rho = Math.hypot(x, y);
    const c = Math.atan(rho);
    const dec = rho === 0 ? d0 : Math.asin(Math.cos(c) * Math.sin(d0) + (y * Math.sin(c) * Math.cos(d0)) / rho);
    const ra = this.ra0 * RAD + Math.atan2(x * Math.sin(c), rho * Math.cos(d0) * Math.cos(c) - y * Math.sin(d0) * Math.sin(c));
    return { ra: (((ra / RAD) % 360) + 360) % 360, dec: dec / RAD };
  }

  project(ra: number, dec: number): { x: number; y: number } {
    const d0 = this.dec0 * RAD;
    const d = dec * RAD;
    const dra = (ra - this.ra0) * RAD;
    const cosc = Math.sin(d0) * Math.sin(d) + Math.cos(d0) * Math.cos(d) * Math.cos(dra);
    if (cosc <= 0) return { x: -1e9, y: -1e9 }; // behind the tangent plane
    const x = (Math.cos(d) * Math.sin(dra)) / cosc;
    const y = (Math.cos(d0) * Math.sin(d) - Math.sin(d0) * Math.cos(d) * Math.cos(dra)) / cosc;
    return { x: this.width / 2 - x * this.scale - 0.5, y: this.height / 2 - y * this.scale - 0.5 };
  }
}

/** A zoom that shows the whole 90 % region (or the error circle) with room around it. */
export function zoomOn(map: SkyMap, width: number, height: number): Gnomonic {
  const c = map.densest();
  const r90 = Math.sqrt(map.credibleArea(0.9) / Math.PI); // radius of a disc of that area, deg
  // the region may be elongated: take its farthest tile from the peak as well
  const tiles = map.credibleTiles(0.9);
  let far = 0;
  for (let k = 0; k < tiles.length; k += Math.max(1, Math.floor(tiles.length / 2000))) {
    const t = map.tileCentre(tiles[k]!);
    far = Math.max(far, angularDistanceDeg(c.ra, c.dec, t.ra, t.dec));
  }
  const fov = Math.min(120, Math.max(0.05, 2.6 * Math.max(r90, far)));
  return new Gnomonic(width, height, c.ra, c.dec, fov);
}

function angularDistanceDeg(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const s = Math.sin(((dec2 - dec1) * RAD) / 2) ** 2 + Math.cos(dec1 * RAD) * Math.cos(dec2 * RAD) * Math.sin(((ra2 - ra1) * RAD) / 2) ** 2;
  return (2 * Math.asin(Math.min(1, Math.sqrt(s)))) / RAD;
}

export type Marker = { ra: number; dec: number; kind: 'position' | 'galaxy' };

export const COLOURS = {
  background: [255, 255, 255, 0],
  sky: [18, 24, 48, 255],
  grid: [60, 72, 110, 255],
  contour50: [255, 255, 255, 255],
  contour90: [255, 214, 0, 255],
  position: [0, 230, 255, 255],
  galaxy: [255, 64, 160, 255],
} as const;

/** A perceptual ramp for probability density (dark violet → orange → pale yellow), 0..1. */
function ramp(t: number): [number, number, number] {
  const stops: [number, number, number, number][] = [
    [0, 60, 20, 110],
    [0.35, 170, 40, 110],
    [0.7, 245, 120, 40],
    [1, 255, 245, 170],
  ];
  for (let i = 1; i < stops.length; i++) {
    const [t1, r1, g1, b1] = stops[i]!;
    const [t0, r0, g0, b0] = stops[i - 1]!;
    if (t <= t1) {
      const f = (t - t0) / (t1 - t0);
      return [r0 + f * (r1 - r0), g0 + f * (g1 - g0), b0 + f * (b1 - b0)];
    }
  }
  return [255, 245, 170];
}

export type Drawing = {
  width: number;
  height: number;
  rgba: Uint8ClampedArray;
  /** Credible level (searched probability, 0..1) under each pixel; NaN outside the sky or the map. */
  level: Float32Array;
  projection: Projection;
};

/**
 * Draws the sky map through a projection: pixels of the 90 % credible region
 * coloured by probability density (square root, relative to the densest pixel
 * drawn), the 50 % and 90 % contours as lines, a graticule, then markers.
 */
export function drawSky(proj: Projection, map: SkyMap | undefined, markers: Marker[] = []): Drawing {
  const { width, height } = proj;
  const n = width * height;
  const rgba = new Uint8ClampedArray(n * 4);
  const level = new Float32Array(n).fill(NaN);
  const ras: number[] = [];
  const decs: number[] = [];
  const where: number[] = [];
  const step = proj.gridStep;
  for (let py = 0; py < height; py++) {
    for (let px = 0; px < width; px++) {
      const p = proj.unproject(px, py);
      const i = py * width + px;
      if (!p) {
        rgba.set(COLOURS.background, i * 4);
        continue;
      }
      rgba.set(COLOURS.sky, i * 4);
      ras.push(p.ra);
      decs.push(p.dec);
      where.push(i);
    }
  }
  // graticule: a pixel whose RA or Dec crosses a multiple of the step between it and its right/lower neighbour
  const cell = (v: number) => Math.floor(v / step);
  for (let k = 0; k < where.length; k++) {
    const i = where[k]!;
    const px = i % width;
    const py = (i - px) / width;
    for (const [qx, qy] of [[px + 1, py], [px, py + 1]] as const) {
      if (qx >= width || qy >= height) continue;
      const q = proj.unproject(qx, qy);
      if (!q) continue;
      const dra = Math.abs(q.ra - ras[k]!);
      const crossRa = dra < 180 && cell(q.ra) !== cell(ras[k]!) && Math.abs(decs[k]!) < 89;
      if (crossRa || cell(q.dec) !== cell(decs[k]!)) rgba.set(COLOURS.grid, i * 4);
    }
  }
  if (map) {
    const hi = new Uint32Array(ras.length);
    const lo = new Uint32Array(ras.length);
    radec2nest29Bulk(ras, decs, hi, lo);
    const tiles = map.locate(hi, lo);
    const { searchedProb } = map.ranking();
    let maxDensity = 0;
    for (let k = 0; k < tiles.length; k++) if (tiles[k]! >= 0) maxDensity = Math.max(maxDensity, map.probdensity[tiles[k]!]!);
    for (let k = 0; k < tiles.length; k++) {
      const t = tiles[k]!;
      if (t < 0) continue;
      const i = where[k]!;
      const sp = searchedProb[t]!;
      level[i] = sp;
      if (sp <= 0.9 && maxDensity > 0) {
        const [r, g, b] = ramp(Math.sqrt(map.probdensity[t]! / maxDensity));
        rgba[i * 4] = r;
        rgba[i * 4 + 1] = g;
        rgba[i * 4 + 2] = b;
        rgba[i * 4 + 3] = 255;
      }
    }
    // contours: a pixel inside a level with a neighbour outside it
    for (let i = 0; i < n; i++) {
      const l = level[i]!;
      if (Number.isNaN(l)) continue;
      const px = i % width;
      for (const [cl, colour] of [[0.9, COLOURS.contour90], [0.5, COLOURS.contour50]] as const) {
        if (l > cl) continue;
        const outside = (j: number) => {
          const m = level[j];
          return m !== undefined && !Number.isNaN(m) && m > cl;
        };
        if ((px + 1 < width && outside(i + 1)) || (px > 0 && outside(i - 1)) || outside(i + width) || outside(i - width)) rgba.set(colour, i * 4);
      }
    }
  }
  for (const m of markers) drawMarker(rgba, width, height, proj.project(m.ra, m.dec), m.kind);
  return { width, height, rgba, level, projection: proj };
}

/** The all-sky drawing (Mollweide). */
export function drawMollweide(width: number, height: number, map: SkyMap | undefined, markers: Marker[] = []): Drawing {
  return drawSky(new Mollweide(width, height), map, markers);
}

function drawMarker(rgba: Uint8ClampedArray, w: number, h: number, c: { x: number; y: number }, kind: Marker['kind']): void {
  const colour = kind === 'position' ? COLOURS.position : COLOURS.galaxy;
  const put = (x: number, y: number) => {
    const xi = Math.round(x);
    const yi = Math.round(y);
    if (xi >= 0 && yi >= 0 && xi < w && yi < h) rgba.set(colour, (yi * w + xi) * 4);
  };
  if (kind === 'position') {
    // a ring of radius 7 px with a cross hair gap
    for (let a = 0; a < 360; a += 2) put(c.x + 7 * Math.cos((a * Math.PI) / 180), c.y + 7 * Math.sin((a * Math.PI) / 180));
    for (let d = 3; d <= 11; d++) {
      if (d === 7) continue;
      put(c.x + d, c.y);
      put(c.x - d, c.y);
      put(c.x, c.y + d);
      put(c.x, c.y - d);
    }
  } else {
    for (let dx = -2; dx <= 2; dx++) for (let dy = -2; dy <= 2; dy++) if (Math.abs(dx) + Math.abs(dy) <= 2) put(c.x + dx, c.y + dy);
  }
}

/** The crossmatch agent's top galaxies in its JSON result (result.galaxies.top[]). */
export function topGalaxies(doc: Record<string, unknown> | undefined): { id: string; ra: number; dec: number; distance?: number; searchedProb?: number }[] {
  const top = ((doc?.result as Record<string, unknown> | undefined)?.galaxies as Record<string, unknown> | undefined)?.top;
  if (!Array.isArray(top)) return [];
  return top
    .filter((g): g is Record<string, unknown> => !!g && typeof g === 'object' && typeof g.ra === 'number' && typeof g.dec === 'number')
    .map((g) => ({
      id: String(g.id ?? g.name ?? ''),
      ra: g.ra as number,
      dec: g.dec as number,
      ...(typeof g.distance === 'number' ? { distance: g.distance } : {}),
      ...(typeof g.searchedProb === 'number' ? { searchedProb: g.searchedProb } : {}),
    }));
}
