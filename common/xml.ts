/**
 * Small helpers over element trees of the shape `{ name, attrs, children }`,
 * which both @xmpp/xml's Element and voevent's XmlElement have. Children are
 * matched by local name (any prefix). Text is returned as written (not trimmed):
 * callers that want it trimmed say so with `.trim()`.
 */

type Tree = { name: string; children: readonly unknown[] };

/** Local part of a qualified name: "voe:VOEvent" → "VOEvent". */
export function localName(qname: string): string {
  const i = qname.indexOf(':');
  return i === -1 ? qname : qname.slice(i + 1);
}

function isElement(c: unknown): c is Tree {
  return typeof c === 'object' && c !== null && typeof (c as Tree).name === 'string';
}

/** Child elements, all or those with local name `name`. */
export function childElements<E extends Tree>(el: E, name?: string): E[] {
  const out: E[] = [];
  for (const c of el.children) if (isElement(c) && (name === undefined || localName(c.name) === name)) out.push(c as E);
  return out;
}

/** The first child element with local name `name`. */
export function firstChild<E extends Tree>(el: E | undefined, name: string): E | undefined {
  if (!el) return undefined;
  for (const c of el.children) if (isElement(c) && localName(c.name) === name) return c as E;
  return undefined;
}

/** The element's own text (its text children joined), untrimmed. */
export function textOf(el: Tree): string {
  const ch = el.children;
  if (ch.length === 1 && typeof ch[0] === 'string') return ch[0];
  let s = '';
  for (const c of ch) if (typeof c === 'string') s += c;
  return s;
}

/** The element's own text, trimmed (values such as numbers, times, IVORNs). */
export function trimmedText(el: Tree): string {
  return textOf(el).trim();
}
