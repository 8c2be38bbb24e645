/**
 * The neutral element tree and a safe text → tree parser.
 *
 * The tree is the shape xmpp.js (@xmpp/xml, ltx) already gives the broker:
 * `{ name, attrs, children }` where `name` is the qualified name as written
 * (with its prefix), `attrs` holds every attribute including `xmlns` declarations,
 * and children are elements or (entity-decoded) strings. Everything in voevent/
 * that works on trees accepts any object of that shape.
 *
 * The parser is deliberately strict and small: it never processes a DTD
 * (`<!DOCTYPE` and `<!ENTITY` are rejected outright, so neither external entities
 * nor entity expansion can happen), knows only the five predefined entities and
 * character references, caps the input size and the nesting depth, and reports
 * line and column for every error.
 */

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
}
export type XmlNode = XmlElement | string;

/** Elements made by parseTree: `pos` is the offset of their '<' in the source text. */
export class SourceElement implements XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  pos: number;
  constructor(name: string, attrs: Record<string, string>, pos: number) {
    this.name = name;
    this.attrs = attrs;
    this.children = [];
    this.pos = pos;
  }
}

export interface Location {
  line: number;
  column: number;
}

export class XmlSyntaxError extends Error {
  readonly line: number;
  readonly column: number;
  readonly offset: number;
  constructor(message: string, loc: Location & { offset: number }) {
    super(message);
    this.name = 'XmlSyntaxError';
    this.line = loc.line;
    this.column = loc.column;
    this.offset = loc.offset;
  }
}

export interface TreeOptions {
  /** Largest accepted input in bytes (UTF-8). Default 1 MiB. */
  maxBytes?: number;
  /** Deepest accepted element nesting. Default 64 (a VOEvent needs 9). */
  maxDepth?: number;
}

export const DEFAULT_MAX_BYTES = 1 << 20;
export const DEFAULT_MAX_DEPTH = 64;

const SOURCE = Symbol.for('voxnet.voevent.source');

/** Source text attached (non-enumerably) to the root of a tree made by parseTree. */
export function sourceOf(root: XmlElement): string | undefined {
  return (root as unknown as Record<symbol, string | undefined>)[SOURCE];
}

/** 1-based line and column of a character offset in `text`. */
export function lineColumn(text: string, offset: number): Location {
  return new LineIndex(text).at(offset);
}

/**
 * Line and column of many offsets of one text: the line starts are found once, each
 * lookup is a binary search (a packet with thousands of findings must not rescan its
 * text for each one).
 */
export class LineIndex {
  private readonly starts = [0];

  constructor(private readonly text: string) {
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) this.starts.push(i + 1);
  }

  at(offset: number): Location {
    const end = Math.min(Math.max(offset, 0), this.text.length);
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= end) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: end - this.starts[lo]! + 1 };
  }
}

/** Line and column of an element of a tree made by parseTree (undefined for other trees). */
export function locate(root: XmlElement, el: XmlElement): Location | undefined {
  const src = sourceOf(root);
  const pos = (el as Partial<SourceElement>).pos;
  if (src === undefined || typeof pos !== 'number') return undefined;
  return lineColumn(src, pos);
}


export function isElement(n: XmlNode | undefined | null): n is XmlElement {
  return typeof n === 'object' && n !== null;
}



// ---------------------------------------------------------------------------
// Serialisation (used by tests, mutations and the broker when it needs text)

export function escapeText(s: string): string {
  return s.replace(/[&<>\r]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&#13;'));
}

export function escapeAttr(s: string): string {
  return s.replace(/[&<>"\t\n\r]/g, (c) => ESC_ATTR[c]!);
}
const ESC_ATTR: Record<string, string> = {
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;',
};

/** Serialise a tree as XML text (no declaration, no added whitespace). */
export function serialize(el: XmlElement): string {
  let s = '<' + el.name;
  for (const k in el.attrs) {
    const v = el.attrs[k];
    if (v === undefined || v === null) continue;
    s += ' ' + k + '="' + escapeAttr(String(v)) + '"';
  }
  if (el.children.length === 0) return s + '/>';
  s += '>';
  for (const c of el.children) s += typeof c === 'string' ? escapeText(c) : serialize(c);
  return s + '</' + el.name + '>';
}

// ---------------------------------------------------------------------------
// Parser

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' };

/** Characters XML 1.0 forbids anywhere in a document (the cheap test first, surrogates only when present). */
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** ASCII name characters: 1 = may start a name, 2 = may continue one. */
const NAME_ASCII = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const start = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 58;
  const cont = start || (c >= 48 && c <= 57) || c === 45 || c === 46;
  NAME_ASCII[c] = (start ? 1 : 0) | (cont ? 2 : 0);
}

function isNameStartCode(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 58 ||
    (c >= 0xc0 && c <= 0xd6) || (c >= 0xd8 && c <= 0xf6) || (c >= 0xf8 && c <= 0x2ff) ||
    (c >= 0x370 && c <= 0x37d) || (c >= 0x37f && c <= 0x1fff) || (c >= 0x200c && c <= 0x200d) ||
    (c >= 0x2070 && c <= 0x218f) || (c >= 0x2c00 && c <= 0x2fef) || (c >= 0x3001 && c <= 0xd7ff) ||
    (c >= 0xf900 && c <= 0xfdcf) || (c >= 0xfdf0 && c <= 0xfffd) || (c >= 0xd800 && c <= 0xdbff)
  );
}

function isNameCode(c: number): boolean {
  return (
    isNameStartCode(c) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 0xb7 ||
    (c >= 0x300 && c <= 0x36f) || (c >= 0x203f && c <= 0x2040) || (c >= 0xdc00 && c <= 0xdfff)
  );
}

function isXmlChar(cp: number): boolean {
  return (
    cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

function isWs(c: number): boolean {
  return c === 32 || c === 10 || c === 9 || c === 13;
}

function byteLengthAtMost(s: string, max: number): boolean {
  if (s.length > max) return false;
  if (s.length * 3 <= max) return true;
  return Buffer.byteLength(s, 'utf8') <= max;
}

const SUPPORTED_ENCODINGS: Record<string, 'utf-8' | 'latin1'> = {
  'utf-8': 'utf-8', utf8: 'utf-8', 'us-ascii': 'utf-8', ascii: 'utf-8',
  'iso-8859-1': 'latin1', 'latin1': 'latin1', 'iso_8859-1': 'latin1',
};

/** Decode bytes as the XML declaration says (UTF-8, US-ASCII or ISO-8859-1). */
export function decodeXmlBytes(bytes: Uint8Array): string {
  const head = Buffer.from(bytes.subarray(0, 200)).toString('latin1');
  if (head.startsWith('\xfe\xff') || head.startsWith('\xff\xfe')) {
    throw new XmlSyntaxError('UTF-16 input is not supported (use UTF-8)', { line: 1, column: 1, offset: 0 });
  }
  const m = /^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']/.exec(head);
  const enc = m ? SUPPORTED_ENCODINGS[m[1]!.toLowerCase()] : 'utf-8';
  if (!enc) {
    throw new XmlSyntaxError(`unsupported encoding '${m![1]}' (use UTF-8)`, { line: 1, column: 1, offset: 0 });
  }
  if (enc === 'latin1') return Buffer.from(bytes).toString('latin1');
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  const bad = text.indexOf('\uFFFD');
  if (bad !== -1 && !Buffer.from(bytes).includes(Buffer.from('\uFFFD', 'utf8'))) {
    throw new XmlSyntaxError('input is not valid UTF-8', { ...lineColumn(text, bad), offset: bad });
  }
  return text;
}

/**
 * Parse XML text (or UTF-8 bytes) into the neutral tree. Throws XmlSyntaxError
 * (with line and column) for anything that is not a well-formed, DTD-free document
 * within the size and depth limits.
 */
export function parseTree(input: string | Uint8Array, opts: TreeOptions = {}): SourceElement {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxDepth = opts.maxDepth ?? DEFAULT_MAX_DEPTH;
  let text: string;
  if (typeof input === 'string') {
    if (!byteLengthAtMost(input, maxBytes)) {
      throw new XmlSyntaxError(`document is larger than the ${maxBytes}-byte limit`, { line: 1, column: 1, offset: 0 });
    }
    text = input;
  } else {
    if (input.byteLength > maxBytes) {
      throw new XmlSyntaxError(`document is larger than the ${maxBytes}-byte limit`, { line: 1, column: 1, offset: 0 });
    }
    text = decodeXmlBytes(input);
  }
  return new Parser(text, maxDepth).parse();
}

class Parser {
  private readonly s: string;
  private i = 0;
  private readonly maxDepth: number;

  constructor(text: string, maxDepth: number) {
    this.s = text;
    this.maxDepth = maxDepth;
  }

  private fail(message: string, at = this.i): never {
    throw new XmlSyntaxError(message, { ...lineColumn(this.s, at), offset: at });
  }

  parse(): SourceElement {
    const s = this.s;
    // A DOCTYPE anywhere is refused before anything else is looked at.
    const dt = s.indexOf('<!DOCTYPE');
    if (dt !== -1) this.fail('DOCTYPE declarations are not allowed (no DTD processing, no entities)', dt);
    const ent = s.indexOf('<!ENTITY');
    if (ent !== -1) this.fail('ENTITY declarations are not allowed', ent);
    const bad = FORBIDDEN_CHARS.exec(s) ?? (ANY_SURROGATE.test(s) ? LONE_SURROGATE.exec(s) : null);
    if (bad) this.fail(`character U+${bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')} is not allowed in XML`, bad.index);

    if (s.charCodeAt(0) === 0xfeff) this.i = 1;
    if (s.startsWith('<?xml', this.i) && (isWs(s.charCodeAt(this.i + 5)) || s.charCodeAt(this.i + 5) === 63)) {
      this.xmlDecl();
    }
    this.misc();
    if (this.i >= s.length) this.fail('no root element');
    if (s.charCodeAt(this.i) !== 60) this.fail('text is not allowed before the root element');
    const root = this.elements();
    this.misc();
    if (this.i < s.length) this.fail('only one root element is allowed; extra content after it');
    Object.defineProperty(root, SOURCE, { value: s, enumerable: false });
    return root;
  }

  private xmlDecl(): void {
    const s = this.s;
    const end = s.indexOf('?>', this.i);
    if (end === -1) this.fail('unterminated XML declaration');
    const body = s.slice(this.i + 5, end);
    // XML's white space is S ::= (#x20 | #x9 | #xD | #xA)+, not JavaScript's \s (which takes U+FEFF, U+00A0...).
    if (!/^[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(["'])1\.[0-9]+\1([ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(["'])[A-Za-z][A-Za-z0-9._-]*\3)?([ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(["'])(yes|no)\5)?[ \t\r\n]*$/.test(body)) {
      this.fail('malformed XML declaration');
    }
    this.i = end + 2;
  }

  /** Whitespace, comments and processing instructions outside the root. */
  private misc(): void {
    const s = this.s;
    for (;;) {
      while (this.i < s.length && isWs(s.charCodeAt(this.i))) this.i++;
      if (s.startsWith('<!--', this.i)) this.comment();
      else if (s.startsWith('<?', this.i)) this.pi();
      else if (s.startsWith('<!', this.i)) this.fail('markup declarations are not allowed');
      else return;
    }
  }

  private comment(): void {
    const s = this.s;
    const start = this.i;
    const end = s.indexOf('--', start + 4);
    if (end === -1) this.fail('unterminated comment', start);
    if (s.charCodeAt(end + 2) !== 62) this.fail("'--' is not allowed inside a comment", end);
    this.i = end + 3;
  }

  private pi(): void {
    const s = this.s;
    const start = this.i;
    let j = start + 2;
    if (!isNameStartCode(s.charCodeAt(j))) this.fail('malformed processing instruction', start);
    while (j < s.length && isNameCode(s.charCodeAt(j))) j++;
    const target = s.slice(start + 2, j);
    if (target.toLowerCase() === 'xml') this.fail('XML declaration is only allowed at the start of the document', start);
    const end = s.indexOf('?>', j);
    if (end === -1) this.fail('unterminated processing instruction', start);
    if (end !== j && !isWs(s.charCodeAt(j))) this.fail('malformed processing instruction', start);
    this.i = end + 2;
  }

  private name(): string {
    const s = this.s;
    const start = this.i;
    const c0 = s.charCodeAt(start);
    if (c0 < 128 ? (NAME_ASCII[c0]! & 1) === 0 : !isNameStartCode(c0)) this.fail('expected a name');
    let j = start + 1;
    const n = s.length;
    for (; j < n; j++) {
      const c = s.charCodeAt(j);
      if (c < 128 ? (NAME_ASCII[c]! & 2) === 0 : !isNameCode(c)) break;
    }
    this.i = j;
    return s.slice(start, j);
  }

  private decode(raw: string, at: number, attr: boolean): string {
    let out = '';
    let last = 0;
    let k = raw.indexOf('&');
    while (k !== -1) {
      const semi = raw.indexOf(';', k + 1);
      if (semi === -1 || semi - k > 12) this.fail("'&' must start an entity or character reference (write &amp;)", at + k);
      const ref = raw.slice(k + 1, semi);
      let rep: string | undefined;
      if (ref.charCodeAt(0) === 35) {
        const hex = ref.charCodeAt(1) === 120;
        const digits = ref.slice(hex ? 2 : 1);
        if (!(hex ? /^[0-9A-Fa-f]+$/ : /^[0-9]+$/).test(digits)) this.fail(`malformed character reference &${ref};`, at + k);
        const cp = parseInt(digits, hex ? 16 : 10);
        if (!isXmlChar(cp)) this.fail(`character reference &${ref}; is not an allowed XML character`, at + k);
        rep = String.fromCodePoint(cp);
      } else {
        rep = PREDEFINED[ref];
        if (rep === undefined) {
          this.fail(`undefined entity &${ref}; (only the five predefined entities are allowed, no DTD)`, at + k);
        }
      }
      let seg = raw.slice(last, k);
      if (attr) seg = normalizeAttrWs(seg);
      out += seg + rep;
      last = semi + 1;
      k = raw.indexOf('&', last);
    }
    let tail = raw.slice(last);
    if (attr) tail = normalizeAttrWs(tail);
    return out + tail;
  }

  /** Parse the root element and everything in it (iteratively: no recursion). */
  private elements(): SourceElement {
    const s = this.s;
    const stack: SourceElement[] = [];
    let root: SourceElement | undefined;
    for (;;) {
      // At '<' of a start tag, end tag, comment, CDATA or PI; or at text.
      const c = s.charCodeAt(this.i);
      if (c === 60) {
        const n = s.charCodeAt(this.i + 1);
        if (n === 47) {
          // end tag
          const at = this.i;
          this.i += 2;
          const name = this.name();
          while (isWs(s.charCodeAt(this.i))) this.i++;
          if (s.charCodeAt(this.i) !== 62) this.fail(`malformed end tag </${name}`, at);
          this.i++;
          const open = stack.pop();
          if (!open) this.fail(`end tag </${name}> without a start tag`, at);
          if (open.name !== name) this.fail(`end tag </${name}> does not match <${open.name}>`, at);
          if (stack.length === 0) return open;
        } else if (n === 33) {
          if (stack.length === 0) this.fail('expected the root element');
          if (s.startsWith('<!--', this.i)) this.comment();
          else if (s.startsWith('<![CDATA[', this.i)) {
            const end = s.indexOf(']]>', this.i + 9);
            if (end === -1) this.fail('unterminated CDATA section');
            addText(stack[stack.length - 1]!, normalizeEol(s.slice(this.i + 9, end)));
            this.i = end + 3;
          } else this.fail('markup declarations are not allowed inside an element');
        } else if (n === 63) {
          if (stack.length === 0) this.fail('expected the root element');
          this.pi();
        } else {
          const el = this.startTag(stack.length);
          if (stack.length === 0) {
            if (root) this.fail('only one root element is allowed', el.pos);
            root = el;
          } else stack[stack.length - 1]!.children.push(el);
          if (s.charCodeAt(this.i - 2) === 47) {
            if (stack.length === 0) return el; // empty root element
          } else {
            stack.push(el);
          }
        }
      } else if (this.i >= s.length) {
        const open = stack[stack.length - 1];
        this.fail(open ? `unexpected end of document: <${open.name}> is not closed` : 'no root element', open ? open.pos : this.i);
      } else {
        // text up to the next '<'
        let end = s.indexOf('<', this.i);
        if (end === -1) end = s.length;
        const raw = s.slice(this.i, end);
        const cdEnd = raw.indexOf(']]>');
        if (cdEnd !== -1) this.fail("']]>' is not allowed in text", this.i + cdEnd);
        const top = stack[stack.length - 1]!;
        const t = normalizeEol(raw);
        addText(top, t.indexOf('&') === -1 ? t : this.decode(t, this.i, false));
        this.i = end;
      }
    }
  }

  /** At '<' of a start tag; leaves i after '>' (so s[i-2] is '/' for an empty tag). */
  private startTag(depth: number): SourceElement {
    const s = this.s;
    const at = this.i;
    if (depth >= this.maxDepth) this.fail(`elements nested deeper than ${this.maxDepth} levels`, at);
    this.i++;
    const name = this.name();
    // A plain object (as ltx makes): V8 keeps it fast, unlike Object.create(null).
    const attrs: Record<string, string> = {};
    for (;;) {
      const ws = this.i;
      while (isWs(s.charCodeAt(this.i))) this.i++;
      const c = s.charCodeAt(this.i);
      if (c === 62) {
        this.i++;
        break;
      }
      if (c === 47) {
        if (s.charCodeAt(this.i + 1) !== 62) this.fail(`malformed start tag <${name}`, this.i);
        this.i += 2;
        break;
      }
      if (Number.isNaN(c)) this.fail(`unexpected end of document in start tag <${name}`, at);
      if (ws === this.i) this.fail(`whitespace is required between attributes in <${name}>`);
      const aAt = this.i;
      const an = this.name();
      while (isWs(s.charCodeAt(this.i))) this.i++;
      if (s.charCodeAt(this.i) !== 61) this.fail(`attribute ${an} has no value`, aAt);
      this.i++;
      while (isWs(s.charCodeAt(this.i))) this.i++;
      const q = s.charCodeAt(this.i);
      if (q !== 34 && q !== 39) this.fail(`attribute ${an} value must be quoted`);
      const vEnd = s.indexOf(q === 34 ? '"' : "'", this.i + 1);
      if (vEnd === -1) this.fail(`unterminated value of attribute ${an}`, aAt);
      const raw = s.slice(this.i + 1, vEnd);
      const lt = raw.indexOf('<');
      if (lt !== -1) this.fail(`'<' is not allowed in attribute values (attribute ${an})`, this.i + 1 + lt);
      if (Object.prototype.hasOwnProperty.call(attrs, an)) this.fail(`attribute ${an} appears twice in <${name}>`, aAt);
      const value = raw.indexOf('&') === -1 ? normalizeAttrWs(raw) : this.decode(raw, this.i + 1, true);
      if (an === '__proto__') Object.defineProperty(attrs, an, { value, enumerable: true, writable: true, configurable: true });
      else attrs[an] = value;
      this.i = vEnd + 1;
    }
    return new SourceElement(name, attrs, at);
  }
}

function addText(el: SourceElement, t: string): void {
  if (t.length === 0) return;
  const ch = el.children;
  const last = ch.length - 1;
  if (last >= 0 && typeof ch[last] === 'string') ch[last] = (ch[last] as string) + t;
  else ch.push(t);
}

function normalizeEol(t: string): string {
  return t.indexOf('\r') === -1 ? t : t.replace(/\r\n?/g, '\n');
}

/** XML attribute-value normalisation for literal whitespace (CDATA attributes). */
function normalizeAttrWs(t: string): string {
  return /[\t\n\r]/.test(t) ? t.replace(/\r\n|[\t\n\r]/g, ' ') : t;
}
