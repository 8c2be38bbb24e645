/**
 * VOXnet sky: HEALPix math, sky-map readers, MOCs and crossmatching of
 * localisations (LVK sky maps, error circles) against galaxy catalogues,
 * telescope fields and watch-lists.
 */
export * as healpix from './healpix.ts';
export {
  MAX_ORDER,
  ang2pix,
  pix2ang,
  radec2pix,
  pix2radec,
  nest2ring,
  ring2nest,
  neighbours,
  nest2uniq,
  uniq2nest,
  order2nside,
  nside2order,
  order2npix,
  pixelArea,
  pixelAreaDeg2,
  queryDisc,
  queryDiscRadec,
  queryPolygon,
  queryPolygonAny,
  type PixelRanges,
  type QueryOptions,
} from './healpix.ts';
export { FitsError, parseFits, readColumn } from './fits.ts';
export { SkyMap, SkyMapError, type SkyMapMeta, type Densest, type TileRanking } from './skymap.ts';
export {
  readSkyMapAny,
  readSkyMapBase64,
  readSkyMapBytes,
  readSkyMapFile,
  readSkyMapFileSync,
  readSkyMapFromAlert,
  type GwAlert,
  type ReadOptions,
} from './readers.ts';
export { summariseSkyMap, type SkyMapSummary } from './summary.ts';
export { conditionalMoments, conditionalCdf, conditionalPdf, densityPerVolume, marginalMoments } from './distance.ts';
export { Moc, MocError, mocProbability, readMocFits, type Cell } from './moc.ts';
export { circleSkyMap, fisherKappa, type CircleLocalisation } from './circle.ts';
export { CatalogError, catalogFromArrays, parseCatalog, readCatalogFile, type Catalog, type CatalogOptions } from './catalog.ts';
export {
  prepareCatalog,
  crossmatchCatalog,
  reportRows,
  topIndices,
  CatalogMatch,
  type PreparedCatalog,
  type TargetReport,
  type RankMode,
} from './crossmatch.ts';
export {
  circleFootprint,
  rectangleFootprint,
  parseRegions,
  prepareFields,
  fieldCoverage,
  cumulativeCoverage,
  footprintAt,
  fieldMoc,
  PreparedFields,
  type Footprint,
} from './fields.ts';
export {
  crossmatchLocalisation,
  crossmatchSkyMap,
  crossmatchResultToJSON,
  localisationToSkyMap,
  type LocalisationInput,
  type CrossmatchTargets,
  type CrossmatchResult,
  type FieldReport,
  type LocalisationOptions,
} from './localisation.ts';
export { skymapCommand, crossmatchCommand } from './cli.ts';
