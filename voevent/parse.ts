/**
 * Element tree (or text) → typed VOEvent model.
 *
 * fromElement works on any `{name, attrs, children}` tree — an @xmpp/xml Element
 * as the broker receives it, or one from parseTree — so a payload is never parsed
 * twice. Elements are matched by local name, whatever prefix or namespace the
 * packet uses, so VOEvent 2.0, VOEvent 1.1 (STC-namespaced WhereWhen) and
 * namespace-less packets all read into the same model. parse() does not validate:
 * use validate() for that.
 */
import type {
  Author, Citations, EventTime, Field, Group, How, Inference, Param, Position3D, Reference,
  SkyPosition, Table, VOEvent, What, WhereWhen, Who, Why,
} from './model.ts';
import { type TreeOptions, type XmlElement, parseTree } from './tree.ts';
import { childElements, firstChild, localName, trimmedText } from '../common/xml.ts';


export class VOEventParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VOEventParseError';
  }
}




function kidText(el: XmlElement | undefined, name: string): string | undefined {
  const k = firstChild(el, name);
  return k ? trimmedText(k) : undefined;
}

/** A finite number from text, or undefined. Accepts the XSD spellings INF/-INF/NaN as non-finite. */
function num(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const t = s.trim();
  if (t === '') return undefined;
  const n = Number(t.endsWith('.') ? t.slice(0, -1) : t);
  return Number.isFinite(n) ? n : undefined;
}

/** Copy the listed attributes that are present. */
function pick<K extends string>(el: XmlElement, names: readonly K[]): Partial<Record<K, string>> {
  const out: Partial<Record<K, string>> = {};
  for (const n of names) {
    const v = el.attrs[n];
    if (v !== undefined && v !== null) out[n] = String(v);
  }
  return out;
}

function reference(el: XmlElement): Reference {
  return { uri: el.attrs.uri ?? '', ...pick(el, ['type', 'mimetype', 'meaning'] as const) };
}

/** Descriptions and References of an element, added only when present. */
function docs<T extends object>(el: XmlElement, target: T): T & { descriptions?: string[]; references?: Reference[] } {
  const d = childElements(el, 'Description').map(trimmedText);
  const r = childElements(el, 'Reference').map(reference);
  const out = target as T & { descriptions?: string[]; references?: Reference[] };
  if (d.length) out.descriptions = d;
  if (r.length) out.references = r;
  return out;
}

function param(el: XmlElement): Param {
  // Hot path (a packet has dozens of Params): direct reads, one pass over children.
  const a = el.attrs;
  const p: Param = {};
  if (a.name !== undefined) p.name = a.name;
  if (a.value !== undefined) p.value = a.value;
  if (a.unit !== undefined) p.unit = a.unit;
  if (a.ucd !== undefined) p.ucd = a.ucd;
  if (a.dataType !== undefined) p.dataType = a.dataType;
  if (a.utype !== undefined) p.utype = a.utype;
  for (const c of el.children) {
    if (typeof c === 'string') continue;
    const ln = localName(c.name);
    if (ln === 'Value') {
      if (p.value === undefined) p.value = trimmedText(c);
    } else if (ln === 'Description') (p.descriptions ??= []).push(trimmedText(c));
    else if (ln === 'Reference') (p.references ??= []).push(reference(c));
  }
  return p;
}

function group(el: XmlElement): Group {
  const g: Group = { params: [] };
  if (el.attrs.name !== undefined) g.name = el.attrs.name;
  if (el.attrs.type !== undefined) g.type = el.attrs.type;
  // Key order as the other readers produce it: name, type, params, descriptions, references.
  const out: Group = { ...g };
  let descriptions: string[] | undefined;
  let references: Reference[] | undefined;
  for (const c of el.children) {
    if (typeof c === 'string') continue;
    const ln = localName(c.name);
    if (ln === 'Param') out.params.push(param(c));
    else if (ln === 'Description') (descriptions ??= []).push(trimmedText(c));
    else if (ln === 'Reference') (references ??= []).push(reference(c));
  }
  if (descriptions) out.descriptions = descriptions;
  if (references) out.references = references;
  return out;
}

function field(el: XmlElement): Field {
  return docs(el, pick(el, ['name', 'ucd', 'unit', 'dataType', 'utype'] as const));
}

function table(el: XmlElement): Table {
  const rows: string[][] = [];
  for (const data of childElements(el, 'Data')) for (const tr of childElements(data, 'TR')) rows.push(childElements(tr, 'TD').map(trimmedText));
  return docs(el, {
    ...pick(el, ['name', 'type'] as const),
    params: childElements(el, 'Param').map(param),
    fields: childElements(el, 'Field').map(field),
    rows,
  });
}

function what(el: XmlElement): What {
  const w: What = { params: [], groups: [], tables: [] };
  let descriptions: string[] | undefined;
  let references: Reference[] | undefined;
  for (const c of el.children) {
    if (typeof c === 'string') continue;
    switch (localName(c.name)) {
      case 'Param': w.params.push(param(c)); break;
      case 'Group': w.groups.push(group(c)); break;
      case 'Table': w.tables.push(table(c)); break;
      case 'Description': (descriptions ??= []).push(trimmedText(c)); break;
      case 'Reference': (references ??= []).push(reference(c)); break;
    }
  }
  if (descriptions) w.descriptions = descriptions;
  if (references) w.references = references;
  return w;
}

function author(el: XmlElement): Author {
  const a: Author = {};
  for (const k of ['title', 'shortName', 'logoURL', 'contactName', 'contactEmail', 'contactPhone'] as const) {
    const v = kidText(el, k);
    if (v !== undefined) a[k] = v;
  }
  const contributors = childElements(el, 'contributor').map(trimmedText);
  if (contributors.length) a.contributors = contributors;
  return a;
}

function who(el: XmlElement): Who {
  const w: Who = {};
  const ai = kidText(el, 'AuthorIVORN');
  if (ai !== undefined) w.authorIVORN = ai;
  const date = kidText(el, 'Date');
  if (date !== undefined) w.date = date;
  const desc = kidText(el, 'Description');
  if (desc !== undefined) w.description = desc;
  const ref = firstChild(el, 'Reference');
  if (ref) w.reference = reference(ref);
  const a = firstChild(el, 'Author');
  if (a) w.author = author(a);
  return w;
}

const TO_DEG: Record<string, number> = { deg: 1, degree: 1, degrees: 1, rad: 180 / Math.PI, arcmin: 1 / 60, arcsec: 1 / 3600 };

function whereWhen(el: XmlElement): WhereWhen {
  const ww: WhereWhen = {};
  if (el.attrs.id !== undefined) ww.id = el.attrs.id;
  const odl = firstChild(el, 'ObsDataLocation');
  const observatory = firstChild(odl, 'ObservatoryLocation');
  if (observatory?.attrs.id !== undefined) ww.observatoryId = observatory.attrs.id;
  const obs = firstChild(odl, 'ObservationLocation');
  const coords = firstChild(obs, 'AstroCoords');
  const system = firstChild(obs, 'AstroCoordSystem')?.attrs.id ?? coords?.attrs.coord_system_id;
  if (system !== undefined) ww.coordSystemId = system;

  const time = firstChild(coords, 'Time');
  if (time) {
    const t: EventTime = {};
    const ti = firstChild(time, 'TimeInstant');
    const iso = kidText(ti, 'ISOTime');
    if (iso !== undefined) t.iso = iso;
    const off = num(kidText(ti, 'TimeOffset'));
    if (off !== undefined) t.offset = off;
    const scale = kidText(ti, 'TimeScale');
    if (scale !== undefined) t.scale = scale;
    const err = num(kidText(time, 'Error'));
    if (err !== undefined) t.error = err;
    if (time.attrs.unit !== undefined) t.unit = time.attrs.unit;
    ww.time = t;
  }

  const p2 = firstChild(coords, 'Position2D');
  if (p2) {
    const factor = TO_DEG[(p2.attrs.unit ?? 'deg').trim().toLowerCase()] ?? 1;
    const v2 = firstChild(p2, 'Value2');
    const ra = num(kidText(v2, 'C1'));
    const dec = num(kidText(v2, 'C2'));
    const err = num(kidText(p2, 'Error2Radius'));
    if (ra !== undefined && dec !== undefined) {
      const pos: SkyPosition = { ra: ra * factor, dec: dec * factor, error: (err ?? 0) * factor };
      const n1 = kidText(p2, 'Name1');
      const n2 = kidText(p2, 'Name2');
      if (n1 !== undefined) pos.name1 = n1;
      if (n2 !== undefined) pos.name2 = n2;
      ww.position = pos;
    }
  }
  const p3 = firstChild(coords, 'Position3D');
  if (p3) {
    const v3 = firstChild(p3, 'Value3');
    const c1 = num(kidText(v3, 'C1'));
    const c2 = num(kidText(v3, 'C2'));
    const c3 = num(kidText(v3, 'C3'));
    if (c1 !== undefined && c2 !== undefined && c3 !== undefined) {
      const pos: Position3D = { c1, c2, c3 };
      if (p3.attrs.unit !== undefined) pos.unit = p3.attrs.unit;
      for (const k of ['Name1', 'Name2', 'Name3'] as const) {
        const v = kidText(p3, k);
        if (v !== undefined) pos[k === 'Name1' ? 'name1' : k === 'Name2' ? 'name2' : 'name3'] = v;
      }
      ww.position3d = pos;
    }
  }
  return docs(el, ww);
}

function how(el: XmlElement): How {
  return { descriptions: childElements(el, 'Description').map(trimmedText), references: childElements(el, 'Reference').map(reference) };
}

function namesConcepts<T extends object>(el: XmlElement, target: T): T & { names?: string[]; concepts?: string[] } {
  const out = target as T & { names?: string[]; concepts?: string[] };
  const names = childElements(el, 'Name').map(trimmedText);
  const concepts = childElements(el, 'Concept').map(trimmedText);
  if (names.length) out.names = names;
  if (concepts.length) out.concepts = concepts;
  return out;
}

function inference(el: XmlElement): Inference {
  const inf: Inference = {};
  const p = num(el.attrs.probability);
  if (p !== undefined) inf.probability = p;
  if (el.attrs.relation !== undefined) inf.relation = el.attrs.relation;
  return docs(el, namesConcepts(el, inf));
}

function why(el: XmlElement): Why {
  const w: Why = { inferences: [] };
  const imp = num(el.attrs.importance);
  if (imp !== undefined) w.importance = imp;
  if (el.attrs.expires !== undefined) w.expires = el.attrs.expires;
  namesConcepts(el, w);
  w.inferences = childElements(el, 'Inference').map(inference);
  return docs(el, w);
}

function citations(el: XmlElement): Citations {
  const c: Citations = {
    eventIVORNs: childElements(el, 'EventIVORN').map((e) => (e.attrs.cite !== undefined ? { ivorn: trimmedText(e), cite: e.attrs.cite } : { ivorn: trimmedText(e) })),
  };
  const d = kidText(el, 'Description');
  if (d !== undefined) c.description = d;
  return c;
}

/** Read a VOEvent element tree (any namespace prefix, VOEvent 2.0 or 1.1) into the model. */
export function fromElement(root: XmlElement): VOEvent {
  if (localName(root.name) !== 'VOEvent') {
    throw new VOEventParseError(`root element is <${root.name}>, not <VOEvent>`);
  }
  const ev: VOEvent = {
    ivorn: (root.attrs.ivorn ?? '').trim(),
    role: root.attrs.role ?? 'observation',
    version: (root.attrs.version ?? '').trim(),
  };
  const w = firstChild(root, 'Who');
  if (w) ev.who = who(w);
  const wt = firstChild(root, 'What');
  if (wt) ev.what = what(wt);
  const ww = firstChild(root, 'WhereWhen');
  if (ww) ev.whereWhen = whereWhen(ww);
  const h = firstChild(root, 'How');
  if (h) ev.how = how(h);
  const y = firstChild(root, 'Why');
  if (y) ev.why = why(y);
  const c = firstChild(root, 'Citations');
  if (c) ev.citations = citations(c);
  const d = kidText(root, 'Description');
  if (d !== undefined) ev.description = d;
  const r = firstChild(root, 'Reference');
  if (r) ev.reference = reference(r);
  return ev;
}

/** Alias of fromElement. */
export const parseElement = fromElement;

/** Parse VOEvent text (safely: no DTD, size-limited) into the model. Does not validate. */
export function parse(xml: string | Uint8Array, opts: TreeOptions = {}): VOEvent {
  return fromElement(parseTree(xml, opts));
}
