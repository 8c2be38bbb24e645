/** XML helpers for agents: raw payloads, standalone serialization, IVORNs and item ids. */
import { createHash } from 'node:crypto';
import type { Element } from '@xmpp/xml';

export const NS = {
  PUBSUB: 'http://jabber.org/protocol/pubsub',
  EVENT: 'http://jabber.org/protocol/pubsub#event',
  ERRORS: 'http://jabber.org/protocol/pubsub#errors',
  RSM: 'http://jabber.org/protocol/rsm',
  PING: 'urn:xmpp:ping',
  DELAY: 'urn:xmpp:delay',
  STANZAS: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  DATA: 'jabber:x:data',
};

/** Serialized XML embedded in an outgoing element without reparsing. */
class RawXml {
  constructor(readonly xml: string) {}
  write(writer: (s: string) => void): void {
    writer(this.xml);
  }
  toString(): string {
    return this.xml;
  }
}

export function rawXml(xml: string): Element {
  return new RawXml(xml) as unknown as Element;
}

/**
 * Serialize an element received inside a stanza so that it stands alone: the
 * namespace declarations it inherits from its ancestors are copied onto it.
 *
 * The envelope's default namespace is copied only when the payload root itself
 * is unprefixed. A prefixed root such as <voe:VOEvent> whose unprefixed children
 * must be in no namespace is taken as such, even from a sender that forgot the
 * xmlns="" that says so inside a stanza (see embeddablePayload).
 */
export function standaloneXml(el: Element): string {
  const attrs: Record<string, string> = { ...el.attrs };
  const needed = new Set<string>();
  const collect = (e: Element, root: boolean) => {
    const i = e.name.indexOf(':');
    if (i > 0) needed.add(`xmlns:${e.name.slice(0, i)}`);
    else if (root) needed.add('xmlns');
    for (const k of Object.keys(e.attrs)) {
      const j = k.indexOf(':');
      if (j > 0 && !k.startsWith('xmlns') && !k.startsWith('xml:')) needed.add(`xmlns:${k.slice(0, j)}`);
    }
    for (const c of e.children) if (typeof c !== 'string' && (c as Element).name) collect(c as Element, false);
  };
  collect(el, true);
  for (let p = el.parent; p && needed.size; p = p.parent) {
    for (const k of [...needed]) {
      if (attrs[k] !== undefined) needed.delete(k);
      else if (p.attrs[k] !== undefined) {
        attrs[k] = p.attrs[k]!;
        needed.delete(k);
      }
    }
  }
  const savedAttrs = el.attrs;
  const savedParent = el.parent;
  el.attrs = attrs;
  el.parent = null;
  try {
    return el.toString();
  } finally {
    el.attrs = savedAttrs;
    el.parent = savedParent;
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

/** Local name of a qualified element name. */
export function localName(name: string): string {
  const i = name.indexOf(':');
  return i === -1 ? name : name.slice(i + 1);
}

/** The IVORN of a VOEvent payload element, or undefined for other payloads. */
export function ivornOf(payload: Element | undefined): string | undefined {
  if (!payload || localName(payload.name) !== 'VOEvent') return undefined;
  const iv = payload.attrs.ivorn?.trim();
  return iv || undefined;
}

/**
 * The pubsub item id of a VOEvent: readable (the IVORN's local part, or its last
 * path segment, reduced to [A-Za-z0-9._-]) and unique (a hash of the whole IVORN),
 * so the same packet always gets the same id and republishing it replaces the item.
 */
export function itemIdFor(ivorn: string): string {
  const iv = ivorn.trim();
  const hash = createHash('sha256').update(iv).digest('hex').slice(0, 12);
  const hashAt = iv.indexOf('#');
  const local = hashAt >= 0 ? iv.slice(hashAt + 1) : iv.replace(/\/+$/, '').split('/').pop() ?? '';
  const slug = local.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[_.-]+|[_.-]+$/g, '').slice(0, 80);
  return slug ? `${slug}-${hash}` : hash;
}

/** An item as the service returns it. */
export type PubsubItem = {
  node: string;
  id: string;
  publisher?: string;
  /** The payload element (undefined when the item carries none). */
  payload?: Element;
  /** The payload as standalone XML ('' when none). */
  xml: string;
  /** The IVORN when the payload is a VOEvent. */
  ivorn?: string;
};

export function itemFromElement(node: string, it: Element): PubsubItem {
  const payload = it.getChildElements()[0];
  return { node, id: it.attrs.id ?? '', publisher: it.attrs.publisher, payload, xml: payload ? standaloneXml(payload) : '', ivorn: ivornOf(payload) };
}
