/**
 * Checks the VOEvent 2.0 Recommendation asks for but no XML Schema can express.
 * They run on the element tree (so every finding has a path, and a line and
 * column when the tree came from text) and read elements by local name, so they
 * also work on packets the schema has already rejected.
 *
 * Errors: IVORN syntax of the packet and of cited events, unique Param names per
 * scope (What, each Group, each Table), a non-empty EventIVORN in every citation,
 * ISO-8601 event times, RA in [0,360) and Dec in [-90,90] for equatorial
 * positions, Error2Radius >= 0, Why@importance and Inference@probability in [0,1].
 * Warnings: things a careful publisher fixes but that do not make a packet unusable.
 */
import type { Issue, Severity } from './issues.ts';
import { ivornProblem } from './ivorn.ts';
import { type XmlElement, LineIndex, sourceOf } from './tree.ts';
import { childElements, firstChild, localName, textOf } from '../common/xml.ts';
import { isXsdDateTime, parseXsdFloat } from './xsd-types.ts';


interface Ctx {
  issues: Issue[];
  src: string | undefined;
  lines?: LineIndex;
  /** Findings kept per severity, at most MAX_PER_SEVERITY each (one error is enough to refuse). */
  kept: { error: number; warning: number };
}

/** A hostile packet can have a finding per element: past this many of a kind, the rest are not listed. */
const MAX_PER_SEVERITY = 100;

function add(ctx: Ctx, severity: Severity, el: XmlElement, path: string, message: string, attr?: string): void {
  if (ctx.kept[severity]++ >= MAX_PER_SEVERITY) return;
  let line = 0;
  let column = 0;
  const pos = (el as { pos?: number }).pos;
  if (ctx.src !== undefined && typeof pos === 'number') {
    let at = pos;
    if (attr) {
      const close = ctx.src.indexOf('>', pos);
      const k = ctx.src.slice(pos, close === -1 ? undefined : close).indexOf(` ${attr}=`);
      if (k !== -1) at = pos + k + 1;
    }
    ({ line, column } = (ctx.lines ??= new LineIndex(ctx.src)).at(at));
  }
  ctx.issues.push({ kind: 'semantic', severity, line, column, path: attr ? `${path}@${attr}` : path, message });
}




function indexed(path: string, name: string, i: number, n: number): string {
  return n > 1 ? `${path}/${name}[${i + 1}]` : `${path}/${name}`;
}

/** ISO 8601 calendar date-time as VOEvent uses it in ISOTime: YYYY-MM-DDThh:mm:ss[.s][Z|±hh:mm]. */
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$/;
export function isIsoDateTime(v: string): boolean {
  return ISO_RE.test(v) && isXsdDateTime(v);
}

function checkParams(ctx: Ctx, scope: XmlElement, path: string, what: string): void {
  const params = childElements(scope, 'Param');
  const seen = new Map<string, number>();
  params.forEach((p, i) => {
    const ppath = indexed(path, 'Param', i, params.length);
    const name = p.attrs.name;
    if (name === undefined || name.trim() === '') {
      add(ctx, 'warning', p, ppath, `Param in ${what} has no name`);
      return;
    }
    const first = seen.get(name);
    if (first !== undefined) {
      add(ctx, 'error', p, ppath, `duplicate Param name '${name}' in ${what} (first used by Param ${first + 1})`, 'name');
    } else seen.set(name, i);
    const dt = p.attrs.dataType;
    const value = p.attrs.value ?? (firstChild(p, 'Value') ? textOf(firstChild(p, 'Value')!) : undefined);
    if (value !== undefined && (dt === 'int' || dt === 'float')) {
      const ok = dt === 'int' ? /^\s*[+-]?\d+\s*$/.test(value) : parseXsdFloat(value) !== undefined;
      if (!ok) add(ctx, 'warning', p, ppath, `Param '${name}' declares dataType="${dt}" but its value '${value}' is not one`, 'value');
    }
  });
}

function checkIvorn(ctx: Ctx, el: XmlElement, path: string, value: string, what: string, attr?: string): void {
  const problem = ivornProblem(value);
  if (problem) add(ctx, 'error', el, path, `${what} '${value}' ${problem} (expected ivo://authority/path#local_ID)`, attr);
}

function checkUnit(value: number, unit: string | undefined): number {
  switch ((unit ?? 'deg').trim().toLowerCase()) {
    case 'rad':
      return (value * 180) / Math.PI;
    case 'arcmin':
      return value / 60;
    case 'arcsec':
      return value / 3600;
    default:
      return value;
  }
}

function checkWhereWhen(ctx: Ctx, ww: XmlElement, path: string): void {
  const odls = childElements(ww, 'ObsDataLocation');
  odls.forEach((odl, i) => {
    const opath = indexed(path, 'ObsDataLocation', i, odls.length);
    const obs = firstChild(odl, 'ObservationLocation');
    if (!obs) return;
    const lpath = `${opath}/ObservationLocation`;
    const system = firstChild(obs, 'AstroCoordSystem')?.attrs.id ?? firstChild(obs, 'AstroCoords')?.attrs.coord_system_id ?? '';
    const coords = firstChild(obs, 'AstroCoords');
    if (!coords) return;
    const cpath = `${lpath}/AstroCoords`;
    const time = firstChild(coords, 'Time');
    if (time) {
      for (const ti of childElements(time, 'TimeInstant')) {
        for (const iso of childElements(ti, 'ISOTime')) {
          const v = textOf(iso).trim();
          if (!isIsoDateTime(v)) {
            add(ctx, 'error', iso, `${cpath}/Time/TimeInstant/ISOTime`, `'${v}' is not an ISO-8601 date-time (YYYY-MM-DDThh:mm:ss[.s][Z])`);
          }
        }
      }
      for (const er of childElements(time, 'Error')) {
        const f = parseXsdFloat(textOf(er));
        if (f !== undefined && f < 0) add(ctx, 'error', er, `${cpath}/Time/Error`, `time error ${textOf(er).trim()} is negative`);
      }
    }
    const pos = firstChild(coords, 'Position2D');
    if (pos) {
      const ppath = `${cpath}/Position2D`;
      const unit = pos.attrs.unit;
      const v2 = firstChild(pos, 'Value2');
      const equatorial = /ICRS|FK5/.test(system);
      if (v2 && equatorial) {
        const c1 = firstChild(v2, 'C1');
        const c2 = firstChild(v2, 'C2');
        const ra = c1 ? parseXsdFloat(textOf(c1)) : undefined;
        const dec = c2 ? parseXsdFloat(textOf(c2)) : undefined;
        if (c1 && ra !== undefined) {
          const d = checkUnit(ra, unit);
          if (!(d >= 0 && d < 360)) add(ctx, 'error', c1, `${ppath}/Value2/C1`, `RA ${textOf(c1).trim()} is outside [0, 360) degrees`);
        }
        if (c2 && dec !== undefined) {
          const d = checkUnit(dec, unit);
          if (!(d >= -90 && d <= 90)) add(ctx, 'error', c2, `${ppath}/Value2/C2`, `Dec ${textOf(c2).trim()} is outside [-90, 90] degrees`);
        }
      }
      const er = firstChild(pos, 'Error2Radius');
      if (er) {
        const f = parseXsdFloat(textOf(er));
        if (f === -1) {
          // SVOM GRM (and some GCN notices) write -1 for "no error estimate".
          add(ctx, 'warning', er, `${ppath}/Error2Radius`, 'Error2Radius -1 (read as "no error estimate")');
        } else if (f !== undefined && !(f >= 0)) {
          add(ctx, 'error', er, `${ppath}/Error2Radius`, `Error2Radius ${textOf(er).trim()} must be >= 0`);
        }
      }
    }
  });
}

function checkProbability(ctx: Ctx, el: XmlElement, path: string, attr: string, what: string): void {
  const v = el.attrs[attr];
  if (v === undefined) return;
  const f = parseXsdFloat(v);
  if (f === undefined) return; // the schema reports the lexical error
  if (!(f >= 0 && f <= 1)) add(ctx, 'error', el, path, `${what} ${v.trim()} is outside [0, 1]`, attr);
}

/** Semantic findings for a VOEvent element tree (2.0 or 1.1). */
export function semanticCheckTree(root: XmlElement): Issue[] {
  const ctx: Ctx = { issues: [], src: sourceOf(root), kept: { error: 0, warning: 0 } };
  const rpath = `/${localName(root.name)}`;
  if (localName(root.name) !== 'VOEvent') return ctx.issues;

  const ivorn = root.attrs.ivorn;
  if (ivorn !== undefined) checkIvorn(ctx, root, rpath, ivorn, 'IVORN', 'ivorn');

  const who = firstChild(root, 'Who');
  if (!who) add(ctx, 'warning', root, rpath, 'no <Who>: the packet does not say who published it or when');
  else {
    const a = firstChild(who, 'AuthorIVORN');
    if (a) {
      const problem = ivornProblem(textOf(a).trim(), false);
      if (problem) add(ctx, 'warning', a, `${rpath}/Who/AuthorIVORN`, `AuthorIVORN '${textOf(a).trim()}' ${problem}`);
    }
    if (!firstChild(who, 'Date')) add(ctx, 'warning', who, `${rpath}/Who`, 'no <Date>: the packet does not say when it was written');
  }

  const what = firstChild(root, 'What');
  if (what) {
    const wpath = `${rpath}/What`;
    checkParams(ctx, what, wpath, '<What>');
    const groups = childElements(what, 'Group');
    groups.forEach((g, i) => {
      const label = g.attrs.name ? `Group '${g.attrs.name}'` : `Group ${i + 1}`;
      checkParams(ctx, g, indexed(wpath, 'Group', i, groups.length), label);
    });
    const tables = childElements(what, 'Table');
    tables.forEach((t, i) => {
      const label = t.attrs.name ? `Table '${t.attrs.name}'` : `Table ${i + 1}`;
      checkParams(ctx, t, indexed(wpath, 'Table', i, tables.length), label);
    });
  }

  const ww = firstChild(root, 'WhereWhen');
  if (ww) checkWhereWhen(ctx, ww, `${rpath}/WhereWhen`);

  const why = firstChild(root, 'Why');
  if (why) {
    const ypath = `${rpath}/Why`;
    checkProbability(ctx, why, ypath, 'importance', 'importance');
    const expires = why.attrs.expires;
    if (expires !== undefined && !isXsdDateTime(expires)) {
      add(ctx, 'error', why, ypath, `expires '${expires}' is not an ISO-8601 date-time`, 'expires');
    }
    const infs = childElements(why, 'Inference');
    infs.forEach((inf, i) => checkProbability(ctx, inf, indexed(ypath, 'Inference', i, infs.length), 'probability', 'probability'));
  }

  const cit = firstChild(root, 'Citations');
  if (cit) {
    const cpath = `${rpath}/Citations`;
    const evs = childElements(cit, 'EventIVORN');
    if (evs.length === 0) add(ctx, 'error', cit, cpath, '<Citations> cites nothing: it needs at least one <EventIVORN>');
    evs.forEach((e, i) => {
      const epath = indexed(cpath, 'EventIVORN', i, evs.length);
      const v = textOf(e).trim();
      if (v === '') {
        add(ctx, 'error', e, epath, 'EventIVORN is empty: a citation must name the cited event');
        return;
      }
      checkIvorn(ctx, e, epath, v, 'cited IVORN');
      if (ivorn !== undefined && v === ivorn.trim()) add(ctx, 'error', e, epath, 'the packet cites itself');
      if (e.attrs.cite === undefined) add(ctx, 'warning', e, epath, "EventIVORN has no cite attribute (followup, supersedes or retraction)");
    });
  }
  return ctx.issues;
}
