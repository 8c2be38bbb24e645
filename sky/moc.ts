/**
 * IVOA Multi-Order Coverage maps (MOC 2.0, space only), held as sorted,
 * disjoint, non-adjacent ranges [start, end) of order-29 NESTED indices.
 * Built from sky-map credible regions, circles, polygons, cells or NUNIQ lists;
 * union / intersection / difference / complement; ASCII serialisation and
 * parsing; FITS (NUNIQ or RANGE) reading; area and containment; probability
 * of a sky map inside.
 */
import { MAX_ORDER, type PixelRanges, type Vec3, queryDiscRadec, queryPolygonAny, radec2nest29Bulk, radec2vec } from './healpix.ts';
import { FitsError, findColumn, parseFits, readUInt64Column } from './fits.ts';
import { type SkyMap, decodeUniqHiLo } from './skymap.ts';
import { toBig } from './u64.ts';

export class MocError extends Error {
  override name = 'MocError';
}

const NPIX29 = 12n * 4n ** 29n;
const CELL29_AREA = (4 * Math.PI) / (12 * 4 ** 29);

export type Cell = { order: number; ipix: bigint };

function checkDepth(order: number): void {
  if (!Number.isInteger(order) || order < 0 || order > MAX_ORDER) throw new MocError(`MOC order must be an integer in 0..${MAX_ORDER}, got ${order}`);
}

/** Sorts and merges arbitrary ranges into the canonical form. */
function normalise(r: bigint[]): bigint[] {
  const pairs: [bigint, bigint][] = [];
  for (let i = 0; i < r.length; i += 2) if (r[i]! < r[i + 1]!) pairs.push([r[i]!, r[i + 1]!]);
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: bigint[] = [];
  for (const [a, b] of pairs) {
    const n = out.length;
    if (n > 0 && out[n - 1]! >= a) {
      if (out[n - 1]! < b) out[n - 1] = b;
    } else out.push(a, b);
  }
  return out;
}

function isCanonical(r: bigint[]): boolean {
  for (let i = 0; i < r.length; i += 2) {
    if (!(r[i]! < r[i + 1]!)) return false;
    if (i > 0 && !(r[i - 1]! < r[i]!)) return false;
  }
  return true;
}

export class Moc {
  /** Canonical order-29 ranges, flattened [s0, e0, s1, e1, ...]. */
  readonly ranges: readonly bigint[];
  /** Declared depth (MOCORDER): the finest order the MOC is meant to resolve. */
  readonly maxOrder: number;

  private constructor(ranges: bigint[], maxOrder: number) {
    this.ranges = ranges;
    this.maxOrder = maxOrder;
  }

  /** From order-29 ranges (any order, overlaps allowed). */
  static fromRanges29(ranges: bigint[], maxOrder = MAX_ORDER): Moc {
    checkDepth(maxOrder);
    for (const v of ranges) if (v < 0n || v > NPIX29) throw new MocError(`order-29 index ${v} out of range`);
    return new Moc(isCanonical(ranges) ? ranges.slice() : normalise(ranges), maxOrder);
  }

  /** From ranges of NESTED indices at `order` (as returned by queryDisc / queryPolygon). */
  static fromPixelRanges(pr: PixelRanges, maxOrder = pr.order): Moc {
    const s = BigInt(2 * (MAX_ORDER - pr.order));
    return Moc.fromRanges29(
      pr.ranges.map((v) => v << s),
      maxOrder,
    );
  }

  static empty(maxOrder = MAX_ORDER): Moc {
    return new Moc([], maxOrder);
  }

  static fullSky(maxOrder = 0): Moc {
    return new Moc([0n, NPIX29], maxOrder);
  }

  static fromCells(cells: Cell[], maxOrder?: number): Moc {
    const r: bigint[] = [];
    let deepest = 0;
    for (const { order, ipix } of cells) {
      checkDepth(order);
      if (ipix < 0n || ipix >= 12n * 4n ** BigInt(order)) throw new MocError(`cell ${order}/${ipix} out of range`);
      const s = BigInt(2 * (MAX_ORDER - order));
      r.push(ipix << s, (ipix + 1n) << s);
      if (order > deepest) deepest = order;
    }
    return new Moc(normalise(r), maxOrder ?? deepest);
  }

  /** From NUNIQ values. */
  static fromUniq(uniq: Iterable<bigint | number>, maxOrder?: number): Moc {
    const cells: Cell[] = [];
    for (const u of uniq) {
      const b = BigInt(u);
      const r = decodeUniqHiLo(Number(b >> 32n), Number(b & 0xffffffffn));
      if (!r) throw new MocError(`invalid NUNIQ value ${u}`);
      cells.push({ order: r[0], ipix: toBig(r[1], r[2]) });
    }
    return Moc.fromCells(cells, maxOrder);
  }

  /**
   * Greedy credible region of a sky map: the densest tiles whose cumulative
   * probability (searched probability, ligo.skymap convention) is ≤ level.
   */
  static fromSkyMap(map: SkyMap, level: number): Moc {
    if (!(level > 0 && level <= 1)) throw new MocError(`credible level must be in (0, 1], got ${level}`);
    const { searchedProb } = map.ranking();
    const r: bigint[] = [];
    for (let t = 0; t < map.ntiles; t++) {
      if (searchedProb[t]! <= level) {
        const [eh, el] = map.tileEnd(t);
        r.push(toBig(map.startHi[t]!, map.startLo[t]!), toBig(eh, el));
      }
    }
    return new Moc(normalise(r), map.maxOrder);
  }

  /**
   * Cone (RA, Dec, radius in degrees) at `order`. Inclusive (default): every
   * cell overlapping the cone; otherwise the cells whose centres are inside.
   */
  static fromCircle(ra: number, dec: number, radiusDeg: number, order: number, opts: { inclusive?: boolean } = {}): Moc {
    checkDepth(order);
    const inclusive = opts.inclusive ?? true;
    const fact = inclusive ? Math.min(4, 2 ** (MAX_ORDER - order)) : 4;
    return Moc.fromPixelRanges(queryDiscRadec(order, ra, dec, radiusDeg, { inclusive, fact }));
  }

  /** Polygon given by RA/Dec vertices (degrees), convex or not. */
  static fromPolygon(vertices: { ra: number; dec: number }[], order: number, opts: { inclusive?: boolean } = {}): Moc {
    checkDepth(order);
    const inclusive = opts.inclusive ?? false;
    const fact = inclusive ? Math.min(4, 2 ** (MAX_ORDER - order)) : 4;
    const vv: Vec3[] = vertices.map((v) => radec2vec(v.ra, v.dec));
    return Moc.fromPixelRanges(queryPolygonAny(order, vv, { inclusive, fact }));
  }

  /** Parses the IVOA MOC ASCII serialisation ("3/3 10 4/16-18 22 5/19-20 29/"), MOC 1.x commas accepted. */
  static parseAscii(text: string): Moc {
    const tokens = text.trim().replace(/,/g, ' ').split(/\s+/).filter(Boolean);
    if (tokens.length === 0) throw new MocError('empty MOC ASCII string');
    let order = -1;
    let deepest = -1;
    const r: bigint[] = [];
    for (const tok of tokens) {
      let body = tok;
      const slash = tok.indexOf('/');
      if (slash >= 0) {
        const o = tok.slice(0, slash);
        if (!/^\d+$/.test(o)) throw new MocError(`bad MOC ASCII token '${tok}'`);
        order = Number(o);
        if (order > MAX_ORDER) throw new MocError(`MOC order ${order} > ${MAX_ORDER} in '${tok}'`);
        deepest = Math.max(deepest, order);
        body = tok.slice(slash + 1);
        if (body === '') continue;
      }
      if (order < 0) throw new MocError(`MOC ASCII must start with 'order/', got '${tok}'`);
      const m = /^(\d+)(?:-(\d+))?$/.exec(body);
      if (!m) throw new MocError(`bad MOC ASCII token '${tok}'`);
      const a = BigInt(m[1]!);
      const b = m[2] !== undefined ? BigInt(m[2]) : a;
      const npix = 12n * 4n ** BigInt(order);
      if (b < a || b >= npix) throw new MocError(`cell range ${order}/${a}-${b} out of range (order ${order} has ${npix} cells)`);
      const s = BigInt(2 * (MAX_ORDER - order));
      r.push(a << s, (b + 1n) << s);
    }
    return new Moc(normalise(r), Math.max(deepest, 0));
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  union(other: Moc): Moc {
    return new Moc(normalise([...this.ranges, ...other.ranges]), Math.max(this.maxOrder, other.maxOrder));
  }

  intersection(other: Moc): Moc {
    const a = this.ranges;
    const b = other.ranges;
    const out: bigint[] = [];
    let i = 0;
    let j = 0;
    while (i < a.length && j < b.length) {
      const s = a[i]! > b[j]! ? a[i]! : b[j]!;
      const e = a[i + 1]! < b[j + 1]! ? a[i + 1]! : b[j + 1]!;
      if (s < e) out.push(s, e);
      if (a[i + 1]! < b[j + 1]!) i += 2;
      else j += 2;
    }
    return new Moc(out, Math.max(this.maxOrder, other.maxOrder));
  }

  complement(): Moc {
    const out: bigint[] = [];
    let prev = 0n;
    for (let i = 0; i < this.ranges.length; i += 2) {
      if (this.ranges[i]! > prev) out.push(prev, this.ranges[i]!);
      prev = this.ranges[i + 1]!;
    }
    if (prev < NPIX29) out.push(prev, NPIX29);
    return new Moc(out, this.maxOrder);
  }

  difference(other: Moc): Moc {
    return this.intersection(other.complement());
  }

  equals(other: Moc): boolean {
    return this.ranges.length === other.ranges.length && this.ranges.every((v, i) => v === other.ranges[i]);
  }

  /** Number of order-29 cells covered. */
  get count29(): bigint {
    let c = 0n;
    for (let i = 0; i < this.ranges.length; i += 2) c += this.ranges[i + 1]! - this.ranges[i]!;
    return c;
  }

  /** Covered area in steradians. */
  area(): number {
    // split to keep each conversion well inside double precision
    let a = 0;
    for (let i = 0; i < this.ranges.length; i += 2) a += Number(this.ranges[i + 1]! - this.ranges[i]!) * CELL29_AREA;
    return a;
  }

  areaDeg2(): number {
    return this.area() * (180 / Math.PI) ** 2;
  }

  /** True if the order-29 cell containing RA/Dec (degrees) is covered. */
  contains(ra: number, dec: number): boolean {
    const hi = new Uint32Array(1);
    const lo = new Uint32Array(1);
    radec2nest29Bulk([ra], [dec], hi, lo);
    if (hi[0] === 0xffffffff) throw new RangeError(`invalid position RA ${ra} Dec ${dec}`);
    return this.contains29(toBig(hi[0]!, lo[0]!));
  }

  contains29(idx: bigint): boolean {
    const r = this.ranges;
    let a = 0;
    let b = r.length / 2 - 1;
    while (a <= b) {
      const m = (a + b) >>> 1;
      if (idx < r[2 * m]!) b = m - 1;
      else if (idx >= r[2 * m + 1]!) a = m + 1;
      else return true;
    }
    return false;
  }

  /** Coarsens to `order`: every cell at `order` that is even partly covered becomes covered. */
  degrade(order: number): Moc {
    checkDepth(order);
    const s = BigInt(2 * (MAX_ORDER - order));
    const out: bigint[] = [];
    for (let i = 0; i < this.ranges.length; i += 2) {
      out.push((this.ranges[i]! >> s) << s, ((this.ranges[i + 1]! + (1n << s) - 1n) >> s) << s);
    }
    return new Moc(normalise(out), Math.min(order, this.maxOrder));
  }

  /** Decomposition into the fewest cells (each order's cells sorted). */
  cells(): Cell[] {
    const out: Cell[] = [];
    for (let i = 0; i < this.ranges.length; i += 2) {
      let s = this.ranges[i]!;
      const e = this.ranges[i + 1]!;
      while (s < e) {
        // the coarsest cell that starts at s and fits in [s, e)
        let order = MAX_ORDER;
        for (let o = 0; o < MAX_ORDER; o++) {
          const size = 1n << BigInt(2 * (MAX_ORDER - o));
          if ((s & (size - 1n)) === 0n && s + size <= e) {
            order = o;
            break;
          }
        }
        const sh = BigInt(2 * (MAX_ORDER - order));
        out.push({ order, ipix: s >> sh });
        s += 1n << sh;
      }
    }
    out.sort((a, b) => a.order - b.order || (a.ipix < b.ipix ? -1 : a.ipix > b.ipix ? 1 : 0));
    return out;
  }

  /** NUNIQ values of cells(), ascending. */
  uniq(): bigint[] {
    return this.cells()
      .map((c) => (1n << BigInt(2 * c.order + 2)) + c.ipix)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** IVOA MOC 2.0 ASCII serialisation; ends with "maxOrder/" when no cell is at the declared depth. */
  toAscii(): string {
    const cells = this.cells();
    const parts: string[] = [];
    let i = 0;
    let lastOrder = -1;
    while (i < cells.length) {
      const o = cells[i]!.order;
      const items: string[] = [];
      while (i < cells.length && cells[i]!.order === o) {
        const a = cells[i]!.ipix;
        let b = a;
        while (i + 1 < cells.length && cells[i + 1]!.order === o && cells[i + 1]!.ipix === b + 1n) {
          i++;
          b++;
        }
        items.push(a === b ? `${a}` : `${a}-${b}`);
        i++;
      }
      parts.push(`${o}/${items.join(' ')}`);
      lastOrder = o;
    }
    const depth = Math.max(this.maxOrder, lastOrder);
    if (lastOrder < depth) parts.push(`${depth}/`);
    if (parts.length === 0) parts.push(`${this.maxOrder}/`);
    return parts.join(' ');
  }

  /** Probability of a sky map inside this MOC (normalised by the map's total). */
  probability(map: SkyMap): number {
    return mocProbability(map, this) / map.totalProbability;
  }
}

/** Σ over tiles of density × (area of the tile inside the MOC), not normalised. */
export function mocProbability(map: SkyMap, moc: Moc): number {
  const r = moc.ranges;
  if (r.length === 0) return 0;
  const starts = tileStarts(map);
  let sum = 0;
  for (let i = 0; i < r.length; i += 2) {
    const s = r[i]!;
    const e = r[i + 1]!;
    // last tile starting at or before s
    let a = 0;
    let b = map.ntiles - 1;
    while (a < b) {
      const m = (a + b + 1) >>> 1;
      if (starts[m]! <= s) a = m;
      else b = m - 1;
    }
    for (let t = a; t < map.ntiles && starts[t]! < e; t++) {
      const ts = starts[t]!;
      const te = ts + (1n << BigInt(2 * (MAX_ORDER - map.order[t]!)));
      const lo = ts > s ? ts : s;
      const hi = te < e ? te : e;
      if (hi > lo) sum += map.probdensity[t]! * Number(hi - lo) * CELL29_AREA;
    }
  }
  return sum;
}

const startCache = new WeakMap<SkyMap, BigUint64Array>();
function tileStarts(map: SkyMap): BigUint64Array {
  let s = startCache.get(map);
  if (!s) {
    s = new BigUint64Array(map.ntiles);
    for (let t = 0; t < map.ntiles; t++) s[t] = toBig(map.startHi[t]!, map.startLo[t]!);
    startCache.set(map, s);
  }
  return s;
}

/** Reads a MOC FITS file (NUNIQ column UNIQ of 1K or 1J, or ORDERING = 'RANGE' column RANGE). */
export function readMocFits(input: Uint8Array): Moc {
  let parsed;
  try {
    parsed = parseFits(input);
  } catch (err) {
    if (err instanceof FitsError) throw new MocError(err.message);
    throw err;
  }
  const { bytes, hdus } = parsed;
  const hdu = hdus.find((h) => h.type === 'BINTABLE' && (findColumn(h, 'UNIQ') || findColumn(h, 'RANGE')));
  if (!hdu) throw new MocError('no MOC table (BINTABLE with a UNIQ or RANGE column)');
  const depth = hdu.header.int('MOCORD_S') ?? hdu.header.int('MOCORDER') ?? MAX_ORDER;
  const uniqCol = findColumn(hdu, 'UNIQ');
  if (uniqCol) {
    const { hi, lo } = readUInt64Column(bytes, hdu, uniqCol);
    const cells: Cell[] = [];
    for (let i = 0; i < hi.length; i++) {
      const r = decodeUniqHiLo(hi[i]!, lo[i]!);
      if (!r) throw new MocError(`invalid NUNIQ value in row ${i + 1}`);
      cells.push({ order: r[0], ipix: toBig(r[1], r[2]) });
    }
    return Moc.fromCells(cells, depth);
  }
  const rc = findColumn(hdu, 'RANGE')!;
  // RANGE rows are pairs of order-29 indices (either 2K per row or consecutive 1K rows)
  const vals: bigint[] = [];
  if (rc.type !== 'K') throw new MocError(`RANGE column must be 64-bit integers, TFORM is '${rc.tform}'`);
  if (rc.repeat === 2) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset + hdu.dataOffset, hdu.nrows! * hdu.rowBytes!);
    for (let r = 0; r < hdu.nrows!; r++) {
      const o = r * hdu.rowBytes! + rc.offset;
      vals.push(dv.getBigUint64(o, false), dv.getBigUint64(o + 8, false));
    }
  } else {
    const { hi, lo } = readUInt64Column(bytes, hdu, rc);
    for (let i = 0; i < hi.length; i++) vals.push(toBig(hi[i]!, lo[i]!));
  }
  if (vals.length % 2) throw new MocError('RANGE column has an odd number of values');
  return Moc.fromRanges29(vals, depth);
}

