/** Stored payloads are serialized XML; this embeds them in outgoing elements without reparsing. */
import { xml, type Element } from '@xmpp/xml';
import type { Item } from '../core/types.ts';

export class RawXml {
  constructor(readonly xml: string) {}
  write(writer: (s: string) => void): void {
    writer(this.xml);
  }
  toString(): string {
    return this.xml;
  }
}

export function raw(xml: string): Element {
  return new RawXml(xml) as unknown as Element;
}

/**
 * Serialize a payload element so it stands alone: namespace declarations it
 * inherits from its ancestors (default and prefixed) are copied onto it.
 */
export function serializeStandalone(el: Element): string {
  const copy: Record<string, string> = { ...el.attrs };
  const prefix = el.name.includes(':') ? el.name.slice(0, el.name.indexOf(':')) : undefined;
  const needed = new Set<string>();
  needed.add(prefix ? `xmlns:${prefix}` : 'xmlns');
  collectPrefixes(el, needed);
  for (const k of Object.keys(el.attrs)) if (k.startsWith('xmlns')) needed.delete(k);
  for (let p: Element | null = el.parent; p && needed.size; p = p.parent) {
    for (const k of [...needed]) {
      if (copy[k] !== undefined) needed.delete(k);
      else if (p.attrs[k] !== undefined) {
        copy[k] = p.attrs[k]!;
        needed.delete(k);
      }
    }
  }
  const saved = el.attrs;
  el.attrs = copy;
  try {
    const parent = el.parent;
    el.parent = null;
    const s = el.toString();
    el.parent = parent;
    return s;
  } finally {
    el.attrs = saved;
  }
}

/**
 * Namespace declarations (`xmlns:p`) that names in this subtree use but that the
 * subtree does not declare itself; `declared` holds those declared above.
 */
function collectPrefixes(el: Element, out: Set<string>, declared: ReadonlySet<string> = new Set()): void {
  let here = declared;
  for (const k of Object.keys(el.attrs)) {
    if (k.startsWith('xmlns:')) {
      if (here === declared) here = new Set(declared);
      (here as Set<string>).add(k);
    }
  }
  const use = (prefix: string) => {
    const k = `xmlns:${prefix}`;
    if (prefix !== 'xml' && prefix !== 'xmlns' && !here.has(k)) out.add(k);
  };
  for (const k of Object.keys(el.attrs)) {
    const i = k.indexOf(':');
    if (i > 0 && !k.startsWith('xmlns')) use(k.slice(0, i));
  }
  for (const c of el.children) {
    if (typeof c === 'string' || !(c as Element).name) continue;
    const ch = c as Element;
    const i = ch.name.indexOf(':');
    if (i > 0 && !Object.prototype.hasOwnProperty.call(ch.attrs, `xmlns:${ch.name.slice(0, i)}`)) use(ch.name.slice(0, i));
    collectPrefixes(ch, out, here);
  }
}

/** A stored item as an <item/> element (payload embedded as stored, not reparsed). */
export function itemElement(it: Item, withPayload: boolean): Element {
  const el = xml('item', { id: it.id, publisher: it.publisher });
  if (withPayload && it.payload) el.append(raw(it.payload));
  return el;
}
