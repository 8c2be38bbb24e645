/** Shared helpers for the sky tests: fixture paths, oracle availability, seeded randomness. */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '..');
export const FIXTURES = resolve(here, 'fixtures');
export const SKYMAPS = resolve(FIXTURES, 'skymaps');
export const CATALOGS = resolve(FIXTURES, 'catalogs');
export const MOCS = resolve(FIXTURES, 'moc');
/** ../shared next to the repository (read-only oracle data); VOXNET_SHARED_DATA overrides it. */
export const SHARED = process.env.VOXNET_SHARED_DATA ?? resolve(REPO, '..', 'shared', 'data');
export const SHARED_PRESENT = existsSync(resolve(SHARED, 'skymaps'));
export const SHARED_SKIP_REASON = `skipped: ${SHARED} is absent (shared oracle data not mounted)`;

/** Debian's python3 (with python3-healpy); VOXNET_SKY_PYTHON overrides it, e.g. to check the skip path. */
export const PYTHON = process.env.VOXNET_SKY_PYTHON ?? '/usr/bin/python3';

let healpyState: { ok: boolean; reason: string } | undefined;
/** Whether /usr/bin/python3 can import healpy and numpy (Debian python3-healpy). */
export function healpyAvailable(): { ok: boolean; reason: string } {
  if (healpyState) return healpyState;
  if (!existsSync(PYTHON)) {
    healpyState = { ok: false, reason: `skipped: ${PYTHON} not found (install python3-healpy python3-numpy)` };
    return healpyState;
  }
  const r = spawnSync(PYTHON, ['-c', 'import healpy, numpy; print(healpy.__version__)'], { encoding: 'utf8' });
  healpyState =
    r.status === 0
      ? { ok: true, reason: `healpy ${r.stdout.trim()}` }
      : { ok: false, reason: `skipped: ${PYTHON} lacks healpy/numpy (apt-get install python3-healpy python3-numpy): ${r.stderr.trim().split('\n').pop()}` };
  return healpyState;
}

/** mulberry32: small seeded PRNG returning floats in [0, 1). */
export function rng(seed: number): () => number {
  // mulberry32, two draws per number so that values use all 53 bits (32-bit
  // values would put positions on a lattice aligned with HEALPix pixel edges)
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  return () => (next() * 2 ** 21 + (next() >>> 11)) / 2 ** 53;
}

/** Uniform random bigint in [0, n). */
export function randomBigBelow(r: () => number, n: bigint): bigint {
  const v = (BigInt(Math.floor(r() * 2 ** 32)) << 32n) | BigInt(Math.floor(r() * 2 ** 32));
  return v % n;
}

// ---------------------------------------------------------------------------
// A small FITS writer for building test files (valid and deliberately broken).

export type CardValue = string | number | boolean | bigint;

function card(key: string, value?: CardValue, comment?: string): string {
  if (value === undefined) return key.padEnd(80).slice(0, 80);
  let v: string;
  if (typeof value === 'string') v = `'${value.replace(/'/g, "''").padEnd(8)}'`.padEnd(20);
  else if (typeof value === 'boolean') v = (value ? 'T' : 'F').padStart(20);
  else v = String(value).padStart(20);
  return `${key.padEnd(8)}= ${v}${comment ? ` / ${comment}` : ''}`.padEnd(80).slice(0, 80);
}

export function headerBlock(cards: [string, CardValue?, string?][]): string {
  const text = cards.map(([k, v, c]) => card(k, v, c)).join('') + 'END'.padEnd(80);
  return text.padEnd(Math.ceil(text.length / 2880) * 2880);
}

export type Column = { name: string; tform: string; unit?: string; data: ArrayLike<number | bigint> | string[] };

/** A FITS file with an empty primary HDU and one BINTABLE extension. */
export function makeBintableFits(columns: Column[], extraCards: [string, CardValue?, string?][] = [], opts: { truncateData?: number } = {}): Uint8Array {
  const primary = headerBlock([
    ['SIMPLE', true],
    ['BITPIX', 8],
    ['NAXIS', 0],
    ['EXTEND', true],
  ]);
  const widths = columns.map((c) => {
    const m = /^(\d*)([A-Z])$/.exec(c.tform)!;
    const rep = m[1] === '' ? 1 : Number(m[1]);
    const w = { L: 1, B: 1, I: 2, J: 4, K: 8, E: 4, D: 8, A: 1 }[m[2] as 'L'] ?? 0;
    return { rep, w, type: m[2]!, bytes: rep * w };
  });
  const rowBytes = widths.reduce((s, w) => s + w.bytes, 0);
  const first = columns[0]!;
  const nrows = widths[0]!.type === 'A' ? first.data.length : first.data.length / widths[0]!.rep;
  const cards: [string, CardValue?, string?][] = [
    ['XTENSION', 'BINTABLE'],
    ['BITPIX', 8],
    ['NAXIS', 2],
    ['NAXIS1', rowBytes],
    ['NAXIS2', nrows],
    ['PCOUNT', 0],
    ['GCOUNT', 1],
    ['TFIELDS', columns.length],
  ];
  columns.forEach((c, i) => {
    cards.push([`TTYPE${i + 1}`, c.name], [`TFORM${i + 1}`, c.tform]);
    if (c.unit) cards.push([`TUNIT${i + 1}`, c.unit]);
  });
  cards.push(...extraCards);
  const hdr = headerBlock(cards);
  const dataLen = rowBytes * nrows;
  const data = new Uint8Array(Math.ceil(dataLen / 2880) * 2880);
  const dv = new DataView(data.buffer);
  for (let r = 0; r < nrows; r++) {
    let off = r * rowBytes;
    columns.forEach((c, ci) => {
      const { rep, type, w } = widths[ci]!;
      if (type === 'A') {
        const s = (c.data as string[])[r]!.padEnd(rep, ' ');
        for (let j = 0; j < rep; j++) dv.setUint8(off + j, s.charCodeAt(j));
        off += rep;
        return;
      }
      for (let j = 0; j < rep; j++, off += w) {
        const v = (c.data as ArrayLike<number | bigint>)[r * rep + j]!;
        switch (type) {
          case 'D': dv.setFloat64(off, Number(v), false); break;
          case 'E': dv.setFloat32(off, Number(v), false); break;
          case 'J': dv.setInt32(off, Number(v), false); break;
          case 'I': dv.setInt16(off, Number(v), false); break;
          case 'B': dv.setUint8(off, Number(v)); break;
          case 'L': dv.setUint8(off, v ? 0x54 : 0x46); break;
          case 'K': dv.setBigInt64(off, BigInt(v), false); break;
        }
      }
    });
  }
  const enc = new TextEncoder();
  const out = new Uint8Array(primary.length + hdr.length + data.length);
  out.set(enc.encode(primary), 0);
  out.set(enc.encode(hdr), primary.length);
  out.set(data, primary.length + hdr.length);
  return opts.truncateData !== undefined ? out.subarray(0, primary.length + hdr.length + opts.truncateData) : out;
}
