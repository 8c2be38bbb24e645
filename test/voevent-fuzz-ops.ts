/**
 * Hostile mutations of VOEvent bytes, for fuzzing the parser and the validators: each
 * operator changes a copy of a real packet the way a broken or malicious peer would
 * (random bytes, cut or repeated ranges, DTDs and entities, deep nesting, bad UTF-8,
 * huge attributes). Used by the property tests and by bench/fuzz-voevent.ts.
 */
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
