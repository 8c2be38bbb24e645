/**
 * Target catalogues for crossmatching: CSV (RFC 4180, header row) or the native
 * whitespace-separated GLADE+ text format. Columns for RA, Dec, distance, a name
 * and an optional weight are found by name (or given explicitly); RA/Dec may be
 * degrees or sexagesimal. Files are streamed, so multi-GB catalogues work.
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';

export class CatalogError extends Error {
  override name = 'CatalogError';
}

/** The 40 columns of GLADE+ (Dálya et al. 2022), in file order. */
export const GLADE_PLUS_COLUMNS = [
  'GLADE no', 'PGC no', 'GWGC name', 'HyperLEDA name', '2MASS name', 'WISExSCOS name', 'SDSS-DR16Q name', 'Object type flag',
  'RA', 'DEC', 'B', 'B_err', 'B flag', 'B_Abs', 'J', 'J_err', 'H', 'H_err', 'K', 'K_err', 'W1', 'W1_err', 'W2', 'W2_err',
  'W1 flag', 'B_J', 'B_J err', 'z_helio', 'z_cmb', 'z flag', 'v_err', 'z_err', 'd_L', 'd_L err', 'dist flag', 'M*', 'M*_err',
  'M* flag', 'Merger rate', 'Merger rate error',
] as const;

export type CatalogOptions = {
  /** 'csv' (header row), 'glade+' (GLADE+.txt) or 'auto' (default). */
  format?: 'auto' | 'csv' | 'glade+';
  raColumn?: string;
  decColumn?: string;
  /** Luminosity distance column (Mpc); 'none' to ignore distances. */
  distColumn?: string;
  /** Name column(s); the first non-empty one per row is used. */
  idColumns?: string[];
  /** Weight column (e.g. stellar mass, luminosity). */
  weightColumn?: string;
  /** Treat the weight column as a magnitude M and use 10^(−0.4 M) (e.g. B_Abs → B-band luminosity). */
  weightIsMagnitude?: boolean;
  /** Keep at most this many rows. */
  limit?: number;
  /** Source name for messages. */
  name?: string;
};

export type Catalog = {
  name: string;
  size: number;
  ids: string[];
  ra: Float64Array;
  dec: Float64Array;
  /** Mpc; NaN where unknown. */
  dist: Float64Array;
  /** NaN where unknown; all 1 when no weight column was chosen. */
  weight: Float64Array;
  columns: { ra: string; dec: string; dist: string | null; id: string[]; weight: string | null; weightIsMagnitude: boolean };
  /** Rows dropped for unusable coordinates. */
  skipped: number;
  warnings: string[];
};

const MISSING = new Set(['', 'null', 'nan', 'none', 'na', 'n/a', '--', '-']);

const RA_NAMES = ['ra', 'raj2000', 'ra_j2000', 'ra_deg', 'radeg', '_raj2000', 'ra_icrs', 'ra (deg)', 'ra2000', 'alpha'];
const DEC_NAMES = ['dec', 'decl', 'dej2000', 'decj2000', 'dec_j2000', 'dec_deg', 'decdeg', 'dedeg', '_dej2000', 'de_icrs', 'dec_icrs', 'dec (deg)', 'dec2000', 'delta'];
const DIST_NAMES = ['distmpc', 'dist_mpc', 'd_l', 'dl', 'lumdist', 'luminosity_distance', 'distance', 'dist', 'd'];
const ID_NAMES = ['name', 'id', 'objname', 'object', 'galaxy', 'source_id', 'field_id', 'field', 'gwgc name', 'hyperleda name', 'glade no'];
const GLADE_ID_NAMES = ['GWGC name', 'HyperLEDA name', '2MASS name', 'WISExSCOS name', 'SDSS-DR16Q name', 'GLADE no'];

/** Incremental RFC 4180 CSV parser (quotes, escaped quotes, CRLF, newlines in quotes). */
export class CsvParser {
  private field = '';
  private record: string[] = [];
  private inQuotes = false;
  private quoteSeen = false;
  line = 1;
  constructor(
    private readonly onRecord: (fields: string[], line: number) => void,
    private readonly delimiter = ',',
  ) {}

  push(chunk: string): void {
    const d = this.delimiter;
    let field = this.field;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.inQuotes) {
        if (c === '"') {
          if (chunk[i + 1] === '"') {
            field += '"';
            i++;
          } else if (i + 1 === chunk.length) {
            // a quote at the chunk end: decide on the next chunk
            this.quoteSeen = true;
            this.inQuotes = false;
          } else this.inQuotes = false;
        } else {
          if (c === '\n') this.line++;
          field += c;
        }
        continue;
      }
      if (this.quoteSeen) {
        this.quoteSeen = false;
        if (c === '"') {
          field += '"';
          this.inQuotes = true;
          continue;
        }
      }
      if (c === '"' && field === '') this.inQuotes = true;
      else if (c === d) {
        this.record.push(field);
        field = '';
      } else if (c === '\n') {
        this.record.push(field.endsWith('\r') ? field.slice(0, -1) : field);
        field = '';
        this.emit();
        this.line++;
      } else field += c;
    }
    this.field = field;
  }

  end(): void {
    if (this.inQuotes) throw new CatalogError(`unterminated quoted field starting before line ${this.line}`);
    if (this.field !== '' || this.record.length > 0) {
      this.record.push(this.field.endsWith('\r') ? this.field.slice(0, -1) : this.field);
      this.field = '';
      this.emit();
    }
  }

  private emit(): void {
    const r = this.record;
    this.record = [];
    if (r.length === 1 && r[0]!.trim() === '') return; // blank line
    this.onRecord(r, this.line);
  }
}

/** Parses degrees or sexagesimal ('12:34:56.7', '12h34m56.7s', '-05:06:07'); hours for RA when sexagesimal. */
export function parseAngle(s: string, isRa: boolean): number {
  const t = s.trim();
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return Number(t);
  const m = /^([+-]?)(\d+)[:hd° ]\s*(\d+)[:m' ]\s*(\d+(?:\.\d*)?)\s*[s"]?$/.exec(t);
  if (!m) return NaN;
  const v = Number(m[2]) + Number(m[3]) / 60 + Number(m[4]) / 3600;
  const signed = m[1] === '-' ? -v : v;
  return isRa ? signed * 15 : signed;
}

function parseNum(s: string | undefined): number {
  if (s === undefined) return NaN;
  const t = s.trim();
  if (MISSING.has(t.toLowerCase())) return NaN;
  const v = Number(t);
  return Number.isFinite(v) ? v : NaN;
}

function pickColumn(header: string[], wanted: string | undefined, candidates: string[], what: string, name: string): number {
  const lower = header.map((h) => h.trim().toLowerCase());
  if (wanted !== undefined) {
    const i = lower.indexOf(wanted.trim().toLowerCase());
    if (i < 0) throw new CatalogError(`${name}: no column '${wanted}' for ${what} (columns: ${header.join(', ')})`);
    return i;
  }
  for (const c of candidates) {
    const i = lower.indexOf(c);
    if (i >= 0) return i;
  }
  return -1;
}

/** Accumulates rows into growable typed columns. */
class CatalogBuilder {
  private n = 0;
  private cap = 1024;
  ra = new Float64Array(this.cap);
  dec = new Float64Array(this.cap);
  dist = new Float64Array(this.cap);
  weight = new Float64Array(this.cap);
  ids: string[] = [];
  skipped = 0;
  badLines: number[] = [];
  private iRa = -1;
  private iDec = -1;
  private iDist = -1;
  private iW = -1;
  private iIds: number[] = [];
  private header: string[] = [];
  private ready = false;
  readonly warnings: string[] = [];

  constructor(
    private readonly opts: CatalogOptions,
    private readonly name: string,
  ) {}

  setHeader(header: string[], glade: boolean): void {
    const o = this.opts;
    this.header = header;
    this.iRa = pickColumn(header, o.raColumn, RA_NAMES, 'RA', this.name);
    this.iDec = pickColumn(header, o.decColumn, DEC_NAMES, 'Dec', this.name);
    if (this.iRa < 0 || this.iDec < 0) {
      throw new CatalogError(`${this.name}: cannot find RA/Dec columns (columns: ${header.join(', ')}); use --ra-col/--dec-col`);
    }
    this.iDist = o.distColumn === 'none' ? -1 : pickColumn(header, o.distColumn, DIST_NAMES, 'distance', this.name);
    this.iW = o.weightColumn ? pickColumn(header, o.weightColumn, [], 'weight', this.name) : -1;
    const lower = header.map((h) => h.trim().toLowerCase());
    if (o.idColumns?.length) {
      this.iIds = o.idColumns.map((c) => pickColumn(header, c, [], 'name', this.name));
    } else {
      const cands = glade ? GLADE_ID_NAMES.map((s) => s.toLowerCase()) : ID_NAMES;
      this.iIds = glade ? cands.map((c) => lower.indexOf(c)).filter((i) => i >= 0) : [];
      if (!glade) {
        for (const c of cands) {
          const i = lower.indexOf(c);
          if (i >= 0) {
            this.iIds = [i];
            break;
          }
        }
      }
    }
    this.ready = true;
  }

  get columns(): Catalog['columns'] {
    return {
      ra: this.header[this.iRa]!,
      dec: this.header[this.iDec]!,
      dist: this.iDist >= 0 ? this.header[this.iDist]! : null,
      id: this.iIds.map((i) => this.header[i]!),
      weight: this.iW >= 0 ? this.header[this.iW]! : null,
      weightIsMagnitude: this.iW >= 0 && !!this.opts.weightIsMagnitude,
    };
  }

  get size(): number {
    return this.n;
  }

  add(f: string[], line: number): void {
    if (!this.ready) throw new Error('header not set');
    let ra = parseAngle(f[this.iRa] ?? '', true);
    const dec = parseAngle(f[this.iDec] ?? '', false);
    if (!Number.isFinite(ra) || !(dec >= -90 && dec <= 90)) {
      this.skipped++;
      if (this.badLines.length < 5) this.badLines.push(line);
      return;
    }
    if (ra < 0 || ra >= 360) ra = ((ra % 360) + 360) % 360;
    if (this.n === this.cap) this.grow();
    const k = this.n++;
    this.ra[k] = ra;
    this.dec[k] = dec;
    const d = this.iDist >= 0 ? parseNum(f[this.iDist]) : NaN;
    this.dist[k] = d > 0 ? d : NaN;
    if (this.iW >= 0) {
      const w = parseNum(f[this.iW]);
      this.weight[k] = this.opts.weightIsMagnitude ? 10 ** (-0.4 * w) : w;
    } else this.weight[k] = 1;
    let id = '';
    for (const i of this.iIds) {
      const v = (f[i] ?? '').trim();
      if (v && !MISSING.has(v.toLowerCase())) {
        id = v;
        break;
      }
    }
    this.ids.push(id || `#${k + 1}`);
  }

  private grow(): void {
    this.cap *= 2;
    for (const key of ['ra', 'dec', 'dist', 'weight'] as const) {
      const a = new Float64Array(this.cap);
      a.set(this[key]);
      this[key] = a;
    }
  }

  finish(): Catalog {
    if (!this.ready) throw new CatalogError(`${this.name}: catalogue is empty (no header row)`);
    const n = this.n;
    if (this.skipped) {
      this.warnings.push(`${this.skipped} rows without valid RA/Dec skipped (e.g. lines ${this.badLines.join(', ')})`);
    }
    if (this.iW >= 0) {
      let missing = 0;
      for (let i = 0; i < n; i++) if (!Number.isFinite(this.weight[i]!)) missing++;
      if (missing) this.warnings.push(`${missing} rows have no ${this.header[this.iW]} weight (they score 0)`);
    }
    return {
      name: this.name,
      size: n,
      ids: this.ids,
      ra: this.ra.slice(0, n),
      dec: this.dec.slice(0, n),
      dist: this.dist.slice(0, n),
      weight: this.weight.slice(0, n),
      columns: this.columns,
      skipped: this.skipped,
      warnings: this.warnings,
    };
  }
}

/** Streaming catalogue reader fed with text chunks. */
class CatalogReader {
  private readonly builder: CatalogBuilder;
  private format: 'csv' | 'glade+' | undefined;
  private csv?: CsvParser;
  private pendingLine = '';
  private lineNo = 0;
  private done = false;

  constructor(opts: CatalogOptions, name: string) {
    this.builder = new CatalogBuilder(opts, name);
    this.format = opts.format === 'auto' || !opts.format ? undefined : opts.format;
    this.limit = opts.limit ?? Infinity;
    this.name = name;
  }
  private readonly limit: number;
  private readonly name: string;

  /** Returns false once the row limit is reached. */
  push(chunk: string): boolean {
    if (this.done) return false;
    if (!this.format) {
      this.pendingLine += chunk;
      const nl = this.pendingLine.indexOf('\n');
      if (nl < 0 && this.pendingLine.length < 1 << 20) return true;
      const first = (nl < 0 ? this.pendingLine : this.pendingLine.slice(0, nl)).replace(/^\uFEFF/, '');
      this.format = detectFormat(first);
      chunk = this.pendingLine.replace(/^\uFEFF/, '');
      this.pendingLine = '';
    }
    if (this.format === 'glade+') return this.pushGlade(chunk);
    if (!this.csv) {
      let header = true;
      this.csv = new CsvParser((fields, line) => {
        if (this.done) return;
        if (header) {
          header = false;
          this.builder.setHeader(fields, fields.length === GLADE_PLUS_COLUMNS.length && fields[0] === 'GLADE no');
          return;
        }
        this.builder.add(fields, line);
        if (this.builder.size >= this.limit) this.done = true;
      });
    }
    this.csv.push(chunk);
    return !this.done;
  }

  private gladeHeaderSet = false;
  private pushGlade(chunk: string): boolean {
    if (!this.gladeHeaderSet) {
      this.builder.setHeader([...GLADE_PLUS_COLUMNS], true);
      this.gladeHeaderSet = true;
    }
    const text = this.pendingLine + chunk;
    const lines = text.split('\n');
    this.pendingLine = lines.pop()!;
    for (const l of lines) {
      this.lineNo++;
      this.gladeLine(l);
      if (this.done) return false;
    }
    return true;
  }

  private gladeLine(l: string): void {
    const t = l.trim();
    if (!t || t.startsWith('#')) return;
    const f = t.split(/\s+/);
    if (f.length !== GLADE_PLUS_COLUMNS.length) {
      throw new CatalogError(`${this.name}: line ${this.lineNo} has ${f.length} fields, GLADE+ rows have ${GLADE_PLUS_COLUMNS.length}`);
    }
    this.builder.add(f, this.lineNo);
    if (this.builder.size >= this.limit) this.done = true;
  }

  finish(): Catalog {
    if (!this.format && this.pendingLine) {
      this.format = detectFormat(this.pendingLine.split('\n')[0]!);
      const t = this.pendingLine;
      this.pendingLine = '';
      this.push(t);
    }
    if (this.format === 'glade+') {
      if (!this.gladeHeaderSet) this.pushGlade('');
      if (this.pendingLine && !this.done) {
        this.lineNo++;
        this.gladeLine(this.pendingLine);
      }
    } else if (this.csv && !this.done) this.csv.end();
    return this.builder.finish();
  }
}

function detectFormat(firstLine: string): 'csv' | 'glade+' {
  const f = firstLine.trim().split(/\s+/);
  if (!firstLine.includes(',') && f.length === GLADE_PLUS_COLUMNS.length && /^\d+$/.test(f[0]!)) return 'glade+';
  return 'csv';
}

/** Parses catalogue text (CSV with a header row, or GLADE+.txt). */
export function parseCatalog(text: string, opts: CatalogOptions = {}): Catalog {
  const r = new CatalogReader(opts, opts.name ?? 'catalogue');
  r.push(text);
  return r.finish();
}

/** Streams a catalogue file (optionally .gz). */
export async function readCatalogFile(path: string, opts: CatalogOptions = {}): Promise<Catalog> {
  const r = new CatalogReader(opts, opts.name ?? path);
  const raw = createReadStream(path);
  const stream = path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  stream.setEncoding('utf8');
  try {
    for await (const chunk of stream) {
      if (!r.push(chunk as string)) {
        raw.destroy();
        break;
      }
    }
  } catch (err) {
    if (err instanceof CatalogError) throw err;
    throw new CatalogError(`${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return r.finish();
}

/** Builds a catalogue from arrays (synthetic targets, watch-lists built in code). */
export function catalogFromArrays(a: { ra: ArrayLike<number>; dec: ArrayLike<number>; dist?: ArrayLike<number>; weight?: ArrayLike<number>; ids?: string[]; name?: string }): Catalog {
  const n = a.ra.length;
  if (a.dec.length !== n) throw new CatalogError('ra and dec differ in length');
  const ra = Float64Array.from(a.ra);
  const dec = Float64Array.from(a.dec);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(ra[i]!) || !(dec[i]! >= -90 && dec[i]! <= 90)) throw new CatalogError(`row ${i + 1}: invalid position ${ra[i]}, ${dec[i]}`);
    if (ra[i]! < 0 || ra[i]! >= 360) ra[i] = ((ra[i]! % 360) + 360) % 360;
  }
  return {
    name: a.name ?? 'targets',
    size: n,
    ids: a.ids ?? Array.from({ length: n }, (_, i) => `#${i + 1}`),
    ra,
    dec,
    dist: a.dist ? Float64Array.from(a.dist, (d) => (d > 0 ? d : NaN)) : new Float64Array(n).fill(NaN),
    weight: a.weight ? Float64Array.from(a.weight) : new Float64Array(n).fill(1),
    columns: { ra: 'ra', dec: 'dec', dist: a.dist ? 'dist' : null, id: ['id'], weight: a.weight ? 'weight' : null, weightIsMagnitude: false },
    skipped: 0,
    warnings: [],
  };
}
