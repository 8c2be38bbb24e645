/**
 * Sky-map model: a set of non-overlapping HEALPix tiles (any orders 0..29) with a
 * probability density per steradian and, optionally, the per-tile distance ansatz
 * (DISTMU, DISTSIGMA, DISTNORM). Tiles are kept sorted by their range of order-29
 * NESTED indices, which is what lookups, MOCs and crossmatches walk.
 *
 * Derived quantities (greedy credible levels and areas, densest tile, distance
 * moments) follow ligo.skymap.postprocess conventions.
 */
import { MAX_ORDER, ang2radec, hiLoToBigInt, nestHiLo2xyf, radec2nest29Bulk, xyf2ang } from './healpix.ts';
import { argsortDesc, argsortU64 } from './sort.ts';
import { marginalMoments } from './distance.ts';
import { POW2, addPow2, cmp, fromBig, shr } from './u64.ts';

export class SkyMapError extends Error {
  override name = 'SkyMapError';
}

export const SR_TO_DEG2 = (180 / Math.PI) ** 2;
/** Area in sr of one tile at each order. */
export const TILE_AREA: readonly number[] = Array.from({ length: MAX_ORDER + 1 }, (_, o) => (4 * Math.PI) / (12 * 4 ** o));

export type SkyMapMeta = {
  /** OBJECT: event or superevent id. */
  object?: string;
  instruments?: string[];
  dateObs?: string;
  mjdObs?: number;
  creator?: string;
  origin?: string;
  reference?: string;
  /** Header DISTMEAN / DISTSTD (Mpc), as written by the pipeline. */
  distMean?: number;
  distStd?: number;
  logBci?: number;
  logBsn?: number;
  /** Ordering of the source: NUNIQ (multi-order), NESTED or RING (flat), or the kind of synthetic map. */
  ordering: 'NUNIQ' | 'NESTED' | 'RING' | 'CIRCLE' | 'TILES';
  /** NSIDE of a flat source map. */
  sourceNside?: number;
  /** Number of rows/pixels in the source before lossless merging. */
  sourceRows?: number;
  /** All header keywords of the HEALPix HDU (JSON-safe). */
  header?: Record<string, string | number | boolean | null>;
  /** Non-fatal oddities found while reading. */
  warnings: string[];
};

export type SkyMapInit = {
  /** Tile order (0..29) per tile. */
  order: Uint8Array;
  /** Tile NESTED index at its own order, as hi/lo uint32 halves. */
  ipixHi: Uint32Array;
  ipixLo: Uint32Array;
  probdensity: Float64Array;
  distmu?: Float64Array;
  distsigma?: Float64Array;
  distnorm?: Float64Array;
  meta: SkyMapMeta;
};

export type TileRanking = {
  /** Tile indices by decreasing probability density. */
  byDensity: Uint32Array;
  /** Cumulative normalised probability along byDensity. */
  cumProb: Float64Array;
  /** Cumulative area (sr) along byDensity. */
  cumArea: Float64Array;
  /** Per tile: searched probability (greedy credible level of the tile, ties included). */
  searchedProb: Float64Array;
  /** Per tile: searched area in sr. */
  searchedArea: Float64Array;
};

export type Densest = { tile: number; uniq: bigint; order: number; ra: number; dec: number; probdensity: number };

export class SkyMap {
  readonly ntiles: number;
  readonly order: Uint8Array;
  /** Start of each tile's range of order-29 NESTED indices (hi/lo halves); tiles sorted by it. */
  readonly startHi: Uint32Array;
  readonly startLo: Uint32Array;
  readonly probdensity: Float64Array;
  readonly distmu?: Float64Array;
  readonly distsigma?: Float64Array;
  readonly distnorm?: Float64Array;
  readonly meta: SkyMapMeta;
  readonly minOrder: number;
  readonly maxOrder: number;
  private _total?: number;
  private _ranking?: TileRanking;

  /**
   * Builds a map from tiles in any order; sorts them and checks that they do
   * not overlap and that densities are finite and non-negative.
   */
  constructor(init: SkyMapInit) {
    const n = init.order.length;
    for (const [name, a] of [
      ['ipixHi', init.ipixHi],
      ['ipixLo', init.ipixLo],
      ['probdensity', init.probdensity],
      ['distmu', init.distmu],
      ['distsigma', init.distsigma],
      ['distnorm', init.distnorm],
    ] as const) {
      if (a && a.length !== n) throw new SkyMapError(`${name} has ${a.length} entries for ${n} tiles`);
    }
    if (n === 0) throw new SkyMapError('sky map has no tiles');
    const hasDist = init.distmu && init.distsigma && init.distnorm;
    const sh = new Uint32Array(n);
    const sl = new Uint32Array(n);
    let minO = MAX_ORDER;
    let maxO = 0;
    for (let i = 0; i < n; i++) {
      const o = init.order[i]!;
      if (o > MAX_ORDER) throw new SkyMapError(`tile ${i}: order ${o} > ${MAX_ORDER}`);
      // start = ipix · 4^(29 − o), as hi/lo
      const s = 2 * (MAX_ORDER - o);
      const ph = init.ipixHi[i]!;
      const pl = init.ipixLo[i]!;
      if (s >= 32) {
        sh[i] = pl * POW2[s - 32]!;
        sl[i] = 0;
      } else if (s === 0) {
        sh[i] = ph;
        sl[i] = pl;
      } else {
        const unit = POW2[32 - s]!;
        const top = Math.floor(pl / unit);
        sh[i] = ph * POW2[s]! + top;
        sl[i] = (pl - top * unit) * POW2[s]!;
      }
      if (o < minO) minO = o;
      if (o > maxO) maxO = o;
      const d = init.probdensity[i]!;
      if (!(d >= 0) || d === Infinity) throw new SkyMapError(`tile ${i}: probability density ${d} is not a finite non-negative number`);
    }
    // already sorted? (LVK NUNIQ files are sorted by UNIQ, which is not range order)
    let sorted = true;
    for (let i = 1; i < n; i++) {
      if (sh[i - 1]! > sh[i]! || (sh[i - 1] === sh[i] && sl[i - 1]! >= sl[i]!)) {
        sorted = false;
        break;
      }
    }
    const perm = sorted ? null : argsortU64(sh, sl);
    const take = <T extends Uint8Array | Uint32Array | Float64Array>(a: T): T => {
      if (!perm) return a;
      const out = new (a.constructor as new (n: number) => T)(n);
      for (let i = 0; i < n; i++) out[i] = a[perm[i]!]!;
      return out;
    };
    this.ntiles = n;
    this.order = take(init.order);
    this.startHi = take(sh);
    this.startLo = take(sl);
    this.probdensity = take(init.probdensity);
    if (hasDist) {
      this.distmu = take(init.distmu!);
      this.distsigma = take(init.distsigma!);
      this.distnorm = take(init.distnorm!);
    }
    this.meta = init.meta;
    this.minOrder = minO;
    this.maxOrder = maxO;
    // overlap check: each tile must end at or before the next one starts
    const H = this.startHi;
    const L = this.startLo;
    for (let i = 0; i + 1 < n; i++) {
      const s = 2 * (MAX_ORDER - this.order[i]!);
      let eh = H[i]!;
      let el = L[i]!;
      if (s >= 32) eh += POW2[s - 32]!;
      else {
        el += POW2[s]!;
        if (el >= 4294967296) {
          eh++;
          el -= 4294967296;
        }
      }
      if (eh > H[i + 1]! || (eh === H[i + 1] && el > L[i + 1]!)) {
        throw new SkyMapError(`tiles overlap: NUNIQ ${this.uniq(i)} contains NUNIQ ${this.uniq(i + 1)}`);
      }
    }
    if (!(this.totalProbability > 0)) throw new SkyMapError('sky map has zero total probability');
  }

  get hasDistance(): boolean {
    return this.distmu !== undefined;
  }

  /** Tile area in steradians. */
  tileArea(t: number): number {
    return TILE_AREA[this.order[t]!]!;
  }

  /** Probability contained in tile t (density × area, not renormalised). */
  tileProb(t: number): number {
    return this.probdensity[t]! * TILE_AREA[this.order[t]!]!;
  }

  /** Σ density × area over all tiles (1 for a normalised map). */
  get totalProbability(): number {
    if (this._total === undefined) {
      let s = 0;
      for (let t = 0; t < this.ntiles; t++) s += this.probdensity[t]! * TILE_AREA[this.order[t]!]!;
      this._total = s;
    }
    return this._total;
  }

  /** Sky area covered by tiles, sr (4π for an all-sky map). */
  get coveredArea(): number {
    let s = 0;
    for (let t = 0; t < this.ntiles; t++) s += TILE_AREA[this.order[t]!]!;
    return s;
  }

  /** NESTED index of tile t at its own order. */
  ipix(t: number): bigint {
    const [h, l] = shr(this.startHi[t]!, this.startLo[t]!, 2 * (MAX_ORDER - this.order[t]!));
    return hiLoToBigInt(h, l);
  }

  /** NUNIQ index of tile t. */
  uniq(t: number): bigint {
    return (1n << BigInt(2 * this.order[t]! + 2)) + this.ipix(t);
  }

  /** Centre of tile t in degrees. */
  tileCentre(t: number): { ra: number; dec: number } {
    const o = this.order[t]!;
    const [h, l] = shr(this.startHi[t]!, this.startLo[t]!, 2 * (MAX_ORDER - o));
    const { face, ix, iy } = nestHiLo2xyf(o, h, l);
    const a = xyf2ang(o, face, ix, iy);
    return ang2radec(a.theta, a.phi);
  }

  /** End (exclusive) of tile t's order-29 range. */
  tileEnd(t: number): [number, number] {
    return addPow2(this.startHi[t]!, this.startLo[t]!, 2 * (MAX_ORDER - this.order[t]!));
  }

  /** Index of the tile containing an order-29 index, or -1. Binary search. */
  findTile29(hi: number, lo: number): number {
    let a = 0;
    let b = this.ntiles - 1;
    if (cmp(hi, lo, this.startHi[0]!, this.startLo[0]!) < 0) return -1;
    while (a < b) {
      const m = (a + b + 1) >>> 1;
      if (cmp(this.startHi[m]!, this.startLo[m]!, hi, lo) <= 0) a = m;
      else b = m - 1;
    }
    const [eh, el] = this.tileEnd(a);
    return cmp(hi, lo, eh, el) < 0 ? a : -1;
  }

  /** Index of the tile containing RA/Dec (degrees), or -1 outside the map. */
  findTile(ra: number, dec: number): number {
    const hi = new Uint32Array(1);
    const lo = new Uint32Array(1);
    radec2nest29Bulk([ra], [dec], hi, lo);
    if (hi[0] === 0xffffffff) throw new RangeError(`invalid position RA ${ra} Dec ${dec}`);
    return this.findTile29(hi[0]!, lo[0]!);
  }

  /**
   * Tile index for many order-29 keys at once. With `sortedOrder` (a permutation
   * that sorts the keys ascending) this is a linear merge of keys and tile ranges;
   * otherwise a binary search per key. -1 where no tile contains the key.
   */
  locate(hi: Uint32Array, lo: Uint32Array, sortedOrder?: Uint32Array, out = new Int32Array(hi.length)): Int32Array {
    const n = hi.length;
    if (!sortedOrder) {
      for (let i = 0; i < n; i++) out[i] = hi[i] === 0xffffffff ? -1 : this.findTile29(hi[i]!, lo[i]!);
      return out;
    }
    const sh = this.startHi;
    const sl = this.startLo;
    const ord = this.order;
    const T = this.ntiles;
    let t = 0;
    // end of tile t
    let [eh, el] = this.tileEnd(0);
    for (let k = 0; k < n; k++) {
      const i = sortedOrder[k]!;
      const h = hi[i]!;
      const l = lo[i]!;
      // advance to the first tile whose end is beyond the key
      while (t < T && (h > eh || (h === eh && l >= el))) {
        t++;
        if (t < T) {
          const s = 2 * (MAX_ORDER - ord[t]!);
          if (s >= 32) {
            eh = sh[t]! + POW2[s - 32]!;
            el = sl[t]!;
          } else {
            const x = sl[t]! + POW2[s]!;
            if (x >= 4294967296) {
              eh = sh[t]! + 1;
              el = x - 4294967296;
            } else {
              eh = sh[t]!;
              el = x;
            }
          }
        }
      }
      if (t >= T) {
        for (; k < n; k++) out[sortedOrder[k]!] = -1;
        break;
      }
      // inside tile t iff key >= start
      out[i] = h > sh[t]! || (h === sh[t]! && l >= sl[t]!) ? t : -1;
    }
    return out;
  }

  /** Greedy ranking of tiles by density with cumulative probability and area (computed once). */
  ranking(): TileRanking {
    if (this._ranking) return this._ranking;
    const n = this.ntiles;
    const byDensity = argsortDesc(this.probdensity);
    const cumProb = new Float64Array(n);
    const cumArea = new Float64Array(n);
    const total = this.totalProbability;
    let p = 0;
    let a = 0;
    for (let k = 0; k < n; k++) {
      const t = byDensity[k]!;
      const area = TILE_AREA[this.order[t]!]!;
      p += this.probdensity[t]! * area;
      a += area;
      cumProb[k] = p / total;
      cumArea[k] = a;
    }
    // per tile: searched probability/area, including every tile of equal density
    const searchedProb = new Float64Array(n);
    const searchedArea = new Float64Array(n);
    let k = n - 1;
    while (k >= 0) {
      const d = this.probdensity[byDensity[k]!]!;
      let j = k;
      while (j > 0 && this.probdensity[byDensity[j - 1]!]! === d) j--;
      for (let m = j; m <= k; m++) {
        searchedProb[byDensity[m]!] = cumProb[k]!;
        searchedArea[byDensity[m]!] = cumArea[k]!;
      }
      k = j - 1;
    }
    this._ranking = { byDensity, cumProb, cumArea, searchedProb, searchedArea };
    return this._ranking;
  }

  /**
   * Area (deg²) of the smallest region holding probability `level` (0..1):
   * greedy credible area with linear interpolation from (0, 0), as
   * ligo.skymap.postprocess.crossmatch computes contour areas.
   */
  credibleArea(level: number): number {
    if (!(level >= 0 && level <= 1)) throw new RangeError(`credible level must be in [0, 1], got ${level}`);
    const { cumProb, cumArea } = this.ranking();
    const n = cumProb.length;
    if (level <= 0) return 0;
    // first k with cumProb[k] >= level
    let a = 0;
    let b = n - 1;
    if (level > cumProb[n - 1]!) return cumArea[n - 1]! * SR_TO_DEG2;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (cumProb[m]! >= level) b = m;
      else a = m + 1;
    }
    const p0 = a === 0 ? 0 : cumProb[a - 1]!;
    const a0 = a === 0 ? 0 : cumArea[a - 1]!;
    const p1 = cumProb[a]!;
    const a1 = cumArea[a]!;
    const area = p1 === p0 ? a1 : a0 + ((level - p0) * (a1 - a0)) / (p1 - p0);
    return area * SR_TO_DEG2;
  }

  /** Tiles of the greedy credible region at `level`: densest first, up to and including the tile that reaches it. */
  credibleTiles(level: number): Uint32Array {
    const { byDensity, cumProb } = this.ranking();
    let k = 0;
    while (k < cumProb.length - 1 && cumProb[k]! < level) k++;
    return byDensity.slice(0, k + 1);
  }

  /** The tile of highest probability density. */
  densest(): Densest {
    let best = 0;
    for (let t = 1; t < this.ntiles; t++) if (this.probdensity[t]! > this.probdensity[best]!) best = t;
    const c = this.tileCentre(best);
    return { tile: best, uniq: this.uniq(best), order: this.order[best]!, ra: c.ra, dec: c.dec, probdensity: this.probdensity[best]! };
  }

  /** Sky-marginal distance mean and standard deviation (Mpc), or null without distance layers. */
  distance(): { mean: number; std: number } | null {
    if (!this.distmu || !this.distsigma) return null;
    const prob = new Float64Array(this.ntiles);
    for (let t = 0; t < this.ntiles; t++) prob[t] = this.tileProb(t);
    return marginalMoments(prob, this.distmu, this.distsigma);
  }
}

/** Tiles given as NUNIQ values (bigint or number) → order and ipix hi/lo arrays. */
export function decodeUniqs(uniq: ArrayLike<bigint | number>): { order: Uint8Array; ipixHi: Uint32Array; ipixLo: Uint32Array } {
  const n = uniq.length;
  const order = new Uint8Array(n);
  const ipixHi = new Uint32Array(n);
  const ipixLo = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const u = uniq[i]!;
    const [h, l] = typeof u === 'bigint' ? fromBig(u) : [Math.floor(u / 4294967296), u % 4294967296];
    const r = decodeUniqHiLo(h, l);
    if (!r) throw new SkyMapError(`invalid NUNIQ index ${u} (row ${i + 1})`);
    order[i] = r[0];
    ipixHi[i] = r[1];
    ipixLo[i] = r[2];
  }
  return { order, ipixHi, ipixLo };
}

/** [order, ipixHi, ipixLo] of a NUNIQ value in hi/lo halves, or null if invalid. */
export function decodeUniqHiLo(h: number, l: number): [number, number, number] | null {
  if (h === 0 && l < 4) return null;
  const bitlen = h !== 0 ? 64 - Math.clz32(h) : 32 - Math.clz32(l);
  const o = Math.floor((bitlen - 1) / 2) - 1;
  if (o < 0 || o > MAX_ORDER) return null;
  const s = 2 * o + 2;
  return s >= 32 ? [o, h - POW2[s - 32]!, l] : [o, h, l - POW2[s]!];
}
