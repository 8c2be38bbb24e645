/**
 * Stable LSD radix argsorts for large arrays: 64-bit keys given as hi/lo uint32
 * halves (order-29 HEALPix indices) and float64 values (probability densities).
 * Four 16-bit passes, O(n), no comparator calls.
 */

const SMALL = 256;

/**
 * Indices that sort the unsigned 64-bit keys (hi, lo) ascending; stable.
 * Without `lo`, sorts by the 32-bit `hi` alone.
 */
export function argsortU64(hi: Uint32Array, lo?: Uint32Array): Uint32Array {
  const n = hi.length;
  if (lo && lo.length !== n) throw new RangeError('argsortU64: hi and lo differ in length');
  let idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  if (n < SMALL) {
    return lo ? idx.sort((a, b) => hi[a]! - hi[b]! || lo[a]! - lo[b]! || a - b) : idx.sort((a, b) => hi[a]! - hi[b]! || a - b);
  }
  // 8-bit digits for small inputs (cheap histograms), 16-bit for large ones (fewer passes)
  const bits = n < 1 << 17 ? 8 : 16;
  const R = 1 << bits;
  const mask = R - 1;
  let tmp = new Uint32Array(n);
  const count = new Uint32Array(R);
  for (let shift = lo ? 0 : 32; shift < 64; shift += bits) {
    const src = shift < 32 ? lo! : hi;
    const sh = shift & 31;
    // skip a pass whose digit is the same for every element (common for hi words)
    const first = (src[0]! >>> sh) & mask;
    let same = true;
    for (let i = 1; i < n; i++) {
      if (((src[i]! >>> sh) & mask) !== first) {
        same = false;
        break;
      }
    }
    if (same) continue;
    count.fill(0);
    for (let i = 0; i < n; i++) count[(src[i]! >>> sh) & mask]!++;
    let sum = 0;
    for (let d = 0; d < R; d++) {
      const c = count[d]!;
      count[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const j = idx[i]!;
      tmp[count[(src[j]! >>> sh) & mask]!++] = j;
    }
    const t = idx;
    idx = tmp;
    tmp = t;
  }
  return idx;
}

/**
 * Indices that sort float64 values in descending order (NaN last); stable among
 * equal values.
 */
export function argsortDesc(values: Float64Array): Uint32Array {
  const n = values.length;
  const copy = new Float64Array(n);
  const bits = new Uint32Array(copy.buffer);
  const hi = new Uint32Array(n);
  const lo = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    copy[i] = Number.isNaN(v) ? -Infinity : v === 0 ? 0 : v; // -0 → 0, NaN lowest
    let h = bits[2 * i + 1]!; // little-endian: high word second
    let l = bits[2 * i]!;
    // map doubles to unsigned keys that sort in numeric order, then invert for descending
    if (h & 0x80000000) {
      h = ~h >>> 0;
      l = ~l >>> 0;
    } else {
      h = (h | 0x80000000) >>> 0;
    }
    hi[i] = ~h >>> 0;
    lo[i] = ~l >>> 0;
    if (Number.isNaN(v)) {
      hi[i] = 0xffffffff;
      lo[i] = 0xffffffff;
    }
  }
  return argsortU64(hi, lo);
}
