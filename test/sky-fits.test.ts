/** sky/fits.ts: headers, HDU walking, BINTABLE column decoding, gzip, malformed input. */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { FitsError, findColumn, isGzip, parseFits, parseTform, readColumn, readUInt64Column } from '../sky/fits.ts';
import { headerBlock, makeBintableFits } from './sky-helpers.ts';

describe('FITS headers', () => {
  it('parses strings (with quotes), logicals, integers, floats with D exponents, comments, HISTORY and CONTINUE', () => {
    const primary = headerBlock([
      ['SIMPLE', true],
      ['BITPIX', 8],
      ['NAXIS', 0],
      ['OBJECT', "O'Neil's event", 'quoted'],
      ['FLAG', false],
      ['BIGINT', 12345678901234567890n],
      ['HISTORY'],
    ]);
    // hand-written cards: D exponent, CONTINUE long string, blank value
    const extra =
      'FLOATD  =            1.5D+03 / fortran style'.padEnd(80) +
      "LONGSTR = 'first part &'".padEnd(80) +
      "CONTINUE  'second part'".padEnd(80) +
      'EMPTY   =                      / no value'.padEnd(80) +
      'HISTORY made by a test'.padEnd(80) +
      'END'.padEnd(80);
    const text = primary.slice(0, 7 * 80) + extra;
    const bytes = new TextEncoder().encode(text.padEnd(2880));
    const { hdus } = parseFits(bytes);
    const h = hdus[0]!.header;
    expect(h.string('OBJECT')).toBe("O'Neil's event");
    expect(h.comments.get('OBJECT')).toBe('quoted');
    expect(h.bool('SIMPLE')).toBe(true);
    expect(h.bool('FLAG')).toBe(false);
    expect(h.get('BIGINT')).toBe(12345678901234567890n);
    expect(h.number('FLOATD')).toBe(1500);
    expect(h.string('LONGSTR')).toBe('first part second part');
    expect(h.get('EMPTY')).toBeNull();
    expect(h.history).toContain('made by a test');
    expect(h.toJSON().BIGINT).toBe('12345678901234567890');
  });

  it('parses TFORMs', () => {
    expect(parseTform('K')).toEqual({ type: 'K', repeat: 1, width: 8 });
    expect(parseTform('1024E')).toEqual({ type: 'E', repeat: 1024, width: 4096 });
    expect(parseTform('20A')).toEqual({ type: 'A', repeat: 20, width: 20 });
    expect(parseTform('13X')).toEqual({ type: 'X', repeat: 13, width: 2 });
    expect(() => parseTform('Z')).toThrow(FitsError);
  });
});

describe('BINTABLE columns', () => {
  const n = 5;
  const bytes = makeBintableFits(
    [
      { name: 'UNIQ', tform: 'K', data: [4n, 1023n, (1n << 60n) + 7n, 16n, 17n] },
      { name: 'D', tform: 'D', data: [1.5, -2.25, 1e-300, NaN, Infinity] },
      { name: 'E', tform: 'E', data: [0.5, 1, 2, 3, 4] },
      { name: 'J', tform: 'J', data: [-1, 2, 3, 2147483647, -2147483648] },
      { name: 'I', tform: 'I', data: [1, -2, 3, 32767, -32768] },
      { name: 'B', tform: 'B', data: [0, 1, 2, 255, 128] },
      { name: 'L', tform: 'L', data: [1, 0, 1, 0, 1] },
      { name: 'NAME', tform: '6A', data: ['a', 'bb', 'ccc', 'dddddd', ''] },
      { name: 'VEC', tform: '3D', data: Array.from({ length: 3 * n }, (_, i) => i) },
    ],
    [['TSCAL5', 2], ['TZERO5', 10]],
  );

  it('decodes every supported type big-endian, with vector rows and TSCAL/TZERO', () => {
    const { bytes: b, hdus } = parseFits(bytes);
    expect(hdus.map((h) => h.type)).toEqual(['PRIMARY', 'BINTABLE']);
    const t = hdus[1]!;
    expect(t.nrows).toBe(n);
    const col = (name: string) => readColumn(b, t, findColumn(t, name)!);
    expect(Array.from(col('UNIQ') as BigInt64Array)).toEqual([4n, 1023n, (1n << 60n) + 7n, 16n, 17n]);
    expect(Array.from(col('D') as Float64Array)).toEqual([1.5, -2.25, 1e-300, NaN, Infinity]);
    expect(col('E')).toBeInstanceOf(Float32Array);
    expect(Array.from(readColumn(b, t, findColumn(t, 'E')!, true) as Float64Array)).toEqual([0.5, 1, 2, 3, 4]);
    expect(Array.from(col('J') as Int32Array)).toEqual([-1, 2, 3, 2147483647, -2147483648]);
    expect(Array.from(col('I') as Float64Array)).toEqual([12, 6, 16, 65544, -65526]); // scaled: 10 + 2·raw
    expect(Array.from(col('B') as Uint8Array)).toEqual([0, 1, 2, 255, 128]);
    expect(Array.from(col('L') as Uint8Array)).toEqual([1, 0, 1, 0, 1]);
    expect(col('NAME')).toEqual(['a', 'bb', 'ccc', 'dddddd', '']);
    expect(Array.from(col('VEC') as Float64Array)).toEqual(Array.from({ length: 3 * n }, (_, i) => i));
    expect(findColumn(t, 'uniq')?.name).toBe('UNIQ'); // case-insensitive
  });

  it('reads 64-bit index columns as exact hi/lo halves', () => {
    const { bytes: b, hdus } = parseFits(bytes);
    const t = hdus[1]!;
    const { hi, lo } = readUInt64Column(b, t, findColumn(t, 'UNIQ')!);
    expect(hi[2]).toBe(1 << 28);
    expect(lo[2]).toBe(7);
    expect(() => readUInt64Column(b, t, findColumn(t, 'D')!)).toThrow(/integer column/);
    expect(() => readUInt64Column(b, t, findColumn(t, 'J')!)).toThrow(/negative/);
  });

  it('reads gzip-compressed files transparently', () => {
    const gz = gzipSync(bytes);
    expect(isGzip(gz)).toBe(true);
    const { hdus } = parseFits(gz);
    expect(hdus[1]!.nrows).toBe(n);
  });
});

describe('malformed FITS gives a clear error', () => {
  const good = makeBintableFits([{ name: 'X', tform: 'D', data: [1, 2, 3] }]);
  const cases: [string, Uint8Array, RegExp][] = [
    ['empty input', new Uint8Array(0), /not a FITS file/],
    ['not FITS', new TextEncoder().encode('hello world, this is not a FITS file at all'.padEnd(2880)), /not a FITS file/],
    ['header without END', good.subarray(0, 2880 + 80 * 5), /no END card/],
    ['truncated data', makeBintableFits([{ name: 'X', tform: 'D', data: Array.from({ length: 1000 }, () => 1) }], [], { truncateData: 100 }), /data truncated/],
    ['corrupt gzip', Uint8Array.from([0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7]), /corrupt gzip/],
    ['binary junk in header', Uint8Array.from({ length: 2880 }, (_, i) => (i < 9 ? 'SIMPLE  ='.charCodeAt(i) : i % 256)), /non-ASCII/],
  ];
  for (const [name, bytes, re] of cases) {
    it(name, () => {
      expect(() => parseFits(bytes)).toThrow(FitsError);
      expect(() => parseFits(bytes)).toThrow(re);
    });
  }

  it('NAXIS1 inconsistent with the TFORMs', () => {
    const text = new TextDecoder().decode(good).replace('NAXIS1  =                    8', 'NAXIS1  =                   16');
    expect(() => parseFits(new TextEncoder().encode(text))).toThrow(/NAXIS1 = 16 but the TFORMs add up to 8/);
  });

  it('missing TFORM', () => {
    const text = new TextDecoder().decode(good).replace("TFORM1  = 'D       '", 'COMMENT no tform here  ');
    expect(() => parseFits(new TextEncoder().encode(text))).toThrow(/missing TFORM1/);
  });
});
