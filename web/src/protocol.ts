/**
 * The XMPP the page speaks, as small functions over one `iq` call: service
 * discovery with node meta-data (XEP-0030/0060 §5), subscriptions (§6.1–6.2,
 * §5.6), items with Result Set Management (§6.5 + XEP-0059), and reading the
 * pubsub event notifications (§7.1.2, §7.2.2). No state, no DOM.
 */
import { xml, type Element } from '@xmpp/xml';
import { NS } from '../../common/ns.ts';
import { XmppIqError } from '../../common/xmpp/iq-errors.ts';

export { XmppIqError };


/** Sends an IQ and resolves with the reply's payload; rejects with an XmppIqError (common/) on type=error. */
export type IqFn = (type: 'get' | 'set', to: string, child: Element) => Promise<Element | undefined>;

export type NodeEntry = { node: string; name?: string };

/** disco#items of the service: the nodes this account may discover. */
export async function listNodes(iq: IqFn, service: string): Promise<NodeEntry[]> {
  const q = await iq('get', service, xml('query', { xmlns: NS.DISCO_ITEMS }));
  return (q?.getChildren('item') ?? [])
    .filter((i) => i.attrs.node)
    .map((i) => ({ node: i.attrs.node!, ...(i.attrs.name ? { name: i.attrs.name } : {}) }));
}

/** Fields of the first data form of an element, var → values. */
export function formFields(parent: Element | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const x = parent?.getChild('x', NS.DATA);
  for (const f of x?.getChildren('field') ?? []) {
    if (f.attrs.var) out[f.attrs.var] = f.getChildren('value').map((v) => v.text());
  }
  return out;
}

export type NodeMeta = { title?: string; type?: string; accessModel?: string; fields: Record<string, string[]> };

/** disco#info of a node: its meta-data form (XEP-0060 §5.4). */
export async function nodeMeta(iq: IqFn, service: string, node: string): Promise<NodeMeta> {
  const q = await iq('get', service, xml('query', { xmlns: NS.DISCO_INFO, node }));
  const fields = formFields(q);
  const one = (k: string) => fields[k]?.[0] || undefined;
  const meta: NodeMeta = { fields };
  const title = one('pubsub#title');
  const type = one('pubsub#type');
  const accessModel = one('pubsub#access_model');
  if (title) meta.title = title;
  if (type) meta.type = type;
  if (accessModel) meta.accessModel = accessModel;
  return meta;
}

/** The account's subscriptions at the service, node → state (XEP-0060 §5.6). */
export async function subscriptions(iq: IqFn, service: string): Promise<Map<string, string>> {
  const r = await iq('get', service, xml('pubsub', { xmlns: NS.PUBSUB }, xml('subscriptions')));
  const out = new Map<string, string>();
  for (const s of r?.getChild('subscriptions')?.getChildren('subscription') ?? []) {
    if (s.attrs.node) out.set(s.attrs.node, s.attrs.subscription ?? 'subscribed');
  }
  return out;
}

/** Subscribes the bare JID; resolves with the subscription state (subscribed, pending, ...). */
export async function subscribe(iq: IqFn, service: string, node: string, bareJid: string): Promise<string> {
  const r = await iq('set', service, xml('pubsub', { xmlns: NS.PUBSUB }, xml('subscribe', { node, jid: bareJid })));
  return r?.getChild('subscription')?.attrs.subscription ?? 'subscribed';
}

export async function unsubscribe(iq: IqFn, service: string, node: string, bareJid: string): Promise<void> {
  await iq('set', service, xml('pubsub', { xmlns: NS.PUBSUB }, xml('unsubscribe', { node, jid: bareJid })));
}

export type RawItem = { id: string; payload?: Element; publisher?: string };

export type Page = {
  /** Oldest first, as the service returns them. */
  items: RawItem[];
  /** RSM <first>, <last>, <count>, first@index when the service said them. */
  first?: string;
  last?: string;
  count?: number;
  firstIndex?: number;
};

/**
 * A page of a node's items with RSM (XEP-0059 §2.5: <before/> empty asks for the
 * last page; <before>ID</before> for the page just before ID; <after>ID</after>
 * for the items after ID).
 */
export async function itemsPage(
  iq: IqFn,
  service: string,
  node: string,
  q: { max: number; before?: string; after?: string },
): Promise<Page> {
  const set = xml('set', { xmlns: NS.RSM }, xml('max', {}, String(q.max)));
  if (q.after !== undefined) set.append(xml('after', {}, q.after));
  else set.append(xml('before', {}, q.before ?? ''));
  const r = await iq('get', service, xml('pubsub', { xmlns: NS.PUBSUB }, xml('items', { node }), set));
  const items = (r?.getChild('items')?.getChildren('item') ?? []).map(readItem);
  const rs = r?.getChild('set', NS.RSM);
  const page: Page = { items };
  const first = rs?.getChild('first');
  if (first) {
    page.first = first.text();
    if (first.attrs.index !== undefined) page.firstIndex = Number(first.attrs.index);
  }
  const last = rs?.getChildText('last');
  if (last) page.last = last;
  const count = rs?.getChildText('count');
  if (count) page.count = Number(count);
  return page;
}

/** One item by id (XEP-0060 §6.5.8); rejects with item-not-found when the node does not hold it. */
export async function getItem(iq: IqFn, service: string, node: string, id: string): Promise<RawItem> {
  const r = await iq('get', service, xml('pubsub', { xmlns: NS.PUBSUB }, xml('items', { node }, xml('item', { id }))));
  const it = r?.getChild('items')?.getChildren('item').find((i) => i.attrs.id === id);
  if (!it) throw new XmppIqError('item-not-found', 'cancel', `no item ${id} on ${node}`);
  return readItem(it);
}

function readItem(i: Element): RawItem {
  const payload = i.getChildElements()[0];
  return { id: i.attrs.id ?? '', ...(payload ? { payload } : {}), ...(i.attrs.publisher ? { publisher: i.attrs.publisher } : {}) };
}

export type PubsubEvent = { service: string; node: string; items: RawItem[]; retracts: string[] };

/** The pubsub event a message carries (items published or retracted), if any. */
export function readEvent(msg: Element): PubsubEvent | undefined {
  const ev = msg.getChild('event', NS.EVENT);
  const items = ev?.getChild('items');
  if (!items?.attrs.node) return undefined;
  return {
    service: msg.attrs.from ?? '',
    node: items.attrs.node,
    items: items.getChildren('item').map(readItem),
    retracts: items.getChildren('retract').map((r) => r.attrs.id ?? '').filter(Boolean),
  };
}
