/** Items as agents see them: IVORNs and item ids of VOEvent payloads. */
import { createHash } from 'node:crypto';
import type { Element } from '@xmpp/xml';
import { localName } from '../../common/xml.ts';
import { standaloneXml } from '../../common/xml-standalone.ts';

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
