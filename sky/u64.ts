/**
 * Unsigned 64-bit integers as two uint32 halves (value = hi·2^32 + lo), kept in
 * plain numbers so that hot loops over typed arrays need no BigInt.
 */

export const TWO32 = 4294967296;

/** 2^k for k = 0..64 (Math.pow is slow in per-element loops). */
export const POW2: Float64Array = Float64Array.from({ length: 65 }, (_, k) => 2 ** k);

/** value · 2^s, exact while the result is below 2^64. Returns [hi, lo]. */
export function shl(hi: number, lo: number, s: number): [number, number] {
  if (s === 0) return [hi, lo];
  if (s >= 32) return [lo * POW2[s - 32]!, 0];
  const unit = POW2[32 - s]!;
  const top = Math.floor(lo / unit);
  return [hi * POW2[s]! + top, (lo - top * unit) * POW2[s]!];
}

/** floor(value / 2^s). Returns [hi, lo]. */
export function shr(hi: number, lo: number, s: number): [number, number] {
  if (s === 0) return [hi, lo];
  if (s >= 32) return [0, Math.floor(hi / POW2[s - 32]!)];
  const unit = POW2[s]!;
  const hiTop = Math.floor(hi / unit);
  const hiBot = hi - hiTop * unit;
  return [hiTop, hiBot * POW2[32 - s]! + Math.floor(lo / unit)];
}

/** value + 2^s (s < 64). Returns [hi, lo]. */
export function addPow2(hi: number, lo: number, s: number): [number, number] {
  if (s >= 32) return [hi + POW2[s - 32]!, lo];
  const l = lo + POW2[s]!;
  return l >= TWO32 ? [hi + 1, l - TWO32] : [hi, l];
}

/** -1, 0, 1 as (ah, al) <, =, > (bh, bl). */
export function cmp(ah: number, al: number, bh: number, bl: number): number {
  return ah < bh ? -1 : ah > bh ? 1 : al < bl ? -1 : al > bl ? 1 : 0;
}

export function toBig(hi: number, lo: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

export function fromBig(v: bigint): [number, number] {
  return [Number(v >> 32n), Number(v & 0xffffffffn)];
}

/** Approximate value as a double (exact below 2^53). */
export function toNumber(hi: number, lo: number): number {
  return hi * TWO32 + lo;
}
