/**
 * VOEvent 2.0 schema validation on an already-parsed element tree.
 *
 * This is voevent/schema/VOEvent-v2.0.xsd compiled by hand into tables: the same
 * element declarations, content models (xs:all, repeated xs:choice, the Citations
 * sequence, empty and simple content), attribute declarations and simple types,
 * checked the way libxml2 checks them. It exists because the broker receives every
 * payload already parsed by xmpp.js, and because libxmljs2 recompiles a schema on
 * every validate() call. test/voevent-agreement.test.ts proves that it gives the
 * same valid/invalid verdict as the official schema under libxml2 for the real
 * corpus and for hundreds of mutations of it.
 *
 * The tree is read as a standalone document: namespace prefixes are resolved from
 * the xmlns declarations inside it (plus `opts.namespaces` for prefixes declared on
 * ancestors, e.g. in an XMPP stanza), exactly as if `serialize(tree)` were validated.
 */
import { VOEVENT_NS_20, VOEVENT_NS_11, XSI_NS } from './model.ts';
import type { Issue } from './issues.ts';
import { type XmlElement, LineIndex, sourceOf } from './tree.ts';
import { localName, textOf } from '../common/xml.ts';
import { collapse, isXsdAnyURI, isXsdDateTime, isXsdNCName, parseXsdFloat } from './xsd-types.ts';


const XSD_NS = 'http://www.w3.org/2001/XMLSchema';
const XML_NS = 'http://www.w3.org/XML/1998/namespace';

/** Returns null when the value is valid, else a message fragment. */
type SimpleCheck = (v: string) => string | null;

const xsString: SimpleCheck = () => null;
const xsFloat: SimpleCheck = (v) => (parseXsdFloat(v) === undefined ? `'${v}' is not a valid xs:float` : null);
const xsDateTime: SimpleCheck = (v) =>
  isXsdDateTime(v) ? null : `'${v}' is not a valid xs:dateTime (expected YYYY-MM-DDThh:mm:ss[.s][Z|±hh:mm])`;
const xsAnyURI: SimpleCheck = (v) => (isXsdAnyURI(v) ? null : `'${v}' is not a valid xs:anyURI`);
const xsID: SimpleCheck = (v) => (isXsdNCName(v) ? null : `'${v}' is not a valid xs:ID (an XML NCName)`);
const smallFloat: SimpleCheck = (v) => {
  const f = parseXsdFloat(v);
  if (f === undefined) return `'${v}' is not a valid xs:float`;
  if (!(f >= 0 && f <= 1)) return `'${v}' is outside [0, 1]`;
  return null;
};
function enumeration(values: readonly string[]): SimpleCheck {
  const set = new Set(values);
  return (v) => (set.has(v) ? null : `'${v}' is not one of {${values.join(', ')}}`);
}
const fixedVersion: SimpleCheck = (v) => (collapse(v) === '2.0' ? null : `'${v}' must be '2.0' (fixed by the VOEvent 2.0 schema)`);

interface AttrDecl {
  check: SimpleCheck;
  required?: boolean;
}

type Content = 'all' | 'choice' | 'citations' | 'empty' | 'simple';

interface TypeDecl {
  /** Type name (QName namespace + local), for xsi:type. */
  ns: string;
  type: string;
  content: Content;
  attrs: Record<string, AttrDecl>;
  /** For all/choice/citations: allowed child elements (all unqualified). */
  children?: Record<string, ChildDecl>;
  /** For a repeated xs:choice: whether it may be empty (some member has minOccurs=0). */
  emptiable?: boolean;
  /** For simple content. */
  check?: SimpleCheck;
}
interface ChildDecl {
  decl: TypeDecl;
  /** minOccurs within an xs:all. */
  required?: boolean;
  /** Position within the parent's children table (for the xs:all bitmask); set below. */
  bit?: number;
}

const T = VOEVENT_NS_20;
const builtin = (type: string, check: SimpleCheck): TypeDecl => ({ ns: XSD_NS, type, content: 'simple', attrs: {}, check });
const STRING = builtin('string', xsString);
const FLOAT = builtin('float', xsFloat);
const DATETIME = builtin('dateTime', xsDateTime);
const ANYURI = builtin('anyURI', xsAnyURI);

const DATA_TYPES = ['string', 'float', 'int'] as const;
const ID_VALUES = [
  'TT-ICRS-TOPO', 'UTC-ICRS-TOPO', 'TT-FK5-TOPO', 'UTC-FK5-TOPO', 'GPS-ICRS-TOPO', 'GPS-FK5-TOPO',
  'TT-ICRS-GEO', 'UTC-ICRS-GEO', 'TT-FK5-GEO', 'UTC-FK5-GEO', 'GPS-ICRS-GEO', 'TDB-ICRS-BARY',
  'TDB-FK5-BARY', 'UTC-GEOD-TOPO',
] as const;
const idValues = enumeration(ID_VALUES);
const ROLE_VALUES = ['observation', 'prediction', 'utility', 'test'] as const;
const CITE_VALUES = ['followup', 'supersedes', 'retraction'] as const;

const str = (): AttrDecl => ({ check: xsString });

const REFERENCE: TypeDecl = {
  ns: T, type: 'Reference', content: 'empty',
  attrs: { uri: { check: xsAnyURI, required: true }, type: str(), mimetype: str(), meaning: { check: xsAnyURI } },
};
const opt = (decl: TypeDecl): ChildDecl => ({ decl });
const req = (decl: TypeDecl): ChildDecl => ({ decl, required: true });

const AUTHOR: TypeDecl = {
  ns: T, type: 'Author', content: 'choice', emptiable: false, attrs: {},
  children: {
    title: opt(STRING), shortName: opt(STRING), logoURL: opt(ANYURI), contactName: opt(STRING),
    contactEmail: opt(STRING), contactPhone: opt(STRING), contributor: opt(STRING),
  },
};
// Author is an anonymous type in the schema: xsi:type can never name it.
AUTHOR.type = '';

const WHO: TypeDecl = {
  ns: T, type: 'Who', content: 'all', attrs: {},
  children: { AuthorIVORN: opt(ANYURI), Date: opt(DATETIME), Description: opt(STRING), Reference: opt(REFERENCE), Author: opt(AUTHOR) },
};

const PARAM: TypeDecl = {
  ns: T, type: 'Param', content: 'choice', emptiable: true,
  attrs: { name: str(), ucd: str(), value: str(), unit: str(), dataType: { check: enumeration(DATA_TYPES) }, utype: str() },
  children: { Description: opt(STRING), Reference: opt(REFERENCE), Value: opt(STRING) },
};
const GROUP: TypeDecl = {
  ns: T, type: 'Group', content: 'choice', emptiable: true,
  attrs: { name: str(), type: str() },
  children: { Param: opt(PARAM), Description: opt(STRING), Reference: opt(REFERENCE) },
};
const FIELD: TypeDecl = {
  ns: T, type: 'Field', content: 'choice', emptiable: true,
  attrs: { name: str(), ucd: str(), unit: str(), dataType: { check: enumeration(DATA_TYPES) }, utype: str() },
  children: { Description: opt(STRING), Reference: opt(REFERENCE) },
};
const TR: TypeDecl = { ns: T, type: 'TR', content: 'choice', emptiable: false, attrs: {}, children: { TD: opt(STRING) } };
const DATA: TypeDecl = { ns: T, type: 'Data', content: 'choice', emptiable: false, attrs: {}, children: { TR: opt(TR) } };
const TABLE: TypeDecl = {
  ns: T, type: 'Table', content: 'choice', emptiable: true,
  attrs: { name: str(), type: str() },
  children: { Description: opt(STRING), Reference: opt(REFERENCE), Param: opt(PARAM), Field: opt(FIELD), Data: opt(DATA) },
};
const WHAT: TypeDecl = {
  ns: T, type: 'What', content: 'choice', emptiable: true, attrs: {},
  children: { Param: opt(PARAM), Group: opt(GROUP), Table: opt(TABLE), Description: opt(STRING), Reference: opt(REFERENCE) },
};

const ASTRO_COORD_SYSTEM: TypeDecl = { ns: T, type: 'AstroCoordSystem', content: 'empty', attrs: { id: { check: idValues } } };
const TIME_INSTANT: TypeDecl = {
  ns: T, type: 'TimeInstant', content: 'choice', emptiable: true, attrs: {},
  children: { ISOTime: opt(STRING), TimeOffset: opt(FLOAT), TimeScale: opt(STRING) },
};
const TIME: TypeDecl = {
  ns: T, type: 'Time', content: 'choice', emptiable: true, attrs: { unit: str() },
  children: { TimeInstant: opt(TIME_INSTANT), Error: opt(FLOAT) },
};
const VALUE2: TypeDecl = { ns: T, type: 'Value2', content: 'all', attrs: {}, children: { C1: req(FLOAT), C2: req(FLOAT) } };
const VALUE3: TypeDecl = { ns: T, type: 'Value3', content: 'all', attrs: {}, children: { C1: req(FLOAT), C2: req(FLOAT), C3: req(FLOAT) } };
const POSITION2D: TypeDecl = {
  ns: T, type: 'Position2D', content: 'all', attrs: { unit: str() },
  children: { Name1: opt(STRING), Name2: opt(STRING), Value2: req(VALUE2), Error2Radius: req(FLOAT) },
};
const POSITION3D: TypeDecl = {
  ns: T, type: 'Position3D', content: 'all', attrs: { unit: str() },
  children: { Name1: opt(STRING), Name2: opt(STRING), Name3: opt(STRING), Value3: req(VALUE3) },
};
const ASTRO_COORDS: TypeDecl = {
  ns: T, type: 'AstroCoords', content: 'all', attrs: { coord_system_id: { check: idValues } },
  children: { Time: opt(TIME), Position2D: opt(POSITION2D), Position3D: opt(POSITION3D) },
};
const OBSERVATION_LOCATION: TypeDecl = {
  ns: T, type: 'ObservationLocation', content: 'all', attrs: {},
  children: { AstroCoordSystem: req(ASTRO_COORD_SYSTEM), AstroCoords: req(ASTRO_COORDS) },
};
const OBSERVATORY_LOCATION: TypeDecl = {
  ns: T, type: 'ObservatoryLocation', content: 'all', attrs: { id: str() },
  children: { AstroCoordSystem: opt(ASTRO_COORD_SYSTEM), AstroCoords: opt(ASTRO_COORDS) },
};
const OBS_DATA_LOCATION: TypeDecl = {
  ns: T, type: 'ObsDataLocation', content: 'all', attrs: {},
  children: { ObservatoryLocation: req(OBSERVATORY_LOCATION), ObservationLocation: req(OBSERVATION_LOCATION) },
};
const WHERE_WHEN: TypeDecl = {
  ns: T, type: 'WhereWhen', content: 'choice', emptiable: true, attrs: { id: { check: xsID } },
  children: { ObsDataLocation: opt(OBS_DATA_LOCATION), Description: opt(STRING), Reference: opt(REFERENCE) },
};
const HOW: TypeDecl = {
  ns: T, type: 'How', content: 'choice', emptiable: false, attrs: {},
  children: { Description: opt(STRING), Reference: opt(REFERENCE) },
};
const INFERENCE: TypeDecl = {
  ns: T, type: 'Inference', content: 'choice', emptiable: false,
  attrs: { probability: { check: smallFloat }, relation: str() },
  children: { Name: opt(STRING), Concept: opt(STRING), Description: opt(STRING), Reference: opt(REFERENCE) },
};
const WHY: TypeDecl = {
  ns: T, type: 'Why', content: 'choice', emptiable: false,
  attrs: { importance: { check: xsFloat }, expires: { check: xsDateTime } },
  children: { Name: opt(STRING), Concept: opt(STRING), Inference: opt(INFERENCE), Description: opt(STRING), Reference: opt(REFERENCE) },
};
const EVENT_IVORN: TypeDecl = {
  ns: T, type: 'EventIVORN', content: 'simple', attrs: { cite: { check: enumeration(CITE_VALUES) } }, check: xsString,
};
const CITATIONS: TypeDecl = {
  ns: T, type: 'Citations', content: 'citations', attrs: {},
  children: { EventIVORN: opt(EVENT_IVORN), Description: opt(STRING) },
};
const VOEVENT: TypeDecl = {
  ns: T, type: '', content: 'all',
  attrs: {
    version: { check: fixedVersion, required: true },
    ivorn: { check: xsAnyURI, required: true },
    role: { check: enumeration(ROLE_VALUES) },
  },
  children: {
    Who: opt(WHO), What: opt(WHAT), WhereWhen: opt(WHERE_WHEN), How: opt(HOW), Why: opt(WHY),
    Citations: opt(CITATIONS), Description: opt(STRING), Reference: opt(REFERENCE),
  },
};

// Number each type's children for the xs:all bitmask (each ChildDecl object belongs to one table).
for (const t of [AUTHOR, WHO, PARAM, GROUP, FIELD, TR, DATA, TABLE, WHAT, TIME_INSTANT, TIME, VALUE2, VALUE3, POSITION2D,
  POSITION3D, ASTRO_COORDS, OBSERVATION_LOCATION, OBSERVATORY_LOCATION, OBS_DATA_LOCATION, WHERE_WHEN, HOW, INFERENCE, WHY,
  CITATIONS, VOEVENT]) {
  Object.values(t.children ?? {}).forEach((c, i) => {
    c.bit = i;
  });
}

// ---------------------------------------------------------------------------

export interface FastValidateOptions {
  /** Namespace bindings in scope around the tree (prefix → URI; '' for the default namespace). */
  namespaces?: Record<string, string>;
  /** Stop after this many errors (default 100). */
  maxErrors?: number;
}

interface PathNode {
  parent: PathNode | null;
  /** The element this node names, and its parent element (for the sibling index). */
  el: XmlElement;
  parentEl: XmlElement | null;
}

function pathString(p: PathNode | null, attr?: string): string {
  const parts: string[] = [];
  for (let n = p; n; n = n.parent) {
    const ln = localName(n.el.name);
    let label = ln;
    if (n.parentEl) {
      // Index among same-named siblings, computed only when an error is reported.
      let count = 0;
      let index = 0;
      for (const c of n.parentEl.children) {
        if (typeof c === 'string' || localName(c.name) !== ln) continue;
        count++;
        if (c === n.el) index = count;
      }
      if (count > 1) label = `${ln}[${index}]`;
    }
    parts.push(label);
  }
  return '/' + parts.reverse().join('/') + (attr ? '@' + attr : '');
}

type Scope = Record<string, string>;

class Run {
  readonly issues: Issue[] = [];
  private readonly src: string | undefined;
  private lines?: LineIndex;
  constructor(root: XmlElement, private readonly maxErrors: number) {
    this.src = sourceOf(root);
  }

  full(): boolean {
    return this.issues.length >= this.maxErrors;
  }

  error(el: XmlElement, path: PathNode | null, message: string, attr?: string): void {
    if (this.full()) return;
    let line = 0;
    let column = 0;
    const pos = (el as { pos?: number }).pos;
    if (this.src !== undefined && typeof pos === 'number') {
      let at = pos;
      if (attr) {
        const close = this.src.indexOf('>', pos);
        const k = this.src.slice(pos, close === -1 ? undefined : close).search(new RegExp(`\\s${attr.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*=`));
        if (k !== -1) at = pos + k + 1;
      }
      ({ line, column } = (this.lines ??= new LineIndex(this.src)).at(at));
    }
    this.issues.push({ kind: 'schema', severity: 'error', line, column, path: pathString(path, attr), message });
  }
}

function scopeFor(el: XmlElement, parent: Scope): Scope {
  let scope = parent;
  const attrs = el.attrs;
  for (const k in attrs) {
    if (k.charCodeAt(0) !== 120 || !k.startsWith('xmlns')) continue;
    if (k.length === 5) {
      if (scope === parent) scope = { ...parent };
      scope[''] = attrs[k] ?? '';
    } else if (k.charCodeAt(5) === 58) {
      if (scope === parent) scope = { ...parent };
      scope[k.slice(6)] = attrs[k] ?? '';
    }
  }
  return scope;
}

/** Namespace URI of an element name ('' for none), or undefined if its prefix is unbound. */
function elementNs(name: string, scope: Scope): string | undefined {
  const i = name.indexOf(':');
  if (i === -1) return scope[''] ?? '';
  const prefix = name.slice(0, i);
  if (prefix === 'xml') return XML_NS;
  return scope[prefix];
}

function hasNonWs(t: string): boolean {
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c !== 32 && c !== 10 && c !== 9 && c !== 13) return true;
  }
  return false;
}

function clark(ns: string, local: string): string {
  return ns ? `{${ns}}${local}` : local;
}

function checkAttributes(run: Run, el: XmlElement, decl: TypeDecl, path: PathNode | null, scope: Scope): void {
  const attrs = el.attrs;
  for (const k in attrs) {
    const v = attrs[k];
    if (v === undefined || v === null) continue;
    const colon = k.indexOf(':');
    if (colon === -1) {
      if (k === 'xmlns') continue;
      const ad = decl.attrs[k];
      if (!ad) {
        run.error(el, path, `attribute '${k}' is not allowed on <${localName(el.name)}>`, k);
        continue;
      }
      const msg = ad.check(String(v));
      if (msg) run.error(el, path, msg, k);
      continue;
    }
    const prefix = k.slice(0, colon);
    if (prefix === 'xmlns') continue;
    const local = k.slice(colon + 1);
    const ns = prefix === 'xml' ? XML_NS : scope[prefix];
    if (ns === undefined) {
      run.error(el, path, `namespace prefix '${prefix}' of attribute '${k}' is not declared`, k);
      continue;
    }
    if (ns === XSI_NS) {
      if (local === 'schemaLocation' || local === 'noNamespaceSchemaLocation') continue;
      if (local === 'nil') {
        run.error(el, path, `<${localName(el.name)}> is not nillable (xsi:nil is not allowed)`, k);
        continue;
      }
      if (local === 'type') {
        const tv = collapse(String(v));
        const tc = tv.indexOf(':');
        const tns = tc === -1 ? scope[''] ?? '' : scope[tv.slice(0, tc)];
        const tl = tc === -1 ? tv : tv.slice(tc + 1);
        if (!(decl.type && tns === decl.ns && tl === decl.type)) {
          run.error(el, path, `xsi:type '${tv}' is not the declared type of <${localName(el.name)}>`, k);
        }
        continue;
      }
    }
    run.error(el, path, `attribute '${clark(ns, local)}' is not allowed on <${localName(el.name)}>`, k);
  }
  for (const k in decl.attrs) {
    if (decl.attrs[k]!.required && (attrs[k] === undefined || attrs[k] === null)) {
      run.error(el, path, `required attribute '${k}' is missing`);
    }
  }
}


/** `scope` is the namespace scope of `el` itself (its own declarations applied). */
function checkElement(run: Run, el: XmlElement, decl: TypeDecl, path: PathNode, scope: Scope): void {
  checkAttributes(run, el, decl, path, scope);
  const children = el.children;
  const here = localName(el.name);

  if (decl.content === 'simple') {
    for (const c of children) {
      if (typeof c !== 'string') {
        run.error(el, path, `<${here}> has a simple type: element content (<${localName(c.name)}>) is not allowed`);
        return;
      }
    }
    const msg = decl.check!(textOf(el));
    if (msg) run.error(el, path, msg);
    return;
  }
  if (decl.content === 'empty') {
    for (const c of children) {
      if (typeof c !== 'string') {
        run.error(el, path, `<${here}> must be empty: element content (<${localName(c.name)}>) is not allowed`);
        return;
      }
      if (c.length > 0) {
        run.error(el, path, `<${here}> must be empty: character content (even whitespace) is not allowed`);
        return;
      }
    }
    return;
  }

  // Element-only content.
  const allowed = decl.children!;
  let count = 0;
  let seen = 0; // bitmask over decl.order, for xs:all
  let citationState = 0; // 0: expect EventIVORN, 1: EventIVORN seen, 2: Description seen

  for (const c of children) {
    if (typeof c === 'string') {
      if (hasNonWs(c)) {
        run.error(el, path, `<${here}> has element-only content: text '${c.trim().slice(0, 40)}' is not allowed`);
      }
      continue;
    }
    const ln = localName(c.name);
    const cpath: PathNode = { parent: path, el: c, parentEl: el };
    const cscope = scopeFor(c, scope);
    const ns = elementNs(c.name, cscope);
    if (ns === undefined) {
      run.error(c, cpath, `namespace prefix of <${c.name}> is not declared`);
      continue;
    }
    const cd = ns === '' ? allowed[ln] : undefined;
    if (!cd) {
      const hint = ns !== ''
        ? ` (children of <${here}> are unqualified: <${ln}> must be in no namespace, not ${ns})`
        : ` (allowed: ${Object.keys(allowed).join(', ')})`;
      run.error(c, cpath, `element <${clark(ns, ln)}> is not expected in <${here}>${hint}`);
      continue;
    }
    count++;
    if (decl.content === 'all') {
      const bit = 1 << cd.bit!;
      if (seen & bit) {
        run.error(c, cpath, `element <${ln}> is not expected: <${here}> allows at most one <${ln}>`);
        continue;
      }
      seen |= bit;
    } else if (decl.content === 'citations') {
      if (ln === 'EventIVORN') {
        if (citationState === 2) {
          run.error(c, cpath, `<EventIVORN> is not expected after <Description> in <Citations>`);
          continue;
        }
        citationState = 1;
      } else {
        if (citationState === 0) {
          run.error(c, cpath, `<Description> is not expected before the first <EventIVORN> in <Citations>`);
          continue;
        }
        if (citationState === 2) {
          run.error(c, cpath, `<Citations> allows only one <Description>`);
          continue;
        }
        citationState = 2;
      }
    }
    checkElement(run, c, cd.decl, cpath, cscope);
    if (run.full()) return;
  }

  if (decl.content === 'all') {
    for (const k in allowed) {
      if (allowed[k]!.required && !(seen & (1 << allowed[k]!.bit!))) run.error(el, path, `<${here}> is missing its required child <${k}>`);
    }
  } else if (decl.content === 'choice') {
    if (count === 0 && !decl.emptiable) {
      run.error(el, path, `<${here}> needs at least one child element, one of: ${Object.keys(allowed).join(', ')}`);
    }
  } else if (citationState === 0) {
    run.error(el, path, `<Citations> needs at least one <EventIVORN>`);
  }
}

/**
 * Schema-validate a VOEvent element tree (its root must be the VOEvent element).
 * Returns schema issues only (kind "schema"); see validateElement in index.ts for
 * schema + semantic checks.
 */
export function fastValidateTree(root: XmlElement, opts: FastValidateOptions = {}): Issue[] {
  const run = new Run(root, opts.maxErrors ?? 100);
  const scope = scopeFor(root, opts.namespaces ?? {});
  const ns = elementNs(root.name, scope);
  const ln = localName(root.name);
  const path: PathNode = { parent: null, el: root, parentEl: null };
  if (ns !== VOEVENT_NS_20 || ln !== 'VOEvent') {
    let msg: string;
    if (ns === undefined) msg = `namespace prefix of root element <${root.name}> is not declared`;
    else if (ln === 'VOEvent' && ns === VOEVENT_NS_11) {
      msg = `this is a VOEvent 1.1 packet (namespace ${VOEVENT_NS_11}); the VOEvent 2.0 schema does not accept it`;
    } else if (ln === 'VOEvent' && ns === '') {
      msg = `root <VOEvent> has no namespace; VOEvent 2.0 requires ${VOEVENT_NS_20} (e.g. <voe:VOEvent xmlns:voe="${VOEVENT_NS_20}">)`;
    } else if (ln === 'VOEvent') {
      msg = `root <VOEvent> is in namespace ${ns}, not the VOEvent 2.0 namespace ${VOEVENT_NS_20}`;
    } else {
      msg = `root element <${clark(ns, ln)}> is not {${VOEVENT_NS_20}}VOEvent`;
    }
    run.error(root, path, msg);
    return run.issues;
  }
  checkElement(run, root, VOEVENT, path, scope);
  return run.issues;
}

/** True when the tree is schema-valid VOEvent 2.0 (stops at the first error). */
export function isSchemaValidTree(root: XmlElement, opts: FastValidateOptions = {}): boolean {
  return fastValidateTree(root, { ...opts, maxErrors: 1 }).length === 0;
}
