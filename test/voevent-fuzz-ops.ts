/**
 * Hostile mutations of VOEvent bytes, for fuzzing the parser and the validators: each
 * operator changes a copy of a real packet the way a broken or malicious peer would
 * (random bytes, cut or repeated ranges, DTDs and entities, deep nesting, bad UTF-8,
 * huge attributes). Used by the property tests and by bench/fuzz-voevent.ts.
 */
import fc from 'fast-check';
import { validate } from '../voevent/validate.ts';
import { xsdIsValid } from '../voevent/xsd.ts';

export type ByteOp =
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'repeat'; at: number; len: number; times: number }
  | { kind: 'snippet'; at: number; snippet: number }
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number };

/** Text a hostile peer would try; inserted at a random position. */
export const SNIPPETS: readonly string[] = [
  '<!DOCTYPE VOEvent [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
  '<!DOCTYPE x SYSTEM "file:///etc/passwd">',
  '&a;',
  '&#0;',
  '&#x110000;',
  '&#xD800;',
  '&unknown;',
  '<![CDATA[<Param name="x" value="1"/>]]>',
  '<?xml-stylesheet href="http://example.org/x.xsl"?>',
  '<!-- -- -->',
  '<Param name="a" value="1" value="2"/>',
  '<Param name="' + 'x'.repeat(100_000) + '" value="1"/>',
  '<Group>'.repeat(200) + '</Group>'.repeat(200),
  '<x:y xmlns:x=""/>',
  '<voe:Who xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0"/>',
  '\uFEFF',
  '\uFFFE',
  '\u0085',
  '\u0000',
  ']]>',
  '</VOEvent>',
  '<VOEvent>',
];

const enc = new TextEncoder();
const SNIPPET_BYTES = SNIPPETS.map((s) => enc.encode(s));

/** Apply one operator to bytes (positions are taken modulo the length). */
export function applyOp(b: Uint8Array, op: ByteOp): Uint8Array {
  const n = b.length;
  const at = n ? op.at % (n + 1) : 0;
  const cat = (...parts: Uint8Array[]) => {
    const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  };
  switch (op.kind) {
    case 'insert':
      return cat(b.subarray(0, at), Uint8Array.from(op.bytes), b.subarray(at));
    case 'delete':
      return cat(b.subarray(0, at), b.subarray(Math.min(n, at + op.len)));
    case 'repeat': {
      const piece = b.subarray(at, Math.min(n, at + op.len));
      return cat(b.subarray(0, at), ...Array.from({ length: op.times }, () => piece), b.subarray(at));
    }
    case 'snippet':
      return cat(b.subarray(0, at), SNIPPET_BYTES[op.snippet % SNIPPET_BYTES.length]!, b.subarray(at));
    case 'flip': {
      if (!n) return b;
      const out = Uint8Array.from(b);
      out[op.at % n]! ^= 1 << (op.bit & 7);
      return out;
    }
    case 'truncate':
      return b.subarray(0, at);
  }
}

export function applyOps(b: Uint8Array, ops: readonly ByteOp[]): Uint8Array {
  return ops.reduce(applyOp, b);
}

/** fast-check arbitrary of one operator. */
export const byteOp: fc.Arbitrary<ByteOp> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 400 }) }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 200 }), times: fc.integer({ min: 2, max: 50 }) }),
  fc.record({ kind: fc.constant('snippet' as const), at: fc.nat(), snippet: fc.nat({ max: SNIPPETS.length - 1 }) }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

/** One to four operators applied to one of `packets`. */
export function mutatedPackets(packets: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc.tuple(fc.nat({ max: packets.length - 1 }), fc.array(byteOp, { minLength: 1, maxLength: 4 })).map(([i, ops]) => applyOps(packets[i]!, ops));
}

/** The voevent/ sources, for coverage feedback (test/coverage-fuzzer.ts). */
export const VOEVENT_SCOPE = /\/voevent\/[^/]+\.ts($|\?)/;

/**
 * The fuzzing property of the validators: validate() never throws, and whatever it
 * accepts libxml2 accepts too, with our XSD and with each of `schemas`. Throws when
 * the property is broken; returns whether the input was valid.
 */
export function validateWithOracle(bytes: Uint8Array, schemas: readonly string[] = []): boolean {
  const r = validate(bytes);
  if (r.valid) {
    const text = Buffer.from(bytes).toString('utf8');
    for (const schema of [undefined, ...schemas]) {
      if (!xsdIsValid(text, schema)) throw new Error(`accepted by validate(), refused by libxml2 with ${schema ?? 'our XSD'}`);
    }
  }
  return r.valid;
}

/**
 * Packets just under the parser's size limit, built from a real one, shaped to give a
 * finding per element or to make each step of validation work hardest: thousands of
 * duplicate or mistyped Params, Groups, References. Each must be validated in far less
 * than 100 ms (bench/fuzz-coverage.ts times them; found quadratic once: every finding
 * rescanned the text for its line and column).
 */
export function largeHostilePackets(packet: string, limit: number): { name: string; bytes: Buffer }[] {
  const fillers: [string, string][] = [
    ['duplicate Params', '<Param name="p" value="1" ucd="x"/>'],
    ['mistyped Params', '<Param name="a" dataType="int" value="x"/>'],
    ['Groups', '<Group name="g"><Param name="p" value="1"/></Group>'],
    ['References', '<Reference uri="http://a/b"/>'],
    ['Params one per line', '\n<Param name="p" value="1"/>'],
  ];
  return fillers.map(([name, filler]) => ({
    name,
    bytes: Buffer.from(packet.replace('<What>', '<What>' + filler.repeat(Math.floor((limit - packet.length - 64) / filler.length)))),
  }));
}
