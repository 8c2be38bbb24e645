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
/** ../shared next to the repository (read-only oracle data). */
export const SHARED = resolve(REPO, '..', 'shared', 'data');
export const SHARED_PRESENT = existsSync(resolve(SHARED, 'skymaps'));
export const SHARED_SKIP_REASON = `skipped: ${SHARED} is absent (shared oracle data not mounted)`;

export const PYTHON = '/usr/bin/python3';

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
