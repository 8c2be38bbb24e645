/**
 * Mutations of real VOEvent packets for the schema agreement test. Each operator
 * changes one thing in a copy of a packet's tree — some changes keep the packet
 * valid (moving a Param into a Group, a valid float spelling), most do not — and
 * the test then asks the official schema, our schema and the fast validator for
 * their verdicts.
 */
import type { XmlElement, XmlNode } from '../voevent/tree.ts';
import { localName } from '../common/xml.ts';

export type Rnd = () => number;

export function clone(el: XmlElement): XmlElement {
  return {
    name: el.name,
    attrs: { ...el.attrs },
    children: el.children.map((c) => (typeof c === 'string' ? c : clone(c))),
  };
}

interface Loc {
  el: XmlElement;
  parent: XmlElement | null;
}

function all(root: XmlElement): Loc[] {
  const out: Loc[] = [];
  const walk = (el: XmlElement, parent: XmlElement | null): void => {
    out.push({ el, parent });
    for (const c of el.children) if (typeof c !== 'string') walk(c, el);
  };
  walk(root, null);
  return out;
}

function pick<T>(rnd: Rnd, xs: readonly T[]): T | undefined {
  return xs.length ? xs[Math.floor(rnd() * xs.length)] : undefined;
}

function named(root: XmlElement, ...names: string[]): Loc[] {
  return all(root).filter((l) => names.includes(localName(l.el.name)));
}

function setText(el: XmlElement, t: string): void {
  el.children = t === '' ? [] : [t];
}

function insertAt(parent: XmlElement, child: XmlNode, index: number): void {
  parent.children.splice(index, 0, child);
}

function contains(a: XmlElement, b: XmlElement): boolean {
  if (a === b) return true;
  return a.children.some((c) => typeof c !== 'string' && contains(c, b));
}

const FLOATS = ['abc', '1,5', '', 'NaN', 'INF', '-INF', '+INF', '1e5', ' 12 ', '+1', '0x1F', '.5', '1.', '.', '1e', '--1', 'NaN ', ' 7', '12deg', '3.14159'];
const DATES = [
  '2020-01-01T00:00:00', '2020-01-01T00:00:00Z', '2020-01-01T00:00:00.123+01:00', '2020-01-01 00:00:00', '2020-01-01',
  '2020-13-01T00:00:00', '2019-02-29T00:00:00', '2020-02-29T12:00:00', '2020-01-01T24:00:00', '2020-01-01T25:00:00',
  ' 2020-01-01T00:00:00', '2020-01-01T00:00:00+15:00', 'yesterday', '', '02020-01-01T00:00:00', '2020-01-01T00:00:60',
];
const ROLES = ['Observation', 'alert', ' test', 'test ', '', 'observation,test', 'prediction', 'utility', 'observation', 'TEST'];
const CITES = ['follow-up', 'Followup', 'retracted', '', 'supersedes', 'retraction', 'followup', 'supersede', ' followup'];
const COORD_IDS = ['UTC-FK5-GEO', 'FK5-UTC-GEO', 'UTC-ICRS-TOPO', 'utc-icrs-topo', '', 'ICRS', 'GPS-ICRS-GEO', 'TDB-FK5-BARY'];
const DATATYPES = ['float', 'int', 'string', 'double', 'Float', 'boolean', ''];
const URIS = ['ivo://a/b#c', 'a#b#c', '%zz', 'http://[::1/', 'http://x/y z', '1:abc', 'ivo://nasa.gsfc.gcn/SWIFT#x', '', '##'];

type Op = (root: XmlElement, rnd: Rnd) => string | null;

export const OPERATORS: Record<string, Op> = {
  removeRequiredAttribute(root, rnd) {
    const cands: [XmlElement, string][] = [];
    if ('version' in root.attrs) cands.push([root, 'version']);
    if ('ivorn' in root.attrs) cands.push([root, 'ivorn']);
    for (const l of named(root, 'Reference')) if ('uri' in l.el.attrs) cands.push([l.el, 'uri']);
    const c = pick(rnd, cands);
    if (!c) return null;
    delete c[0].attrs[c[1]];
    return `removed ${localName(c[0].name)}@${c[1]}`;
  },
  badRole(root, rnd) {
    const r = pick(rnd, ROLES)!;
    root.attrs.role = r;
    return `role=${JSON.stringify(r)}`;
  },
  badVersion(root, rnd) {
    const v = pick(rnd, ['2.0', ' 2.0', '2.0 ', '2.00', '2', '1.1', '', '2.1'])!;
    root.attrs.version = v;
    return `version=${JSON.stringify(v)}`;
  },
  badCite(root, rnd) {
    const e = pick(rnd, named(root, 'EventIVORN'));
    if (!e) return null;
    const c = pick(rnd, CITES)!;
    e.el.attrs.cite = c;
    return `cite=${JSON.stringify(c)}`;
  },
  misplacedElement(root, rnd) {
    const locs = all(root).filter((l) => l.parent);
    const m = pick(rnd, locs);
    if (!m) return null;
    const targets = all(root).filter((l) => !contains(m.el, l.el) && l.el !== m.parent);
    const t = pick(rnd, targets);
    if (!t) return null;
    m.parent!.children.splice(m.parent!.children.indexOf(m.el), 1);
    insertAt(t.el, m.el, Math.floor(rnd() * (t.el.children.length + 1)));
    return `moved <${localName(m.el.name)}> into <${localName(t.el.name)}>`;
  },
  reorderChildren(root, rnd) {
    const l = pick(rnd, all(root).filter((x) => x.el.children.filter((c) => typeof c !== 'string').length > 1));
    if (!l) return null;
    const els = l.el.children.filter((c): c is XmlElement => typeof c !== 'string');
    for (let i = els.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [els[i], els[j]] = [els[j]!, els[i]!];
    }
    l.el.children = els;
    return `reordered children of <${localName(l.el.name)}>`;
  },
  nonNumericValue(root, rnd) {
    const v = pick(rnd, FLOATS)!;
    const attrTargets = [...named(root, 'Why').map((l) => [l.el, 'importance'] as const), ...named(root, 'Inference').map((l) => [l.el, 'probability'] as const)];
    const elTargets = named(root, 'C1', 'C2', 'C3', 'Error2Radius', 'TimeOffset', 'Error');
    if (rnd() < 0.3 && attrTargets.length) {
      const [el, a] = pick(rnd, attrTargets)!;
      el.attrs[a] = v;
      return `${localName(el.name)}@${a}=${JSON.stringify(v)}`;
    }
    const t = pick(rnd, elTargets);
    if (!t) return null;
    setText(t.el, v);
    return `<${localName(t.el.name)}>${JSON.stringify(v)}`;
  },
  probabilityRange(root, rnd) {
    const t = pick(rnd, named(root, 'Inference'));
    if (!t) return null;
    const v = pick(rnd, ['0', '1', '1.0', '1.5', '-0.1', '0.999', '1.00000001', '1.0000001', '-0', '2e-1', '1e1'])!;
    t.el.attrs.probability = v;
    return `probability=${v}`;
  },
  duplicateElement(root, rnd) {
    const l = pick(rnd, all(root).filter((x) => x.parent));
    if (!l) return null;
    const i = l.parent!.children.indexOf(l.el);
    insertAt(l.parent!, clone(l.el), i + 1);
    return `duplicated <${localName(l.el.name)}>`;
  },
  removeElement(root, rnd) {
    const l = pick(rnd, all(root).filter((x) => x.parent));
    if (!l) return null;
    l.parent!.children.splice(l.parent!.children.indexOf(l.el), 1);
    return `removed <${localName(l.el.name)}>`;
  },
  renameElement(root, rnd) {
    const l = pick(rnd, all(root).filter((x) => x.parent));
    if (!l) return null;
    const siblings = l.parent!.children.filter((c): c is XmlElement => typeof c !== 'string').map((c) => localName(c.name));
    const n = pick(rnd, [...siblings, 'Foo', 'param', 'Descripton', 'Value', 'Name'])!;
    l.el.name = n;
    return `renamed to <${n}>`;
  },
  unknownAttribute(root, rnd) {
    const l = pick(rnd, all(root))!;
    const a = pick(rnd, [['foo', '1'], ['xml:lang', 'en'], ['xsi:nil', 'true'], ['xsi:schemaLocation', 'a b'], ['name', 'x'], ['unit', 'deg'], ['id', 'x1']] as const)!;
    if (a[0].startsWith('xsi:')) l.el.attrs['xmlns:xsi'] = 'http://www.w3.org/2001/XMLSchema-instance';
    l.el.attrs[a[0]] = a[1];
    return `<${localName(l.el.name)} ${a[0]}="${a[1]}">`;
  },
  textInElement(root, rnd) {
    const l = pick(rnd, all(root))!;
    const t = pick(rnd, ['x', ' ', '\n  ', '42'])!;
    insertAt(l.el, t, Math.floor(rnd() * (l.el.children.length + 1)));
    return `text ${JSON.stringify(t)} in <${localName(l.el.name)}>`;
  },
  namespaceChange(root, rnd) {
    const k = Math.floor(rnd() * 4);
    if (k === 0) {
      const l = pick(rnd, all(root).filter((x) => x.parent))!;
      l.el.attrs.xmlns = 'http://www.ivoa.net/xml/VOEvent/v2.0';
      return `default namespace on <${localName(l.el.name)}>`;
    }
    if (k === 1) {
      for (const a of Object.keys(root.attrs)) if (a.startsWith('xmlns')) delete root.attrs[a];
      root.name = 'VOEvent';
      return 'root without namespace';
    }
    if (k === 2) {
      const p = root.name.includes(':') ? root.name.split(':')[0]! : null;
      if (p) root.attrs[`xmlns:${p}`] = 'http://www.ivoa.net/xml/VOEvent/v1.1';
      else root.attrs.xmlns = 'http://www.ivoa.net/xml/VOEvent/v1.1';
      return 'root in the 1.1 namespace';
    }
    // an unqualified-by-prefix root with an empty default namespace for children: still valid
    for (const a of Object.keys(root.attrs)) if (a.startsWith('xmlns:voe')) delete root.attrs[a];
    root.name = 'v:VOEvent';
    root.attrs['xmlns:v'] = 'http://www.ivoa.net/xml/VOEvent/v2.0';
    return 'root prefix changed to v:';
  },
  badDate(root, rnd) {
    const d = pick(rnd, DATES)!;
    const dates = named(root, 'Date');
    if (dates.length && rnd() < 0.7) {
      setText(dates[0]!.el, d);
      return `<Date>${JSON.stringify(d)}`;
    }
    const why = pick(rnd, named(root, 'Why'));
    if (!why) return null;
    why.el.attrs.expires = d;
    return `Why@expires=${JSON.stringify(d)}`;
  },
  badEnumeration(root, rnd) {
    if (rnd() < 0.5) {
      const l = pick(rnd, named(root, 'AstroCoordSystem', 'AstroCoords'));
      if (!l) return null;
      const v = pick(rnd, COORD_IDS)!;
      l.el.attrs[localName(l.el.name) === 'AstroCoords' ? 'coord_system_id' : 'id'] = v;
      return `coordinate system ${JSON.stringify(v)}`;
    }
    const l = pick(rnd, named(root, 'Param', 'Field'));
    if (!l) return null;
    const v = pick(rnd, DATATYPES)!;
    l.el.attrs.dataType = v;
    return `dataType=${JSON.stringify(v)}`;
  },
  badUri(root, rnd) {
    const v = pick(rnd, URIS)!;
    const refs = named(root, 'Reference');
    if (refs.length && rnd() < 0.5) {
      pick(rnd, refs)!.el.attrs.uri = v;
      return `Reference@uri=${JSON.stringify(v)}`;
    }
    root.attrs.ivorn = v;
    return `ivorn=${JSON.stringify(v)}`;
  },
  emptyElement(root, rnd) {
    const l = pick(rnd, all(root).filter((x) => x.parent && x.el.children.length));
    if (!l) return null;
    l.el.children = [];
    return `emptied <${localName(l.el.name)}>`;
  },
  wrongWhereWhenId(root, rnd) {
    const l = pick(rnd, named(root, 'WhereWhen'));
    if (!l) return null;
    const v = pick(rnd, ['x', '1x', 'a b', ' ok ', '', 'é', 'x:y', 'Raptor-2455100'])!;
    l.el.attrs.id = v;
    return `WhereWhen@id=${JSON.stringify(v)}`;
  },
};

export const OPERATOR_NAMES = Object.keys(OPERATORS);

/** Apply one operator (chosen by the caller) to a copy of the tree. */
export function mutate(tree: XmlElement, op: string, rnd: Rnd): { tree: XmlElement; what: string } | null {
  const t = clone(tree);
  const what = OPERATORS[op]!(t, rnd);
  return what === null ? null : { tree: t, what: `${op}: ${what}` };
}
