/**
 * The entry point for agents: a localisation (sky-map bytes, base64, an
 * igwn.gwalert notice, an error circle or a SkyMap) and prepared targets in,
 * a JSON-safe crossmatch result out. Pure and synchronous: prepare catalogues
 * and field grids once at start-up (prepareCatalog, prepareFields), then call
 * crossmatchLocalisation for every alert.
 */
import { type CircleLocalisation, circleSkyMap } from './circle.ts';
import { type PreparedCatalog, type RankMode, type TargetReport, crossmatchCatalog, reportRows, topIndices } from './crossmatch.ts';
import { type PreparedFields, cumulativeCoverage, fieldCoverage } from './fields.ts';
import { type GwAlert, type ReadOptions, readSkyMapAny, readSkyMapBase64, readSkyMapFromAlert } from './readers.ts';
import { SkyMap } from './skymap.ts';
import { DEFAULT_LEVELS, type SkyMapSummary, summariseSkyMap } from './summary.ts';

export type LocalisationInput =
  | { kind: 'fits'; bytes: Uint8Array; source?: string }
  | { kind: 'base64'; data: string; source?: string }
  | { kind: 'alert'; alert: string | GwAlert; combined?: boolean }
  | { kind: 'circle'; circle: CircleLocalisation }
  | { kind: 'map'; map: SkyMap };

/** Turns any localisation into a SkyMap (throws SkyMapError on malformed input). */
export function localisationToSkyMap(loc: LocalisationInput, opts: ReadOptions = {}): SkyMap {
  switch (loc.kind) {
    case 'fits':
      return readSkyMapAny(loc.bytes, { ...opts, ...(loc.source ? { source: loc.source } : {}) });
    case 'base64':
      return readSkyMapBase64(loc.data, { ...opts, ...(loc.source ? { source: loc.source } : {}) });
    case 'alert':
      return readSkyMapFromAlert(loc.alert, { ...opts, ...(loc.combined ? { combined: true } : {}) });
    case 'circle':
      return circleSkyMap(loc.circle);
    case 'map':
      return loc.map;
    default:
      throw new TypeError(`unknown localisation kind ${(loc as { kind: string }).kind}`);
  }
}

export type CrossmatchTargets = {
  galaxies?: PreparedCatalog;
  fields?: PreparedFields;
  watchlist?: PreparedCatalog;
};

export type LocalisationOptions = {
  /** Galaxies to report (default 20). */
  topGalaxies?: number;
  /** Fields to report (default 10). */
  topFields?: number;
  /** Credible levels for areas and counts (default 0.5, 0.9). */
  levels?: number[];
  rank?: 'auto' | RankMode;
  /** Also compute the union coverage of the first k reported fields (default true). */
  cumulativeFields?: boolean;
};

export type FieldReport = {
  rank: number;
  row: number;
  id: string;
  ra: number;
  dec: number;
  /** Probability inside this field. */
  prob: number;
  /** Probability inside the union of fields 1..rank. */
  cumulativeProb: number | null;
};

export type CrossmatchResult = {
  map: SkyMapSummary;
  galaxies?: {
    catalog: string;
    size: number;
    rankedBy: RankMode;
    weight: string | null;
    withDistance: number;
    /** Number of galaxies inside each greedy credible region. */
    within: { level: number; count: number }[];
    top: TargetReport[];
  };
  fields?: { catalog: string; size: number; order: number; top: FieldReport[] };
  watchlist?: { catalog: string; size: number; targets: TargetReport[] };
};

/** Crossmatch a localisation against prepared targets. */
export function crossmatchLocalisation(loc: LocalisationInput, targets: CrossmatchTargets, opts: LocalisationOptions = {}): CrossmatchResult {
  const map = localisationToSkyMap(loc);
  return crossmatchSkyMap(map, targets, opts);
}

export function crossmatchSkyMap(map: SkyMap, targets: CrossmatchTargets, opts: LocalisationOptions = {}): CrossmatchResult {
  const levels = opts.levels ?? DEFAULT_LEVELS;
  const result: CrossmatchResult = { map: summariseSkyMap(map, levels) };
  if (targets.galaxies) {
    const m = crossmatchCatalog(map, targets.galaxies, { rank: opts.rank ?? 'auto' });
    const cat = targets.galaxies.catalog;
    result.galaxies = {
      catalog: cat.name,
      size: cat.size,
      rankedBy: m.rankMode,
      weight: cat.columns.weight ? (cat.columns.weightIsMagnitude ? `10^(-0.4 ${cat.columns.weight})` : cat.columns.weight) : null,
      withDistance: m.withDistance,
      within: levels.map((level) => ({ level, count: m.countWithin(level) })),
      top: reportRows(m, m.top(opts.topGalaxies ?? 20)),
    };
  }
  if (targets.fields) {
    const f = targets.fields;
    const cov = fieldCoverage(map, f);
    const top = topIndices(cov, opts.topFields ?? 10);
    const cum = opts.cumulativeFields === false ? null : cumulativeCoverage(map, f, top);
    result.fields = {
      catalog: f.catalog.name,
      size: f.catalog.size,
      order: f.order,
      top: top.map((i, k) => ({
        rank: k + 1,
        row: i,
        id: f.catalog.ids[i]!,
        ra: f.catalog.ra[i]!,
        dec: f.catalog.dec[i]!,
        prob: cov[i]!,
        cumulativeProb: cum ? cum[k]! : null,
      })),
    };
  }
  if (targets.watchlist) {
    const m = crossmatchCatalog(map, targets.watchlist, { rank: opts.rank ?? 'auto' });
    const cat = targets.watchlist.catalog;
    const rows = Array.from({ length: cat.size }, (_, i) => i);
    result.watchlist = { catalog: cat.name, size: cat.size, targets: reportRows(m, rows) };
  }
  return result;
}

/** The JSON form of a result (stable key order, no NaN/Infinity). */
export function crossmatchResultToJSON(result: CrossmatchResult, indent = 2): string {
  return JSON.stringify(result, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), indent);
}
