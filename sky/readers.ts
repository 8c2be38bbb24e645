/**
 * Sky-map readers: multi-order (NUNIQ) FITS maps, flat HEALPix maps (NESTED or
 * RING, implicit or explicit indexing, scalar or vector rows), optionally
 * gzip-compressed; from a file, from bytes, from base64, or from an
 * igwn.gwalert JSON alert. Flat maps are converted to tiles, merging sibling
 * pixels whose values are identical (lossless: maps flattened from multi-order
 * maps get their tiles back).
 */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { FitsError, type BinTableColumn, type FitsHeader, type Hdu, findColumn, isGzip, maybeGunzip, parseFits, readColumn, readUInt64Column } from './fits.ts';
import { nest2ringTable, nside2order, ring2nest } from './healpix.ts';
import { argsortU64 } from './sort.ts';
import { POW2 } from './u64.ts';
import { SkyMap, SkyMapError, type SkyMapMeta, TILE_AREA, decodeUniqHiLo } from './skymap.ts';

/** healpy's marker for missing pixels. */
const UNSEEN = -1.6375e30;

export type ReadOptions = {
  /** Merge identical sibling pixels of flat maps into larger tiles (default true; lossless). */
  merge?: boolean;
  /** Name for error messages (file name). */
  source?: string;
};

function fail(source: string | undefined, msg: string): never {
  throw new SkyMapError(source ? `${source}: ${msg}` : msg);
}

function metaFromHeader(h: FitsHeader, primary: FitsHeader | undefined, ordering: SkyMapMeta['ordering']): SkyMapMeta {
  const pick = (k: string): FitsHeader | undefined => (h.has(k) ? h : primary?.has(k) ? primary : undefined);
  const str = (k: string) => pick(k)?.string(k)?.trim() || undefined;
  const num = (k: string) => pick(k)?.number(k);
  const inst = str('INSTRUME');
  const meta: SkyMapMeta = { ordering, warnings: [], header: h.toJSON() };
  const set = <K extends keyof SkyMapMeta>(k: K, v: SkyMapMeta[K] | undefined) => {
    if (v !== undefined) meta[k] = v;
  };
  set('object', str('OBJECT'));
  set('instruments', inst ? inst.split(',').map((s) => s.trim()).filter(Boolean) : undefined);
  set('dateObs', str('DATE-OBS'));
  set('mjdObs', num('MJD-OBS'));
  set('creator', str('CREATOR'));
  set('origin', str('ORIGIN'));
  set('reference', str('REFERENC'));
  set('distMean', num('DISTMEAN'));
  set('distStd', num('DISTSTD'));
  set('logBci', num('LOGBCI'));
  set('logBsn', num('LOGBSN'));
  return meta;
}

/** Picks the HDU holding the HEALPix table. */
function healpixHdu(hdus: Hdu[], source?: string): Hdu {
  const tables = hdus.filter((h) => h.type === 'BINTABLE');
  const hp =
    tables.find((h) => (h.header.string('PIXTYPE') ?? '').trim().toUpperCase() === 'HEALPIX') ??
    tables.find((h) => h.header.has('ORDERING') || findColumn(h, 'UNIQ') !== undefined);
  if (!hp) {
    if (tables.length === 0) fail(source, 'no binary table (BINTABLE) extension: not a HEALPix sky map');
    fail(source, "no HEALPix binary table (expected PIXTYPE = 'HEALPIX', an ORDERING keyword or a UNIQ column)");
  }
  return hp;
}

function probabilityColumn(hdu: Hdu, source?: string): { col: BinTableColumn; perSr: boolean } {
  const dens = findColumn(hdu, 'PROBDENSITY');
  if (dens) return { col: dens, perSr: true };
  const prob = findColumn(hdu, 'PROB', 'PROBABILITY', 'PROB_DENSITY');
  if (prob) {
    const unit = (prob.unit ?? '').toLowerCase().replace(/\s/g, '');
    return { col: prob, perSr: unit === 'sr-1' || unit === '1/sr' || prob.name.toUpperCase() === 'PROB_DENSITY' };
  }
  const first = hdu.columns!.find((c) => !['UNIQ', 'PIXEL'].includes(c.name.toUpperCase()));
  if (!first) fail(source, 'no probability column (PROBDENSITY, PROB or PROBABILITY)');
  return { col: first, perSr: (first.unit ?? '').toLowerCase() === 'sr-1' };
}

function floatColumn(bytes: Uint8Array, hdu: Hdu, col: BinTableColumn): Float64Array {
  const a = readColumn(bytes, hdu, col, true);
  if (!(a instanceof Float64Array)) throw new FitsError(`column ${col.name}: expected a numeric column, TFORM '${col.tform}'`);
  return a;
}

function distanceColumns(bytes: Uint8Array, hdu: Hdu): { mu: Float64Array; sigma: Float64Array; norm: Float64Array } | undefined {
  const mu = findColumn(hdu, 'DISTMU');
  const sigma = findColumn(hdu, 'DISTSIGMA');
  const norm = findColumn(hdu, 'DISTNORM');
  if (!mu || !sigma || !norm) return undefined;
  return { mu: floatColumn(bytes, hdu, mu), sigma: floatColumn(bytes, hdu, sigma), norm: floatColumn(bytes, hdu, norm) };
}

/** Reads a sky map from FITS bytes (optionally gzip-compressed). */
export function readSkyMapBytes(input: Uint8Array, opts: ReadOptions = {}): SkyMap {
  const source = opts.source;
  let parsed;
  try {
    parsed = parseFits(input);
  } catch (err) {
    if (err instanceof FitsError) fail(source, err.message);
    throw err;
  }
  const { bytes, hdus } = parsed;
  const hdu = healpixHdu(hdus, source);
  const h = hdu.header;
  const pixtype = (h.string('PIXTYPE') ?? 'HEALPIX').trim().toUpperCase();
  if (pixtype !== 'HEALPIX') fail(source, `PIXTYPE is '${pixtype}', not HEALPIX`);
  const coordsys = (h.string('COORDSYS') ?? 'C').trim().toUpperCase();
  let ordering = (h.string('ORDERING') ?? '').trim().toUpperCase();
  const uniqCol = findColumn(hdu, 'UNIQ');
  if (!ordering && uniqCol) ordering = 'NUNIQ';
  const warnings: string[] = [];
  if (!ordering) {
    ordering = 'RING';
    warnings.push('ORDERING keyword missing; assumed RING (as healpy does)');
  }
  if (coordsys !== 'C' && coordsys !== 'CELESTIAL' && coordsys !== 'EQUATORIAL' && coordsys !== 'ICRS') {
    fail(source, `COORDSYS '${coordsys}' is not celestial (equatorial); only COORDSYS = 'C' maps are supported`);
  }
  try {
    let map: SkyMap;
    if (ordering === 'NUNIQ') map = readMultiOrder(bytes, hdu, hdus[0]?.header, source);
    else if (ordering === 'NESTED' || ordering === 'NEST' || ordering === 'RING') {
      map = readFlat(bytes, hdu, hdus[0]?.header, ordering === 'RING' ? 'RING' : 'NESTED', opts);
    } else fail(source, `unknown ORDERING '${ordering}' (expected NUNIQ, NESTED or RING)`);
    map.meta.warnings.unshift(...warnings);
    return map;
  } catch (err) {
    if (err instanceof FitsError) fail(source, err.message);
    if (err instanceof SkyMapError && source && !err.message.startsWith(source)) fail(source, err.message);
    throw err;
  }
}

function readMultiOrder(bytes: Uint8Array, hdu: Hdu, primary: FitsHeader | undefined, source?: string): SkyMap {
  const uniqCol = findColumn(hdu, 'UNIQ');
  if (!uniqCol) fail(source, "ORDERING is NUNIQ but the table has no UNIQ column");
  const { hi, lo } = readUInt64Column(bytes, hdu, uniqCol);
  const n = hi.length;
  if (!findColumn(hdu, 'PROBDENSITY', 'PROB', 'PROBABILITY', 'PROB_DENSITY')) {
    fail(source, 'multi-order table has no PROBDENSITY column (is this a MOC rather than a sky map?)');
  }
  const { col, perSr } = probabilityColumn(hdu, source);
  if (col.repeat !== 1) fail(source, `column ${col.name} must be scalar in a NUNIQ map (TFORM '${col.tform}')`);
  const density = floatColumn(bytes, hdu, col);
  const order = new Uint8Array(n);
  const ipixHi = new Uint32Array(n);
  const ipixLo = new Uint32Array(n);
  const meta = metaFromHeader(hdu.header, primary, 'NUNIQ');
  meta.sourceRows = n;
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const r = decodeUniqHiLo(hi[i]!, lo[i]!);
    if (!r) fail(source, `invalid UNIQ value ${(BigInt(hi[i]!) << 32n) | BigInt(lo[i]!)} in row ${i + 1}`);
    order[i] = r[0];
    ipixHi[i] = r[1];
    ipixLo[i] = r[2];
    let d = density[i]!;
    if (!perSr) d /= TILE_AREA[r[0]]!;
    if (Number.isNaN(d) || d === UNSEEN) {
      d = 0;
      bad++;
    }
    density[i] = d;
  }
  if (bad) meta.warnings.push(`${bad} tiles with NaN/UNSEEN probability treated as 0`);
  const dist = distanceColumns(bytes, hdu);
  return new SkyMap({
    order,
    ipixHi,
    ipixLo,
    probdensity: density,
    ...(dist ? { distmu: dist.mu, distsigma: dist.sigma, distnorm: dist.norm } : {}),
    meta,
  });
}

function readFlat(bytes: Uint8Array, hdu: Hdu, primary: FitsHeader | undefined, ordering: 'NESTED' | 'RING', opts: ReadOptions): SkyMap {
  const source = opts.source;
  const h = hdu.header;
  const { col, perSr } = probabilityColumn(hdu, source);
  const raw = floatColumn(bytes, hdu, col);
  const explicit = (h.string('INDXSCHM') ?? 'IMPLICIT').trim().toUpperCase() === 'EXPLICIT';
  let nside = h.int('NSIDE');
  let pixels: Float64Array | undefined; // explicit pixel numbers (source ordering)
  let first = 0;
  if (explicit) {
    const pc = findColumn(hdu, 'PIXEL');
    if (!pc) fail(source, "INDXSCHM is EXPLICIT but there is no PIXEL column");
    pixels = floatColumn(bytes, hdu, pc);
    if (pc.repeat !== col.repeat) fail(source, 'PIXEL and probability columns have different repeat counts');
  } else {
    first = h.int('FIRSTPIX') ?? 0;
  }
  if (nside === undefined) {
    if (explicit || first !== 0) fail(source, 'NSIDE keyword missing');
    const ns = Math.round(Math.sqrt(raw.length / 12));
    if (12 * ns * ns !== raw.length) fail(source, `NSIDE keyword missing and ${raw.length} pixels is not 12·nside²`);
    nside = ns;
  }
  let order: number;
  try {
    order = nside2order(nside);
  } catch {
    fail(source, `invalid NSIDE ${nside} (must be a power of two ≤ 2^29)`);
  }
  if (order > 13) fail(source, `flat maps above NSIDE 8192 are not supported (NSIDE ${nside})`);
  const npix = 12 * nside * nside;
  if (!explicit) {
    // an implicit map is full-sky unless FIRSTPIX/LASTPIX say otherwise
    const last = h.int('LASTPIX') ?? (h.has('FIRSTPIX') ? first + raw.length - 1 : npix - 1);
    if (first < 0 || last >= npix || last - first + 1 !== raw.length) {
      fail(source, `map has ${raw.length} pixels but NSIDE ${nside} with FIRSTPIX ${first}..LASTPIX ${last} needs ${last - first + 1} (of ${npix})`);
    }
  }
  const dist = distanceColumns(bytes, hdu);
  const meta = metaFromHeader(h, primary, ordering);
  meta.sourceNside = nside;
  meta.sourceRows = raw.length;
  const area = TILE_AREA[order]!;

  // Build full-resolution arrays in NESTED order: index list (nested ipix) + values.
  let nestIdx: Uint32Array;
  let src: Uint32Array | null; // row for each nested entry (null = identity)
  if (!explicit && first === 0 && raw.length === npix) {
    nestIdx = new Uint32Array(npix);
    for (let p = 0; p < npix; p++) nestIdx[p] = p;
    src = ordering === 'RING' ? nest2ringTable(order) : null;
  } else {
    const m = raw.length;
    const pairs: [number, number][] = [];
    for (let i = 0; i < m; i++) {
      const p = explicit ? pixels![i]! : first + i;
      if (!Number.isInteger(p) || p < 0 || p >= npix) fail(source, `pixel index ${p} out of range for NSIDE ${nside}`);
      pairs.push([ordering === 'RING' ? Number(ring2nest(order, p)) : p, i]);
    }
    pairs.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < pairs.length; i++) if (pairs[i]![0] === pairs[i - 1]![0]) fail(source, `pixel ${pairs[i]![0]} appears twice`);
    nestIdx = Uint32Array.from(pairs, (p) => p[0]);
    src = Uint32Array.from(pairs, (p) => p[1]);
  }
  const n = nestIdx.length;
  const dens = new Float64Array(n);
  let bad = 0;
  for (let k = 0; k < n; k++) {
    let v = raw[src ? src[k]! : k]!;
    if (Number.isNaN(v) || v === UNSEEN || (v < 0 && v <= -1e30)) {
      v = 0;
      bad++;
    }
    dens[k] = perSr ? v : v / area;
  }
  if (bad) meta.warnings.push(`${bad} pixels with NaN/UNSEEN probability treated as 0`);
  const gather = (a: Float64Array): Float64Array => {
    if (!src) return a;
    const out = new Float64Array(n);
    for (let k = 0; k < n; k++) out[k] = a[src[k]!]!;
    return out;
  };
  const dmu = dist ? gather(dist.mu) : undefined;
  const dsig = dist ? gather(dist.sigma) : undefined;
  const dnorm = dist ? gather(dist.norm) : undefined;

  if (opts.merge === false) {
    return new SkyMap({
      order: new Uint8Array(n).fill(order),
      ipixHi: new Uint32Array(n),
      ipixLo: nestIdx,
      probdensity: dens,
      ...(dist ? { distmu: dmu!, distsigma: dsig!, distnorm: dnorm! } : {}),
      meta,
    });
  }
  const merged = mergeSiblings(order, nestIdx, [dens, ...(dist ? [dmu!, dsig!, dnorm!] : [])]);
  return new SkyMap({
    order: merged.order,
    ipixHi: new Uint32Array(merged.order.length),
    ipixLo: merged.ipix,
    probdensity: merged.values[0]!,
    ...(dist ? { distmu: merged.values[1]!, distsigma: merged.values[2]!, distnorm: merged.values[3]! } : {}),
    meta,
  });
}

function same(a: number, b: number): boolean {
  return a === b || (a !== a && b !== b);
}

/**
 * Lossless bottom-up merge: four sibling tiles whose values are all identical in
 * every layer become their parent tile. Input: sorted NESTED indices at `order`
 * (≤ 13) and value layers. Output tiles in NESTED range order.
 */
export function mergeSiblings(order: number, ipix: Uint32Array, layers: Float64Array[]): { order: Uint8Array; ipix: Uint32Array; values: Float64Array[] } {
  const total = ipix.length;
  // current level: candidate nodes (ipix at order o, representative row)
  let curPix = ipix;
  let curRep = new Uint32Array(total);
  for (let i = 0; i < total; i++) curRep[i] = i;
  const outOrder = new Uint8Array(total);
  const outPix = new Uint32Array(total);
  const outRep = new Uint32Array(total);
  let m = 0;
  const nl = layers.length;
  for (let o = order; o >= 0; o--) {
    const n = curPix.length;
    const nextPix = new Uint32Array(n >>> 2);
    const nextRep = new Uint32Array(n >>> 2);
    let nn = 0;
    let i = 0;
    while (i < n) {
      const p0 = curPix[i]!;
      const parent = p0 >>> 2;
      let canMerge = o > 0 && (p0 & 3) === 0 && i + 3 < n && curPix[i + 3] === p0 + 3;
      if (canMerge) {
        const r0 = curRep[i]!;
        const r1 = curRep[i + 1]!;
        const r2 = curRep[i + 2]!;
        const r3 = curRep[i + 3]!;
        for (let l = 0; l < nl; l++) {
          const L = layers[l]!;
          const v = L[r0]!;
          if (!same(L[r1]!, v) || !same(L[r2]!, v) || !same(L[r3]!, v)) {
            canMerge = false;
            break;
          }
        }
      }
      if (canMerge) {
        nextPix[nn] = parent;
        nextRep[nn++] = curRep[i]!;
        i += 4;
      } else {
        // emit this node and any siblings sharing its parent
        do {
          outOrder[m] = o;
          outPix[m] = curPix[i]!;
          outRep[m++] = curRep[i]!;
          i++;
        } while (i < n && curPix[i]! >>> 2 === parent);
      }
    }
    if (nn === 0) break;
    curPix = nextPix.subarray(0, nn);
    curRep = nextRep.subarray(0, nn);
  }
  // sort output tiles by range start: start = ipix · 4^(order−o) < 12·4^13 < 2^32
  const start = new Uint32Array(m);
  for (let k = 0; k < m; k++) start[k] = outPix[k]! * POW2[2 * (order - outOrder[k]!)]!;
  const idx = argsortU64(start, new Uint32Array(m));
  return {
    order: Uint8Array.from(idx, (k) => outOrder[k]!),
    ipix: Uint32Array.from(idx, (k) => outPix[k]!),
    values: layers.map((L) => Float64Array.from(idx, (k) => L[outRep[k]!]!)),
  };
}

/** Reads a sky map from base64-encoded FITS (e.g. the skymap field of an igwn.gwalert notice). */
export function readSkyMapBase64(b64: string, opts: ReadOptions = {}): SkyMap {
  const clean = b64.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
    fail(opts.source, 'sky map is not valid base64');
  }
  const bytes = Buffer.from(clean, 'base64');
  if (bytes.length === 0) fail(opts.source, 'sky map base64 is empty');
  return readSkyMapBytes(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), opts);
}

export type GwAlert = {
  superevent_id?: string;
  alert_type?: string;
  event?: { skymap?: string; instruments?: string[]; time?: string } | null;
  external_coinc?: { combined_skymap?: string } | null;
};

/**
 * Sky map of an igwn.gwalert JSON notice (object or JSON text). Uses the
 * combined GW×external map when `combined` is set and present.
 */
export function readSkyMapFromAlert(alert: string | GwAlert, opts: ReadOptions & { combined?: boolean } = {}): SkyMap {
  let a: GwAlert;
  try {
    a = typeof alert === 'string' ? (JSON.parse(alert) as GwAlert) : alert;
  } catch (err) {
    fail(opts.source, `alert is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!a || typeof a !== 'object') fail(opts.source, 'alert is not a JSON object');
  const b64 = (opts.combined && a.external_coinc?.combined_skymap) || a.event?.skymap;
  if (!b64) {
    fail(opts.source, `alert ${a.superevent_id ?? ''} (${a.alert_type ?? 'unknown type'}) carries no sky map`.replace('  ', ' '));
  }
  const map = readSkyMapBase64(b64, { ...opts, source: opts.source ?? a.superevent_id });
  if (!map.meta.object && a.superevent_id) map.meta.object = a.superevent_id;
  return map;
}

function classify(bytes: Uint8Array): 'fits' | 'json' | 'unknown' {
  const b = isGzip(bytes) ? maybeGunzip(bytes).subarray(0, 16) : bytes.subarray(0, 16);
  const head = Buffer.from(b).toString('latin1');
  if (head.startsWith('SIMPLE')) return 'fits';
  if (/^\s*\{/.test(head)) return 'json';
  return 'unknown';
}

/** Reads a sky map from FITS or igwn.gwalert JSON bytes, whichever they are. */
export function readSkyMapAny(bytes: Uint8Array, opts: ReadOptions = {}): SkyMap {
  const kind = bytes.length ? classify(bytes) : 'unknown';
  if (kind === 'json') return readSkyMapFromAlert(Buffer.from(maybeGunzip(bytes)).toString('utf8'), opts);
  if (kind === 'fits') return readSkyMapBytes(bytes, opts);
  fail(opts.source, bytes.length === 0 ? 'file is empty' : 'not a FITS file or an igwn.gwalert JSON alert');
}

/** Reads a sky map file (FITS, FITS.gz or igwn.gwalert JSON). */
export async function readSkyMapFile(path: string, opts: ReadOptions = {}): Promise<SkyMap> {
  const buf = await readFile(path);
  return readSkyMapAny(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), { source: path, ...opts });
}

export function readSkyMapFileSync(path: string, opts: ReadOptions = {}): SkyMap {
  const buf = readFileSync(path);
  return readSkyMapAny(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), { source: path, ...opts });
}

