/**
 * Evaluating a parsed filter against one alert. Values missing from the alert
 * are unknown, and logic is three-valued (Kleene): `not unknown` is unknown, and
 * an alert is accepted only when the filter is true — a filter on a Param that an
 * alert lacks never accepts it by accident. What an alert is (VOEvent, JSON
 * notice) and how it relates to its event come from voevent/ (thread facts);
 * sky regions and sky maps from sky/.
 */
// Module by module, not voevent/index.ts: the web page bundles this file, and the index
// also brings the builder (xmlbuilder2), which a browser cannot load.
import { factsOfJson, factsOfVOEvent, type AlertFacts } from '../voevent/thread.ts';
import { fromElement, parse } from '../voevent/parse.ts';
import { paramValue } from '../voevent/missions.ts';
import { streamId } from '../voevent/ivorn.ts';
import type { VOEvent } from '../voevent/model.ts';
import type { XmlElement } from '../voevent/tree.ts';
import { circleSkyMap, readSkyMapBase64, type SkyMap } from '../sky/index.ts';
import { angularDistance } from '../sky/healpix.ts';
import { parseFilter, type Expr, type Region } from './parse.ts';

type V = string | number | boolean | undefined;

/** One alert as filters see it; sky maps are read on first use, once. */
export class Subject {
  private map?: SkyMap | null;
  private peak?: { ra: number; dec: number } | null;

  constructor(
    readonly facts: AlertFacts | undefined,
    readonly voevent?: VOEvent,
    readonly json?: Record<string, unknown>,
  ) {}

  /** Where the alert puts the source: an error circle's centre, else its sky map's densest point; null when unknown. */
  position(): { ra: number; dec: number } | null {
    if (this.peak !== undefined) return this.peak;
    const l = this.facts?.localisation;
    if (l?.kind === 'circle') return (this.peak = { ra: l.ra, dec: l.dec });
    const map = this.skymap();
    return (this.peak = map ? map.densest() : null);
  }

  /** The sky map: a JSON notice's inline map, or one made from an error circle; null when there is none. */
  skymap(): SkyMap | null {
    if (this.map !== undefined) return this.map;
    this.map = null;
    try {
      const ev = this.json?.event as Record<string, unknown> | undefined;
      if (typeof ev?.skymap === 'string') this.map = readSkyMapBase64(ev.skymap);
      else {
        const l = this.facts?.localisation;
        if (l?.kind === 'circle' && l.error > 0 && l.error <= 180) this.map = circleSkyMap({ ra: l.ra, dec: l.dec, radius: l.error, containment: 0.9 });
      }
    } catch {
      this.map = null; // an unreadable map is no localisation
    }
    return this.map;
  }
}

const JSON_ELEMENT = /^\s*<(?:[\w.-]+:)?json\b[^>]*>([\s\S]*)<\/(?:[\w.-]+:)?json>\s*$/;
const decode = (s: string) => s.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e]!);

/** The subject of a payload: a VOEvent (tree or text), a JSON notice (bare or in <json xmlns="urn:xmpp:json:0">), else one with no facts. */
export function subjectOf(payload: string, parsed?: unknown): Subject {
  try {
    const tree = parsed as XmlElement | undefined;
    const local = tree && typeof tree.name === 'string' ? tree.name.slice(tree.name.indexOf(':') + 1) : undefined;
    let ev: VOEvent | undefined;
    if (local === 'VOEvent') ev = fromElement(tree!);
    else if (local === undefined && /^\s*(<\?xml[^>]*\?>\s*)?<(?:[\w.-]+:)?VOEvent[\s>]/.test(payload)) ev = parse(payload);
    if (ev) return new Subject(factsOfVOEvent(ev), ev);
    const m = JSON_ELEMENT.exec(payload);
    const text = m ? decode(m[1]!) : payload.trim().startsWith('{') ? payload : undefined;
    if (text !== undefined) {
      const json = JSON.parse(text) as unknown;
      if (json && typeof json === 'object' && !Array.isArray(json)) return new Subject(factsOfJson(json), undefined, json as Record<string, unknown>);
    }
  } catch {
    /* unreadable: no facts */
  }
  return new Subject(undefined);
}

function field(s: Subject, root: string, parts: string[]): V {
  const f = s.facts;
  const ev = s.voevent;
  const loc = f?.localisation;
  switch (root) {
    case 'role': return f?.role;
    case 'ivorn': return f?.ivorn;
    case 'stream': return f?.ivorn ? streamId(f.ivorn) : undefined;
    case 'importance': return ev?.why?.importance ?? (typeof s.json?.importance === 'number' ? s.json.importance : undefined);
    case 'mission': return f?.eventId?.slice(0, f.eventId.indexOf(':'));
    case 'event': return f?.eventId;
    case 'alert_type': return f?.alertType;
    case 'relation': return f?.relation;
    case 'ra': return loc?.kind === 'circle' ? loc.ra : undefined;
    case 'dec': return loc?.kind === 'circle' ? loc.dec : undefined;
    case 'error': return loc?.kind === 'circle' && Number.isFinite(loc.error) ? loc.error : undefined;
    case 'area90': {
      const map = s.json && typeof (s.json.event as Record<string, unknown> | undefined)?.skymap === 'string' ? s.skymap() : null;
      if (map) return map.credibleArea(0.9);
      return loc?.kind === 'circle' && Number.isFinite(loc.error) ? Math.PI * loc.error ** 2 : undefined;
    }
    case 'param': return ev ? paramValue(ev, parts.join('.')) : undefined;
    case 'group': return ev ? paramValue(ev, parts[1]!, parts[0]!) : undefined;
    case 'json': {
      let cur: unknown = s.json;
      for (const p of parts) {
        if (cur === null || typeof cur !== 'object') return undefined;
        cur = (cur as Record<string, unknown>)[p];
      }
      return typeof cur === 'string' || typeof cur === 'number' || typeof cur === 'boolean' ? cur : undefined;
    }
  }
  return undefined;
}

function num(v: V): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

function equal(a: V, b: V): boolean | undefined {
  if (a === undefined || b === undefined) return undefined;
  if (typeof a === 'number' || typeof b === 'number') {
    const x = num(a);
    const y = num(b);
    return x === undefined || y === undefined ? undefined : x === y;
  }
  if (typeof a === 'boolean' || typeof b === 'boolean') return String(a).toLowerCase() === String(b).toLowerCase();
  return a.toLowerCase() === b.toLowerCase();
}

/** Is the alert's position (an error circle's centre, a sky map's densest point) in the region? */
function inside(s: Subject, r: Region): boolean | undefined {
  const at = s.position();
  if (!at) return undefined;
  if (r.kind === 'cone') return angularDistanceDeg(r.ra, r.dec, at.ra, at.dec) <= r.radius;
  return r.moc.contains(at.ra, at.dec);
}

/** Degrees between two positions given in degrees. */
const angularDistanceDeg = (ra1: number, dec1: number, ra2: number, dec2: number) => (angularDistance(ra1, dec1, ra2, dec2) * 180) / Math.PI;

function prob(s: Subject, r: Region): number | undefined {
  // An error circle wholly inside or outside a cone needs no sky map (to 1e-3: the
  // circle map holds 90% within its radius, the rest within three radii).
  const l = s.facts?.localisation;
  if (r.kind === 'cone' && l?.kind === 'circle' && Number.isFinite(l.error)) {
    const d = angularDistanceDeg(r.ra, r.dec, l.ra, l.dec);
    if (d + 3 * l.error <= r.radius) return 1;
    if (d - 3 * l.error >= r.radius) return 0;
  }
  const map = s.skymap();
  return map ? r.moc.probability(map) : undefined;
}

function value(e: Expr, s: Subject): V {
  switch (e.t) {
    case 'lit': return e.v;
    case 'path': return field(s, e.root, e.parts);
    case 'call': return e.fn === 'inside' ? inside(s, e.region) : prob(s, e.region);
    default: return truth(e, s);
  }
}

function truth(e: Expr, s: Subject): boolean | undefined {
  switch (e.t) {
    case 'and': {
      let unknown = false;
      for (const x of e.items) {
        const v = truth(x, s);
        if (v === false) return false;
        if (v === undefined) unknown = true;
      }
      return unknown ? undefined : true;
    }
    case 'or': {
      let unknown = false;
      for (const x of e.items) {
        const v = truth(x, s);
        if (v === true) return true;
        if (v === undefined) unknown = true;
      }
      return unknown ? undefined : false;
    }
    case 'not': {
      const v = truth(e.e, s);
      return v === undefined ? undefined : !v;
    }
    case 'cmp': {
      const a = value(e.a, s);
      if (e.op === 'in') {
        if (a === undefined) return undefined;
        const items = e.b.t === 'list' ? e.b.items.map((i) => value(i, s)) : [];
        return items.some((i) => equal(a, i) === true);
      }
      const b = value(e.b, s);
      if (a === undefined || b === undefined) return undefined;
      switch (e.op) {
        case '=': return equal(a, b);
        case '!=': {
          const q = equal(a, b);
          return q === undefined ? undefined : !q;
        }
        case '~': return e.re!.test(String(a));
        default: {
          const x = num(a);
          const y = num(b);
          if (x === undefined || y === undefined) return undefined;
          return e.op === '<' ? x < y : e.op === '<=' ? x <= y : e.op === '>' ? x > y : x >= y;
        }
      }
    }
    case 'list':
    case 'region':
      return undefined;
    default: {
      // A bare value as a condition: a boolean is itself; anything else is true when present.
      const v = value(e, s);
      if (v === undefined) return undefined;
      if (typeof v === 'boolean') return v;
      if (typeof v === 'string' && /^(true|false)$/i.test(v.trim())) return v.trim().toLowerCase() === 'true';
      return true;
    }
  }
}

/** A checked filter, ready to evaluate many alerts. */
export class Filter {
  readonly expr: Expr;
  constructor(readonly text: string) {
    this.expr = parseFilter(text);
  }
  /** Does the alert pass? (true only when the filter is true; unknown rejects) */
  accepts(s: Subject): boolean {
    return truth(this.expr, s) === true;
  }
}

/** Parse a filter (FilterError with the column on a mistake). */
export function compileFilter(text: string): Filter {
  return new Filter(text);
}
