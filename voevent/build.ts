/**
 * Model → canonical VOEvent 2.0 XML (xmlbuilder2).
 *
 * Canonical form: XML declaration, root <voe:VOEvent xmlns:voe=...> with version,
 * ivorn and role; the parts in the Recommendation's order (Who, What, WhereWhen,
 * How, Why, Citations, Description, Reference); within each part the model's
 * arrays in order (What: Params, Groups, Tables, Descriptions, References);
 * positions written in degrees. parse(build(m)) deep-equals m for any model whose
 * text values carry no leading or trailing whitespace (parse trims element text).
 */
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import {
  VOEVENT_NS_20, XSI_NS,
  type Author, type Citations, type Field, type Group, type How, type Inference, type Param, type Reference,
  type Table, type VOEvent, type What, type WhereWhen, type Who, type Why,
} from './model.ts';

export interface BuildOptions {
  /** Indent the output (default true). */
  pretty?: boolean;
  /** Namespace prefix of the root (default "voe"). */
  prefix?: string;
  /** Add xsi:schemaLocation pointing at the IVOA schema (default false). */
  schemaLocation?: boolean;
}

type Attrs = Record<string, string>;

function attrs(obj: Record<string, unknown>, names: readonly string[]): Attrs {
  const out: Attrs = {};
  for (const n of names) {
    const v = obj[n];
    if (v !== undefined && v !== null) out[n] = String(v);
  }
  return out;
}

function textEl(parent: XMLBuilder, name: string, value: string | number | undefined): void {
  if (value === undefined) return;
  const s = String(value);
  if (s === '') parent.ele(name).up();
  else parent.ele(name).txt(s).up();
}

function reference(parent: XMLBuilder, r: Reference): void {
  parent.ele('Reference', attrs(r as unknown as Record<string, unknown>, ['uri', 'type', 'mimetype', 'meaning'])).up();
}

function docs(parent: XMLBuilder, o: { descriptions?: string[]; references?: Reference[] }): void {
  for (const d of o.descriptions ?? []) textEl(parent, 'Description', d);
  for (const r of o.references ?? []) reference(parent, r);
}

function param(parent: XMLBuilder, p: Param): void {
  const el = parent.ele('Param', attrs(p as unknown as Record<string, unknown>, ['name', 'value', 'unit', 'ucd', 'dataType', 'utype']));
  docs(el, p);
  el.up();
}

function group(parent: XMLBuilder, g: Group): void {
  const el = parent.ele('Group', attrs(g as unknown as Record<string, unknown>, ['name', 'type']));
  for (const p of g.params) param(el, p);
  docs(el, g);
  el.up();
}

function field(parent: XMLBuilder, f: Field): void {
  const el = parent.ele('Field', attrs(f as unknown as Record<string, unknown>, ['name', 'ucd', 'unit', 'dataType', 'utype']));
  docs(el, f);
  el.up();
}

function table(parent: XMLBuilder, t: Table): void {
  const el = parent.ele('Table', attrs(t as unknown as Record<string, unknown>, ['name', 'type']));
  docs(el, t);
  for (const p of t.params) param(el, p);
  for (const f of t.fields) field(el, f);
  if (t.rows.length) {
    const data = el.ele('Data');
    for (const row of t.rows) {
      const tr = data.ele('TR');
      // A TR needs at least one TD.
      for (const td of row.length ? row : ['']) textEl(tr, 'TD', td);
      tr.up();
    }
    data.up();
  }
  el.up();
}

function what(parent: XMLBuilder, w: What): void {
  const el = parent.ele('What');
  for (const p of w.params) param(el, p);
  for (const g of w.groups) group(el, g);
  for (const t of w.tables) table(el, t);
  docs(el, w);
  el.up();
}

function author(parent: XMLBuilder, a: Author): void {
  const el = parent.ele('Author');
  textEl(el, 'title', a.title);
  textEl(el, 'shortName', a.shortName);
  textEl(el, 'logoURL', a.logoURL);
  textEl(el, 'contactName', a.contactName);
  textEl(el, 'contactEmail', a.contactEmail);
  textEl(el, 'contactPhone', a.contactPhone);
  for (const c of a.contributors ?? []) textEl(el, 'contributor', c);
  // Author needs at least one child: fall back to an empty title.
  if (!a.title && !a.shortName && !a.logoURL && !a.contactName && !a.contactEmail && !a.contactPhone && !a.contributors?.length) {
    textEl(el, 'title', a.title ?? '');
  }
  el.up();
}

function who(parent: XMLBuilder, w: Who): void {
  const el = parent.ele('Who');
  textEl(el, 'AuthorIVORN', w.authorIVORN);
  textEl(el, 'Date', w.date);
  if (w.author) author(el, w.author);
  textEl(el, 'Description', w.description);
  if (w.reference) reference(el, w.reference);
  el.up();
}

const COORD_SYSTEMS = new Set([
  'TT-ICRS-TOPO', 'UTC-ICRS-TOPO', 'TT-FK5-TOPO', 'UTC-FK5-TOPO', 'GPS-ICRS-TOPO', 'GPS-FK5-TOPO',
  'TT-ICRS-GEO', 'UTC-ICRS-GEO', 'TT-FK5-GEO', 'UTC-FK5-GEO', 'GPS-ICRS-GEO', 'TDB-ICRS-BARY',
  'TDB-FK5-BARY', 'UTC-GEOD-TOPO',
]);

/**
 * The VOEvent 2.0 name of a coordinate system: 1.1 packets (GCN) wrote e.g.
 * "FK5-UTC-GEO" for what 2.0 calls "UTC-FK5-GEO". Undefined when there is none.
 */
export function coordSystem20(id: string): string | undefined {
  if (COORD_SYSTEMS.has(id)) return id;
  const parts = id.toUpperCase().split('-');
  const time = parts.find((p) => ['TT', 'UTC', 'GPS', 'TDB'].includes(p));
  const frame = parts.find((p) => ['ICRS', 'FK5', 'GEOD'].includes(p));
  const origin = parts.find((p) => ['TOPO', 'GEO', 'BARY'].includes(p));
  const name = `${time}-${frame}-${origin}`;
  return parts.length === 3 && COORD_SYSTEMS.has(name) ? name : undefined;
}

function whereWhen(parent: XMLBuilder, w: WhereWhen): void {
  const el = parent.ele('WhereWhen', w.id !== undefined ? { id: w.id } : {});
  const needsLocation = w.observatoryId !== undefined || w.coordSystemId !== undefined || w.time || w.position || w.position3d;
  if (needsLocation) {
    const odl = el.ele('ObsDataLocation');
    odl.ele('ObservatoryLocation', w.observatoryId !== undefined ? { id: w.observatoryId } : {}).up();
    const obs = odl.ele('ObservationLocation');
    const id = w.coordSystemId !== undefined ? coordSystem20(w.coordSystemId) : undefined;
    obs.ele('AstroCoordSystem', id !== undefined ? { id } : {}).up();
    const coords = obs.ele('AstroCoords', id !== undefined ? { coord_system_id: id } : {});
    if (w.time) {
      const t = coords.ele('Time', w.time.unit !== undefined ? { unit: w.time.unit } : {});
      const ti = t.ele('TimeInstant');
      textEl(ti, 'ISOTime', w.time.iso);
      textEl(ti, 'TimeOffset', w.time.offset);
      textEl(ti, 'TimeScale', w.time.scale);
      ti.up();
      textEl(t, 'Error', w.time.error);
      t.up();
    }
    if (w.position) {
      const p = coords.ele('Position2D', { unit: 'deg' });
      textEl(p, 'Name1', w.position.name1);
      textEl(p, 'Name2', w.position.name2);
      const v = p.ele('Value2');
      textEl(v, 'C1', w.position.ra);
      textEl(v, 'C2', w.position.dec);
      v.up();
      textEl(p, 'Error2Radius', w.position.error);
      p.up();
    }
    if (w.position3d) {
      const p3 = w.position3d;
      const p = coords.ele('Position3D', p3.unit !== undefined ? { unit: p3.unit } : {});
      textEl(p, 'Name1', p3.name1);
      textEl(p, 'Name2', p3.name2);
      textEl(p, 'Name3', p3.name3);
      const v = p.ele('Value3');
      textEl(v, 'C1', p3.c1);
      textEl(v, 'C2', p3.c2);
      textEl(v, 'C3', p3.c3);
      v.up();
      p.up();
    }
    coords.up();
    obs.up();
    odl.up();
  }
  docs(el, w);
  el.up();
}

function how(parent: XMLBuilder, h: How): void {
  const el = parent.ele('How');
  docs(el, h);
  // How needs at least one child.
  if (!h.descriptions.length && !h.references.length) textEl(el, 'Description', '');
  el.up();
}

function namesConcepts(el: XMLBuilder, o: { names?: string[]; concepts?: string[] }): void {
  for (const n of o.names ?? []) textEl(el, 'Name', n);
  for (const c of o.concepts ?? []) textEl(el, 'Concept', c);
}

function inference(parent: XMLBuilder, inf: Inference): void {
  const el = parent.ele('Inference', attrs(inf as unknown as Record<string, unknown>, ['probability', 'relation']));
  namesConcepts(el, inf);
  docs(el, inf);
  if (!inf.names?.length && !inf.concepts?.length && !inf.descriptions?.length && !inf.references?.length) {
    textEl(el, 'Description', '');
  }
  el.up();
}

function why(parent: XMLBuilder, w: Why): void {
  const el = parent.ele('Why', attrs(w as unknown as Record<string, unknown>, ['importance', 'expires']));
  namesConcepts(el, w);
  for (const inf of w.inferences) inference(el, inf);
  docs(el, w);
  if (!w.names?.length && !w.concepts?.length && !w.inferences.length && !w.descriptions?.length && !w.references?.length) {
    textEl(el, 'Description', '');
  }
  el.up();
}

function citations(parent: XMLBuilder, c: Citations): void {
  if (c.eventIVORNs.length === 0) return; // a Citations element must cite something
  const el = parent.ele('Citations');
  for (const e of c.eventIVORNs) el.ele('EventIVORN', e.cite !== undefined ? { cite: e.cite } : {}).txt(e.ivorn).up();
  textEl(el, 'Description', c.description);
  el.up();
}

/** Canonical VOEvent 2.0 XML for a model. */
export function build(ev: VOEvent, opts: BuildOptions = {}): string {
  const prefix = opts.prefix ?? 'voe';
  const rootAttrs: Attrs = {};
  if (opts.schemaLocation) {
    rootAttrs['xmlns:xsi'] = XSI_NS;
    rootAttrs['xsi:schemaLocation'] = `${VOEVENT_NS_20} http://www.ivoa.net/xml/VOEvent/VOEvent-v2.0.xsd`;
  }
  rootAttrs.version = '2.0';
  rootAttrs.ivorn = ev.ivorn;
  rootAttrs.role = ev.role;
  const doc = create({ version: '1.0', encoding: 'UTF-8' });
  const root = doc.ele(VOEVENT_NS_20, prefix ? `${prefix}:VOEvent` : 'VOEvent', rootAttrs);
  if (ev.who) who(root, ev.who);
  if (ev.what) what(root, ev.what);
  if (ev.whereWhen) whereWhen(root, ev.whereWhen);
  if (ev.how) how(root, ev.how);
  if (ev.why) why(root, ev.why);
  if (ev.citations) citations(root, ev.citations);
  textEl(root, 'Description', ev.description);
  if (ev.reference) reference(root, ev.reference);
  return doc.end({ prettyPrint: opts.pretty ?? true }) + '\n';
}
