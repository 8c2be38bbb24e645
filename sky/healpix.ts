/**
 * HEALPix core math (Górski et al. 2005), written for VOXnet.
 *
 * The algorithms follow the reference C++ implementation (Healpix_Base, as used
 * by healpy) operation for operation, so that results agree with healpy bit for
 * bit wherever the C library's trigonometry agrees with V8's.
 *
 * Exactness up to order 29 (nside 2^29, 12·4^29 ≈ 3.5e18 pixels):
 *  - everything is computed on the (face, ix, iy) representation, whose parts
 *    always fit in 32-bit integers;
 *  - packed NESTED / RING / NUNIQ indices are returned as `bigint` by the scalar
 *    API, so they are exact at every order;
 *  - the bulk paths used by the crossmatcher keep 64-bit indices as two uint32
 *    halves (hi, lo) in typed arrays, which compare exactly and cost no BigInt.
 *
 * Angles: theta is colatitude in [0, π], phi is longitude in radians.
 * RA/Dec helpers take degrees, like healpy's lonlat=True.
 */

import { POW2 } from './u64.ts';

export const MAX_ORDER = 29;
/** Largest order whose NESTED/RING indices are exact as a JavaScript number. */
export const MAX_NUMBER_ORDER = 24;

const PI = Math.PI;
const TWOPI = 2 * Math.PI;
const HALFPI = Math.PI / 2;
const INV_HALFPI = 2 / Math.PI;
const TWOTHIRD = 2 / 3;
const DEG = Math.PI / 180;
const TWO32 = 4294967296;

// Face geometry: ring number (in units of nside) of each base pixel's southern
// corner and its phi offset (units of π/4).
const JRLL = [2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4];
const JPLL = [1, 3, 5, 7, 0, 2, 4, 6, 1, 3, 5, 7];

export type Xyf = { face: number; ix: number; iy: number };
export type Angle = { theta: number; phi: number };
export type RaDec = { ra: number; dec: number };
export type Vec3 = [number, number, number];

// ---------------------------------------------------------------------------
// orders, nside, npix, areas

export function checkOrder(order: number): void {
  if (!Number.isInteger(order) || order < 0 || order > MAX_ORDER) {
    throw new RangeError(`HEALPix order must be an integer in 0..${MAX_ORDER}, got ${order}`);
  }
}

export function order2nside(order: number): number {
  checkOrder(order);
  return 2 ** order;
}

/** Inverse of order2nside; throws unless nside is a power of two in 1..2^29. */
export function nside2order(nside: number): number {
  if (!Number.isInteger(nside) || nside < 1 || nside > 2 ** MAX_ORDER || (nside & (nside - 1)) !== 0) {
    throw new RangeError(`HEALPix nside must be a power of two in 1..2^${MAX_ORDER}, got ${nside}`);
  }
  return 31 - Math.clz32(nside);
}

/** Number of pixels at an order. Always exact: 12·4^order = 3·2^(2·order+2). */
export function order2npix(order: number): number {
  checkOrder(order);
  return 12 * 4 ** order;
}

export function nside2npix(nside: number): number {
  return order2npix(nside2order(nside));
}

/** Pixel area in steradians at an order (all pixels have equal area). */
export function pixelArea(order: number): number {
  return (4 * PI) / order2npix(order);
}

export const SR_TO_DEG2 = (180 / PI) ** 2;

/** Pixel area in square degrees. */
export function pixelAreaDeg2(order: number): number {
  return pixelArea(order) * SR_TO_DEG2;
}

/** Maximum angular distance (radians) between a pixel centre and its corners (Healpix_Base::max_pixrad). */
export function maxPixrad(order: number): number {
  const nside = order2nside(order);
  const va = setZPhi(TWOTHIRD, PI / (4 * nside));
  let t1 = 1 - 1 / nside;
  t1 *= t1;
  const vb = setZPhi(1 - t1 / 3, 0);
  return vAngle(va, vb);
}

// ---------------------------------------------------------------------------
// bit interleaving (Morton codes), 16 bits at a time through lookup tables

/** SPREAD[v] spreads the 16 bits of v to the even bits of a 32-bit word. */
const SPREAD = new Uint32Array(65536);
for (let v = 0; v < 65536; v++) {
  let x = v;
  x = (x | (x << 8)) & 0x00ff00ff;
  x = (x | (x << 4)) & 0x0f0f0f0f;
  x = (x | (x << 2)) & 0x33333333;
  x = (x | (x << 1)) & 0x55555555;
  SPREAD[v] = x >>> 0;
}

/** Gathers the even bits of a 32-bit word into 16 bits. */
function compact(w: number): number {
  let x = w & 0x55555555;
  x = (x | (x >>> 1)) & 0x33333333;
  x = (x | (x >>> 2)) & 0x0f0f0f0f;
  x = (x | (x >>> 4)) & 0x00ff00ff;
  x = (x | (x >>> 8)) & 0x0000ffff;
  return x;
}

/** A 64-bit unsigned index as two uint32 halves (value = hi·2^32 + lo). */
export type HiLo = { hi: number; lo: number };

/** NESTED index of (face, ix, iy) at `order`, as hi/lo uint32 halves. */
export function xyf2nestHiLo(order: number, face: number, ix: number, iy: number): HiLo {
  if (order < 16) {
    const v = face * 4 ** order + SPREAD[ix & 0xffff] + 2 * SPREAD[iy & 0xffff];
    const hi = Math.floor(v / TWO32);
    return { hi, lo: v - hi * TWO32 };
  }
  const lo = (SPREAD[ix & 0xffff] | (SPREAD[iy & 0xffff] << 1)) >>> 0;
  const hi = (face * 2 ** (2 * order - 32) + (SPREAD[ix >>> 16] | (SPREAD[iy >>> 16] << 1))) >>> 0;
  return { hi, lo };
}

/** NESTED index as a number; exact for order ≤ 24 (MAX_NUMBER_ORDER). */
export function xyf2nestNumber(order: number, face: number, ix: number, iy: number): number {
  return (
    face * 4 ** order +
    SPREAD[ix & 0xffff] +
    2 * SPREAD[iy & 0xffff] +
    (SPREAD[ix >>> 16] + 2 * SPREAD[iy >>> 16]) * TWO32
  );
}

export function xyf2nest(order: number, face: number, ix: number, iy: number): bigint {
  if (order <= MAX_NUMBER_ORDER) return BigInt(xyf2nestNumber(order, face, ix, iy));
  const { hi, lo } = xyf2nestHiLo(order, face, ix, iy);
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** Splits a non-negative integer index (number or bigint) into hi/lo halves. */
export function toHiLo(v: number | bigint): HiLo {
  if (typeof v === 'bigint') {
    if (v < 0n || v >= 1n << 64n) throw new RangeError(`index out of range: ${v}`);
    return { hi: Number(v >> 32n), lo: Number(v & 0xffffffffn) };
  }
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`pixel index must be a non-negative safe integer or a bigint, got ${v}`);
  }
  const hi = Math.floor(v / TWO32);
  return { hi, lo: v - hi * TWO32 };
}

export function hiLoToBigInt(hi: number, lo: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function checkPix(order: number, hi: number, lo: number): void {
  const npix = order2npix(order);
  // hi·2^32 + lo < npix, compared exactly: npix is a multiple of 2^32 once order ≥ 15.
  const npixHi = Math.floor(npix / TWO32);
  const npixLo = npix - npixHi * TWO32;
  if (hi > npixHi || (hi === npixHi && lo >= npixLo)) {
    throw new RangeError(`pixel index ${hiLoToBigInt(hi, lo)} out of range for order ${order} (npix ${BigInt(npix)})`);
  }
}

/** (face, ix, iy) of a NESTED index given as hi/lo halves. */
export function nestHiLo2xyf(order: number, hi: number, lo: number): Xyf {
  if (order < 16) {
    const v = hi * TWO32 + lo;
    const npface = 4 ** order;
    const face = Math.floor(v / npface);
    const r = v - face * npface; // < 2^30
    return { face, ix: compact(r), iy: compact(r >>> 1) };
  }
  const faceUnit = 2 ** (2 * order - 32);
  const face = Math.floor(hi / faceUnit);
  const h = hi - face * faceUnit;
  return {
    face,
    ix: compact(lo) + compact(h) * 65536,
    iy: compact(lo >>> 1) + compact(h >>> 1) * 65536,
  };
}

export function nest2xyf(order: number, ipix: number | bigint): Xyf {
  checkOrder(order);
  const { hi, lo } = toHiLo(ipix);
  checkPix(order, hi, lo);
  return nestHiLo2xyf(order, hi, lo);
}

// ---------------------------------------------------------------------------
// geometry helpers

function setZPhi(z: number, phi: number): Vec3 {
  const st = Math.sqrt((1 - z) * (1 + z));
  return [st * Math.cos(phi), st * Math.sin(phi), z];
}

function cross(a: Vec3, b: Vec3): Vec3 {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

function dot(a: Vec3, b: Vec3): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

function norm(a: Vec3): Vec3 {
  const l = Math.sqrt(dot(a, a));
  return [a[0] / l, a[1] / l, a[2] / l];
}

function vAngle(a: Vec3, b: Vec3): number {
  const c = cross(a, b);
  return Math.atan2(Math.sqrt(dot(c, c)), dot(a, b));
}

/** fmodulo from the C++ library: v1 mod v2 in [0, v2). */
function fmodulo(v1: number, v2: number): number {
  if (v1 >= 0) return v1 < v2 ? v1 : v1 % v2;
  const tmp = (v1 % v2) + v2;
  return tmp === v2 ? 0 : tmp;
}

export function ang2vec(theta: number, phi: number): Vec3 {
  const st = Math.sin(theta);
  return [st * Math.cos(phi), st * Math.sin(phi), Math.cos(theta)];
}

export function vec2ang(v: Vec3): Angle {
  const theta = Math.atan2(Math.sqrt(v[0] * v[0] + v[1] * v[1]), v[2]);
  let phi = v[0] === 0 && v[1] === 0 ? 0 : Math.atan2(v[1], v[0]);
  if (phi < 0) phi += TWOPI;
  return { theta, phi };
}

export function radec2ang(ra: number, dec: number): Angle {
  return { theta: HALFPI - dec * DEG, phi: ra * DEG };
}

export function ang2radec(theta: number, phi: number): RaDec {
  return { ra: phi / DEG, dec: (HALFPI - theta) / DEG };
}

export function radec2vec(ra: number, dec: number): Vec3 {
  const a = radec2ang(ra, dec);
  return ang2vec(a.theta, a.phi);
}

/** Great-circle distance in radians between two RA/Dec positions given in degrees. */
export function angularDistance(ra1: number, dec1: number, ra2: number, dec2: number): number {
  const d1 = dec1 * DEG;
  const d2 = dec2 * DEG;
  const dra = (ra2 - ra1) * DEG;
  const sdd = Math.sin((d2 - d1) / 2);
  const sdr = Math.sin(dra / 2);
  const h = sdd * sdd + Math.cos(d1) * Math.cos(d2) * sdr * sdr;
  return 2 * Math.asin(Math.min(1, Math.sqrt(h)));
}

// ---------------------------------------------------------------------------
// angle -> (face, ix, iy), Healpix_Base::loc2pix (NEST branch, before packing)

function checkTheta(theta: number): void {
  if (!(theta >= 0 && theta <= PI)) throw new RangeError(`theta must be in [0, π], got ${theta}`);
}

/** Writes face, ix, iy into out[0..2]. */
function loc2xyf(order: number, z: number, phi: number, sth: number, haveSth: boolean, out: Int32Array): void {
  const nside = 2 ** order;
  const za = Math.abs(z);
  const tt = fmodulo(phi * INV_HALFPI, 4.0);
  if (za <= TWOTHIRD) {
    const temp1 = nside * (0.5 + tt);
    const temp2 = nside * (z * 0.75);
    const jp = Math.floor(temp1 - temp2); // ascending edge line index (≥ 0)
    const jm = Math.floor(temp1 + temp2); // descending edge line index
    const ifp = Math.floor(jp / nside);
    const ifm = Math.floor(jm / nside);
    out[0] = ifp === ifm ? ifp | 4 : ifp < ifm ? ifp : ifm + 8;
    out[1] = jm - ifm * nside;
    out[2] = nside - (jp - ifp * nside) - 1;
  } else {
    const ntt = Math.min(3, Math.trunc(tt));
    const tp = tt - ntt;
    const tmp = za < 0.99 || !haveSth ? nside * Math.sqrt(3 * (1 - za)) : (nside * sth) / Math.sqrt((1 + za) / 3);
    let jp = Math.floor(tp * tmp);
    let jm = Math.floor((1.0 - tp) * tmp);
    jp = Math.min(jp, nside - 1);
    jm = Math.min(jm, nside - 1);
    if (z >= 0) {
      out[0] = ntt;
      out[1] = nside - jm - 1;
      out[2] = nside - jp - 1;
    } else {
      out[0] = ntt + 8;
      out[1] = jp;
      out[2] = jm;
    }
  }
}

const scratch = new Int32Array(3);

export function ang2xyf(order: number, theta: number, phi: number): Xyf {
  checkOrder(order);
  checkTheta(theta);
  if (theta < 0.01 || theta > 3.14159 - 0.01) {
    loc2xyf(order, Math.cos(theta), phi, Math.sin(theta), true, scratch);
  } else {
    loc2xyf(order, Math.cos(theta), phi, 0, false, scratch);
  }
  return { face: scratch[0]!, ix: scratch[1]!, iy: scratch[2]! };
}

/** NESTED pixel containing (theta, phi). Exact at every order. */
export function ang2pix(order: number, theta: number, phi: number): bigint {
  const { face, ix, iy } = ang2xyf(order, theta, phi);
  return xyf2nest(order, face, ix, iy);
}

/** NESTED pixel containing (theta, phi) as a number; order must be ≤ 24. */
export function ang2pixNumber(order: number, theta: number, phi: number): number {
  if (order > MAX_NUMBER_ORDER) throw new RangeError(`ang2pixNumber: order ${order} > ${MAX_NUMBER_ORDER}; use ang2pix (bigint)`);
  const { face, ix, iy } = ang2xyf(order, theta, phi);
  return xyf2nestNumber(order, face, ix, iy);
}

/** NESTED pixel containing RA/Dec (degrees), like healpy ang2pix(..., nest=True, lonlat=True). */
export function radec2pix(order: number, ra: number, dec: number): bigint {
  const { theta, phi } = radec2ang(ra, dec);
  return ang2pix(order, theta, phi);
}

// ---------------------------------------------------------------------------
// (face, ix, iy) -> location, Healpix_Base::pix2loc (NEST branch)

type Loc = { z: number; phi: number; sth: number; haveSth: boolean };

function xyf2loc(order: number, face: number, ix: number, iy: number): Loc {
  const nside = 2 ** order;
  const npix = 12 * nside * nside;
  const fact2 = 4 / npix;
  const fact1 = 2 * nside * fact2;
  const jr = JRLL[face]! * nside - ix - iy - 1;
  let nr: number;
  let z: number;
  let sth = 0;
  let haveSth = false;
  if (jr < nside) {
    nr = jr;
    const tmp = nr * nr * fact2;
    z = 1 - tmp;
    if (z > 0.99) {
      sth = Math.sqrt(tmp * (2.0 - tmp));
      haveSth = true;
    }
  } else if (jr > 3 * nside) {
    nr = nside * 4 - jr;
    const tmp = nr * nr * fact2;
    z = tmp - 1;
    if (z < -0.99) {
      sth = Math.sqrt(tmp * (2.0 - tmp));
      haveSth = true;
    }
  } else {
    nr = nside;
    z = (2 * nside - jr) * fact1;
  }
  let tmp = JPLL[face]! * nr + ix - iy;
  if (tmp < 0) tmp += 8 * nr;
  const phi = nr === nside ? 0.75 * HALFPI * tmp * fact1 : (0.5 * HALFPI * tmp) / nr;
  return { z, phi, sth, haveSth };
}

export function xyf2ang(order: number, face: number, ix: number, iy: number): Angle {
  const { z, phi, sth, haveSth } = xyf2loc(order, face, ix, iy);
  return { theta: haveSth ? Math.atan2(sth, z) : Math.acos(z), phi };
}

function xyf2vec(order: number, face: number, ix: number, iy: number): Vec3 {
  const { z, phi, sth, haveSth } = xyf2loc(order, face, ix, iy);
  if (haveSth) return [sth * Math.cos(phi), sth * Math.sin(phi), z];
  return setZPhi(z, phi);
}

/** z = cos(theta) and phi of a NESTED pixel centre, computed as Healpix_Base::pix2zphi does. */
export function pix2zphi(order: number, ipix: number | bigint): { z: number; phi: number } {
  const { face, ix, iy } = nest2xyf(order, ipix);
  const l = xyf2loc(order, face, ix, iy);
  return { z: l.z, phi: l.phi };
}

/** Centre of a NESTED pixel. */
export function pix2ang(order: number, ipix: number | bigint): Angle {
  const { face, ix, iy } = nest2xyf(order, ipix);
  return xyf2ang(order, face, ix, iy);
}

/** Centre of a NESTED pixel in RA/Dec degrees (RA in [0, 360)). */
export function pix2radec(order: number, ipix: number | bigint): RaDec {
  const a = pix2ang(order, ipix);
  return ang2radec(a.theta, a.phi);
}

export function pix2vec(order: number, ipix: number | bigint): Vec3 {
  const { face, ix, iy } = nest2xyf(order, ipix);
  return xyf2vec(order, face, ix, iy);
}

// ---------------------------------------------------------------------------
// RING scheme

function isqrtNumber(arg: number): number {
  let res = Math.floor(Math.sqrt(arg + 0.5));
  if (arg < 2 ** 50) return res;
  if (res * res > arg) --res;
  else if ((res + 1) * (res + 1) <= arg) ++res;
  return res;
}

function isqrtBig(arg: bigint): bigint {
  let res = BigInt(Math.floor(Math.sqrt(Number(arg))));
  while (res * res > arg) --res;
  while ((res + 1n) * (res + 1n) <= arg) ++res;
  return res;
}

/** Ring-scheme decomposition: ring number (from north), position in ring (1-based), ring length / 4 and shift. */
function ringLocate(order: number, pix: number | bigint, out: Float64Array): void {
  const nside = 2 ** order;
  if (typeof pix === 'number') {
    const ncap = 2 * nside * (nside - 1);
    const npix = 12 * nside * nside;
    if (pix < ncap) {
      const iring = (1 + isqrtNumber(1 + 2 * pix)) >>> 1;
      out[0] = iring;
      out[1] = pix + 1 - 2 * iring * (iring - 1);
      out[2] = 0;
      out[3] = iring;
      out[4] = 0; // north cap
    } else if (pix < npix - ncap) {
      const ip = pix - ncap;
      const tmp = Math.floor(ip / (4 * nside));
      out[0] = tmp + nside;
      out[1] = ip - tmp * 4 * nside + 1;
      out[2] = (tmp + 2 * nside) & 1;
      out[3] = nside;
      out[4] = 1; // equator
    } else {
      const ip = npix - pix;
      const iring = (1 + isqrtNumber(2 * ip - 1)) >>> 1;
      out[0] = 4 * nside - iring;
      out[1] = 4 * iring + 1 - (ip - 2 * iring * (iring - 1));
      out[2] = 0;
      out[3] = iring;
      out[4] = 2; // south cap
    }
    return;
  }
  const ns = BigInt(nside);
  const ncap = 2n * ns * (ns - 1n);
  const npix = 12n * ns * ns;
  if (pix < ncap) {
    const iring = (1n + isqrtBig(1n + 2n * pix)) >> 1n;
    out[0] = Number(iring);
    out[1] = Number(pix + 1n - 2n * iring * (iring - 1n));
    out[2] = 0;
    out[3] = Number(iring);
    out[4] = 0;
  } else if (pix < npix - ncap) {
    const ip = pix - ncap;
    const tmp = ip >> BigInt(order + 2);
    out[0] = Number(tmp) + nside;
    out[1] = Number(ip - tmp * 4n * ns) + 1;
    out[2] = (Number(tmp) + 2 * nside) % 2;
    out[3] = nside;
    out[4] = 1;
  } else {
    const ip = npix - pix;
    const iring = (1n + isqrtBig(2n * ip - 1n)) >> 1n;
    out[0] = 4 * nside - Number(iring);
    out[1] = Number(4n * iring + 1n - (ip - 2n * iring * (iring - 1n)));
    out[2] = 0;
    out[3] = Number(iring);
    out[4] = 2;
  }
}

const ringScratch = new Float64Array(5);

/** RING index → (face, ix, iy) into out. pix is a number for order ≤ 24, a bigint otherwise. */
function ring2xyfInto(order: number, pix: number | bigint, out: Int32Array): void {
  const nside = 2 ** order;
  const nl2 = 2 * nside;
  ringLocate(order, pix, ringScratch);
  const iring = ringScratch[0]!;
  const iphi = ringScratch[1]!;
  const kshift = ringScratch[2]!;
  const nr = ringScratch[3]!;
  const region = ringScratch[4]!;
  let face: number;
  if (region === 0) {
    face = Math.floor((iphi - 1) / nr);
  } else if (region === 1) {
    const tmp = iring - nside;
    const ire = tmp + 1;
    const irm = nl2 + 1 - tmp;
    const ifm = Math.floor((iphi - Math.floor(ire / 2) + nside - 1) / nside);
    const ifp = Math.floor((iphi - Math.floor(irm / 2) + nside - 1) / nside);
    face = ifp === ifm ? ifp | 4 : ifp < ifm ? ifp : ifm + 8;
  } else {
    face = Math.floor((iphi - 1) / nr) + 8;
  }
  const irt = iring - JRLL[face]! * nside + 1;
  let ipt = 2 * iphi - JPLL[face]! * nr - kshift - 1;
  if (ipt >= nl2) ipt -= 8 * nside;
  out[0] = face;
  out[1] = Math.floor((ipt - irt) / 2);
  out[2] = Math.floor((-ipt - irt) / 2);
}

/** RING index of (face, ix, iy); a number for order ≤ 24, a bigint above. */
function xyf2ringAny(order: number, face: number, ix: number, iy: number): number | bigint {
  const nside = 2 ** order;
  const nl4 = 4 * nside;
  const jr = JRLL[face]! * nside - ix - iy - 1;
  let nr: number;
  let shifted: boolean;
  let kind: 0 | 1 | 2;
  if (jr < nside) {
    shifted = true;
    nr = jr;
    kind = 0;
  } else if (jr < 3 * nside) {
    shifted = ((jr - nside) & 1) === 0;
    nr = nside;
    kind = 1;
  } else {
    shifted = true;
    nr = 4 * nside - jr;
    kind = 2;
  }
  const kshift = shifted ? 0 : 1;
  let jp = Math.trunc((JPLL[face]! * nr + ix - iy + 1 + kshift) / 2);
  if (jp < 1) jp += nl4;
  if (order <= MAX_NUMBER_ORDER) {
    const ncap = 2 * nside * (nside - 1);
    const npix = 12 * nside * nside;
    const start = kind === 0 ? 2 * jr * (jr - 1) : kind === 1 ? ncap + (jr - nside) * 4 * nside : npix - 2 * nr * (nr + 1);
    return start + jp - 1;
  }
  const ns = BigInt(nside);
  const j = BigInt(jr);
  const n = BigInt(nr);
  const start =
    kind === 0 ? 2n * j * (j - 1n) : kind === 1 ? 2n * ns * (ns - 1n) + (j - ns) * 4n * ns : 12n * ns * ns - 2n * n * (n + 1n);
  return start + BigInt(jp - 1);
}

function checkRingPix(order: number, pix: number | bigint): number | bigint {
  checkOrder(order);
  const npix = order2npix(order);
  if (typeof pix === 'number') {
    if (!Number.isSafeInteger(pix) || pix < 0) throw new RangeError(`pixel index must be a non-negative safe integer, got ${pix}`);
    if (order > MAX_NUMBER_ORDER) return BigInt(pix);
    if (pix >= npix) throw new RangeError(`pixel index ${pix} out of range for order ${order}`);
    return pix;
  }
  if (pix < 0n || pix >= BigInt(npix)) throw new RangeError(`pixel index ${pix} out of range for order ${order}`);
  return order > MAX_NUMBER_ORDER ? pix : Number(pix);
}

export function ring2xyf(order: number, ipix: number | bigint): Xyf {
  const p = checkRingPix(order, ipix);
  const out = new Int32Array(3);
  ring2xyfInto(order, p, out);
  return { face: out[0]!, ix: out[1]!, iy: out[2]! };
}

export function xyf2ring(order: number, face: number, ix: number, iy: number): bigint {
  return BigInt(xyf2ringAny(order, face, ix, iy));
}

export function ring2nest(order: number, ipix: number | bigint): bigint {
  const { face, ix, iy } = ring2xyf(order, ipix);
  return xyf2nest(order, face, ix, iy);
}

export function nest2ring(order: number, ipix: number | bigint): bigint {
  const { face, ix, iy } = nest2xyf(order, ipix);
  return xyf2ring(order, face, ix, iy);
}

export function ang2pixRing(order: number, theta: number, phi: number): bigint {
  const { face, ix, iy } = ang2xyf(order, theta, phi);
  return xyf2ring(order, face, ix, iy);
}

/** Centre of a RING pixel (Healpix_Base::pix2loc, RING branch). */
export function pix2angRing(order: number, ipix: number | bigint): Angle {
  const p = checkRingPix(order, ipix);
  const nside = 2 ** order;
  const npix = 12 * nside * nside;
  const fact2 = 4 / npix;
  const fact1 = 2 * nside * fact2;
  ringLocate(order, p, ringScratch);
  const region = ringScratch[4]!;
  const iphi = ringScratch[1]!;
  let z: number;
  let phi: number;
  let sth = 0;
  let haveSth = false;
  if (region === 1) {
    const iring = ringScratch[0]!;
    const fodd = (iring + nside) % 2 === 1 ? 1 : 0.5;
    z = (2 * nside - iring) * fact1;
    phi = (iphi - fodd) * PI * 0.75 * fact1;
  } else {
    const iring = ringScratch[3]!; // counted from the nearer pole
    const tmp = iring * iring * fact2;
    if (region === 0) {
      z = 1.0 - tmp;
      if (z > 0.99) {
        sth = Math.sqrt(tmp * (2.0 - tmp));
        haveSth = true;
      }
    } else {
      z = tmp - 1.0;
      if (z < -0.99) {
        sth = Math.sqrt(tmp * (2.0 - tmp));
        haveSth = true;
      }
    }
    phi = ((iphi - 0.5) * HALFPI) / iring;
  }
  return { theta: haveSth ? Math.atan2(sth, z) : Math.acos(z), phi };
}

/**
 * Whole-map table nest → ring at order ≤ 13: table[nest] = ring index. Reorders a
 * RING-ordered flat map into NESTED order with nested[p] = ring[table[p]].
 */
export function nest2ringTable(order: number): Uint32Array {
  checkOrder(order);
  if (order > 13) throw new RangeError(`nest2ringTable: order ${order} too large for an in-memory table`);
  const nside = 2 ** order;
  const npface = nside * nside;
  const nl4 = 4 * nside;
  const ncap = 2 * nside * (nside - 1);
  const npix = 12 * npface;
  const out = new Uint32Array(npix);
  for (let face = 0; face < 12; face++) {
    const base = face * npface;
    const jrll = JRLL[face]! * nside;
    const jpll = JPLL[face]!;
    for (let r = 0; r < npface; r++) {
      const ix = compact(r);
      const iy = compact(r >>> 1);
      const jr = jrll - ix - iy - 1;
      let nr: number;
      let kshift: number;
      let start: number;
      if (jr < nside) {
        nr = jr;
        kshift = 0;
        start = 2 * jr * (jr - 1);
      } else if (jr < 3 * nside) {
        nr = nside;
        kshift = (jr - nside) & 1;
        start = ncap + (jr - nside) * nl4;
      } else {
        nr = nl4 - jr;
        kshift = 0;
        start = npix - 2 * nr * (nr + 1);
      }
      let jp = Math.trunc((jpll * nr + ix - iy + 1 + kshift) / 2);
      if (jp < 1) jp += nl4;
      out[base + r] = start + jp - 1;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// neighbours (Healpix_Base::neighbors)

const NB_XOFFSET = [-1, -1, 0, 1, 1, 1, 0, -1];
const NB_YOFFSET = [0, 1, 1, 1, 0, -1, -1, -1];
const NB_FACEARRAY = [
  [8, 9, 10, 11, -1, -1, -1, -1, 10, 11, 8, 9], // S
  [5, 6, 7, 4, 8, 9, 10, 11, 9, 10, 11, 8], // SE
  [-1, -1, -1, -1, 5, 6, 7, 4, -1, -1, -1, -1], // E
  [4, 5, 6, 7, 11, 8, 9, 10, 11, 8, 9, 10], // SW
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], // centre
  [1, 2, 3, 0, 0, 1, 2, 3, 5, 6, 7, 4], // NE
  [-1, -1, -1, -1, 7, 4, 5, 6, -1, -1, -1, -1], // W
  [3, 0, 1, 2, 3, 0, 1, 2, 4, 5, 6, 7], // NW
  [2, 3, 0, 1, -1, -1, -1, -1, 0, 1, 2, 3], // N
];
const NB_SWAPARRAY = [
  [0, 0, 3], // S
  [0, 0, 6], // SE
  [0, 0, 0], // E
  [0, 0, 5], // SW
  [0, 0, 0], // centre
  [5, 0, 0], // NE
  [0, 0, 0], // W
  [6, 0, 0], // NW
  [3, 0, 0], // N
];

/** Neighbours of (face, ix, iy) in the order SW, W, NW, N, NE, E, SE, S (null where none exists). */
export function neighboursXyf(order: number, face: number, ix: number, iy: number): (Xyf | null)[] {
  const nside = 2 ** order;
  const res: (Xyf | null)[] = [];
  for (let i = 0; i < 8; i++) {
    let x = ix + NB_XOFFSET[i]!;
    let y = iy + NB_YOFFSET[i]!;
    let nbnum = 4;
    if (x < 0) {
      x += nside;
      nbnum -= 1;
    } else if (x >= nside) {
      x -= nside;
      nbnum += 1;
    }
    if (y < 0) {
      y += nside;
      nbnum -= 3;
    } else if (y >= nside) {
      y -= nside;
      nbnum += 3;
    }
    const f = NB_FACEARRAY[nbnum]![face]!;
    if (f < 0) {
      res.push(null);
      continue;
    }
    const bits = NB_SWAPARRAY[nbnum]![face >> 2]!;
    if (bits & 1) x = nside - x - 1;
    if (bits & 2) y = nside - y - 1;
    if (bits & 4) [x, y] = [y, x];
    res.push({ face: f, ix: x, iy: y });
  }
  return res;
}

/**
 * The 8 neighbours of a pixel, in healpy's order SW, W, NW, N, NE, E, SE, S;
 * -1n where a pixel has only 7 neighbours.
 */
export function neighbours(order: number, ipix: number | bigint, scheme: 'nest' | 'ring' = 'nest'): bigint[] {
  const c = scheme === 'nest' ? nest2xyf(order, ipix) : ring2xyf(order, ipix);
  return neighboursXyf(order, c.face, c.ix, c.iy).map((n) =>
    n === null ? -1n : scheme === 'nest' ? xyf2nest(order, n.face, n.ix, n.iy) : xyf2ring(order, n.face, n.ix, n.iy),
  );
}

// ---------------------------------------------------------------------------
// NUNIQ

/** NUNIQ index 4·4^order + ipix. */
export function nest2uniq(order: number, ipix: number | bigint): bigint {
  checkOrder(order);
  const { hi, lo } = toHiLo(ipix);
  checkPix(order, hi, lo);
  return (1n << BigInt(2 * order + 2)) + hiLoToBigInt(hi, lo);
}

/** Order of a NUNIQ index given as hi/lo halves, or -1 if the value is not a valid NUNIQ (< 4 or order > 29). */
export function uniqOrderHiLo(hi: number, lo: number): number {
  const bitlen = hi !== 0 ? 64 - Math.clz32(hi) : 32 - Math.clz32(lo);
  const order = Math.floor((bitlen - 1) / 2) - 1;
  return order >= 0 && order <= MAX_ORDER ? order : -1;
}

export function uniq2nest(uniq: number | bigint): { order: number; ipix: bigint } {
  const { hi, lo } = toHiLo(uniq);
  const order = uniqOrderHiLo(hi, lo);
  if (order < 0) throw new RangeError(`invalid NUNIQ index ${uniq}`);
  const u = hiLoToBigInt(hi, lo);
  return { order, ipix: u - (1n << BigInt(2 * order + 2)) };
}

// ---------------------------------------------------------------------------
// Order-29 bulk indexing for catalogues (hi/lo halves, no BigInt)

/**
 * NESTED order-29 indices of RA/Dec positions (degrees), written as uint32 halves.
 * Rows with non-finite or out-of-range coordinates get hi = lo = 0xffffffff
 * (greater than any valid index, so they sort last and match no tile).
 * Same arithmetic as ang2pix(29, ...) / healpy lonlat=True.
 */
export function radec2nest29Bulk(ra: ArrayLike<number>, dec: ArrayLike<number>, hi: Uint32Array, lo: Uint32Array): void {
  const n = ra.length;
  const nside = 2 ** 29;
  for (let i = 0; i < n; i++) {
    const theta = HALFPI - dec[i]! * DEG;
    const phi = ra[i]! * DEG;
    if (!(theta >= 0 && theta <= PI) || !Number.isFinite(phi)) {
      hi[i] = 0xffffffff;
      lo[i] = 0xffffffff;
      continue;
    }
    const z = Math.cos(theta);
    const za = Math.abs(z);
    let t = phi * INV_HALFPI;
    if (t < 0 || t >= 4) t = fmodulo(t, 4.0);
    let face: number;
    let ix: number;
    let iy: number;
    if (za <= TWOTHIRD) {
      const temp1 = nside * (0.5 + t);
      const temp2 = nside * (z * 0.75);
      const jp = Math.floor(temp1 - temp2);
      const jm = Math.floor(temp1 + temp2);
      const ifp = jp >>> 29;
      const ifm = jm >>> 29;
      face = ifp === ifm ? ifp | 4 : ifp < ifm ? ifp : ifm + 8;
      ix = jm & 0x1fffffff;
      iy = nside - (jp & 0x1fffffff) - 1;
    } else {
      const ntt = t >= 3 ? 3 : Math.trunc(t);
      const tp = t - ntt;
      const tmp =
        za < 0.99 || !(theta < 0.01 || theta > 3.14159 - 0.01)
          ? nside * Math.sqrt(3 * (1 - za))
          : (nside * Math.sin(theta)) / Math.sqrt((1 + za) / 3);
      let jp = Math.floor(tp * tmp);
      let jm = Math.floor((1.0 - tp) * tmp);
      if (jp > nside - 1) jp = nside - 1;
      if (jm > nside - 1) jm = nside - 1;
      if (z >= 0) {
        face = ntt;
        ix = nside - jm - 1;
        iy = nside - jp - 1;
      } else {
        face = ntt + 8;
        ix = jp;
        iy = jm;
      }
    }
    lo[i] = (SPREAD[ix & 0xffff]! | (SPREAD[iy & 0xffff]! << 1)) >>> 0;
    hi[i] = ((face << 26) | SPREAD[ix >>> 16]! | (SPREAD[iy >>> 16]! << 1)) >>> 0;
  }
}

// ---------------------------------------------------------------------------
// Range sets of NESTED indices

/**
 * Sorted, disjoint, non-adjacent half-open ranges [start, end) of NESTED
 * indices at `order`, flattened as [s0, e0, s1, e1, ...].
 */
export type PixelRanges = { order: number; ranges: bigint[] };

class RangeBuilder {
  readonly ranges: bigint[] = [];
  append(a: bigint, b: bigint): void {
    const r = this.ranges;
    const n = r.length;
    if (n > 0 && r[n - 1]! >= a) {
      if (r[n - 1]! < b) r[n - 1] = b;
      return;
    }
    r.push(a, b);
  }
}

export function rangesPixelCount(pr: PixelRanges): bigint {
  let c = 0n;
  for (let i = 0; i < pr.ranges.length; i += 2) c += pr.ranges[i + 1]! - pr.ranges[i]!;
  return c;
}

/** Expands ranges to the list of pixel indices (throws above `limit` pixels). */
export function rangesToPixels(pr: PixelRanges, limit = 50_000_000): bigint[] {
  if (rangesPixelCount(pr) > BigInt(limit)) throw new RangeError(`more than ${limit} pixels; use the ranges`);
  const out: bigint[] = [];
  for (let i = 0; i < pr.ranges.length; i += 2) for (let p = pr.ranges[i]!; p < pr.ranges[i + 1]!; p++) out.push(p);
  return out;
}

// ---------------------------------------------------------------------------
// query_disc / query_polygon (hierarchical NESTED descent, Healpix_Base)

export type QueryOptions = {
  /**
   * false (default): the exact set of pixels whose centres lie inside the shape (healpy inclusive=False).
   * true: every pixel that overlaps the shape, plus possibly a few that do not (healpy inclusive=True).
   */
  inclusive?: boolean;
  /** Oversampling factor for inclusive queries, a power of two (healpy `fact`, default 4). */
  fact?: number;
};

// max_pixrad for every order, computed once
let MAX_PIXRAD: Float64Array | undefined;
function maxPixradTable(): Float64Array {
  if (!MAX_PIXRAD) {
    MAX_PIXRAD = new Float64Array(MAX_ORDER + 1);
    for (let o = 0; o <= MAX_ORDER; o++) MAX_PIXRAD[o] = maxPixrad(o);
  }
  return MAX_PIXRAD;
}

/** Range output: numbers while indices are exact (order ≤ 24), bigints above. */
class RangeAcc {
  readonly num: number[] = [];
  readonly big: bigint[] = [];
  constructor(readonly order: number) {}
  private appendNum(a: number, b: number): void {
    const r = this.num;
    const n = r.length;
    if (n > 0 && r[n - 1]! >= a) {
      if (r[n - 1]! < b) r[n - 1] = b;
    } else r.push(a, b);
  }
  private appendBig(a: bigint, b: bigint): void {
    const r = this.big;
    const n = r.length;
    if (n > 0 && r[n - 1]! >= a) {
      if (r[n - 1]! < b) r[n - 1] = b;
    } else r.push(a, b);
  }
  /** All pixels at `order` below (face, ix, iy) at order o ≤ order. */
  cell(o: number, face: number, ix: number, iy: number): void {
    const d = this.order - o;
    const s = POW2[d]!;
    if (this.order <= MAX_NUMBER_ORDER) {
      const a = xyf2nestNumber(this.order, face, ix * s, iy * s);
      this.appendNum(a, a + POW2[2 * d]!);
    } else {
      const a = xyf2nest(this.order, face, ix * s, iy * s);
      this.appendBig(a, a + (1n << BigInt(2 * d)));
    }
  }
  /** The pixel at `order` containing (face, ix, iy) at order o ≥ order. */
  parent(o: number, face: number, ix: number, iy: number): void {
    const s = POW2[o - this.order]!;
    const x = Math.floor(ix / s);
    const y = Math.floor(iy / s);
    if (this.order <= MAX_NUMBER_ORDER) {
      const a = xyf2nestNumber(this.order, face, x, y);
      this.appendNum(a, a + 1);
    } else {
      const a = xyf2nest(this.order, face, x, y);
      this.appendBig(a, a + 1n);
    }
  }
  bigRanges(): bigint[] {
    return this.order <= MAX_NUMBER_ORDER ? this.num.map((v) => BigInt(v)) : this.big;
  }
}

/** Shape tested by the traversal: a disc (cap) or an intersection of caps (convex polygon). */
type Shape =
  | { kind: 'disc'; z0: number; sz0: number; phi0: number; cosrad: number; crpdr: Float64Array; crmdr: Float64Array }
  | { kind: 'caps'; nv: number; nx: Float64Array; ny: Float64Array; nz: Float64Array; lim: Float64Array };

const JRLL_I = Int32Array.from(JRLL);
const JPLL_I = Int32Array.from(JPLL);

/**
 * Shared traversal (Healpix_Base::query_disc / query_multidisc with check_pixel).
 * Zones: 0 outside, 1 centre outside but may overlap, 2 centre inside, 3 fully inside.
 * The pixel-centre computation (pix2loc) and the zone tests are inlined: this loop
 * is what rasterising thousands of telescope footprints spends its time in.
 */
function hierarchicalQuery(order: number, opts: QueryOptions, shape: Shape): RangeAcc {
  checkOrder(order);
  const inclusive = opts.inclusive ?? false;
  let oplus = 0;
  if (inclusive) {
    const fact = opts.fact ?? 4;
    if (!Number.isInteger(fact) || fact < 1 || (fact & (fact - 1)) !== 0) {
      throw new RangeError(`oversampling factor must be a power of 2, got ${fact}`);
    }
    if (2 ** (MAX_ORDER - order) < fact) throw new RangeError(`invalid oversampling factor ${fact} at order ${order}`);
    oplus = 31 - Math.clz32(fact);
  }
  const omax = order + oplus;
  const out = new RangeAcc(order);
  // shape parameters as locals
  const isDisc = shape.kind === 'disc';
  const z0 = isDisc ? shape.z0 : 0;
  const sz0 = isDisc ? shape.sz0 : 0;
  const phi0 = isDisc ? shape.phi0 : 0;
  const cosrad = isDisc ? shape.cosrad : 0;
  const crpdr = isDisc ? shape.crpdr : EMPTY_F64;
  const crmdr = isDisc ? shape.crmdr : EMPTY_F64;
  const nv = isDisc ? 0 : shape.nv;
  const nx = isDisc ? EMPTY_F64 : shape.nx;
  const ny = isDisc ? EMPTY_F64 : shape.ny;
  const nz = isDisc ? EMPTY_F64 : shape.nz;
  const lim = isDisc ? EMPTY_F64 : shape.lim;
  // stack of (face, ix, iy, o) quadruples; depth-first, so it stays small
  let stk = new Int32Array(4 * 512);
  let sp = 0;
  for (let i = 0; i < 12; i++) {
    stk[sp] = 11 - i;
    sp += 4;
  }
  let stacktop = 0;
  while (sp > 0) {
    sp -= 4;
    const f = stk[sp]!;
    const x = stk[sp + 1]!;
    const y = stk[sp + 2]!;
    const o = stk[sp + 3]!;
    // --- pixel centre (Healpix_Base::pix2loc, NEST) ---
    const nside = NSIDE_F[o]!;
    const fact2 = FACT2[o]!;
    const jr = JRLL_I[f]! * nside - x - y - 1;
    let nr: number;
    let z: number;
    let sth = 0;
    let haveSth = false;
    if (jr < nside) {
      nr = jr;
      const tmp = nr * nr * fact2;
      z = 1 - tmp;
      if (z > 0.99) {
        sth = Math.sqrt(tmp * (2.0 - tmp));
        haveSth = true;
      }
    } else if (jr > 3 * nside) {
      nr = nside * 4 - jr;
      const tmp = nr * nr * fact2;
      z = tmp - 1;
      if (z < -0.99) {
        sth = Math.sqrt(tmp * (2.0 - tmp));
        haveSth = true;
      }
    } else {
      nr = nside;
      z = (2 * nside - jr) * FACT1[o]!;
    }
    let tp = JPLL_I[f]! * nr + x - y;
    if (tp < 0) tp += 8 * nr;
    const phi = nr === nside ? 0.75 * HALFPI * tp * FACT1[o]! : (0.5 * HALFPI * tp) / nr;
    // --- zone ---
    let zone: number;
    if (isDisc) {
      const cangdist = z0 * z + Math.cos(phi0 - phi) * Math.sqrt(sz0 * (1.0 - z * z));
      if (!(cangdist > crpdr[o]!)) continue;
      zone = cangdist < cosrad ? 1 : cangdist <= crmdr[o]! ? 2 : 3;
    } else {
      const st = haveSth ? sth : Math.sqrt((1 - z) * (1 + z));
      const px = st * Math.cos(phi);
      const py = st * Math.sin(phi);
      zone = 3;
      let k = o * nv * 3;
      for (let i = 0; i < nv; i++, k += 3) {
        const crad = px * nx[i]! + py * ny[i]! + z * nz[i]!;
        if (crad < lim[k]!) {
          zone = 0;
          break;
        }
        if (zone > 1 && crad < lim[k + 1]!) zone = 1;
        else if (zone > 2 && crad < lim[k + 2]!) zone = 2;
      }
      if (zone === 0) continue;
    }
    // --- check_pixel ---
    let children = false;
    if (o < order) {
      if (zone >= 3) out.cell(o, f, x, y);
      else children = true;
    } else if (o > order) {
      if (zone >= 2 || o >= omax) {
        out.parent(o, f, x, y);
        sp = stacktop;
      } else children = true;
    } else {
      if (zone >= 2) out.cell(o, f, x, y);
      else if (inclusive) {
        if (order < omax) {
          stacktop = sp;
          children = true;
        } else out.cell(o, f, x, y);
      }
    }
    if (children) {
      if (sp + 16 > stk.length) {
        const n = new Int32Array(stk.length * 2);
        n.set(stk);
        stk = n;
      }
      const x2 = 2 * x;
      const y2 = 2 * y;
      const o1 = o + 1;
      // children in reverse nested order so that they pop in increasing order
      stk[sp] = f; stk[sp + 1] = x2 + 1; stk[sp + 2] = y2 + 1; stk[sp + 3] = o1;
      stk[sp + 4] = f; stk[sp + 5] = x2; stk[sp + 6] = y2 + 1; stk[sp + 7] = o1;
      stk[sp + 8] = f; stk[sp + 9] = x2 + 1; stk[sp + 10] = y2; stk[sp + 11] = o1;
      stk[sp + 12] = f; stk[sp + 13] = x2; stk[sp + 14] = y2; stk[sp + 15] = o1;
      sp += 16;
    }
  }
  return out;
}

const EMPTY_F64 = new Float64Array(0);
// per-order constants of pix2loc: nside, fact2 = 4/npix, fact1 = 2·nside·fact2
const NSIDE_F = Float64Array.from({ length: MAX_ORDER + 1 }, (_, o) => 2 ** o);
const FACT2 = Float64Array.from({ length: MAX_ORDER + 1 }, (_, o) => 4 / (12 * 2 ** o * 2 ** o));
const FACT1 = Float64Array.from({ length: MAX_ORDER + 1 }, (_, o) => 2 * 2 ** o * (4 / (12 * 2 ** o * 2 ** o)));

/**
 * NESTED pixels within `radius` radians of (theta, phi), as ranges at `order`.
 * Matches healpy.query_disc(nest=True) (default: centres inside; inclusive: overlapping).
 */
export function queryDisc(order: number, theta: number, phi: number, radius: number, opts: QueryOptions = {}): PixelRanges {
  return { order, ranges: discQuery(order, theta, phi, radius, opts).bigRanges() };
}

function discQuery(order: number, theta: number, phi: number, radius: number, opts: QueryOptions): RangeAcc {
  checkOrder(order);
  checkTheta(theta);
  if (!(radius >= 0)) throw new RangeError(`radius must be ≥ 0, got ${radius}`);
  if (radius >= PI) {
    const acc = new RangeAcc(order);
    for (let f = 0; f < 12; f++) acc.cell(0, f, 0, 0);
    return acc;
  }
  const z0 = Math.cos(theta);
  const mpr = maxPixradTable();
  const crpdr = new Float64Array(MAX_ORDER + 1);
  const crmdr = new Float64Array(MAX_ORDER + 1);
  for (let o = 0; o <= MAX_ORDER; o++) {
    const dr = mpr[o]!;
    crpdr[o] = radius + dr > PI ? -1 : Math.cos(radius + dr);
    crmdr[o] = radius - dr < 0 ? 1 : Math.cos(radius - dr);
  }
  return hierarchicalQuery(order, opts, {
    kind: 'disc',
    z0,
    sz0: 1.0 - z0 * z0,
    phi0: fmodulo(phi, TWOPI),
    cosrad: Math.cos(radius),
    crpdr,
    crmdr,
  });
}

/**
 * query_disc centred on a vector (need not be normalised), reconstructing the
 * centre exactly as healpy does (pointing(vec3)), for bit-identical pixel sets.
 */
export function queryDiscVec(order: number, v: Vec3, radius: number, opts: QueryOptions = {}): PixelRanges {
  const a = vec2ang(v);
  return queryDisc(order, a.theta, a.phi, radius, opts);
}

/** query_disc with RA/Dec/radius in degrees. */
export function queryDiscRadec(order: number, ra: number, dec: number, radiusDeg: number, opts: QueryOptions = {}): PixelRanges {
  const a = radec2ang(ra, dec);
  return queryDisc(order, a.theta, a.phi, radiusDeg * DEG, opts);
}

/** Multi-disc query (intersection of caps given by unit normals and radii), Healpix_Base::query_multidisc. */
function queryMultidisc(order: number, normals: Vec3[], rad: number[], opts: QueryOptions): RangeAcc {
  const nv = normals.length;
  const mpr = maxPixradTable();
  const lim = new Float64Array((MAX_ORDER + 1) * nv * 3); // [o][i][zone]
  for (let o = 0; o <= MAX_ORDER; o++) {
    const dr = mpr[o]!;
    for (let i = 0; i < nv; i++) {
      const k = (o * nv + i) * 3;
      lim[k] = rad[i]! + dr > PI ? -1 : Math.cos(rad[i]! + dr);
      lim[k + 1] = Math.cos(rad[i]!);
      lim[k + 2] = rad[i]! - dr < 0 ? 1 : Math.cos(rad[i]! - dr);
    }
  }
  const nx = new Float64Array(nv);
  const ny = new Float64Array(nv);
  const nz = new Float64Array(nv);
  for (let i = 0; i < nv; i++) [nx[i], ny[i], nz[i]] = normals[i]!;
  return hierarchicalQuery(order, opts, { kind: 'caps', nv, nx, ny, nz, lim });
}

function getCircle3(p: Vec3[], q1: number, q2: number): { center: Vec3; cosrad: number } {
  let center = norm([p[q1]![0] + p[q2]![0], p[q1]![1] + p[q2]![1], p[q1]![2] + p[q2]![2]]);
  let cosrad = dot(p[q1]!, center);
  for (let i = 0; i < q1; i++) {
    if (dot(p[i]!, center) < cosrad) {
      const a: Vec3 = [p[q1]![0] - p[i]![0], p[q1]![1] - p[i]![1], p[q1]![2] - p[i]![2]];
      const b: Vec3 = [p[q2]![0] - p[i]![0], p[q2]![1] - p[i]![1], p[q2]![2] - p[i]![2]];
      center = norm(cross(a, b));
      cosrad = dot(p[i]!, center);
      if (cosrad < 0) {
        center = [-center[0], -center[1], -center[2]];
        cosrad = -cosrad;
      }
    }
  }
  return { center, cosrad };
}

function getCircle2(p: Vec3[], q: number): { center: Vec3; cosrad: number } {
  let c = { center: norm([p[0]![0] + p[q]![0], p[0]![1] + p[q]![1], p[0]![2] + p[q]![2]]), cosrad: 0 };
  c.cosrad = dot(p[0]!, c.center);
  for (let i = 1; i < q; i++) if (dot(p[i]!, c.center) < c.cosrad) c = getCircle3(p, i, q);
  return c;
}

/** Smallest enclosing circle of points on the sphere (Healpix find_enclosing_circle). */
export function enclosingCircle(p: Vec3[]): { center: Vec3; cosrad: number } {
  if (p.length < 2) throw new RangeError('too few points');
  let c = { center: norm([p[0]![0] + p[1]![0], p[0]![1] + p[1]![1], p[0]![2] + p[1]![2]]), cosrad: 0 };
  c.cosrad = dot(p[0]!, c.center);
  for (let i = 2; i < p.length; i++) if (dot(p[i]!, c.center) < c.cosrad) c = getCircle2(p, i);
  return c;
}

/**
 * NESTED pixels inside a convex spherical polygon given by its vertices
 * (unit vectors, in order, either orientation); matches healpy.query_polygon(nest=True).
 * Throws on non-convex or degenerate polygons, as healpy does; see
 * queryPolygonAny for arbitrary simple polygons.
 */
export function queryPolygon(order: number, vertices: Vec3[], opts: QueryOptions = {}): PixelRanges {
  return { order, ranges: convexPolygonQuery(order, vertices, opts).bigRanges() };
}

function convexPolygonQuery(order: number, vertices: Vec3[], opts: QueryOptions): RangeAcc {
  checkOrder(order);
  const nv = vertices.length;
  if (nv < 3) throw new RangeError('query_polygon: not enough vertices in polygon');
  // Normalise through (theta, phi) like healpy does with pointing(vec3).
  const vv = vertices.map((v) => {
    const a = vec2ang(v);
    return ang2vec(a.theta, a.phi);
  });
  const normals: Vec3[] = [];
  let flip = 0;
  for (let i = 0; i < nv; i++) {
    const n = norm(cross(vv[i]!, vv[(i + 1) % nv]!));
    const hnd = dot(n, vv[(i + 2) % nv]!);
    if (!(Math.abs(hnd) > 1e-10)) throw new RangeError('query_polygon: degenerate corner');
    if (i === 0) flip = hnd < 0 ? -1 : 1;
    else if (!(flip * hnd > 0)) throw new RangeError('query_polygon: polygon is not convex');
    normals.push([n[0] * flip, n[1] * flip, n[2] * flip]);
  }
  const rad = normals.map(() => HALFPI);
  if (opts.inclusive) {
    const c = enclosingCircle(vv);
    normals.push(c.center);
    rad.push(Math.acos(c.cosrad));
  }
  return queryMultidisc(order, normals, rad, opts);
}

/** True if the polygon (unit vectors) is convex in healpy's sense. */
export function isConvexPolygon(vertices: Vec3[]): boolean {
  const nv = vertices.length;
  if (nv < 3) return false;
  let flip = 0;
  for (let i = 0; i < nv; i++) {
    const n = norm(cross(vertices[i]!, vertices[(i + 1) % nv]!));
    const hnd = dot(n, vertices[(i + 2) % nv]!);
    if (!(Math.abs(hnd) > 1e-10)) return false;
    if (i === 0) flip = hnd < 0 ? -1 : 1;
    else if (!(flip * hnd > 0)) return false;
  }
  return true;
}

/** Union of two range lists at the same order. */
export function unionRanges(a: bigint[], b: bigint[]): bigint[] {
  const out = new RangeBuilder();
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]! <= b[j]!)) {
      out.append(a[i]!, a[i + 1]!);
      i += 2;
    } else {
      out.append(b[j]!, b[j + 1]!);
      j += 2;
    }
  }
  return out.ranges;
}

/**
 * Pixels inside any simple (possibly non-convex) spherical polygon smaller than
 * a hemisphere: convex polygons go straight to queryPolygon; others are split into
 * triangles by ear clipping in the gnomonic projection about their centroid, and
 * the triangles' pixel sets are merged.
 */
export function queryPolygonAny(order: number, vertices: Vec3[], opts: QueryOptions = {}): PixelRanges {
  if (order <= MAX_NUMBER_ORDER) return { order, ranges: queryPolygonAnyNumber(order, vertices, opts).map((v) => BigInt(v)) };
  const parts = polygonParts(vertices);
  let ranges: bigint[] = [];
  for (const t of parts) ranges = unionRanges(ranges, convexPolygonQuery(order, t, opts).bigRanges());
  return { order, ranges };
}

/** queryPolygonAny for order ≤ 24 with ranges as (exact) numbers, for bulk use. */
export function queryPolygonAnyNumber(order: number, vertices: Vec3[], opts: QueryOptions = {}): number[] {
  if (order > MAX_NUMBER_ORDER) throw new RangeError(`order ${order} > ${MAX_NUMBER_ORDER}`);
  const parts = polygonParts(vertices);
  if (parts.length === 1) return convexPolygonQuery(order, parts[0]!, opts).num;
  const all: number[] = [];
  for (const t of parts) all.push(...convexPolygonQuery(order, t, opts).num);
  return mergeNumberRanges(all);
}

/** query_disc for order ≤ 24 with ranges as (exact) numbers. */
export function queryDiscNumber(order: number, theta: number, phi: number, radius: number, opts: QueryOptions = {}): number[] {
  if (order > MAX_NUMBER_ORDER) throw new RangeError(`order ${order} > ${MAX_NUMBER_ORDER}`);
  return discQuery(order, theta, phi, radius, opts).num;
}

/** Sorts and merges flattened [start, end) number ranges. */
export function mergeNumberRanges(r: number[]): number[] {
  const n = r.length / 2;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => r[2 * a]! - r[2 * b]!);
  const out: number[] = [];
  for (const i of idx) {
    const a = r[2 * i]!;
    const b = r[2 * i + 1]!;
    const m = out.length;
    if (m > 0 && out[m - 1]! >= a) {
      if (out[m - 1]! < b) out[m - 1] = b;
    } else if (a < b) out.push(a, b);
  }
  return out;
}

/** A polygon as convex pieces: itself if convex, else triangles by ear clipping. */
function polygonParts(vertices: Vec3[]): Vec3[][] {
  const vv = vertices.map((v) => norm(v));
  // drop a closing vertex equal to the first
  if (vv.length > 3) {
    const f = vv[0]!;
    const l = vv[vv.length - 1]!;
    if (f[0] === l[0] && f[1] === l[1] && f[2] === l[2]) vv.pop();
  }
  return isConvexPolygon(vv) ? [vv] : triangulate(vv);
}

function triangulate(vv: Vec3[]): Vec3[][] {
  let c: Vec3 = [0, 0, 0];
  for (const v of vv) c = [c[0] + v[0], c[1] + v[1], c[2] + v[2]];
  c = norm(c);
  // tangent-plane basis at c
  const ref: Vec3 = Math.abs(c[2]) < 0.9 ? [0, 0, 1] : [1, 0, 0];
  const e1 = norm(cross(ref, c));
  const e2 = cross(c, e1);
  const pts = vv.map((v) => {
    const d = dot(v, c);
    if (!(d > 1e-9)) throw new RangeError('polygon too large to triangulate (must fit in a hemisphere)');
    return [dot(v, e1) / d, dot(v, e2) / d] as [number, number];
  });
  let area = 0;
  for (let i = 0; i < pts.length; i++) {
    const [x1, y1] = pts[i]!;
    const [x2, y2] = pts[(i + 1) % pts.length]!;
    area += x1 * y2 - x2 * y1;
  }
  const idx = pts.map((_, i) => i);
  if (area < 0) idx.reverse();
  const crossZ = (a: number, b: number, p: number): number => {
    const [ax, ay] = pts[a]!;
    const [bx, by] = pts[b]!;
    const [px, py] = pts[p]!;
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax);
  };
  const tris: Vec3[][] = [];
  let guard = 0;
  while (idx.length > 3) {
    if (++guard > 10000) throw new RangeError('polygon triangulation failed (self-intersecting polygon?)');
    let clipped = false;
    for (let k = 0; k < idx.length; k++) {
      const a = idx[(k + idx.length - 1) % idx.length]!;
      const b = idx[k]!;
      const d = idx[(k + 1) % idx.length]!;
      if (crossZ(a, b, d) <= 1e-15) continue; // reflex or degenerate
      let inside = false;
      for (const p of idx) {
        if (p === a || p === b || p === d) continue;
        if (crossZ(a, b, p) >= 0 && crossZ(b, d, p) >= 0 && crossZ(d, a, p) >= 0) {
          inside = true;
          break;
        }
      }
      if (inside) continue;
      tris.push([vv[a]!, vv[b]!, vv[d]!]);
      idx.splice(k, 1);
      clipped = true;
      break;
    }
    if (!clipped) throw new RangeError('polygon triangulation failed (self-intersecting polygon?)');
  }
  tris.push(idx.map((i) => vv[i]!));
  return tris;
}
