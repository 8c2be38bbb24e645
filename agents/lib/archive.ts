/**
 * Archive queries from agents: XEP-0313 (urn:xmpp:mam:2) on a pubsub node of the
 * service, with the VOXnet field voxnet#ivorn. Building the query and reading the
 * result messages; the Agent sends the IQ and collects the messages by queryid.
 */
import { xml, type Element } from '@xmpp/xml';
import { NS } from '../../common/ns.ts';
import { itemFromElement, type PubsubItem } from './xml.ts';

export const MAM = 'urn:xmpp:mam:2';
export const FORWARD = 'urn:xmpp:forward:0';

export type ArchiveQuery = {
  /** Published at or after / at or before (Date or XEP-0082 date-time). */
  start?: Date | string;
  end?: Date | string;
  /** Publisher's bare JID. */
  with?: string;
  ivorn?: string;
  ids?: string[];
  /** Page size (the service caps it). */
  max?: number;
  /** RSM: the page after this item id, or before it ('' = the newest page). */
  after?: string;
  before?: string;
};

export type ArchivedItem = PubsubItem & { /** When the service stored it (XEP-0203 delay). */ published: string };

export type ArchivePage = {
  items: ArchivedItem[];
  /** The page reaches the end of the result set in its direction. */
  complete: boolean;
  first?: string;
  last?: string;
  count?: number;
  firstIndex?: number;
};

const iso = (t: Date | string) => (typeof t === 'string' ? t : t.toISOString());

export function archiveQueryElement(node: string, queryid: string, q: ArchiveQuery): Element {
  const fields: [string, string[]][] = [];
  if (q.start !== undefined) fields.push(['start', [iso(q.start)]]);
  if (q.end !== undefined) fields.push(['end', [iso(q.end)]]);
  if (q.with !== undefined) fields.push(['with', [q.with]]);
  if (q.ivorn !== undefined) fields.push(['voxnet#ivorn', [q.ivorn]]);
  if (q.ids !== undefined) fields.push(['ids', q.ids]);
  const query = xml('query', { xmlns: MAM, node, queryid });
  if (fields.length) {
    query.append(xml('x', { xmlns: NS.DATA, type: 'submit' },
      xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, MAM)),
      ...fields.map(([v, values]) => xml('field', { var: v }, ...values.map((x) => xml('value', {}, x))))));
  }
  const set = xml('set', { xmlns: NS.RSM });
  if (q.max !== undefined) set.append(xml('max', {}, String(q.max)));
  if (q.after !== undefined) set.append(xml('after', {}, q.after));
  else if (q.before !== undefined) set.append(xml('before', {}, q.before));
  if (set.children.length) query.append(set);
  return query;
}

/** The archived item in a result message for `queryid`, or undefined when the message is not one. */
export function archivedItemOf(msg: Element, queryid: string): ArchivedItem | undefined {
  const result = msg.getChild('result', MAM);
  if (!result || result.attrs.queryid !== queryid) return undefined;
  const fwd = result.getChild('forwarded', FORWARD);
  const items = fwd?.getChild('message')?.getChild('event', NS.EVENT)?.getChild('items');
  const item = items?.getChild('item');
  if (!items || !item) return undefined;
  return { ...itemFromElement(items.attrs.node ?? '', item), published: fwd!.getChild('delay', NS.DELAY)?.attrs.stamp ?? '' };
}

export function archivePageOf(reply: Element, items: ArchivedItem[]): ArchivePage {
  const fin = reply.getChild('fin', MAM);
  const set = fin?.getChild('set', NS.RSM);
  const count = set?.getChildText('count');
  const first = set?.getChild('first');
  return {
    items,
    complete: fin?.attrs.complete === 'true' || fin?.attrs.complete === '1',
    first: first?.text() || undefined,
    last: set?.getChildText('last') || undefined,
    count: count != null ? Number(count) : undefined,
    firstIndex: first?.attrs.index !== undefined ? Number(first.attrs.index) : undefined,
  };
}
