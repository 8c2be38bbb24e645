/**
 * Catalogue × sky-map crossmatch on sorted order-29 indices.
 *
 * prepareCatalog() computes every target's order-29 NESTED index once and
 * stores the catalogue physically reordered by that index (keys, distances and
 * weights in sorted order). crossmatchCatalog() then walks the sorted keys and
 * the map's sorted tile ranges together in one linear merge (O(N + T), no
 * per-target search) and computes scores in the same sequential pass, reading
 * per-tile credible levels computed once per map. Everything is sequential in
 * memory; with the prepared catalogue's reusable buffers a million galaxies take
 * a few milliseconds.
 *
 * Per target: probability density (sr⁻¹), searched probability (greedy credible
 * level) and searched area of its tile, the 3D density dP/dV from the distance
 * ansatz when the target has a distance, and a ranking score = density × weight.
 */
import { angularDistance, radec2nest29Bulk } from './healpix.ts';
import { argsortU64 } from './sort.ts';
import type { Catalog } from './catalog.ts';
import { SR_TO_DEG2, type SkyMap } from './skymap.ts';

const INV_SQRT2PI = 1 / Math.sqrt(2 * Math.PI);

export type PreparedCatalog = {
  catalog: Catalog;
  /** Row at each sorted position. */
  sorted: Uint32Array;
  /** Sorted position of each row (inverse of `sorted`). */
  position: Uint32Array;
  /** Order-29 NESTED index (hi/lo halves) in sorted order; 0xffffffff for unusable rows, which sort last. */
  hi: Uint32Array;
  lo: Uint32Array;
  /** Distance (Mpc, NaN unknown) and weight in sorted order. */
  dist: Float64Array;
  weight: Float64Array;
  /** Largest weight (finite, positive), for score upper bounds. */
  maxWeight: number;
  /**
   * Keys are sorted at this order: 13 = by the high word only (enough for maps
   * whose tiles are all at order ≤ 13, i.e. every LVK map), 29 = fully.
   */
  sortOrder: 13 | 29;
};

/**
 * One-time preparation of a catalogue: order-29 indices, sort, reordered
 * columns. By default keys are sorted by their high 32 bits (order 13); a map
 * with finer tiles triggers a full sort once, on first use.
 */
export function prepareCatalog(catalog: Catalog, opts: { sortOrder?: 13 | 29 } = {}): PreparedCatalog {
  const n = catalog.size;
  const hiR = new Uint32Array(n);
  const loR = new Uint32Array(n);
  radec2nest29Bulk(catalog.ra, catalog.dec, hiR, loR);
  const sortOrder = opts.sortOrder ?? 13;
  const sorted = sortOrder === 29 ? argsortU64(hiR, loR) : argsortU64(hiR);
  const position = new Uint32Array(n);
  const hi = new Uint32Array(n);
  const lo = new Uint32Array(n);
  const dist = new Float64Array(n);
  const weight = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const i = sorted[k]!;
    position[i] = k;
    hi[k] = hiR[i]!;
    lo[k] = loR[i]!;
    dist[k] = catalog.dist[i]!;
    weight[k] = catalog.weight[i]!;
  }
  let maxWeight = 0;
  for (let k = 0; k < n; k++) if (weight[k]! > maxWeight && weight[k]! < Infinity) maxWeight = weight[k]!;
  return { catalog, sorted, position, hi, lo, dist, weight, maxWeight, sortOrder };
}

export type RankMode = '3d' | '2d';

export type CrossmatchOptions = {
  /** '3d' ranks by dP/dV × weight (needs distances), '2d' by dP/dΩ × weight; 'auto' (default) picks 3d when the map has distance layers. */
  rank?: 'auto' | RankMode;
  /** How many of the best rows to keep from the pass (default 1000); top(n) beyond that rescans. */
  keep?: number;
};

/** Per-tile constants of the score. */
type TileCoef = { pd: number; m: number; s: number; c: number };

function tileCoef(map: SkyMap, t: number): TileCoef {
  const pd = map.probdensity[t]! / map.totalProbability;
  if (!map.distmu) return { pd, m: 0, s: 1, c: 0 };
  const m = map.distmu[t]!;
  const s = map.distsigma![t]!;
  const nm = map.distnorm![t]!;
  const c = s > 0 && nm > 0 && m === m && m !== Infinity && m !== -Infinity ? (pd * nm * INV_SQRT2PI) / s : 0;
  return { pd, m, s, c };
}

/**
 * Result of a crossmatch. The pass over the catalogue keeps only the runs of
 * sorted positions that fall in each tile, the best `keep` rows and the score
 * sum; per-row quantities are derived on demand from the row's tile.
 */
export class CatalogMatch {
  constructor(
    readonly map: SkyMap,
    readonly prepared: PreparedCatalog,
    readonly rankMode: RankMode,
    /** First sorted position of each run of rows in one tile (or outside the map), ascending. */
    readonly runStart: Int32Array,
    /** Tile of each run (-1: outside the map). */
    readonly runTile: Int32Array,
    /** Sorted positions of the best rows, best first. */
    private readonly best: number[],
    private readonly kept: number,
    readonly scoreSum: number,
    /** Rows with a distance inside a map with distance layers. */
    readonly withDistance: number,
  ) {}

  get size(): number {
    return this.prepared.hi.length;
  }

  /** Tile at a sorted position (-1 outside the map). */
  private tileAt(k: number): number {
    const rs = this.runStart;
    let a = 0;
    let b = rs.length - 1;
    if (b < 0 || k < rs[0]!) return -1;
    while (a < b) {
      const m = (a + b + 1) >>> 1;
      if (rs[m]! <= k) a = m;
      else b = m - 1;
    }
    return this.runTile[a]!;
  }

  /** Tile of a catalogue row (-1 outside the map). */
  tile(row: number): number {
    return this.tileAt(this.prepared.position[row]!);
  }

  private scoreAt(k: number, t: number): number {
    if (t < 0) return 0;
    const { pd, m, s, c } = tileCoef(this.map, t);
    const r = this.prepared.dist[k]!;
    let base: number;
    if (this.rankMode === '3d') {
      if (this.map.distmu !== undefined && r > 0 && c !== 0) {
        const x = (r - m) / s;
        base = c * Math.exp(-0.5 * x * x);
      } else base = 0;
    } else base = pd;
    const w = this.prepared.weight[k]!;
    return base > 0 && w > 0 ? base * w : 0;
  }

  /** Ranking score of a row: (dP/dV or dP/dΩ) × weight, 0 when unknown. */
  score(row: number): number {
    const k = this.prepared.position[row]!;
    return this.scoreAt(k, this.tileAt(k));
  }

  /** dP/dΩ (sr⁻¹, normalised map) at a row; 0 outside the map. */
  probdensity(row: number): number {
    const t = this.tile(row);
    return t < 0 ? 0 : this.map.probdensity[t]! / this.map.totalProbability;
  }

  /** Searched probability (greedy credible level of the row's tile); NaN outside the map. */
  searchedProb(row: number): number {
    const t = this.tile(row);
    return t < 0 ? NaN : this.map.ranking().searchedProb[t]!;
  }

  /** Searched area in deg²; NaN outside the map. */
  searchedArea(row: number): number {
    const t = this.tile(row);
    return t < 0 ? NaN : this.map.ranking().searchedArea[t]! * SR_TO_DEG2;
  }

  /** dP/dV (Mpc⁻³); NaN without a distance for the row or distance layers in the map. */
  probdensityVol(row: number): number {
    const t = this.tile(row);
    const r = this.prepared.catalog.dist[row]!;
    if (t < 0 || !this.map.distmu || !(r > 0)) return NaN;
    const { m, s, c } = tileCoef(this.map, t);
    if (c === 0) return 0;
    const x = (r - m) / s;
    return c * Math.exp(-0.5 * x * x);
  }

  /** Rows with the n highest scores, best first (zero scores excluded). */
  top(n: number): number[] {
    if (n <= this.kept) return this.best.slice(0, n).map((k) => this.prepared.sorted[k]!);
    const all = new Float64Array(this.size);
    for (let j = 0; j < this.runStart.length; j++) {
      const end = j + 1 < this.runStart.length ? this.runStart[j + 1]! : this.size;
      for (let k = this.runStart[j]!; k < end; k++) all[k] = this.scoreAt(k, this.runTile[j]!);
    }
    return topIndices(all, n).map((k) => this.prepared.sorted[k]!);
  }

  /** Number of rows inside the greedy credible region at `level`. */
  countWithin(level: number): number {
    const sp = this.map.ranking().searchedProb;
    let c = 0;
    for (let j = 0; j < this.runStart.length; j++) {
      const t = this.runTile[j]!;
      if (t >= 0 && sp[t]! <= level) c += (j + 1 < this.runStart.length ? this.runStart[j + 1]! : this.size) - this.runStart[j]!;
    }
    return c;
  }
}

// length of a tile's order-29 range, 4^(29 − order), as hi/lo parts
const LEN_HI = Float64Array.from({ length: 30 }, (_, o) => (58 - 2 * o >= 32 ? 2 ** (26 - 2 * o) : 0));
const LEN_LO = Float64Array.from({ length: 30 }, (_, o) => (58 - 2 * o >= 32 ? 0 : 2 ** (58 - 2 * o)));

/** Growable pair of int arrays for runs. */
class Runs {
  start = new Int32Array(1024);
  tile = new Int32Array(1024);
  n = 0;
  push(k: number, t: number): void {
    if (this.n === this.start.length) {
      const s = new Int32Array(this.n * 2);
      s.set(this.start);
      this.start = s;
      const u = new Int32Array(this.n * 2);
      u.set(this.tile);
      this.tile = u;
    }
    this.start[this.n] = k;
    this.tile[this.n++] = t;
  }
}

/** Per-map tile coefficients c_t (3D score = c_t · exp(−x²/2) · weight), cached. */
const coefCache = new WeakMap<SkyMap, Float64Array>();
function tileCoefs(map: SkyMap): Float64Array {
  let a = coefCache.get(map);
  if (!a) {
    a = new Float64Array(map.ntiles);
    for (let t = 0; t < map.ntiles; t++) a[t] = tileCoef(map, t).c;
    coefCache.set(map, a);
  }
  return a;
}

/** First sorted position whose key is ≥ (h, l). */
function lowerBound(prepared: PreparedCatalog, h: number, l: number): number {
  const { hi, lo } = prepared;
  let a = 0;
  let b = hi.length;
  while (a < b) {
    const m = (a + b) >>> 1;
    if (hi[m]! < h || (hi[m] === h && lo[m]! < l)) a = m + 1;
    else b = m;
  }
  return a;
}

/**
 * Threshold below which a row's 3D score is negligible: 1e-17 × (a lower bound
 * of the score sum, from the rows of the 16 tiles with the largest c_t) / N.
 */
function negligibleScore(map: SkyMap, prepared: PreparedCatalog): number {
  const n = prepared.hi.length;
  if (n < 10000) return 0; // not worth it
  const coef = tileCoefs(map);
  const best: number[] = [];
  for (let t = 0; t < coef.length; t++) {
    if (!(coef[t]! > 0)) continue;
    if (best.length < 16) best.push(t);
    else {
      let w = 0;
      for (let j = 1; j < 16; j++) if (coef[best[j]!]! < coef[best[w]!]!) w = j;
      if (coef[t]! > coef[best[w]!]!) best[w] = t;
    }
  }
  let sum = 0;
  for (const t of best) {
    const [eh, el] = map.tileEnd(t);
    const a = lowerBound(prepared, map.startHi[t]!, map.startLo[t]!);
    const b = lowerBound(prepared, eh, el);
    const { m, s, c } = tileCoef(map, t);
    for (let k = a; k < b; k++) {
      const r = prepared.dist[k]!;
      const w = prepared.weight[k]!;
      if (!(r > 0 && w > 0)) continue;
      const x = (r - m) / s;
      sum += c * Math.exp(-0.5 * x * x) * w;
    }
  }
  return (sum * 1e-17) / n;
}

const fullySorted = new WeakMap<PreparedCatalog, PreparedCatalog>();

/** The prepared catalogue sorted finely enough for `map`'s tiles. */
function preparedFor(map: SkyMap, prepared: PreparedCatalog): PreparedCatalog {
  if (map.maxOrder <= prepared.sortOrder) return prepared;
  let full = fullySorted.get(prepared);
  if (!full) {
    full = prepareCatalog(prepared.catalog, { sortOrder: 29 });
    fullySorted.set(prepared, full);
  }
  return full;
}

export function crossmatchCatalog(map: SkyMap, preparedIn: PreparedCatalog, opts: CrossmatchOptions = {}): CatalogMatch {
  const prepared = preparedFor(map, preparedIn);
  const n = prepared.hi.length;
  const keep = Math.max(1, opts.keep ?? 1000);
  const rankMode: RankMode = opts.rank === '2d' || (opts.rank !== '3d' && !map.hasDistance) ? '2d' : '3d';
  map.ranking(); // per-map credible levels, computed once
  const total = map.totalProbability;
  const pdT = map.probdensity;
  const mu = map.distmu;
  const sigma = map.distsigma;
  const norm = map.distnorm;
  const hasDist = mu !== undefined;
  const dist = prepared.dist;
  const weight = prepared.weight;
  const hi = prepared.hi;
  const lo = prepared.lo;
  const threeD = rankMode === '3d';
  const sh = map.startHi;
  const sl = map.startLo;
  const ord = map.order;
  const T = map.ntiles;
  const runs = new Runs();
  // Rows in tiles whose score bound c·maxWeight is below `negligible` cannot reach
  // the top rows and add < 1e-17 of the score sum between them all: skip their exp().
  const negligible = threeD && hasDist ? negligibleScore(map, prepared) : 0;
  // min-heap of the best `keep` (score, position)
  const hv = new Float64Array(keep);
  const hp = new Int32Array(keep);
  let hn = 0;
  let floor = 0; // scores must exceed this to enter the heap once it is full
  let scoreSum = 0;
  let withDistance = 0;
  // One pass: merge the sorted keys with the sorted tile ranges [b, e) and score.
  let t = -1;
  let bh = 0;
  let bl = 0;
  let eh = 0;
  let el = 0; // current tile's range; starts empty so that the first key advances
  let pd = 0;
  let m = 0;
  let s = 1;
  let c = 0; // pd · DISTNORM / (DISTSIGMA √2π), or 0 without a usable ansatz
  let runTile = -2;
  let k = 0;
  for (; k < n; k++) {
    const h = hi[k]!;
    const l = lo[k]!;
    if (h > eh || (h === eh && l >= el)) {
      // advance to the first tile whose end is beyond the key
      do {
        if (++t >= T) break;
        bh = sh[t]!;
        bl = sl[t]!;
        const o = ord[t]!;
        eh = bh + LEN_HI[o]!;
        el = bl + LEN_LO[o]!;
        if (el >= 4294967296) {
          eh++;
          el -= 4294967296;
        }
      } while (h > eh || (h === eh && l >= el));
      if (t >= T) break;
      pd = pdT[t]! / total;
      if (hasDist) {
        m = mu[t]!;
        s = sigma![t]!;
        const nm = norm![t]!;
        c = s > 0 && nm > 0 && m === m && m !== Infinity && m !== -Infinity ? (pd * nm * INV_SQRT2PI) / s : 0;
      }
    }
    // inside tile t iff key ≥ its start (a partial map may have gaps)
    if (h < bh || (h === bh && l < bl)) {
      if (runTile !== -1) runs.push(k, (runTile = -1));
      continue;
    }
    if (runTile !== t) runs.push(k, (runTile = t));
    let base: number;
    const r = dist[k]!;
    if (hasDist && r > 0) withDistance++;
    if (threeD) {
      if (hasDist && r > 0 && c !== 0 && c * prepared.maxWeight >= negligible) {
        const x = (r - m) / s;
        base = c * Math.exp(-0.5 * x * x);
      } else base = 0;
    } else base = pd;
    const w = weight[k]!;
    if (!(base > 0 && w > 0)) continue;
    const sc = base * w;
    scoreSum += sc;
    if (sc <= floor) continue;
    // heap insert (ties keep the earlier position)
    if (hn < keep) {
      let i = hn++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!(sc < hv[p]!)) break;
        hv[i] = hv[p]!;
        hp[i] = hp[p]!;
        i = p;
      }
      hv[i] = sc;
      hp[i] = k;
      if (hn === keep) floor = hv[0]!;
    } else {
      let i = 0;
      for (;;) {
        const a = 2 * i + 1;
        if (a >= hn) break;
        const b = a + 1;
        const j = b < hn && (hv[b]! < hv[a]! || (hv[b] === hv[a] && hp[b]! > hp[a]!)) ? b : a;
        if (!(hv[j]! < sc || (hv[j] === sc && hp[j]! > k))) break;
        hv[i] = hv[j]!;
        hp[i] = hp[j]!;
        i = j;
      }
      hv[i] = sc;
      hp[i] = k;
      floor = hv[0]!;
    }
  }
  if (k < n && runTile !== -1) runs.push(k, -1);
  const order = Array.from({ length: hn }, (_, i) => i).sort((a, b) => hv[b]! - hv[a]! || hp[a]! - hp[b]!);
  const best = order.map((i) => hp[i]!);
  return new CatalogMatch(
    map,
    prepared,
    rankMode,
    runs.start.slice(0, runs.n),
    runs.tile.slice(0, runs.n),
    best,
    keep,
    scoreSum,
    withDistance,
  );
}

/** Indices of the n largest values, descending (ties: lower index first); zeros and NaN excluded. */
export function topIndices(values: Float64Array, n: number): number[] {
  if (n <= 0) return [];
  // binary min-heap of (value, index)
  const hv = new Float64Array(n);
  const hi = new Int32Array(n);
  let size = 0;
  const less = (va: number, ia: number, vb: number, ib: number) => va < vb || (va === vb && ia > ib);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!(v > 0)) continue;
    if (size === n && !less(hv[0]!, hi[0]!, v, i)) continue;
    if (size < n) {
      let k = size++;
      while (k > 0) {
        const p = (k - 1) >> 1;
        if (!less(v, i, hv[p]!, hi[p]!)) break;
        hv[k] = hv[p]!;
        hi[k] = hi[p]!;
        k = p;
      }
      hv[k] = v;
      hi[k] = i;
    } else {
      let k = 0;
      for (;;) {
        const l = 2 * k + 1;
        if (l >= size) break;
        const r = l + 1;
        const c = r < size && less(hv[r]!, hi[r]!, hv[l]!, hi[l]!) ? r : l;
        if (!less(hv[c]!, hi[c]!, v, i)) break;
        hv[k] = hv[c]!;
        hi[k] = hi[c]!;
        k = c;
      }
      hv[k] = v;
      hi[k] = i;
    }
  }
  const out = Array.from({ length: size }, (_, k) => k).sort((a, b) => hv[b]! - hv[a]! || hi[a]! - hi[b]!);
  return out.map((k) => hi[k]!);
}

export type TargetReport = {
  rank: number;
  row: number;
  id: string;
  ra: number;
  dec: number;
  /** Mpc, null when unknown. */
  distance: number | null;
  /** Greedy credible level of the target's tile (0..1); null outside the map. */
  searchedProb: number | null;
  /** deg²; null outside the map. */
  searchedArea: number | null;
  /** Angle (deg) from the map's densest tile. */
  offset: number;
  /** dP/dΩ, sr⁻¹. */
  probdensity: number;
  /** dP/dV, Mpc⁻³; null without distances. */
  probdensityVol: number | null;
  weight: number | null;
  score: number;
  /** score / Σ score over the catalogue: the target's share of the probability. */
  prob: number | null;
};

const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** JSON-safe reports for selected rows (rank = position in `rows` + 1). */
export function reportRows(match: CatalogMatch, rows: number[]): TargetReport[] {
  const cat = match.prepared.catalog;
  const d = match.map.densest();
  const hasWeight = cat.columns.weight !== null;
  return rows.map((i, k) => ({
    rank: k + 1,
    row: i,
    id: cat.ids[i]!,
    ra: cat.ra[i]!,
    dec: cat.dec[i]!,
    distance: finiteOrNull(cat.dist[i]!),
    searchedProb: finiteOrNull(match.searchedProb(i)),
    searchedArea: finiteOrNull(match.searchedArea(i)),
    offset: (angularDistance(cat.ra[i]!, cat.dec[i]!, d.ra, d.dec) * 180) / Math.PI,
    probdensity: match.probdensity(i),
    probdensityVol: finiteOrNull(match.probdensityVol(i)),
    weight: hasWeight ? finiteOrNull(cat.weight[i]!) : null,
    score: match.score(i),
    prob: match.scoreSum > 0 ? match.score(i) / match.scoreSum : null,
  }));
}
