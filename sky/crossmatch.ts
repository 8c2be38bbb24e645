/**
 * Catalogue × sky-map crossmatch on sorted order-29 indices.
 *
 * prepareCatalog() computes every target's order-29 NESTED index once and the
 * permutation that sorts them; crossmatchCatalog() then assigns targets to map
 * tiles with one linear merge of the sorted indices against the map's sorted
 * tile ranges (O(N + T), no per-target search), and reads per-tile credible
 * levels computed once per map. A million galaxies take a few milliseconds.
 *
 * Per target: probability density (sr⁻¹), searched probability (greedy credible
 * level) and searched area, the 3D density dP/dV from the distance ansatz when
 * the target has a distance, and a ranking score = density × weight.
 */
import { angularDistance, radec2nest29Bulk } from './healpix.ts';
import { argsortU64 } from './sort.ts';
import type { Catalog } from './catalog.ts';
import { SR_TO_DEG2, type SkyMap } from './skymap.ts';

const INV_SQRT2PI = 1 / Math.sqrt(2 * Math.PI);

export type PreparedCatalog = {
  catalog: Catalog;
  /** Order-29 NESTED index per row (hi/lo halves; 0xffffffff for unusable rows). */
  hi: Uint32Array;
  lo: Uint32Array;
  /** Row indices sorted by order-29 index. */
  sorted: Uint32Array;
};

/** One-time preparation of a catalogue: order-29 indices and their sort order. */
export function prepareCatalog(catalog: Catalog): PreparedCatalog {
  const n = catalog.size;
  const hi = new Uint32Array(n);
  const lo = new Uint32Array(n);
  radec2nest29Bulk(catalog.ra, catalog.dec, hi, lo);
  return { catalog, hi, lo, sorted: argsortU64(hi, lo) };
}

export type RankMode = '3d' | '2d';

export type CrossmatchOptions = {
  /** '3d' ranks by dP/dV × weight (needs distances), '2d' by dP/dΩ × weight; 'auto' (default) picks 3d when the map has distance layers. */
  rank?: 'auto' | RankMode;
};

export type CatalogMatch = {
  map: SkyMap;
  prepared: PreparedCatalog;
  rankMode: RankMode;
  /** Tile index per row, -1 when outside the map. */
  tile: Int32Array;
  /** dP/dΩ (sr⁻¹) per row, 0 outside the map. */
  probdensity: Float64Array;
  /** Searched probability (credible level) per row, NaN outside the map. */
  searchedProb: Float64Array;
  /** Searched area (deg²) per row, NaN outside the map. */
  searchedArea: Float64Array;
  /** dP/dV (Mpc⁻³) per row; NaN without a distance (row or map). */
  probdensityVol: Float64Array;
  /** Ranking score: (dP/dV or dP/dΩ) × weight; 0 when unknown. */
  score: Float64Array;
  scoreSum: number;
  /** Rows with a 3D density (map and row both have distances). */
  withDistance: number;
};

export function crossmatchCatalog(map: SkyMap, prepared: PreparedCatalog, opts: CrossmatchOptions = {}): CatalogMatch {
  const cat = prepared.catalog;
  const n = cat.size;
  const tile = map.locate(prepared.hi, prepared.lo, prepared.sorted);
  const rankMode: RankMode = opts.rank === '2d' || (opts.rank !== '3d' && !map.hasDistance) ? '2d' : '3d';
  const { searchedProb: tileSP, searchedArea: tileSA } = map.ranking();
  const total = map.totalProbability;
  const pdT = map.probdensity;
  const mu = map.distmu;
  const sigma = map.distsigma;
  const norm = map.distnorm;
  const dist = cat.dist;
  const weight = cat.weight;
  const probdensity = new Float64Array(n);
  const searchedProb = new Float64Array(n);
  const searchedArea = new Float64Array(n);
  const probdensityVol = new Float64Array(n);
  const score = new Float64Array(n);
  let scoreSum = 0;
  let withDistance = 0;
  for (let i = 0; i < n; i++) {
    const t = tile[i]!;
    if (t < 0) {
      searchedProb[i] = NaN;
      searchedArea[i] = NaN;
      probdensityVol[i] = NaN;
      continue;
    }
    const pd = pdT[t]! / total;
    probdensity[i] = pd;
    searchedProb[i] = tileSP[t]!;
    searchedArea[i] = tileSA[t]! * SR_TO_DEG2;
    let pdv = NaN;
    const r = dist[i]!;
    if (mu !== undefined && r > 0) {
      const s = sigma![t]!;
      const m = mu[t]!;
      const nm = norm![t]!;
      if (s > 0 && nm > 0 && m === m && m !== Infinity) {
        const x = (r - m) / s;
        pdv = (pd * nm * INV_SQRT2PI * Math.exp(-0.5 * x * x)) / s;
      } else pdv = 0;
      withDistance++;
    }
    probdensityVol[i] = pdv;
    const base = rankMode === '3d' ? pdv : pd;
    const w = weight[i]!;
    const sc = base > 0 && w > 0 ? base * w : 0;
    score[i] = sc;
    scoreSum += sc;
  }
  return { map, prepared, rankMode, tile, probdensity, searchedProb, searchedArea, probdensityVol, score, scoreSum, withDistance };
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
    } else if (less(hv[0]!, hi[0]!, v, i)) {
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
    searchedProb: finiteOrNull(match.searchedProb[i]!),
    searchedArea: finiteOrNull(match.searchedArea[i]!),
    offset: (angularDistance(cat.ra[i]!, cat.dec[i]!, d.ra, d.dec) * 180) / Math.PI,
    probdensity: match.probdensity[i]!,
    probdensityVol: finiteOrNull(match.probdensityVol[i]!),
    weight: hasWeight ? finiteOrNull(cat.weight[i]!) : null,
    score: match.score[i]!,
    prob: match.scoreSum > 0 ? match.score[i]! / match.scoreSum : null,
  }));
}

/** Number of rows inside the greedy credible region at `level`. */
export function countWithin(match: CatalogMatch, level: number): number {
  let c = 0;
  for (let i = 0; i < match.searchedProb.length; i++) if (match.searchedProb[i]! <= level) c++;
  return c;
}
