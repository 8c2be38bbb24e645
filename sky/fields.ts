/**
 * Telescope fields: footprints (DS9 region polygons/circles/boxes drawn around
 * RA = Dec = 0, or simple circles and rectangles), placed on field centres by
 * rotation, rasterised once into MOCs, and the probability of a sky map each
 * field covers (plus the cumulative coverage of a ranked list of fields).
 */
import { type Vec3, angularDistance, mergeNumberRanges, queryDiscNumber, queryPolygonAnyNumber, radec2ang, vec2ang } from './healpix.ts';
import type { Catalog } from './catalog.ts';
import { Moc, mocProbability } from './moc.ts';
import type { SkyMap } from './skymap.ts';
import { POW2 } from './u64.ts';

export class FootprintError extends Error {
  override name = 'FootprintError';
}

const DEG = Math.PI / 180;

/** A footprint relative to its centre at RA = Dec = 0: polygons (vertex offsets in degrees) and circles (radii in degrees). */
export type Footprint = { polygons: { ra: number; dec: number }[][]; circles: number[] };

function offsetRa(ra: number): number {
  return ra > 180 ? ra - 360 : ra;
}

function parseLength(s: string): number {
  const t = s.trim();
  const m = /^([+-]?[\d.eE+-]+)\s*(["'d]?)$/.exec(t);
  if (!m) throw new FootprintError(`bad region length '${s}'`);
  const v = Number(m[1]);
  return m[2] === '"' ? v / 3600 : m[2] === "'" ? v / 60 : v;
}

/**
 * Parses DS9 / astropy-regions text (icrs/fk5 degrees): polygon(...), circle(ra, dec, r),
 * box(ra, dec, w, h[, angle]). Shapes are relative to a field centre at (0, 0).
 */
export function parseRegions(text: string): Footprint {
  const fp: Footprint = { polygons: [], circles: [] };
  for (const raw of text.split(/[\n;]/)) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line || /^(icrs|fk5|fk4|j2000|galactic|image|physical|global)\b/i.test(line)) {
      if (/^(galactic|image|physical)/i.test(line)) throw new FootprintError(`region coordinate system '${line}' is not supported (use icrs/fk5)`);
      continue;
    }
    const m = /^[+-]?\s*(polygon|circle|box)\s*\(([^)]*)\)/i.exec(line);
    if (!m) throw new FootprintError(`unsupported region line '${line}'`);
    const args = m[2]!.split(',').map((s) => s.trim());
    const kind = m[1]!.toLowerCase();
    if (kind === 'polygon') {
      const nums = args.map(Number);
      if (nums.length < 6 || nums.length % 2 || nums.some((v) => !Number.isFinite(v))) throw new FootprintError(`bad polygon '${line}'`);
      const poly: { ra: number; dec: number }[] = [];
      for (let i = 0; i < nums.length; i += 2) poly.push({ ra: offsetRa(nums[i]!), dec: nums[i + 1]! });
      fp.polygons.push(poly);
    } else if (kind === 'circle') {
      if (args.length !== 3) throw new FootprintError(`bad circle '${line}'`);
      const [ra, dec] = [offsetRa(Number(args[0])), Number(args[1])];
      if (Math.abs(ra) > 1e-9 || Math.abs(dec) > 1e-9) throw new FootprintError(`circle regions must be centred on (0, 0): '${line}'`);
      fp.circles.push(parseLength(args[2]!));
    } else {
      if (args.length < 4) throw new FootprintError(`bad box '${line}'`);
      const cx = offsetRa(Number(args[0]));
      const cy = Number(args[1]);
      fp.polygons.push(boxPolygon(parseLength(args[2]!), parseLength(args[3]!), args[4] ? Number(args[4]) : 0, cx, cy));
    }
  }
  if (fp.polygons.length === 0 && fp.circles.length === 0) throw new FootprintError('region file has no polygon, circle or box');
  return fp;
}

function boxPolygon(w: number, h: number, angleDeg: number, cx = 0, cy = 0): { ra: number; dec: number }[] {
  const c = Math.cos(angleDeg * DEG);
  const s = Math.sin(angleDeg * DEG);
  return [
    [-w / 2, -h / 2],
    [w / 2, -h / 2],
    [w / 2, h / 2],
    [-w / 2, h / 2],
  ].map(([x, y]) => ({ ra: cx + x! * c - y! * s, dec: cy + x! * s + y! * c }));
}

export function circleFootprint(radiusDeg: number): Footprint {
  if (!(radiusDeg > 0 && radiusDeg < 90)) throw new FootprintError(`footprint radius must be in (0, 90) degrees, got ${radiusDeg}`);
  return { polygons: [], circles: [radiusDeg] };
}

export function rectangleFootprint(widthDeg: number, heightDeg: number): Footprint {
  if (!(widthDeg > 0 && heightDeg > 0 && widthDeg < 90 && heightDeg < 90)) throw new FootprintError('rectangle sides must be in (0, 90) degrees');
  return { polygons: [boxPolygon(widthDeg, heightDeg, 0)], circles: [] };
}

/** Unit vector of an offset (ra, dec) around (0, 0), rotated so that (0, 0) lands on (ra0, dec0). */
export function rotateOffset(ra: number, dec: number, ra0: number, dec0: number): Vec3 {
  const cd = Math.cos(dec * DEG);
  const x = cd * Math.cos(ra * DEG);
  const y = cd * Math.sin(ra * DEG);
  const z = Math.sin(dec * DEG);
  const cb = Math.cos(dec0 * DEG);
  const sb = Math.sin(dec0 * DEG);
  const x1 = x * cb - z * sb;
  const z1 = x * sb + z * cb;
  const ca = Math.cos(ra0 * DEG);
  const sa = Math.sin(ra0 * DEG);
  return [x1 * ca - y * sa, x1 * sa + y * ca, z1];
}

/** The footprint's polygons placed on a field centre, as RA/Dec vertices (degrees). */
export function footprintAt(fp: Footprint, ra0: number, dec0: number): { ra: number; dec: number }[][] {
  return fp.polygons.map((poly) =>
    poly.map((v) => {
      const a = vec2ang(rotateOffset(v.ra, v.dec, ra0, dec0));
      return { ra: a.phi / DEG, dec: 90 - a.theta / DEG };
    }),
  );
}

/** Ranges (order ≤ 24, as numbers) of the pixels whose centres fall inside the footprint placed at (ra0, dec0). */
function fieldRanges(fp: Footprint, ra0: number, dec0: number, order: number): number[] {
  const all: number[] = [];
  for (const poly of fp.polygons) {
    const vv = poly.map((v) => rotateOffset(v.ra, v.dec, ra0, dec0));
    for (const x of queryPolygonAnyNumber(order, vv)) all.push(x);
  }
  for (const r of fp.circles) {
    const c = vec2ang(rotateOffset(0, 0, ra0, dec0));
    for (const x of queryDiscNumber(order, c.theta, c.phi, r * DEG)) all.push(x);
  }
  return mergeNumberRanges(all);
}

/** MOC of one field: pixels whose centres fall inside the footprint, at `order` (≤ 24). */
export function fieldMoc(fp: Footprint, ra0: number, dec0: number, order: number): Moc {
  const r = fieldRanges(fp, ra0, dec0, order);
  return Moc.fromPixelRanges({ order, ranges: r.map((v) => BigInt(v)) }, order);
}

/**
 * A field grid ready for crossmatching. Footprint MOCs are rasterised lazily
 * (only for fields near a map's probability, see fieldCoverage) and kept.
 */
export class PreparedFields {
  readonly catalog: Catalog;
  readonly footprint: Footprint;
  readonly order: number;
  /** Largest angle (deg) between a field centre and its footprint's edge. */
  readonly boundRadius: number;
  /** Footprint area (sr) at `order` (rasterised at RA = Dec = 0). */
  readonly footprintArea: number;
  private readonly mocCache: (Moc | undefined)[];
  private readonly r24Cache: (Float64Array | undefined)[];
  /** Number of footprints rasterised so far. */
  rasterised = 0;

  constructor(catalog: Catalog, footprint: Footprint, order = 10) {
    if (!(Number.isInteger(order) && order >= 0 && order <= 24)) throw new FootprintError(`field order must be in 0..24, got ${order}`);
    this.catalog = catalog;
    this.footprint = footprint;
    this.order = order;
    let r = 0;
    for (const poly of footprint.polygons) for (const v of poly) r = Math.max(r, angularDistance(0, 0, v.ra, v.dec) / DEG);
    for (const c of footprint.circles) r = Math.max(r, c);
    this.boundRadius = r;
    const cells = fieldRanges(footprint, 0, 0, order);
    let n = 0;
    for (let k = 0; k < cells.length; k += 2) n += cells[k + 1]! - cells[k]!;
    this.footprintArea = n * ((4 * Math.PI) / (12 * 4 ** order));
    this.mocCache = new Array(catalog.size);
    this.r24Cache = new Array(catalog.size);
  }

  get size(): number {
    return this.catalog.size;
  }

  private rasterise(f: number): void {
    const r = fieldRanges(this.footprint, this.catalog.ra[f]!, this.catalog.dec[f]!, this.order);
    this.mocCache[f] = Moc.fromPixelRanges({ order: this.order, ranges: r.map((v) => BigInt(v)) }, this.order);
    const toOrder24 = 4 ** (24 - this.order);
    this.r24Cache[f] = Float64Array.from(r, (v) => v * toOrder24);
    this.rasterised++;
  }

  /** MOC of field f (rasterised on first use). */
  moc(f: number): Moc {
    if (!this.mocCache[f]) this.rasterise(f);
    return this.mocCache[f]!;
  }

  /** Field f's ranges in order-24 units (exact doubles). */
  ranges24(f: number): Float64Array {
    if (!this.r24Cache[f]) this.rasterise(f);
    return this.r24Cache[f]!;
  }

  /** Rasterises every field now (e.g. at start-up, to make later crossmatches uniform in time). */
  rasteriseAll(): this {
    for (let f = 0; f < this.size; f++) if (!this.r24Cache[f]) this.rasterise(f);
    return this;
  }
}

/** Prepares a field grid (order 10 ≈ 3.4′ cells by default). */
export function prepareFields(catalog: Catalog, footprint: Footprint, order = 10): PreparedFields {
  return new PreparedFields(catalog, footprint, order);
}

/** Prefix sums of tile probability in range order, for O(log T) range integrals at order ≤ 24. */
type MapIndex24 = { start: Float64Array; size: Float64Array; dens: Float64Array; prefix: Float64Array };
const index24 = new WeakMap<SkyMap, MapIndex24 | null>();

function mapIndex24(map: SkyMap): MapIndex24 | null {
  if (index24.has(map)) return index24.get(map)!;
  if (map.maxOrder > 24) {
    index24.set(map, null);
    return null;
  }
  const T = map.ntiles;
  const start = new Float64Array(T);
  const size = new Float64Array(T);
  const dens = new Float64Array(T);
  const prefix = new Float64Array(T + 1);
  const cell24 = (4 * Math.PI) / (12 * 4 ** 24);
  const total = map.totalProbability;
  for (let t = 0; t < T; t++) {
    // order-29 start / 4^5, exact: tiles at order ≤ 24 are aligned
    start[t] = map.startHi[t]! * 4194304 + map.startLo[t]! / 1024;
    size[t] = POW2[2 * (24 - map.order[t]!)]!;
    dens[t] = (map.probdensity[t]! / total) * cell24;
    prefix[t + 1] = prefix[t]! + dens[t]! * size[t]!;
  }
  const idx = { start, size, dens, prefix };
  index24.set(map, idx);
  return idx;
}

function cumulativeAt(ix: MapIndex24, x: number): number {
  const { start, size, dens, prefix } = ix;
  let a = 0;
  let b = start.length - 1;
  if (x <= start[0]!) return 0;
  while (a < b) {
    const m = (a + b + 1) >>> 1;
    if (start[m]! <= x) a = m;
    else b = m - 1;
  }
  const within = Math.min(x - start[a]!, size[a]!);
  return prefix[a]! + dens[a]! * within;
}

/**
 * Probability (normalised) of the map inside each field.
 *
 * Fields whose bounding circle reaches the map's credible region at level
 * 1 − `negligible` are integrated exactly over their rasterised footprints;
 * the others (holding less than `negligible` between them all) get the cheap
 * estimate density-at-centre × footprint area.
 */
export function fieldCoverage(map: SkyMap, fields: PreparedFields, negligible = 1e-6): Float64Array {
  const n = fields.size;
  const out = new Float64Array(n);
  const ix = mapIndex24(map);
  const total = map.totalProbability;
  const relevant = relevantFields(map, fields, negligible);
  for (let f = 0; f < n; f++) {
    if (!relevant[f]) {
      const t = map.findTile(fields.catalog.ra[f]!, fields.catalog.dec[f]!);
      out[f] = t < 0 ? 0 : (map.probdensity[t]! / total) * fields.footprintArea;
      continue;
    }
    if (!ix) {
      out[f] = mocProbability(map, fields.moc(f)) / total;
      continue;
    }
    const r = fields.ranges24(f);
    let p = 0;
    for (let k = 0; k < r.length; k += 2) p += cumulativeAt(ix, r[k + 1]!) - cumulativeAt(ix, r[k]!);
    out[f] = p;
  }
  return out;
}

const REL_ORDER = 6;

/** Fields whose bounding circle touches the map's 1 − negligible credible region (tested at order 6). */
function relevantFields(map: SkyMap, fields: PreparedFields, negligible: number): Uint8Array {
  const region = Moc.fromSkyMap(map, Math.min(1, 1 - negligible)).degrade(REL_ORDER);
  const s = BigInt(2 * (29 - REL_ORDER));
  const reg = region.ranges.map((v) => Number(v >> s));
  const out = new Uint8Array(fields.size);
  const rad = fields.boundRadius * DEG;
  for (let f = 0; f < fields.size; f++) {
    const c = radec2ang(fields.catalog.ra[f]!, fields.catalog.dec[f]!);
    const disc = queryDiscNumber(REL_ORDER, c.theta, c.phi, rad, { inclusive: true, fact: 4 });
    // do the sorted range lists intersect?
    let i = 0;
    let j = 0;
    while (i < reg.length && j < disc.length) {
      if (reg[i + 1]! <= disc[j]!) i += 2;
      else if (disc[j + 1]! <= reg[i]!) j += 2;
      else {
        out[f] = 1;
        break;
      }
    }
  }
  return out;
}

/** Probability covered by the union of the first k fields of `order`, for k = 1..n. */
export function cumulativeCoverage(map: SkyMap, fields: PreparedFields, order: number[]): number[] {
  let union = Moc.empty();
  return order.map((f) => {
    union = union.union(fields.moc(f));
    return union.probability(map);
  });
}
