/**
 * Minimal FITS reader for HEALPix sky maps and MOCs: header parsing, HDU
 * walking and big-endian BINTABLE column decoding (FITS Standard 4.0), with
 * gzip detection. Everything works on an in-memory byte array.
 */
import { gunzipSync } from 'node:zlib';

export class FitsError extends Error {
  override name = 'FitsError';
}

const BLOCK = 2880;
const CARD = 80;

export type HeaderValue = string | number | boolean | bigint | null;

export class FitsHeader {
  /** Keyword → value (the first occurrence wins, as most readers do). */
  readonly values = new Map<string, HeaderValue>();
  readonly comments = new Map<string, string>();
  readonly history: string[] = [];
  readonly commentCards: string[] = [];
  /** Keywords in order of appearance. */
  readonly keys: string[] = [];

  has(key: string): boolean {
    return this.values.has(key.toUpperCase());
  }
  get(key: string): HeaderValue | undefined {
    return this.values.get(key.toUpperCase());
  }
  string(key: string): string | undefined {
    const v = this.get(key);
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' ? v : String(v);
  }
  number(key: string): number | undefined {
    const v = this.get(key);
    if (typeof v === 'number') return v;
    if (typeof v === 'bigint') return Number(v);
    return undefined;
  }
  int(key: string): number | undefined {
    const v = this.number(key);
    return v !== undefined && Number.isInteger(v) ? v : undefined;
  }
  bool(key: string): boolean | undefined {
    const v = this.get(key);
    return typeof v === 'boolean' ? v : undefined;
  }
  /** Plain JSON-safe object of the keywords (bigints as strings). */
  toJSON(): Record<string, string | number | boolean | null> {
    const o: Record<string, string | number | boolean | null> = {};
    for (const [k, v] of this.values) o[k] = typeof v === 'bigint' ? v.toString() : v;
    return o;
  }
}

/** Parses the value part of a card (after '= '). */
function parseValue(s: string, key: string, hduIndex: number): { value: HeaderValue; comment: string } {
  const t = s.replace(/^\s+/, '');
  if (t.startsWith("'")) {
    let i = 1;
    let out = '';
    for (;;) {
      if (i >= t.length) throw new FitsError(`HDU ${hduIndex}: unterminated string value for ${key}`);
      const c = t[i]!;
      if (c === "'") {
        if (t[i + 1] === "'") {
          out += "'";
          i += 2;
          continue;
        }
        i++;
        break;
      }
      out += c;
      i++;
    }
    const rest = t.slice(i);
    const slash = rest.indexOf('/');
    return { value: out.replace(/\s+$/, ''), comment: slash >= 0 ? rest.slice(slash + 1).trim() : '' };
  }
  const slash = t.indexOf('/');
  const raw = (slash >= 0 ? t.slice(0, slash) : t).trim();
  const comment = slash >= 0 ? t.slice(slash + 1).trim() : '';
  if (raw === '') return { value: null, comment };
  if (raw === 'T') return { value: true, comment };
  if (raw === 'F') return { value: false, comment };
  if (/^[+-]?\d+$/.test(raw)) {
    const n = Number(raw);
    return { value: Number.isSafeInteger(n) ? n : BigInt(raw), comment };
  }
  const f = Number(raw.replace(/[dD]/, 'E'));
  if (!Number.isNaN(f) || /^[+-]?nan$/i.test(raw)) return { value: f, comment };
  return { value: raw, comment }; // complex or unparsable: keep the text
}

function ascii(bytes: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

export type ColumnType = 'L' | 'X' | 'B' | 'I' | 'J' | 'K' | 'A' | 'E' | 'D' | 'C' | 'M' | 'P' | 'Q';
const TYPE_WIDTH: Record<ColumnType, number> = { L: 1, X: 1, B: 1, I: 2, J: 4, K: 8, A: 1, E: 4, D: 8, C: 8, M: 16, P: 8, Q: 16 };

export type BinTableColumn = {
  index: number;
  name: string;
  tform: string;
  type: ColumnType;
  repeat: number;
  /** Byte offset of the field within a row. */
  offset: number;
  /** Field width in bytes. */
  width: number;
  unit?: string;
  tscal: number;
  tzero: number;
};

export type Hdu = {
  index: number;
  header: FitsHeader;
  /** 'PRIMARY', 'IMAGE', 'BINTABLE', 'TABLE' or another XTENSION value. */
  type: string;
  headerOffset: number;
  dataOffset: number;
  /** Bytes of data proper (without padding). */
  dataBytes: number;
  /** BINTABLE only. */
  columns?: BinTableColumn[];
  nrows?: number;
  rowBytes?: number;
};

/** True if the bytes start with the gzip magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Decompresses gzip input (if gzipped), with a clear error on corrupt data. */
export function maybeGunzip(bytes: Uint8Array): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (err) {
    throw new FitsError(`corrupt gzip data: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Parses one header starting at `offset`; returns the header and the offset of its data. */
function parseHeader(bytes: Uint8Array, offset: number, hduIndex: number): { header: FitsHeader; dataOffset: number } {
  const h = new FitsHeader();
  let pos = offset;
  let pendingLong: { key: string; text: string } | undefined;
  for (;;) {
    if (pos + CARD > bytes.length) {
      throw new FitsError(`HDU ${hduIndex}: header has no END card before end of file (truncated or not FITS)`);
    }
    const card = ascii(bytes, pos, pos + CARD);
    pos += CARD;
    if (/[^\x20-\x7e]/.test(card)) {
      throw new FitsError(`HDU ${hduIndex}: non-ASCII bytes in header card at byte ${pos - CARD} (not a FITS header)`);
    }
    const key = card.slice(0, 8).trim().toUpperCase();
    if (key === 'END') break;
    if (key === 'HISTORY') {
      h.history.push(card.slice(8).trimEnd());
      continue;
    }
    if (key === 'COMMENT' || key === '') {
      if (card.slice(8).trim()) h.commentCards.push(card.slice(8).trimEnd());
      continue;
    }
    if (key === 'CONTINUE') {
      if (pendingLong) {
        const { value } = parseValue(card.slice(8), key, hduIndex);
        const v = typeof value === 'string' ? value : '';
        const more = v.endsWith('&');
        pendingLong.text += more ? v.slice(0, -1) : v;
        h.values.set(pendingLong.key, pendingLong.text);
        if (!more) pendingLong = undefined;
      }
      continue;
    }
    pendingLong = undefined;
    if (card.slice(8, 10) !== '= ') continue; // commentary keyword without value
    const { value, comment } = parseValue(card.slice(10), key, hduIndex);
    if (!h.values.has(key)) {
      const long = typeof value === 'string' && value.endsWith('&');
      const v = long ? value.slice(0, -1) : value;
      h.values.set(key, v);
      h.keys.push(key);
      if (comment) h.comments.set(key, comment);
      if (long) pendingLong = { key, text: v as string };
    }
  }
  const dataOffset = offset + Math.ceil((pos - offset) / BLOCK) * BLOCK;
  return { header: h, dataOffset };
}

function requireInt(h: FitsHeader, key: string, hduIndex: number): number {
  const v = h.int(key);
  if (v === undefined) throw new FitsError(`HDU ${hduIndex}: missing or non-integer ${key}`);
  return v;
}

/** Parses a TFORM like '1K', 'D', '1024E', '20A'. */
export function parseTform(tform: string, where = ''): { type: ColumnType; repeat: number; width: number } {
  const m = /^\s*(\d*)([LXBIJKAEDCMPQ])/.exec(tform.toUpperCase());
  if (!m) throw new FitsError(`${where}unsupported TFORM '${tform}'`);
  const repeat = m[1] === '' ? 1 : Number(m[1]);
  const type = m[2] as ColumnType;
  const width = type === 'X' ? Math.ceil(repeat / 8) : repeat * TYPE_WIDTH[type];
  return { type, repeat, width };
}

function bintableColumns(h: FitsHeader, hduIndex: number): BinTableColumn[] {
  const n = requireInt(h, 'TFIELDS', hduIndex);
  const cols: BinTableColumn[] = [];
  let offset = 0;
  for (let i = 1; i <= n; i++) {
    const tform = h.string(`TFORM${i}`);
    if (!tform) throw new FitsError(`HDU ${hduIndex}: missing TFORM${i}`);
    const { type, repeat, width } = parseTform(tform, `HDU ${hduIndex} column ${i}: `);
    const unit = h.string(`TUNIT${i}`);
    cols.push({
      index: i,
      name: (h.string(`TTYPE${i}`) ?? `COL${i}`).trim(),
      tform,
      type,
      repeat,
      offset,
      width,
      ...(unit ? { unit } : {}),
      tscal: h.number(`TSCAL${i}`) ?? 1,
      tzero: h.number(`TZERO${i}`) ?? 0,
    });
    offset += width;
  }
  return cols;
}

/**
 * Walks all HDUs of a FITS file (headers only). Accepts gzip-compressed input.
 * Throws FitsError with a specific message on anything malformed.
 */
export function parseFits(input: Uint8Array): { bytes: Uint8Array; hdus: Hdu[] } {
  const bytes = maybeGunzip(input);
  if (bytes.length < CARD || ascii(bytes, 0, 9) !== 'SIMPLE  =') {
    throw new FitsError('not a FITS file (it does not start with a SIMPLE card)');
  }
  const hdus: Hdu[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const index = hdus.length;
    // tolerate zero padding after the last HDU
    if (index > 0 && bytes[offset] === 0) break;
    const { header, dataOffset } = parseHeader(bytes, offset, index);
    const type = index === 0 ? 'PRIMARY' : (header.string('XTENSION') ?? '').trim().toUpperCase();
    if (index > 0 && !type) throw new FitsError(`HDU ${index}: missing XTENSION keyword`);
    const bitpix = requireInt(header, 'BITPIX', index);
    if (![8, 16, 32, 64, -32, -64].includes(bitpix)) throw new FitsError(`HDU ${index}: invalid BITPIX ${bitpix}`);
    const naxis = requireInt(header, 'NAXIS', index);
    if (naxis < 0 || naxis > 999) throw new FitsError(`HDU ${index}: invalid NAXIS ${naxis}`);
    let prod = naxis === 0 ? 0 : 1;
    const dims: number[] = [];
    for (let i = 1; i <= naxis; i++) {
      const d = requireInt(header, `NAXIS${i}`, index);
      if (d < 0) throw new FitsError(`HDU ${index}: negative NAXIS${i}`);
      dims.push(d);
      prod *= d;
    }
    const pcount = header.int('PCOUNT') ?? 0;
    const gcount = header.int('GCOUNT') ?? 1;
    const dataBytes = naxis === 0 ? 0 : (Math.abs(bitpix) / 8) * gcount * (pcount + prod);
    const hdu: Hdu = { index, header, type, headerOffset: offset, dataOffset, dataBytes };
    if (type === 'BINTABLE') {
      if (bitpix !== 8 || naxis !== 2) throw new FitsError(`HDU ${index}: BINTABLE must have BITPIX 8 and NAXIS 2`);
      const columns = bintableColumns(header, index);
      const rowBytes = columns.reduce((s, c) => s + c.width, 0);
      if (rowBytes !== dims[0]) {
        throw new FitsError(`HDU ${index}: NAXIS1 = ${dims[0]} but the TFORMs add up to ${rowBytes} bytes per row`);
      }
      hdu.columns = columns;
      hdu.nrows = dims[1]!;
      hdu.rowBytes = rowBytes;
    }
    if (dataOffset + dataBytes > bytes.length) {
      throw new FitsError(
        `HDU ${index} (${type}): data truncated — needs ${dataBytes} bytes from offset ${dataOffset}, file has ${Math.max(0, bytes.length - dataOffset)}`,
      );
    }
    hdus.push(hdu);
    offset = dataOffset + Math.ceil(dataBytes / BLOCK) * BLOCK;
  }
  return { bytes, hdus };
}

export type ColumnData = Float64Array | Float32Array | Int32Array | Int16Array | Uint8Array | BigInt64Array | string[];

/** Finds a column by name, case-insensitively. */
export function findColumn(hdu: Hdu, ...names: string[]): BinTableColumn | undefined {
  const want = names.map((n) => n.toUpperCase());
  for (const w of want) {
    const c = hdu.columns?.find((col) => col.name.toUpperCase() === w);
    if (c) return c;
  }
  return undefined;
}

/**
 * Decodes a BINTABLE column into a flat typed array of nrows·repeat elements
 * (row-major, so element k of row r is at r·repeat + k). Scaled integer columns
 * (TSCAL/TZERO other than 1/0) and E columns are returned as Float64Array when
 * `asFloat64` is set; K columns come back as BigInt64Array.
 */
export function readColumn(bytes: Uint8Array, hdu: Hdu, col: BinTableColumn, asFloat64 = false): ColumnData {
  if (!hdu.columns || hdu.nrows === undefined || hdu.rowBytes === undefined) {
    throw new FitsError(`HDU ${hdu.index} is not a binary table`);
  }
  const nrows = hdu.nrows;
  const rowBytes = hdu.rowBytes;
  const rep = col.repeat;
  const n = nrows * rep;
  const dv = new DataView(bytes.buffer, bytes.byteOffset + hdu.dataOffset, nrows * rowBytes);
  const scaled = col.tscal !== 1 || col.tzero !== 0;
  const where = `HDU ${hdu.index} column ${col.name}`;
  switch (col.type) {
    case 'D': {
      const out = new Float64Array(n);
      for (let r = 0, k = 0; r < nrows; r++) {
        let o = r * rowBytes + col.offset;
        for (let j = 0; j < rep; j++, o += 8) out[k++] = dv.getFloat64(o, false);
      }
      if (scaled) for (let i = 0; i < n; i++) out[i] = col.tzero + col.tscal * out[i]!;
      return out;
    }
    case 'E': {
      const out = asFloat64 || scaled ? new Float64Array(n) : new Float32Array(n);
      for (let r = 0, k = 0; r < nrows; r++) {
        let o = r * rowBytes + col.offset;
        for (let j = 0; j < rep; j++, o += 4) out[k++] = dv.getFloat32(o, false);
      }
      if (scaled) for (let i = 0; i < n; i++) out[i] = col.tzero + col.tscal * out[i]!;
      return out;
    }
    case 'B':
    case 'I':
    case 'J': {
      const w = TYPE_WIDTH[col.type];
      const get =
        col.type === 'B' ? (o: number) => dv.getUint8(o) : col.type === 'I' ? (o: number) => dv.getInt16(o, false) : (o: number) => dv.getInt32(o, false);
      const out = asFloat64 || scaled ? new Float64Array(n) : col.type === 'B' ? new Uint8Array(n) : col.type === 'I' ? new Int16Array(n) : new Int32Array(n);
      for (let r = 0, k = 0; r < nrows; r++) {
        let o = r * rowBytes + col.offset;
        for (let j = 0; j < rep; j++, o += w) out[k++] = get(o);
      }
      if (scaled) for (let i = 0; i < n; i++) out[i] = col.tzero + col.tscal * out[i]!;
      return out;
    }
    case 'K': {
      if (scaled) {
        if (col.tscal === 1 && col.tzero === 2 ** 63) throw new FitsError(`${where}: unsigned 64-bit columns are not supported`);
        const out = new Float64Array(n);
        for (let r = 0, k = 0; r < nrows; r++) {
          let o = r * rowBytes + col.offset;
          for (let j = 0; j < rep; j++, o += 8) out[k++] = col.tzero + col.tscal * Number(dv.getBigInt64(o, false));
        }
        return out;
      }
      if (asFloat64) {
        const out = new Float64Array(n);
        for (let r = 0, k = 0; r < nrows; r++) {
          let o = r * rowBytes + col.offset;
          for (let j = 0; j < rep; j++, o += 8) out[k++] = dv.getInt32(o, false) * 4294967296 + dv.getUint32(o + 4, false);
        }
        return out;
      }
      const out = new BigInt64Array(n);
      for (let r = 0, k = 0; r < nrows; r++) {
        let o = r * rowBytes + col.offset;
        for (let j = 0; j < rep; j++, o += 8) out[k++] = dv.getBigInt64(o, false);
      }
      return out;
    }
    case 'A': {
      const out: string[] = [];
      for (let r = 0; r < nrows; r++) {
        const o = hdu.dataOffset + r * rowBytes + col.offset;
        out.push(ascii(bytes, o, o + col.width).replace(/[\0 ]+$/, ''));
      }
      return out;
    }
    case 'L': {
      const out = new Uint8Array(n);
      for (let r = 0, k = 0; r < nrows; r++) {
        const o = r * rowBytes + col.offset;
        for (let j = 0; j < rep; j++) out[k++] = dv.getUint8(o + j) === 0x54 ? 1 : 0;
      }
      return out;
    }
    default:
      throw new FitsError(`${where}: TFORM '${col.tform}' is not supported by this reader`);
  }
}

/**
 * Reads a K (int64) column as hi/lo uint32 halves, which is what the HEALPix
 * code wants for NUNIQ and order-29 indices. J columns are accepted too.
 */
export function readUInt64Column(bytes: Uint8Array, hdu: Hdu, col: BinTableColumn): { hi: Uint32Array; lo: Uint32Array } {
  if (hdu.nrows === undefined || hdu.rowBytes === undefined) throw new FitsError(`HDU ${hdu.index} is not a binary table`);
  if (col.repeat !== 1) throw new FitsError(`HDU ${hdu.index} column ${col.name}: expected a scalar column, TFORM is '${col.tform}'`);
  if (col.tscal !== 1 || col.tzero !== 0) throw new FitsError(`HDU ${hdu.index} column ${col.name}: scaled integer index columns are not supported`);
  const n = hdu.nrows;
  const hi = new Uint32Array(n);
  const lo = new Uint32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset + hdu.dataOffset, n * hdu.rowBytes);
  for (let r = 0; r < n; r++) {
    const o = r * hdu.rowBytes + col.offset;
    let h: number;
    let l: number;
    if (col.type === 'K') {
      h = dv.getInt32(o, false);
      l = dv.getUint32(o + 4, false);
    } else if (col.type === 'J') {
      l = dv.getInt32(o, false);
      h = l < 0 ? -1 : 0;
    } else {
      throw new FitsError(`HDU ${hdu.index} column ${col.name}: expected an integer column (K or J), TFORM is '${col.tform}'`);
    }
    if (h < 0) throw new FitsError(`HDU ${hdu.index} column ${col.name}: negative value in row ${r + 1}`);
    hi[r] = h;
    lo[r] = l >>> 0;
  }
  return { hi, lo };
}
