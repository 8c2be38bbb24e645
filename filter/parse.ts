/**
 * The VOXnet filter language: text → a checked expression tree. Every error
 * names its position (1-based column) in the filter text. Grammar (docs/filters.md):
 *
 *   expr    := and ("or" and)*
 *   and     := unary ("and" unary)*
 *   unary   := "not" unary | compare
 *   compare := value (("=" | "!=" | "<" | "<=" | ">" | ">=" | "~" | "in") value)?
 *   value   := NUMBER | STRING | "true" | "false" | list | call | path | "(" expr ")"
 *   list    := "[" (value ("," value)*)? "]"
 *   call    := NAME "(" (value ("," value)*)? ")"
 *   path    := NAME ("." (NAME | STRING))*
 */
import { Moc } from '../sky/index.ts';

export const MAX_FILTER_LENGTH = 16_384;
const MAX_DEPTH = 48;

export class FilterError extends Error {
  override name = 'FilterError';
  constructor(
    message: string,
    /** 1-based column of the error in the filter text. */
    readonly column: number,
  ) {
    super(`filter error at column ${column}: ${message}`);
  }
}

export type Op = '=' | '!=' | '<' | '<=' | '>' | '>=' | '~' | 'in';

/** A sky region: a cone (its MOC made on first use, for probabilities) or a MOC. */
export type Region = { kind: 'cone'; ra: number; dec: number; radius: number; readonly moc: Moc } | { kind: 'moc'; moc: Moc };

function coneRegion(ra: number, dec: number, radius: number): Region {
  let moc: Moc | undefined;
  return {
    kind: 'cone', ra, dec, radius,
    // Cells about a hundredth of the radius across (order 13 at most: 26 arcsec).
    get moc() {
      return (moc ??= Moc.fromCircle(ra, dec, radius, Math.min(13, Math.max(3, Math.ceil(Math.log2(5860 / radius) )))));
    },
  };
}

export type Expr =
  | { t: 'lit'; v: string | number | boolean; at: number }
  | { t: 'list'; items: Expr[]; at: number }
  | { t: 'path'; root: string; parts: string[]; at: number }
  | { t: 'cmp'; op: Op; a: Expr; b: Expr; at: number; re?: RegExp }
  | { t: 'and' | 'or'; items: Expr[]; at: number }
  | { t: 'not'; e: Expr; at: number }
  | { t: 'region'; region: Region; at: number }
  | { t: 'call'; fn: 'inside' | 'prob'; region: Region; at: number };

/** Field roots: what a path may start with. */
export const FIELDS: Record<string, { parts: 'none' | 'one+' | 'two'; doc: string }> = {
  role: { parts: 'none', doc: 'VOEvent role (observation, test, utility, prediction); JSON notices: observation, or test for mock events' },
  ivorn: { parts: 'none', doc: "the VOEvent's IVORN" },
  stream: { parts: 'none', doc: 'the IVORN before "#"' },
  importance: { parts: 'none', doc: 'Why@importance (0 to 1)' },
  mission: { parts: 'none', doc: 'the mission (svom, swift, fermi, lvk, icecube...)' },
  event: { parts: 'none', doc: 'the mission event id, e.g. lvk:S190425z' },
  alert_type: { parts: 'none', doc: 'AlertType (LVK VOEvents) or alert_type (JSON)' },
  relation: { parts: 'none', doc: 'initial, followup, supersedes or retraction (the thread rules)' },
  ra: { parts: 'none', doc: 'position (degrees) of an error circle' },
  dec: { parts: 'none', doc: 'position (degrees) of an error circle' },
  error: { parts: 'none', doc: 'error-circle radius (degrees)' },
  area90: { parts: 'none', doc: '90% credible area in deg² (sky map), or the error circle\'s area π·r²' },
  param: { parts: 'one+', doc: 'param.NAME: a VOEvent Param anywhere in What (top level first)' },
  group: { parts: 'two', doc: 'group.GROUP.NAME: a Param of a named Group' },
  json: { parts: 'one+', doc: 'json.a.b: a field of a JSON notice' },
};

type Tok = { k: 'num' | 'str' | 'name' | 'op' | 'punct' | 'eof'; v: string; at: number };

function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const at = i + 1;
    if (c === '"' || c === "'") {
      let s = '';
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw new FilterError(`unterminated string (opened with ${c})`, at);
        const d = text[j]!;
        if (d === '\\' && j + 1 < text.length) {
          s += text[j + 1]!;
          j += 2;
          continue;
        }
        if (d === c) break;
        s += d;
        j++;
      }
      out.push({ k: 'str', v: s, at });
      i = j + 1;
      continue;
    }
    const num = /^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?/.exec(text.slice(i));
    if (num) {
      out.push({ k: 'num', v: num[0], at });
      i += num[0].length;
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i));
    if (name) {
      out.push({ k: 'name', v: name[0], at });
      i += name[0].length;
      continue;
    }
    const op = /^(<=|>=|!=|=|<|>|~)/.exec(text.slice(i));
    if (op) {
      out.push({ k: 'op', v: op[0], at });
      i += op[0].length;
      continue;
    }
    if ('()[],.'.includes(c)) {
      out.push({ k: 'punct', v: c, at });
      i++;
      continue;
    }
    throw new FilterError(`unexpected character '${c}'`, at);
  }
  out.push({ k: 'eof', v: '', at: text.length + 1 });
  return out;
}

const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'true', 'false']);
const show = (t: Tok) => (t.k === 'eof' ? 'the end of the filter' : t.k === 'str' ? `"${t.v}"` : `'${t.v}'`);

/** Parse and check a filter; throws FilterError naming the column. */
export function parseFilter(text: string): Expr {
  if (text.length > MAX_FILTER_LENGTH) throw new FilterError(`the filter is longer than ${MAX_FILTER_LENGTH} characters`, MAX_FILTER_LENGTH + 1);
  const toks = tokenize(text);
  let p = 0;
  let depth = 0;
  const peek = () => toks[p]!;
  const next = () => toks[p++]!;
  const isWord = (w: string) => peek().k === 'name' && peek().v === w;
  const expect = (v: string, what = `'${v}'`) => {
    const t = next();
    if (t.v !== v || t.k === 'str') throw new FilterError(`expected ${what} but found ${show(t)}`, t.at);
    return t;
  };
  const deeper = (at: number) => {
    if (++depth > MAX_DEPTH) throw new FilterError(`the filter nests more than ${MAX_DEPTH} levels`, at);
  };

  function expr(): Expr {
    deeper(peek().at);
    const first = and();
    const items = [first];
    while (isWord('or')) {
      next();
      items.push(and());
    }
    depth--;
    return items.length === 1 ? first : { t: 'or', items, at: first.at };
  }
  function and(): Expr {
    const first = unary();
    const items = [first];
    while (isWord('and')) {
      next();
      items.push(unary());
    }
    return items.length === 1 ? first : { t: 'and', items, at: first.at };
  }
  function unary(): Expr {
    if (isWord('not')) {
      const t = next();
      deeper(t.at);
      const e = unary();
      depth--;
      return { t: 'not', e, at: t.at };
    }
    return compare();
  }
  function compare(): Expr {
    const a = value();
    const t = peek();
    const op = t.k === 'op' ? t.v : t.k === 'name' && t.v === 'in' ? 'in' : undefined;
    if (!op) return a;
    next();
    const b = value();
    const e: Expr = { t: 'cmp', op: op as Op, a, b, at: t.at };
    if (op === '~') {
      if (b.t !== 'lit' || typeof b.v !== 'string') throw new FilterError("'~' needs a quoted regular expression on its right", b.at);
      try {
        e.re = new RegExp(b.v, 'i');
      } catch (err) {
        throw new FilterError(`invalid regular expression: ${(err as Error).message}`, b.at);
      }
    }
    if (op === 'in' && b.t !== 'list') throw new FilterError("'in' needs a list on its right, e.g. [\"a\", \"b\"]", b.at);
    if (a.t === 'region' || b.t === 'region') throw new FilterError('a region is used inside inside(...) or prob(...), not compared', (a.t === 'region' ? a : b).at);
    return e;
  }
  function value(): Expr {
    const t = next();
    if (t.k === 'num') return { t: 'lit', v: Number(t.v), at: t.at };
    if (t.k === 'str') return { t: 'lit', v: t.v, at: t.at };
    if (t.k === 'punct' && t.v === '(') {
      const e = expr();
      expect(')');
      return e;
    }
    if (t.k === 'punct' && t.v === '[') {
      const items: Expr[] = [];
      if (!(peek().k === 'punct' && peek().v === ']')) {
        for (;;) {
          const v = value();
          if (v.t !== 'lit') throw new FilterError('a list holds numbers, strings or booleans', v.at);
          items.push(v);
          if (peek().k === 'punct' && peek().v === ',') {
            next();
            continue;
          }
          break;
        }
      }
      expect(']', "',' or ']'");
      return { t: 'list', items, at: t.at };
    }
    if (t.k === 'name') {
      if (t.v === 'true' || t.v === 'false') return { t: 'lit', v: t.v === 'true', at: t.at };
      if (KEYWORDS.has(t.v)) throw new FilterError(`expected a value but found ${show(t)}`, t.at);
      if (peek().k === 'punct' && peek().v === '(') return call(t);
      return path(t);
    }
    throw new FilterError(`expected a value but found ${show(t)}`, t.at);
  }
  function args(): Expr[] {
    expect('(');
    const out: Expr[] = [];
    if (!(peek().k === 'punct' && peek().v === ')')) {
      for (;;) {
        out.push(value());
        if (peek().k === 'punct' && peek().v === ',') {
          next();
          continue;
        }
        break;
      }
    }
    expect(')', "',' or ')'");
    return out;
  }
  function call(name: Tok): Expr {
    const a = args();
    const arity = (n: number, sig: string) => {
      if (a.length !== n) throw new FilterError(`${name.v}() takes ${sig}`, name.at);
    };
    switch (name.v) {
      case 'cone': {
        arity(3, 'three numbers: cone(ra, dec, radius) in degrees');
        const [ra, dec, r] = a.map((x) => (x.t === 'lit' && typeof x.v === 'number' ? x.v : NaN)) as [number, number, number];
        if (![ra, dec, r].every(Number.isFinite)) throw new FilterError('cone(ra, dec, radius) takes three numbers (degrees)', name.at);
        if (dec < -90 || dec > 90) throw new FilterError(`cone: dec must be in [-90, 90], got ${dec}`, a[1]!.at);
        if (!(r > 0 && r <= 180)) throw new FilterError(`cone: radius must be in (0, 180] degrees, got ${r}`, a[2]!.at);
        return { t: 'region', region: coneRegion(ra, dec, r), at: name.at };
      }
      case 'moc': {
        arity(1, 'one string: moc("IVOA MOC ASCII, e.g. 3/3 10 4/16-18")');
        const s = a[0]!;
        if (s.t !== 'lit' || typeof s.v !== 'string') throw new FilterError('moc() takes a quoted MOC ASCII string', s.at);
        try {
          return { t: 'region', region: { kind: 'moc', moc: Moc.parseAscii(s.v) }, at: name.at };
        } catch (err) {
          throw new FilterError(`invalid MOC: ${(err as Error).message}`, s.at);
        }
      }
      case 'inside':
      case 'prob': {
        arity(1, `one region: ${name.v}(cone(...)) or ${name.v}(moc("..."))`);
        const r = a[0]!;
        if (r.t !== 'region') throw new FilterError(`${name.v}() takes a region: cone(ra, dec, radius) or moc("...")`, r.at);
        return { t: 'call', fn: name.v, region: r.region, at: name.at };
      }
      default:
        throw new FilterError(`unknown function ${name.v}() (known: cone, moc, inside, prob)`, name.at);
    }
  }
  function path(first: Tok): Expr {
    const spec = FIELDS[first.v];
    if (!spec) throw new FilterError(`unknown field '${first.v}' (known: ${Object.keys(FIELDS).join(', ')})`, first.at);
    const parts: string[] = [];
    while (peek().k === 'punct' && peek().v === '.') {
      next();
      const t = next();
      if (t.k !== 'name' && t.k !== 'str') throw new FilterError(`expected a name after '.' but found ${show(t)}`, t.at);
      parts.push(t.v);
    }
    if (spec.parts === 'none' && parts.length) throw new FilterError(`'${first.v}' has no parts`, first.at);
    if (spec.parts === 'one+' && parts.length === 0) throw new FilterError(`'${first.v}' needs a name: ${first.v}.NAME`, first.at);
    if (spec.parts === 'two' && parts.length !== 2) throw new FilterError(`'group' takes a group and a param: group.GROUP.NAME`, first.at);
    return { t: 'path', root: first.v, parts, at: first.at };
  }

  const e = expr();
  const end = peek();
  if (end.k !== 'eof') throw new FilterError(`expected 'and', 'or' or the end of the filter but found ${show(end)}`, end.at);
  if (e.t === 'region') throw new FilterError('a region alone is not a condition: use inside(...) or prob(...) >= p', e.at);
  return e;
}
