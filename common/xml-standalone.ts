/**
 * XML moved between documents without reparsing: stored payloads embedded in
 * outgoing stanzas (raw), a payload received inside a stanza serialized so that
 * it stands alone (standaloneXml), and standalone text made safe to embed
 * (embeddablePayload).
 */
import type { Element } from '@xmpp/xml';

/** Serialized XML that xmpp.js writes as is. */
export class RawXml {
  constructor(readonly xml: string) {}
  write(writer: (s: string) => void): void {
    writer(this.xml);
  }
  toString(): string {
    return this.xml;
  }
}

/** Serialized XML as an element child (written verbatim, never reparsed). */
export function rawXml(xml: string): Element {
  return new RawXml(xml) as unknown as Element;
}

/**
 * Serialize an element received inside a stanza so that it stands alone: the
 * namespace declarations it inherits from its ancestors (its default namespace,
 * and every prefix its subtree uses without declaring) are copied onto it.
 *
 * The envelope's default namespace is copied only when the root itself is
 * unprefixed: a prefixed root such as <voe:VOEvent> whose unprefixed children
 * must be in no namespace is taken as such, even from a sender that forgot the
 * xmlns="" that says so inside a stanza (see embeddablePayload).
 */
export function standaloneXml(el: Element): string {
  const copy: Record<string, string> = { ...el.attrs };
  const i = el.name.indexOf(':');
  const needed = new Set<string>();
  needed.add(i > 0 ? `xmlns:${el.name.slice(0, i)}` : 'xmlns');
  collectPrefixes(el, needed);
  for (const k of Object.keys(el.attrs)) if (k.startsWith('xmlns')) needed.delete(k);
  for (let p: Element | null = el.parent; p && needed.size; p = p.parent) {
    for (const k of [...needed]) {
      if (p.attrs[k] !== undefined) {
        copy[k] = p.attrs[k]!;
        needed.delete(k);
      }
    }
  }
  const savedAttrs = el.attrs;
  const savedParent = el.parent;
  el.attrs = copy;
  el.parent = null;
  try {
    return el.toString();
  } finally {
    el.attrs = savedAttrs;
    el.parent = savedParent;
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
    const j = k.indexOf(':');
    if (j > 0 && !k.startsWith('xmlns')) use(k.slice(0, j));
  }
  for (const c of el.children) {
    if (typeof c === 'string' || !(c as Element).name) continue;
    const ch = c as Element;
    const j = ch.name.indexOf(':');
    if (j > 0 && !Object.prototype.hasOwnProperty.call(ch.attrs, `xmlns:${ch.name.slice(0, j)}`)) use(ch.name.slice(0, j));
    collectPrefixes(ch, out, here);
  }
}

const START_TAG = /^(\s*<([A-Za-z_][\w.-]*)(?::[A-Za-z_][\w.-]*)?)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)(\s*\/?>)/;

/**
 * Payload XML ready to sit inside a stanza. A standalone document whose root has
 * a prefix and no default namespace declaration (like <voe:VOEvent>, whose
 * children are in no namespace) would, once inside <item> under
 * <pubsub xmlns="...">, put its unprefixed children into the pubsub namespace:
 * xmlns="" on the root keeps them in none. Other payloads are returned as they are.
 */
export function embeddablePayload(xml: string): string {
  const m = START_TAG.exec(xml);
  if (!m || !m[1]!.includes(':')) return xml;
  if (/\sxmlns\s*=/.test(m[3]!)) return xml;
  return `${m[1]} xmlns=""${m[3]}${m[4]}${xml.slice(m[0].length)}`;
}
