/** JSON-safe summary of a sky map: credible areas, densest position, distance. */
import type { SkyMap } from './skymap.ts';

export type SkyMapSummary = {
  object: string | null;
  instruments: string[];
  dateObs: string | null;
  mjdObs: number | null;
  creator: string | null;
  origin: string | null;
  /** NUNIQ, NESTED, RING (flat source) or CIRCLE (synthetic). */
  ordering: string;
  ntiles: number;
  minOrder: number;
  maxOrder: number;
  sourceNside: number | null;
  /** Σ density × area before normalisation (1 for a well-formed map). */
  totalProbability: number;
  /** Greedy credible areas (deg²) at the requested levels. */
  areas: { level: number; areaDeg2: number }[];
  area50: number;
  area90: number;
  /** Centre of the tile of highest probability density. */
  densest: { ra: number; dec: number; uniq: string; order: number; probdensity: number; probdensityDeg2: number };
  /** Sky-marginal distance moments from the distance layers (Mpc), null without them. */
  distance: { mean: number; std: number } | null;
  /** DISTMEAN/DISTSTD as written in the header by the pipeline. */
  headerDistance: { mean: number; std: number } | null;
  warnings: string[];
};

export const DEFAULT_LEVELS = [0.5, 0.9];

export function summariseSkyMap(map: SkyMap, levels: number[] = DEFAULT_LEVELS): SkyMapSummary {
  const m = map.meta;
  const d = map.densest();
  const dist = map.distance();
  const total = map.totalProbability;
  return {
    object: m.object ?? null,
    instruments: m.instruments ?? [],
    dateObs: m.dateObs ?? null,
    mjdObs: m.mjdObs ?? null,
    creator: m.creator ?? null,
    origin: m.origin ?? null,
    ordering: m.ordering,
    ntiles: map.ntiles,
    minOrder: map.minOrder,
    maxOrder: map.maxOrder,
    sourceNside: m.sourceNside ?? null,
    totalProbability: total,
    areas: levels.map((level) => ({ level, areaDeg2: map.credibleArea(level) })),
    area50: map.credibleArea(0.5),
    area90: map.credibleArea(0.9),
    densest: {
      ra: d.ra,
      dec: d.dec,
      uniq: d.uniq.toString(),
      order: d.order,
      probdensity: d.probdensity / total,
      probdensityDeg2: d.probdensity / total / (180 / Math.PI) ** 2,
    },
    distance: dist && Number.isFinite(dist.mean) && Number.isFinite(dist.std) ? dist : null,
    headerDistance: m.distMean !== undefined && m.distStd !== undefined ? { mean: m.distMean, std: m.distStd } : null,
    warnings: [...m.warnings],
  };
}
