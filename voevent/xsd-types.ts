/**
 * Lexical checks for the XML Schema built-in types VOEvent 2.0 uses, written to
 * give the same verdict as libxml2 (the engine behind libxmljs2 and lxml, and so
 * behind the official-schema verdicts the project compares against). Where libxml2
 * is looser or stricter than the XSD 1.0 text, libxml2 is followed, and the
 * agreement test (test/voevent-agreement.test.ts) checks each rule against it.
 */

/** libxml2's IS_BLANK_CH: space, tab, LF, CR. */
function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** xs:float / xs:double lexical check (libxml2 xmlSchemaValAtomicType, with on-the-fly collapse). */
export function isXsdFloat(v: string): boolean {
  return parseXsdFloat(v) !== undefined;
}

/**
 * The value of an xs:float as libxml2 reads it (single precision, via Math.fround),
 * or undefined if the lexical form is not accepted. NaN and ±Infinity are values.
 */
export function parseXsdFloat(v: string): number | undefined {
  let i = 0;
  const n = v.length;
  while (i < n && isBlank(v.charCodeAt(i))) i++;
  if (v.startsWith('NaN', i)) return i + 3 === n ? NaN : undefined;
  let neg = false;
  if (v.charCodeAt(i) === 45) {
    neg = true;
    i++;
  }
  if (v.startsWith('INF', i)) return i + 3 === n ? (neg ? -Infinity : Infinity) : undefined;
  if (!neg && v.charCodeAt(i) === 43) i++;
  const c0 = v.charCodeAt(i);
  if (i >= n || c0 === 43 || c0 === 45) return undefined;
  const numStart = i;
  let before = 0;
  let after = 0;
  while (i < n && isDigit(v.charCodeAt(i))) {
    i++;
    before++;
  }
  if (v.charCodeAt(i) === 46) {
    i++;
    while (i < n && isDigit(v.charCodeAt(i))) {
      i++;
      after++;
    }
  }
  if (before === 0 && after === 0) return undefined;
  const mantEnd = i;
  let expEnd = i;
  if (v.charCodeAt(i) === 101 || v.charCodeAt(i) === 69) {
    i++;
    if (v.charCodeAt(i) === 45 || v.charCodeAt(i) === 43) i++;
    const ds = i;
    while (i < n && isDigit(v.charCodeAt(i))) i++;
    expEnd = i > ds ? i : mantEnd; // "1e" and "1e+" are accepted and read as 1
  }
  while (i < n && isBlank(v.charCodeAt(i))) i++;
  if (i !== n) return undefined;
  const num = Number(v.slice(numStart, expEnd === mantEnd ? mantEnd : expEnd).replace(/\.$/, ''));
  const val = Math.fround(num);
  return neg ? -val : val;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
function isLeap(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

function two(v: string, i: number): number {
  const a = v.charCodeAt(i);
  const b = v.charCodeAt(i + 1);
  if (!isDigit(a) || !isDigit(b)) return -1;
  return (a - 48) * 10 + (b - 48);
}

const LONG_MAX = '9223372036854775807';

/**
 * xs:dateTime as libxml2 2.9 accepts it: -?YYYY(Y*)-MM-DDThh:mm:ss(.s+)?(Z|(+|-)hh:mm)?
 * with calendar checks (leap years, 24:00:00 as end of day, offsets within ±14:00)
 * and no surrounding whitespace.
 */
export function isXsdDateTime(v: string): boolean {
  let i = 0;
  const n = v.length;
  let neg = false;
  if (v.charCodeAt(0) === 45) {
    neg = true;
    i = 1;
  }
  const ys = i;
  while (i < n && isDigit(v.charCodeAt(i))) i++;
  const digits = i - ys;
  if (digits < 4 || (digits > 4 && v.charCodeAt(ys) === 48)) return false;
  const ystr = v.slice(ys, i);
  if (digits > 19 || (digits === 19 && ystr > LONG_MAX)) return false;
  let year = Number(ystr);
  if (neg) year = -year;
  if (year === 0) return false;
  if (v.charCodeAt(i) !== 45) return false;
  const mon = two(v, i + 1);
  if (mon < 1 || mon > 12) return false;
  i += 3;
  if (v.charCodeAt(i) !== 45) return false;
  const day = two(v, i + 1);
  if (day < 1 || day > 31) return false;
  i += 3;
  // VALID_MDAY applies C's % to the signed year; JS % truncates the same way.
  const leap = isLeap(year);
  if (day > (leap && mon === 2 ? 29 : DAYS[mon - 1]!)) return false;
  if (v.charCodeAt(i) !== 84) return false;
  i++;
  const hour = two(v, i);
  if (hour < 0 || hour > 24) return false;
  i += 2;
  if (v.charCodeAt(i) !== 58) return false;
  const min = two(v, i + 1);
  if (min < 0 || min > 59) return false;
  i += 3;
  if (v.charCodeAt(i) !== 58) return false;
  let sec = two(v, i + 1);
  if (sec < 0) return false;
  i += 3;
  if (v.charCodeAt(i) === 46) {
    i++;
    if (!isDigit(v.charCodeAt(i))) return false;
    let mult = 1;
    while (i < n && isDigit(v.charCodeAt(i))) {
      mult /= 10;
      sec += (v.charCodeAt(i) - 48) * mult;
      i++;
    }
  }
  const timeOk = (hour <= 23 && sec < 60) || (hour === 24 && min === 0 && sec === 0);
  if (!timeOk) return false;
  if (i === n) return true;
  const t = v.charCodeAt(i);
  if (t === 90) return i + 1 === n;
  if (t !== 43 && t !== 45) return false;
  const th = two(v, i + 1);
  if (th < 0 || th > 23) return false;
  if (v.charCodeAt(i + 3) !== 58) return false;
  const tm = two(v, i + 4);
  if (tm < 0 || tm > 59) return false;
  if (th * 60 + tm > 840) return false;
  return i + 6 === n;
}

// --- xs:anyURI: libxml2 collapses whitespace, masks characters it tolerates with '_'
// and then requires an RFC 3986 URI-reference as its uri.c parses it.

function isAlpha(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}
function isHex(c: number): boolean {
  return isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}
function isSubDelim(c: number): boolean {
  // ! $ & ( ) * + , ; = '
  return c === 33 || c === 36 || c === 38 || c === 40 || c === 41 || c === 42 || c === 43 || c === 44 || c === 59 || c === 61 || c === 39;
}
function isUnreserved(c: number): boolean {
  return isAlpha(c) || isDigit(c) || c === 45 || c === 46 || c === 95 || c === 126;
}

class UriScanner {
  constructor(readonly s: string) {}
  c(i: number): number {
    const x = this.s.charCodeAt(i);
    return Number.isNaN(x) ? 0 : x;
  }
  pct(i: number): boolean {
    return this.c(i) === 37 && isHex(this.c(i + 1)) && isHex(this.c(i + 2));
  }
  pchar(i: number): boolean {
    const x = this.c(i);
    return isUnreserved(x) || this.pct(i) || isSubDelim(x) || x === 58 || x === 64;
  }
  next(i: number): number {
    return this.c(i) === 37 ? i + 3 : i + 1;
  }
  /** Returns the index after the segment, or -1 if a non-empty segment was required. */
  segment(i: number, forbid: number, empty: boolean): number {
    if (!this.pchar(i)) return empty ? i : -1;
    while (this.pchar(i) && this.c(i) !== forbid) i = this.next(i);
    return i;
  }
  query(i: number): number {
    while (this.pchar(i) || this.c(i) === 47 || this.c(i) === 63) i = this.next(i);
    return i;
  }
  fragment(i: number): number {
    while (this.pchar(i) || this.c(i) === 47 || this.c(i) === 63 || this.c(i) === 91 || this.c(i) === 93) i = this.next(i);
    return i;
  }
  port(i: number): number {
    if (!isDigit(this.c(i))) return -1;
    let port = 0;
    while (isDigit(this.c(i))) {
      const d = this.c(i) - 48;
      if (port > Math.floor(2147483647 / 10)) return -1;
      port *= 10;
      if (port > 2147483647 - d) return -1;
      port += d;
      i++;
    }
    return i;
  }
  host(i: number): number {
    if (this.c(i) === 91) {
      i++;
      while (this.c(i) !== 93 && this.c(i) !== 0) i++;
      if (this.c(i) !== 93) return -1;
      return i + 1;
    }
    // An IPv4 address is also a valid reg-name, so the fallback decides alone.
    while (isUnreserved(this.c(i)) || this.pct(i) || isSubDelim(this.c(i))) i = this.next(i);
    return i;
  }
  authority(i: number): number {
    let j = i;
    while (isUnreserved(this.c(j)) || this.pct(j) || isSubDelim(this.c(j)) || this.c(j) === 58) j = this.next(j);
    if (this.c(j) === 64) i = j + 1;
    i = this.host(i);
    if (i < 0) return -1;
    if (this.c(i) === 58) i = this.port(i + 1);
    return i;
  }
  pathAbEmpty(i: number): number {
    while (this.c(i) === 47) {
      i = this.segment(i + 1, 0, true);
    }
    return i;
  }
  pathAbsolute(i: number): number {
    if (this.c(i) !== 47) return -1;
    i++;
    const r = this.segment(i, 0, false);
    if (r >= 0) {
      i = r;
      while (this.c(i) === 47) i = this.segment(i + 1, 0, true);
    }
    return i;
  }
  pathRootless(i: number, forbid: number): number {
    i = this.segment(i, forbid, false);
    if (i < 0) return -1;
    while (this.c(i) === 47) i = this.segment(i + 1, 0, true);
    return i;
  }
  tail(i: number): boolean {
    if (this.c(i) === 63) i = this.query(i + 1);
    if (this.c(i) === 35) i = this.fragment(i + 1);
    return i === this.s.length;
  }
  absolute(): boolean {
    let i = 0;
    if (!isAlpha(this.c(0))) return false;
    i = 1;
    while (isAlpha(this.c(i)) || isDigit(this.c(i)) || this.c(i) === 43 || this.c(i) === 45 || this.c(i) === 46) i++;
    if (this.c(i) !== 58) return false;
    i++;
    if (this.c(i) === 47 && this.c(i + 1) === 47) {
      i = this.authority(i + 2);
      if (i < 0) return false;
      i = this.pathAbEmpty(i);
    } else if (this.c(i) === 47) {
      i = this.pathAbsolute(i);
    } else if (this.pchar(i)) {
      i = this.pathRootless(i, 0);
    }
    if (i < 0) return false;
    return this.tail(i);
  }
  relative(): boolean {
    let i = 0;
    if (this.c(0) === 47 && this.c(1) === 47) {
      i = this.authority(2);
      if (i < 0) return false;
      i = this.pathAbEmpty(i);
    } else if (this.c(0) === 47) {
      i = this.pathAbsolute(0);
    } else if (this.pchar(0)) {
      i = this.pathRootless(0, 58);
    }
    if (i < 0) return false;
    return this.tail(i);
  }
}

/** Whitespace collapse as XML Schema defines it (and libxml2 implements it). */
export function collapse(v: string): string {
  return /^[ \t\n\r]|[ \t\n\r]$|[\t\n\r]|  /.test(v) ? v.replace(/[ \t\n\r]+/g, ' ').trim() : v;
}

export function isXsdAnyURI(v: string): boolean {
  const norm = collapse(v);
  if (norm.length === 0) return true;
  // eslint-disable-next-line no-control-regex
  const masked = Buffer.from(norm, 'utf8').toString('latin1').replace(/[\u0000-\u001f\u007f-\u00ff <>"{}|\\^`']/g, '_');
  const u = new UriScanner(masked);
  return u.absolute() || u.relative();
}

function isNameStart(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 ||
    (c >= 0xc0 && c <= 0xd6) || (c >= 0xd8 && c <= 0xf6) || (c >= 0xf8 && c <= 0x2ff) ||
    (c >= 0x370 && c <= 0x37d) || (c >= 0x37f && c <= 0x1fff) || (c >= 0x200c && c <= 0x200d) ||
    (c >= 0x2070 && c <= 0x218f) || (c >= 0x2c00 && c <= 0x2fef) || (c >= 0x3001 && c <= 0xd7ff) ||
    (c >= 0xf900 && c <= 0xfdcf) || (c >= 0xfdf0 && c <= 0xfffd) || (c >= 0x10000 && c <= 0xeffff)
  );
}
function isNameChar(c: number): boolean {
  return (
    isNameStart(c) || isDigit(c) || c === 45 || c === 46 || c === 0xb7 ||
    (c >= 0x300 && c <= 0x36f) || (c >= 0x203f && c <= 0x2040)
  );
}

/** xs:NCName (and so xs:ID) after whitespace collapse. */
export function isXsdNCName(v: string): boolean {
  const s = collapse(v);
  if (s.length === 0) return false;
  let first = true;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (first ? !isNameStart(c) : !isNameChar(c)) return false;
    first = false;
  }
  return true;
}
