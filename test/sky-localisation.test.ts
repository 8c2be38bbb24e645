/** sky/localisation.ts: the pure function the XMPP agent calls, and its JSON form. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { catalogFromArrays, readCatalogFile } from '../sky/catalog.ts';
import { prepareCatalog, type PreparedCatalog } from '../sky/crossmatch.ts';
import { parseRegions, prepareFields, type PreparedFields } from '../sky/fields.ts';
import { crossmatchLocalisation, crossmatchResultToJSON, localisationToSkyMap, type CrossmatchTargets } from '../sky/localisation.ts';
import { readSkyMapBytes } from '../sky/readers.ts';
import { SkyMapError } from '../sky/skymap.ts';
import { CATALOGS, SKYMAPS } from './sky-helpers.ts';

const bytes = new Uint8Array(readFileSync(join(SKYMAPS, 'userguide-bayestar.multiorder.fits')));
let galaxies: PreparedCatalog;
let fields: PreparedFields;
let watchlist: PreparedCatalog;
let targets: CrossmatchTargets;

beforeAll(async () => {
  galaxies = prepareCatalog(await readCatalogFile(join(CATALOGS, 'skyportal-GLADE+_first100.csv'), { weightColumn: 'B_Abs', weightIsMagnitude: true }));
  fields = prepareFields(await readCatalogFile(join(CATALOGS, 'skyportal-ZTF_Fields.csv')), parseRegions(readFileSync(join(CATALOGS, 'skyportal-ZTF_Region.reg'), 'utf8')));
  watchlist = prepareCatalog(
    catalogFromArrays({ ra: [194.3042, 10, 192.7], dec: [-17.8569, 10, 41.1], dist: [40, NaN, 4.4], ids: ['at-peak', 'far-away', 'NGC4736-ish'], name: 'watch' }),
  );
  targets = { galaxies, fields, watchlist };
});

describe('crossmatchLocalisation', () => {
  it('gives the same result from FITS bytes, base64, an alert and a SkyMap', () => {
    const b64 = Buffer.from(bytes).toString('base64');
    const results = [
      crossmatchLocalisation({ kind: 'fits', bytes }, targets),
      crossmatchLocalisation({ kind: 'base64', data: b64 }, targets),
      crossmatchLocalisation({ kind: 'alert', alert: { superevent_id: 'MS181101ab', alert_type: 'PRELIMINARY', event: { skymap: b64 } } }, targets),
      crossmatchLocalisation({ kind: 'map', map: readSkyMapBytes(bytes) }, targets),
    ];
    const json = results.map((r) => crossmatchResultToJSON(r));
    expect(new Set(json).size).toBe(1);
  });

  it('summarises the map and reports galaxies, fields and the watch-list', () => {
    const r = crossmatchLocalisation({ kind: 'fits', bytes }, targets, { topGalaxies: 5, topFields: 3 });
    expect(r.map.object).toBe('MS181101ab');
    expect(r.map.area90.toFixed(2)).toBe('30.98');
    expect(r.map.area50.toFixed(2)).toBe('8.90');
    expect(r.map.areas.map((a) => a.level)).toEqual([0.5, 0.9]);
    expect(r.map.densest.ra.toFixed(4)).toBe('194.3042');
    expect(r.map.distance!.mean).toBeCloseTo(39.77, 2);
    expect(r.galaxies!.top).toHaveLength(5);
    expect(r.galaxies!.rankedBy).toBe('3d');
    expect(r.galaxies!.weight).toBe('10^(-0.4 B_Abs)');
    expect(r.galaxies!.size).toBe(galaxies.catalog.size);
    expect(r.fields!.top).toHaveLength(3);
    expect(r.fields!.top[0]!.id).toBe('321.0');
    expect(r.fields!.top[2]!.cumulativeProb!).toBeGreaterThanOrEqual(r.fields!.top[1]!.cumulativeProb!);
    const w = r.watchlist!.targets;
    expect(w.map((t) => t.id)).toEqual(['at-peak', 'far-away', 'NGC4736-ish']);
    expect(w[0]!.searchedProb!).toBeLessThan(0.01);
    expect(w[0]!.offset).toBeLessThan(0.05);
    expect(w[0]!.probdensityVol).toBeGreaterThan(0);
    expect(w[1]!.searchedProb!).toBeGreaterThan(0.99);
    expect(w[1]!.distance).toBeNull();
    expect(w[1]!.probdensityVol).toBeNull();
  });

  it('JSON form: parses, has no NaN/Infinity, round-trips', () => {
    const r = crossmatchLocalisation({ kind: 'fits', bytes }, targets);
    const text = crossmatchResultToJSON(r);
    expect(text).not.toMatch(/NaN|Infinity/);
    const back = JSON.parse(text);
    expect(back.map.area90).toBe(r.map.area90);
    expect(back.galaxies.top[0].id).toBe(r.galaxies!.top[0]!.id);
    expect(back.map.densest.uniq).toBe(r.map.densest.uniq);
  });

  it('error circles work the same way (2D ranking, no distances)', () => {
    const r = crossmatchLocalisation({ kind: 'circle', circle: { ra: 194.3, dec: -17.85, radius: 1, name: 'GRB X' } }, { galaxies, watchlist });
    expect(r.map.ordering).toBe('CIRCLE');
    expect(r.map.object).toBe('GRB X');
    expect(r.map.area90).toBeGreaterThan(3);
    expect(r.map.area90).toBeLessThan(3.3);
    expect(r.galaxies!.rankedBy).toBe('2d');
    expect(r.watchlist!.targets[0]!.searchedProb!).toBeLessThan(0.2);
    expect(r.map.distance).toBeNull();
  });

  it('bad localisations are SkyMapErrors', () => {
    expect(() => localisationToSkyMap({ kind: 'base64', data: '!!!' })).toThrow(SkyMapError);
    expect(() => localisationToSkyMap({ kind: 'fits', bytes: new Uint8Array(10) })).toThrow(SkyMapError);
    expect(() => crossmatchLocalisation({ kind: 'alert', alert: { superevent_id: 'S2', alert_type: 'RETRACTION', event: null } }, targets)).toThrow(/carries no sky map/);
  });
});
