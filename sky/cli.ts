/**
 * `voxnet skymap FILE` and `voxnet skymap-crossmatch FILE --catalog CSV`.
 * Column names and units follow ligo-skymap-stats (searched_area in deg²,
 * searched_prob, offset in deg, probdensity in sr⁻¹, probdensity_vol in Mpc⁻³,
 * area(50)/area(90), distmean/diststd).
 */
import { parseArgs } from 'node:util';
import { readCatalogFile, type CatalogOptions } from './catalog.ts';
import { circleSkyMap } from './circle.ts';
import { prepareCatalog, type TargetReport } from './crossmatch.ts';
import { type Footprint, circleFootprint, parseRegions, prepareFields, rectangleFootprint } from './fields.ts';
import { crossmatchResultToJSON, crossmatchSkyMap, type CrossmatchResult, type CrossmatchTargets } from './localisation.ts';
import { Moc } from './moc.ts';
import { readSkyMapFile } from './readers.ts';
import type { SkyMap } from './skymap.ts';
import { type SkyMapSummary, summariseSkyMap } from './summary.ts';
import { readFile } from 'node:fs/promises';

type Out = { log: (s: string) => void; error: (s: string) => void };
const defaultOut: Out = { log: (s) => process.stdout.write(s + '\n'), error: (s) => process.stderr.write(s + '\n') };

const SKYMAP_USAGE = `usage: voxnet skymap FILE [--json] [--levels 50,90] [--moc LEVEL]

Summarise a HEALPix sky map: multi-order (NUNIQ) or flat (NESTED/RING) FITS,
optionally gzipped, or an igwn.gwalert JSON notice with an embedded sky map.

  --levels L1,L2   credible levels for areas, percent (default 50,90)
  --moc LEVEL      also print the IVOA MOC (ASCII) of the LEVEL% credible region
  --json           machine-readable output`;

const CROSSMATCH_USAGE = `usage: voxnet skymap-crossmatch FILE|--circle RA,DEC,RADIUS[,CONTAINMENT] --catalog CSV [options]

Rank catalogue targets inside a localisation (ligo-skymap-stats conventions).

targets
  --catalog FILE       galaxy catalogue: CSV with a header, or GLADE+.txt (.gz ok)
  --watchlist FILE     targets to report individually (CSV: name, ra, dec[, dist])
  --fields FILE        telescope field centres (CSV: ID, RA, Dec)
  --footprint FILE     field footprint, DS9 region around RA=Dec=0 (polygon/circle/box)
  --fov-radius DEG     circular field of view instead of --footprint
  --fov-rect WxH       rectangular field of view (degrees)
catalogue columns (found by name when omitted)
  --ra-col C --dec-col C --dist-col C --id-col C
  --weight COL         multiply densities by this column (e.g. mstar, 'M*')
  --weight-mag COL     weight by 10^(-0.4·COL) (absolute magnitude → luminosity)
ranking and output
  --rank auto|3d|2d    3d: dP/dV × weight (needs distances); 2d: dP/dΩ × weight
  --top N              galaxies to print (default 20); --fields-top N (default 10)
  --fields-order N     HEALPix order for field footprints (default 10)
  --levels L1,L2       credible levels, percent (default 50,90)
  --json | --tsv       machine-readable output`;

function levelsArg(s: string | undefined): number[] {
  if (s === undefined) return [0.5, 0.9];
  const v = s.split(',').map((x) => Number(x.trim()) / 100);
  if (v.some((x) => !(x > 0 && x <= 1))) throw new UsageError(`--levels must be percentages in (0, 100], got '${s}'`);
  return v;
}

class UsageError extends Error {}

function num(name: string, s: string | undefined, def: number): number {
  if (s === undefined) return def;
  const v = Number(s);
  if (!Number.isFinite(v)) throw new UsageError(`--${name} needs a number, got '${s}'`);
  return v;
}

export function fmtRa(ra: number): string {
  const h = ra / 15;
  let hh = Math.floor(h);
  let mm = Math.floor((h - hh) * 60);
  let ss = Math.round(((h - hh) * 60 - mm) * 60 * 100) / 100;
  if (ss >= 60) {
    ss -= 60;
    mm++;
  }
  if (mm >= 60) {
    mm -= 60;
    hh = (hh + 1) % 24;
  }
  return `${String(hh).padStart(2, '0')}h${String(mm).padStart(2, '0')}m${ss.toFixed(2).padStart(5, '0')}s`;
}

export function fmtDec(dec: number): string {
  const s = dec < 0 ? '-' : '+';
  const a = Math.abs(dec);
  let d = Math.floor(a);
  let m = Math.floor((a - d) * 60);
  let sec = Math.round(((a - d) * 60 - m) * 60 * 10) / 10;
  if (sec >= 60) {
    sec -= 60;
    m++;
  }
  if (m >= 60) {
    m -= 60;
    d++;
  }
  return `${s}${String(d).padStart(2, '0')}°${String(m).padStart(2, '0')}′${sec.toFixed(1).padStart(4, '0')}″`;
}

function pct(level: number): string {
  return `${+(level * 100).toFixed(6)}`;
}

function summaryLines(file: string, s: SkyMapSummary): string[] {
  const rows: [string, string][] = [['file', file]];
  if (s.object) rows.push(['object', s.object]);
  if (s.instruments.length) rows.push(['instruments', s.instruments.join(',')]);
  if (s.dateObs) rows.push(['date-obs', s.dateObs]);
  if (s.creator) rows.push(['creator', s.creator]);
  const flat = s.sourceNside ? `, flat NSIDE ${s.sourceNside} merged` : '';
  rows.push(['ordering', `${s.ordering}${flat}: ${s.ntiles} tiles, orders ${s.minOrder}..${s.maxOrder}`]);
  if (Math.abs(s.totalProbability - 1) > 1e-6) rows.push(['total prob', `${s.totalProbability.toPrecision(8)} (normalised)`]);
  for (const a of s.areas) rows.push([`area(${pct(a.level)})`, `${a.areaDeg2.toFixed(2)} deg²`]);
  rows.push([
    'max prob',
    `RA ${s.densest.ra.toFixed(4)}°  Dec ${s.densest.dec.toFixed(4)}°  (${fmtRa(s.densest.ra)} ${fmtDec(s.densest.dec)}), ${s.densest.probdensityDeg2.toPrecision(4)} deg⁻²`,
  ]);
  if (s.distance) {
    rows.push(['distmean', `${s.distance.mean.toFixed(2)} Mpc`]);
    rows.push(['diststd', `${s.distance.std.toFixed(2)} Mpc`]);
  }
  if (s.headerDistance && s.distance && Math.abs(s.headerDistance.mean - s.distance.mean) > 0.01 * s.distance.mean) {
    rows.push(['DISTMEAN hdr', `${s.headerDistance.mean.toFixed(2)} ± ${s.headerDistance.std.toFixed(2)} Mpc (from the pipeline's header)`]);
  }
  for (const w of s.warnings) rows.push(['warning', w]);
  return rows.map(([k, v]) => `${k.padEnd(13)} ${v}`);
}

export async function skymapCommand(argv: string[], out: Out = defaultOut): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { json: { type: 'boolean' }, levels: { type: 'string' }, moc: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    out.error(`voxnet skymap: ${(err as Error).message}\n\n${SKYMAP_USAGE}`);
    return 2;
  }
  if (args.values.help) {
    out.log(SKYMAP_USAGE);
    return 0;
  }
  if (args.positionals.length !== 1) {
    out.error(`voxnet skymap: expected one FILE\n\n${SKYMAP_USAGE}`);
    return 2;
  }
  const file = args.positionals[0]!;
  let levels: number[];
  let mocLevel: number | undefined;
  try {
    levels = levelsArg(args.values.levels);
    if (args.values.moc !== undefined) mocLevel = levelsArg(args.values.moc)[0];
  } catch (err) {
    out.error(`voxnet skymap: ${(err as Error).message}`);
    return 2;
  }
  let map: SkyMap;
  try {
    map = await readSkyMapFile(file);
  } catch (err) {
    out.error(`voxnet skymap: ${(err as Error).message}`);
    return 1;
  }
  const s = summariseSkyMap(map, levels);
  const moc = mocLevel !== undefined ? Moc.fromSkyMap(map, mocLevel) : undefined;
  if (args.values.json) {
    const o: Record<string, unknown> = { file, ...s };
    if (moc) o.moc = { level: mocLevel, areaDeg2: moc.areaDeg2(), ascii: moc.toAscii() };
    out.log(JSON.stringify(o, null, 2));
  } else {
    for (const l of summaryLines(file, s)) out.log(l);
    if (moc) {
      out.log(`${`moc(${pct(mocLevel!)})`.padEnd(13)} ${moc.areaDeg2().toFixed(2)} deg²`);
      out.log(moc.toAscii());
    }
  }
  return 0;
}

function g(v: number | null, digits = 4): string {
  if (v === null) return '-';
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e6 ? +v.toPrecision(digits) + '' : v.toExponential(digits - 1);
}

const TARGET_COLUMNS = ['rank', 'id', 'ra', 'dec', 'distance', 'searched_prob', 'searched_area', 'offset', 'probdensity', 'probdensity_vol', 'weight', 'prob'];

function targetRow(t: TargetReport): string[] {
  return [
    String(t.rank),
    t.id,
    t.ra.toFixed(5),
    t.dec.toFixed(5),
    t.distance === null ? '-' : t.distance.toFixed(2),
    t.searchedProb === null ? '-' : t.searchedProb.toFixed(4),
    t.searchedArea === null ? '-' : t.searchedArea.toFixed(2),
    t.offset.toFixed(3),
    g(t.probdensity),
    g(t.probdensityVol),
    g(t.weight),
    g(t.prob),
  ];
}

function table(header: string[], rows: string[][], tsv: boolean): string[] {
  if (tsv) return [header.join('\t'), ...rows.map((r) => r.join('\t'))];
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 1 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd();
  return [fmt(header), ...rows.map(fmt)];
}

function resultLines(file: string, r: CrossmatchResult, tsv: boolean): string[] {
  const lines = tsv ? [] : summaryLines(file, r.map);
  const prefix = tsv ? '# ' : '';
  if (tsv) for (const l of summaryLines(file, r.map)) lines.push('# ' + l);
  if (r.galaxies) {
    const gx = r.galaxies;
    lines.push('');
    lines.push(
      `${prefix}catalogue ${gx.catalog}: ${gx.size} targets, ${gx.withDistance} with distances; ranked by ${gx.rankedBy === '3d' ? 'dP/dV' : 'dP/dΩ'}${gx.weight ? ` × ${gx.weight}` : ''}`,
    );
    lines.push(`${prefix}${gx.within.map((w) => `${w.count} inside the ${pct(w.level)}% region`).join(', ')}`);
    lines.push(...table(TARGET_COLUMNS, gx.top.map(targetRow), tsv));
  }
  if (r.fields) {
    const f = r.fields;
    lines.push('');
    lines.push(`${prefix}fields ${f.catalog}: ${f.size} fields (footprints at order ${f.order}); probability covered`);
    lines.push(
      ...table(
        ['rank', 'id', 'ra', 'dec', 'prob', 'cumulative_prob'],
        f.top.map((x) => [String(x.rank), x.id, x.ra.toFixed(4), x.dec.toFixed(4), x.prob.toFixed(5), x.cumulativeProb === null ? '-' : x.cumulativeProb.toFixed(5)]),
        tsv,
      ),
    );
  }
  if (r.watchlist) {
    lines.push('');
    lines.push(`${prefix}watch-list ${r.watchlist.catalog}: ${r.watchlist.size} targets`);
    lines.push(...table(TARGET_COLUMNS, r.watchlist.targets.map(targetRow), tsv));
  }
  return lines;
}

function parseCircle(s: string): { ra: number; dec: number; radius: number; containment?: number } {
  const v = s.split(',').map((x) => Number(x.trim()));
  if (v.length < 3 || v.length > 4 || v.some((x) => !Number.isFinite(x))) throw new UsageError(`--circle needs RA,DEC,RADIUS[,CONTAINMENT] in degrees, got '${s}'`);
  return { ra: v[0]!, dec: v[1]!, radius: v[2]!, ...(v[3] !== undefined ? { containment: v[3] } : {}) };
}

export async function crossmatchCommand(argv: string[], out: Out = defaultOut): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        catalog: { type: 'string' },
        watchlist: { type: 'string' },
        fields: { type: 'string' },
        footprint: { type: 'string' },
        'fov-radius': { type: 'string' },
        'fov-rect': { type: 'string' },
        circle: { type: 'string' },
        'ra-col': { type: 'string' },
        'dec-col': { type: 'string' },
        'dist-col': { type: 'string' },
        'id-col': { type: 'string' },
        weight: { type: 'string' },
        'weight-mag': { type: 'string' },
        rank: { type: 'string' },
        top: { type: 'string' },
        'fields-top': { type: 'string' },
        'fields-order': { type: 'string' },
        levels: { type: 'string' },
        json: { type: 'boolean' },
        tsv: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    out.error(`voxnet skymap-crossmatch: ${(err as Error).message}\n\n${CROSSMATCH_USAGE}`);
    return 2;
  }
  const v = args.values;
  if (v.help) {
    out.log(CROSSMATCH_USAGE);
    return 0;
  }
  const usage = (msg: string) => {
    out.error(`voxnet skymap-crossmatch: ${msg}\n\n${CROSSMATCH_USAGE}`);
    return 2;
  };
  if (v.circle === undefined && args.positionals.length !== 1) return usage('expected one sky-map FILE or --circle');
  if (v.circle !== undefined && args.positionals.length !== 0) return usage('give either a FILE or --circle, not both');
  if (!v.catalog && !v.fields && !v.watchlist) return usage('nothing to crossmatch: give --catalog, --fields or --watchlist');
  if (v.fields && [v.footprint, v['fov-radius'], v['fov-rect']].filter((x) => x !== undefined).length !== 1) {
    return usage('--fields needs exactly one of --footprint, --fov-radius, --fov-rect');
  }
  if (v.weight && v['weight-mag']) return usage('use --weight or --weight-mag, not both');
  if (v.rank && !['auto', '2d', '3d'].includes(v.rank)) return usage(`--rank must be auto, 2d or 3d, got '${v.rank}'`);
  let levels: number[];
  let top: number;
  let fieldsTop: number;
  let fieldsOrder: number;
  let circle;
  try {
    levels = levelsArg(v.levels);
    top = num('top', v.top, 20);
    fieldsTop = num('fields-top', v['fields-top'], 10);
    fieldsOrder = num('fields-order', v['fields-order'], 10);
    if (v.circle !== undefined) circle = parseCircle(v.circle);
  } catch (err) {
    return usage((err as Error).message);
  }
  try {
    const file = v.circle !== undefined ? `circle(${v.circle})` : args.positionals[0]!;
    const map = circle ? circleSkyMap(circle) : await readSkyMapFile(args.positionals[0]!);
    const targets: CrossmatchTargets = {};
    if (v.catalog) {
      const copts: CatalogOptions = {
        ...(v['ra-col'] ? { raColumn: v['ra-col'] } : {}),
        ...(v['dec-col'] ? { decColumn: v['dec-col'] } : {}),
        ...(v['dist-col'] ? { distColumn: v['dist-col'] } : {}),
        ...(v['id-col'] ? { idColumns: [v['id-col']] } : {}),
        ...(v.weight ? { weightColumn: v.weight } : {}),
        ...(v['weight-mag'] ? { weightColumn: v['weight-mag'], weightIsMagnitude: true } : {}),
      };
      const cat = await readCatalogFile(v.catalog, copts);
      for (const w of cat.warnings) out.error(`voxnet skymap-crossmatch: ${v.catalog}: ${w}`);
      targets.galaxies = prepareCatalog(cat);
    }
    if (v.watchlist) targets.watchlist = prepareCatalog(await readCatalogFile(v.watchlist));
    if (v.fields) {
      let fp: Footprint;
      if (v.footprint) fp = parseRegions(await readFile(v.footprint, 'utf8'));
      else if (v['fov-radius']) fp = circleFootprint(num('fov-radius', v['fov-radius'], NaN));
      else {
        const m = /^([\d.]+)\s*[x×]\s*([\d.]+)$/.exec(v['fov-rect']!);
        if (!m) return usage(`--fov-rect needs WxH in degrees, got '${v['fov-rect']}'`);
        fp = rectangleFootprint(Number(m[1]), Number(m[2]));
      }
      targets.fields = prepareFields(await readCatalogFile(v.fields, { distColumn: 'none' }), fp, fieldsOrder);
    }
    const result = crossmatchSkyMap(map, targets, {
      topGalaxies: top,
      topFields: fieldsTop,
      levels,
      rank: (v.rank as 'auto' | '2d' | '3d' | undefined) ?? 'auto',
    });
    if (v.json) out.log(crossmatchResultToJSON(result));
    else for (const l of resultLines(file, result, !!v.tsv)) out.log(l);
    return 0;
  } catch (err) {
    out.error(`voxnet skymap-crossmatch: ${(err as Error).message}`);
    return 1;
  }
}
