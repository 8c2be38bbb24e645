/**
 * XEP-0060 over stanzas: turns IQs and messages addressed to the service into
 * calls of the core, and results or PubsubErrors back into stanzas. It decides
 * nothing itself: every permission question goes to the core.
 */
import { xml, type Element } from '@xmpp/xml';
import { NS } from '../../common/ns.ts';
import { parseBoolean } from '../../common/boolean.ts';
import { authorizationRequest, buildForm, configForm, configFromFields, readForm, splitChildren, type FormField } from './forms.ts';
import { readSubscriptionOptions, subscriptionOptionsForm } from './subscription-form.ts';
import { errorElement } from './errors.ts';
import { isStorageFull, isStorageUnavailable } from '../../common/storage-full.ts';
import { rawXml, standaloneXml } from '../../common/xml-standalone.ts';
import { handleMamQuery, mamForm, MAM, MAM_EXTENDED } from '../xep0313/mam.ts';
import { EVENT_COMMAND, eventCommandForm, eventCommandResult } from '../threads/command.ts';
import type { ThreadAnswer } from '../threads/keeper.ts';
import { PubsubError, errors } from '../../pubsub/errors.ts';
import { CONFIG_FIELDS, fieldVar, formatConfigValue } from '../../pubsub/node-config.ts';
import { bareJid } from '../../pubsub/jid.ts';
import type { PubsubService, PublishInput } from '../core/service.ts';
import type { Actor, Item, NodeConfig, RequestTrace } from '../../pubsub/types.ts';
import type { ItemQuery } from '../store/store.ts';

/** The pubsub#features this service implements, and nothing else. */
export const PUBSUB_FEATURES = [
  'access-authorize',
  'access-open',
  'access-whitelist',
  'auto-create',
  'collections',
  'config-node',
  'create-and-configure',
  'create-nodes',
  'delete-items',
  'delete-nodes',
  'get-pending',
  'instant-nodes',
  'item-ids',
  'last-published',
  'manage-affiliations',
  'manage-subscriptions',
  'member-affiliation',
  'meta-data',
  'modify-affiliations',
  'multi-items',
  'multi-subscribe',
  'outcast-affiliation',
  'persistent-items',
  'publish',
  'publish-only-affiliation',
  'publish-options',
  'publisher-affiliation',
  'purge-nodes',
  'retract-items',
  'retrieve-affiliations',
  'retrieve-default',
  'retrieve-default-sub',
  'retrieve-items',
  'retrieve-subscriptions',
  'rsm',
  'subscribe',
  'subscription-notifications',
  'subscription-options',
] as const;

export const SERVICE_FEATURES = [
  NS.DISCO_INFO,
  NS.DISCO_ITEMS,
  NS.PUBSUB,
  NS.RSM,
  NS.COMMANDS,
  NS.PING,
  MAM,
  MAM_EXTENDED,
  ...PUBSUB_FEATURES.map((f) => `${NS.PUBSUB}#${f}`),
];

export type HandlerOptions = {
  domain: string;
  name?: string;
  /** Send a stanza (authorization requests from the get-pending command). */
  send: (el: Element) => void;
  /** Largest page of items returned without RSM. */
  maxPage?: number;
  /** Payload bytes in one items reply (below the server's stanza limit for components). */
  maxReplyBytes?: number;
  /** Archive page when a query gives no RSM <max/> (default 50). */
  archivePage?: number;
  /** Event threads (the urn:voxnet:event command), when the broker keeps them. */
  threads?: { query(actor: Actor, ref: string): ThreadAnswer };
  /**
   * An exception that is not a PubsubError (a bug, SQLITE_FULL...): log it, with its
   * stack. The remote entity only reads a generic internal-server-error. Default: stderr.
   */
  onInternalError?: (err: unknown, stanza: Element) => void;
  /** The store is full (SQLITE_FULL, ENOSPC): called when refusals start, then at most every 10 minutes. Default: stderr. */
  onStorageFull?: (err: unknown) => void;
};

/** What a publisher reads when the broker's data directory is full (it retries later: type wait). */
export const STORAGE_FULL_TEXT = "the broker's storage is full: nothing was stored; retry later";

/** What a publisher reads when the broker's database server cannot be reached (it retries later: type wait). */
export const STORAGE_UNAVAILABLE_TEXT = "the broker's database is unavailable: nothing was stored; retry later";

/** What the remote entity reads when the service fails on its own account (details go to the log only). */
export const INTERNAL_ERROR_TEXT = 'internal error in the publish-subscribe service (logged there)';

function actorOf(stanza: Element, request?: RequestTrace): Actor {
  const from = stanza.attrs.from ?? '';
  return { jid: from, bare: bareJid(from), request };
}

function result(iq: Element, ...children: Element[]): Element {
  return xml('iq', { type: 'result', id: iq.attrs.id, to: iq.attrs.from, from: iq.attrs.to }, ...children);
}

export function errorReply(stanza: Element, err: PubsubError): Element {
  return xml(stanza.name, { type: 'error', id: stanza.attrs.id, to: stanza.attrs.from, from: stanza.attrs.to }, errorElement(err));
}

/** Keep as many items as fit in `maxBytes` of payload (at least one), from the oldest or the newest end. */
function fitPage<P extends { items: Item[]; firstIndex: number }>(page: P, maxBytes: number, keepNewest: boolean): P {
  let bytes = 0;
  let n = 0;
  const order = keepNewest ? [...page.items].reverse() : page.items;
  for (const it of order) {
    const size = Buffer.byteLength(it.payload) + 200 + it.id.length + it.publisher.length;
    if (n > 0 && bytes + size > maxBytes) break;
    bytes += size;
    n++;
  }
  if (n === page.items.length) return page;
  return keepNewest
    ? { ...page, items: page.items.slice(page.items.length - n), firstIndex: page.firstIndex + page.items.length - n }
    : { ...page, items: page.items.slice(0, n) };
}

export class Xep0060Handler {
  private readonly maxPage: number;
  private readonly maxReplyBytes: number;
  /** When the last storage-full warning went out (one per episode, repeated every 10 minutes while it lasts). */
  private storageFullWarned = -Infinity;
  /** When the last database-unavailable error was logged (at most one a minute while it lasts). */
  private unavailableLogged = -Infinity;

  constructor(
    private readonly service: PubsubService,
    private readonly opts: HandlerOptions,
  ) {
    this.maxPage = opts.maxPage ?? 500;
    this.maxReplyBytes = opts.maxReplyBytes ?? 400 * 1024;
  }

  /**
   * Reply to an IQ get/set (undefined for result/error IQs, which need none).
   * With `request`, the dispatch of every notification the IQ caused is added to
   * `request.dispatched` (the broker acknowledges a publish once they are routed).
   */
  handleIq(iq: Element, request?: RequestTrace): Element | undefined {
    const type = iq.attrs.type;
    if (type !== 'get' && type !== 'set') return undefined;
    const actor = actorOf(iq, request);
    try {
      const children = iq.getChildElements();
      if (children.length !== 1) throw new PubsubError('bad-request', { text: 'an IQ carries exactly one child' });
      const child = children[0]!;
      const ns = child.attrs.xmlns;
      if (child.name === 'pubsub' && ns === NS.PUBSUB) return this.pubsub(iq, child, type, actor);
      if (child.name === 'pubsub' && ns === NS.OWNER) return this.owner(iq, child, type, actor);
      if (child.name === 'query' && ns === NS.DISCO_INFO && type === 'get') return this.discoInfo(iq, child, actor);
      if (child.name === 'query' && ns === NS.DISCO_ITEMS && type === 'get') return this.discoItems(iq, child, actor);
      if (child.name === 'command' && ns === NS.COMMANDS && type === 'set') return this.command(iq, child, actor);
      if (child.name === 'ping' && ns === NS.PING && type === 'get') return result(iq);
      if (child.name === 'query' && ns === MAM) {
        if (type === 'get') return mamForm(iq);
        const { domain, send } = this.opts;
        return handleMamQuery(this.service, { domain, send, maxPage: this.maxPage, defaultPage: Math.min(this.opts.archivePage ?? 50, this.maxPage) }, iq, child, actorOf(iq));
      }
      throw new PubsubError('service-unavailable', { text: `${child.name} in ${ns ?? 'no namespace'} is not served here` });
    } catch (e) {
      return errorReply(iq, this.toPubsubError(e, iq));
    }
  }

  /** Messages: owners answering subscription authorization forms. Returns an error reply when refused. */
  handleMessage(msg: Element, request?: RequestTrace): Element | undefined {
    if (msg.attrs.type === 'error') return undefined;
    const x = msg.getChild('x', NS.DATA);
    const form = readForm(x);
    if (!form || form.formType !== NS.SUB_AUTH) return undefined;
    try {
      if (form.type !== 'submit') return undefined;
      const f = form.fields;
      const node = f['pubsub#node']?.[0];
      const jid = f['pubsub#subscriber_jid']?.[0];
      const allowRaw = f['pubsub#allow']?.[0];
      if (!node || !jid || allowRaw === undefined) throw errors.badRequest(undefined, 'authorization form lacks node, subscriber_jid or allow');
      const allow = parseBoolean(allowRaw) === true;
      this.service.authorize(actorOf(msg, request), node, jid, f['pubsub#subid']?.[0], allow);
      return undefined;
    } catch (e) {
      return errorReply(msg, this.toPubsubError(e, msg));
    }
  }

  /** A refusal as it is; anything else logged here and answered with a generic text. */
  private toPubsubError(e: unknown, stanza: Element): PubsubError {
    if (e instanceof PubsubError) return e;
    if (isStorageFull(e)) {
      if (Date.now() - this.storageFullWarned > 600_000) {
        this.storageFullWarned = Date.now();
        const report = this.opts.onStorageFull ?? ((err: unknown) => console.warn('voxnet pubsub: storage full', err));
        try {
          report(e);
        } catch {
          /* as below */
        }
      }
      return new PubsubError('resource-constraint', { type: 'wait', text: STORAGE_FULL_TEXT });
    }
    const report = this.opts.onInternalError ?? ((err: unknown) => console.error('voxnet pubsub: internal error', err));
    if (isStorageUnavailable(e)) {
      // A database server that went away (PostgreSQL): nothing was stored; the store connects again by itself.
      if (Date.now() - this.unavailableLogged > 60_000) {
        this.unavailableLogged = Date.now();
        try {
          report(e, stanza);
        } catch {
          /* as below */
        }
      }
      return new PubsubError('internal-server-error', { type: 'wait', text: STORAGE_UNAVAILABLE_TEXT });
    }
    try {
      report(e, stanza);
    } catch {
      /* a failing logger must not turn into a second failure */
    }
    return new PubsubError('internal-server-error', { text: INTERNAL_ERROR_TEXT });
  }

  // ------------------------------------------------------------------ pubsub namespace

  private pubsub(iq: Element, ps: Element, type: string, actor: Actor): Element {
    const kids = ps.getChildElements();
    const first = kids[0];
    if (!first) throw errors.badRequest(undefined, 'empty pubsub element');
    const set = type === 'set';
    switch (first.name) {
      case 'create': {
        requireType(set, 'create');
        const configure = ps.getChild('configure');
        const form = readForm(configure?.getChild('x', NS.DATA));
        if (form && form.formType && form.formType !== NS.NODE_CONFIG) throw errors.badRequest(undefined, 'configure form has the wrong FORM_TYPE');
        const { fields, children } = splitChildren(form?.fields);
        const node = this.service.createNode(actor, first.attrs.node || undefined, fields ? configFromFields(fields) : undefined, children);
        return result(iq, xml('pubsub', { xmlns: NS.PUBSUB }, xml('create', { node })));
      }
      case 'publish': {
        requireType(set, 'publish');
        const node = first.attrs.node;
        const items: PublishInput[] = first.getChildren('item').map((it) => {
          const payloads = it.getChildElements();
          if (payloads.length > 1) throw errors.badRequest('invalid-payload', 'an item carries one payload element');
          return { id: it.attrs.id, payload: payloads[0] ? standaloneXml(payloads[0]) : '', parsed: payloads[0] };
        });
        const po = readForm(ps.getChild('publish-options')?.getChild('x', NS.DATA));
        if (po && po.formType !== NS.PUBLISH_OPTIONS) throw errors.badRequest(undefined, 'publish-options form has the wrong FORM_TYPE');
        const stored = this.service.publish(actor, node!, items, po ? configFromFields(po.fields, { precondition: true }) : undefined);
        // A transient notification-only publish has no item: the reply names the node only (§7.1.2).
        return result(iq, xml('pubsub', { xmlns: NS.PUBSUB }, xml('publish', { node }, ...stored.map((s) => xml('item', { id: s.id })))));
      }
      case 'retract': {
        requireType(set, 'retract');
        const ids = first.getChildren('item').map((i) => i.attrs.id ?? '');
        const notify = parseBoolean(first.attrs.notify) === true;
        this.service.retract(actor, first.attrs.node!, ids, notify);
        return result(iq);
      }
      case 'subscribe': {
        requireType(set, 'subscribe');
        const jid = first.attrs.jid;
        if (!jid) throw errors.badRequest('jid-required');
        // Subscribe and configure (§6.3.7): the options form rides along.
        const optForm = readForm(ps.getChild('options')?.getChild('x', NS.DATA));
        const options = optForm ? readSubscriptionOptions(this.service.defaultSubscriptionOptions(actor), optForm) : undefined;
        const sub = this.service.subscribe(actor, first.attrs.node!, jid, options);
        queueMicrotask(() => this.service.afterSubscribe(sub));
        const reply = xml('pubsub', { xmlns: NS.PUBSUB }, xml('subscription', { node: sub.node, jid: sub.jid, subid: sub.subid, subscription: sub.state }));
        if (optForm) reply.append(xml('options', { node: sub.node, jid: sub.jid, subid: sub.subid }, subscriptionOptionsForm(sub.options, 'result')));
        return result(iq, reply);
      }
      case 'unsubscribe': {
        requireType(set, 'unsubscribe');
        if (!first.attrs.jid) throw errors.badRequest('jid-required');
        this.service.unsubscribe(actor, first.attrs.node!, first.attrs.jid, first.attrs.subid);
        return result(iq);
      }
      case 'subscriptions': {
        requireType(!set, 'subscriptions');
        const subs = this.service.ownSubscriptions(actor, first.attrs.node);
        return result(iq, xml('pubsub', { xmlns: NS.PUBSUB }, xml('subscriptions', { node: first.attrs.node },
          ...subs.map((s) => xml('subscription', { node: s.node, jid: s.jid, subid: s.subid, subscription: s.state })))));
      }
      case 'affiliations': {
        requireType(!set, 'affiliations');
        const affs = this.service.ownAffiliations(actor, first.attrs.node);
        return result(iq, xml('pubsub', { xmlns: NS.PUBSUB }, xml('affiliations', { node: first.attrs.node },
          ...affs.map((a) => xml('affiliation', { node: a.node, affiliation: a.affiliation })))));
      }
      case 'items':
        requireType(!set, 'items');
        return this.items(iq, ps, first, actor);
      case 'options': {
        const node = first.attrs.node;
        const jid = first.attrs.jid;
        if (!node) throw errors.badRequest('nodeid-required');
        if (!jid) throw errors.badRequest('jid-required');
        const subid = first.attrs.subid || undefined;
        if (!set) {
          const sub = this.service.subscriptionOptions(actor, node, jid, subid);
          return result(iq, xml('pubsub', { xmlns: NS.PUBSUB }, xml('options', { node, jid, subid: sub.subid }, subscriptionOptionsForm(sub.options, 'form'))));
        }
        const x = first.getChild('x', NS.DATA);
        if (x?.attrs.type === 'cancel') return result(iq);
        const form = readForm(x);
        if (!form) throw errors.badRequest('invalid-options', 'options need a data form');
        const current = this.service.subscriptionOptions(actor, node, jid, subid);
        this.service.setSubscriptionOptions(actor, node, jid, current.subid, readSubscriptionOptions(current.options, form));
        return result(iq);
      }
      case 'default': {
        requireType(!set, 'default');
        const node = first.attrs.node || undefined;
        const opts = this.service.defaultSubscriptionOptions(actor, node);
        return result(iq, xml('pubsub', { xmlns: NS.PUBSUB }, xml('default', { node }, subscriptionOptionsForm(opts, 'form'))));
      }
      default:
        throw errors.badRequest(undefined, `unknown pubsub request ${first.name}`);
    }
  }

  /**
   * Items retrieval (§6.5) with XEP-0059 paging. The result set is the node's
   * items in publication order, oldest first (the order of XEP-0313 archives,
   * which slixmpp's and Smack's RSM iterators and our agents page through); with
   * max_items, only the newest max_items of them (§6.5.7). Within it:
   *   - no RSM: the newest items (max_items, or up to maxPage);
   *   - RSM without a cursor: the first page; <after>X: the page following X
   *     (newer), and so on with <after> = the previous <last> until <count>;
   *   - <before/>: the last page (newest); <before>X: the page preceding X;
   *   - <index>: the page starting at that position.
   */
  private items(iq: Element, ps: Element, itemsEl: Element, actor: Actor): Element {
    const node = itemsEl.attrs.node!;
    const q: ItemQuery = {};
    const ids = itemsEl.getChildren('item').map((i) => i.attrs.id).filter((x): x is string => !!x);
    const set = ps.getChild('set', NS.RSM);
    if (ids.length) q.ids = ids;
    if (itemsEl.attrs.max_items !== undefined) {
      if (!/^\d+$/.test(itemsEl.attrs.max_items)) throw errors.badRequest(undefined, 'max_items must be a non-negative integer');
      q.newest = Number(itemsEl.attrs.max_items);
      if (!set) q.max = q.newest;
    }
    if (set && !q.ids) {
      const max = set.getChildText('max');
      if (max !== null && max !== undefined) {
        if (!/^\d+$/.test(max)) throw errors.badRequest(undefined, 'RSM max must be a non-negative integer');
        q.max = Number(max);
      }
      const after = set.getChild('after');
      const before = set.getChild('before');
      const index = set.getChildText('index');
      if (after) q.after = after.text();
      else if (before) q.before = before.text();
      else if (index !== null && index !== undefined) {
        if (!/^\d+$/.test(index)) throw errors.badRequest(undefined, 'RSM index must be a non-negative integer');
        q.index = Number(index);
      } else q.index = 0; // no cursor: the first page of the result set
    }
    if (q.max === undefined && !q.ids) q.max = this.maxPage;
    if (q.max !== undefined) q.max = Math.min(q.max, this.maxPage);
    const full = this.service.getItems(actor, node, q);
    // A reply must fit the server's stanza limit for components (Prosody: 512 KiB),
    // or the server drops the link: cut the page by bytes and let RSM say where it ends.
    // Pages anchored at the newest items (<before>, no RSM) keep the newest.
    const keepNewest = q.after === undefined && q.index === undefined && !q.ids;
    const page = fitPage(full, this.maxReplyBytes, keepNewest);
    const truncated = page.items.length < full.items.length;
    const children: Element[] = [xml('items', { node }, ...page.items.map((it) => itemElement(it, true)))];
    // With RSM, or when the answer is truncated (XEP-0060 §6.5.7), say where the page lies.
    if (set || truncated || (!q.ids && page.count > page.items.length)) {
      const rsm = xml('set', { xmlns: NS.RSM });
      if (page.items.length) {
        rsm.append(xml('first', { index: String(page.firstIndex) }, page.items[0]!.id));
        rsm.append(xml('last', {}, page.items[page.items.length - 1]!.id));
      }
      rsm.append(xml('count', {}, String(page.count)));
      children.push(rsm);
    }
    return result(iq, xml('pubsub', { xmlns: NS.PUBSUB }, ...children));
  }

  // ------------------------------------------------------------------ owner namespace

  private owner(iq: Element, ps: Element, type: string, actor: Actor): Element {
    const first = ps.getChildElements()[0];
    if (!first) throw errors.badRequest(undefined, 'empty pubsub#owner element');
    const set = type === 'set';
    const node = first.attrs.node;
    switch (first.name) {
      case 'configure': {
        if (!node) throw errors.badRequest('nodeid-required');
        if (!set) {
          const cfg = this.service.getConfig(actor, node);
          return result(iq, xml('pubsub', { xmlns: NS.OWNER }, xml('configure', { node }, configForm(cfg, 'form', this.service.childrenOf(node)))));
        }
        const x = first.getChild('x', NS.DATA);
        if (x?.attrs.type === 'cancel') return result(iq);
        const form = readForm(x);
        if (!form) throw errors.badRequest(undefined, 'configure needs a data form');
        if (form.formType !== NS.NODE_CONFIG) throw errors.badRequest(undefined, 'configure form has the wrong FORM_TYPE');
        const { fields, children } = splitChildren(form.fields);
        this.service.configure(actor, node, configFromFields(fields!), children);
        return result(iq);
      }
      case 'default': {
        requireType(!set, 'default');
        return result(iq, xml('pubsub', { xmlns: NS.OWNER }, xml('default', {}, configForm(this.service.defaultConfig, 'form'))));
      }
      case 'delete': {
        requireType(set, 'delete');
        const redirect = first.getChild('redirect')?.attrs.uri;
        this.service.deleteNode(actor, node!, redirect);
        return result(iq);
      }
      case 'purge': {
        requireType(set, 'purge');
        this.service.purge(actor, node!);
        return result(iq);
      }
      case 'affiliations': {
        if (!node) throw errors.badRequest('nodeid-required');
        if (!set) {
          const affs = this.service.getAffiliationsOfNode(actor, node);
          return result(iq, xml('pubsub', { xmlns: NS.OWNER }, xml('affiliations', { node }, ...affs.map((a) => xml('affiliation', { jid: a.jid, affiliation: a.affiliation })))));
        }
        const changes = first.getChildren('affiliation').map((a) => ({ jid: a.attrs.jid ?? '', affiliation: a.attrs.affiliation ?? '' }));
        this.service.setAffiliations(actor, node, changes);
        return result(iq);
      }
      case 'subscriptions': {
        if (!node) throw errors.badRequest('nodeid-required');
        if (!set) {
          const subs = this.service.getSubscriptionsOfNode(actor, node);
          return result(iq, xml('pubsub', { xmlns: NS.OWNER }, xml('subscriptions', { node }, ...subs.map((s) => xml('subscription', { jid: s.jid, subscription: s.state, subid: s.subid })))));
        }
        const changes = first.getChildren('subscription').map((s) => ({ jid: s.attrs.jid ?? '', subscription: s.attrs.subscription ?? '', subid: s.attrs.subid }));
        this.service.setSubscriptions(actor, node, changes);
        return result(iq);
      }
      default:
        throw errors.badRequest(undefined, `unknown pubsub#owner request ${first.name}`);
    }
  }

  // ------------------------------------------------------------------ discovery

  private discoInfo(iq: Element, q: Element, actor: Actor): Element {
    const node = q.attrs.node;
    if (!node) {
      return result(iq, xml('query', { xmlns: NS.DISCO_INFO },
        xml('identity', { category: 'pubsub', type: 'service', name: this.opts.name ?? 'VOXnet publish-subscribe' }),
        ...SERVICE_FEATURES.map((f) => xml('feature', { var: f }))));
    }
    if (node === NS.COMMANDS) {
      return result(iq, xml('query', { xmlns: NS.DISCO_INFO, node }, xml('identity', { category: 'automation', type: 'command-list' })));
    }
    if (node === EVENT_COMMAND && this.opts.threads) {
      return result(iq, xml('query', { xmlns: NS.DISCO_INFO, node },
        xml('identity', { category: 'automation', type: 'command-node', name: 'Event thread' }),
        xml('feature', { var: NS.COMMANDS }), xml('feature', { var: NS.DATA })));
    }
    if (node === NS.GET_PENDING) {
      return result(iq, xml('query', { xmlns: NS.DISCO_INFO, node },
        xml('identity', { category: 'automation', type: 'command-node', name: 'Get pending subscription requests' }),
        xml('feature', { var: NS.COMMANDS }), xml('feature', { var: NS.DATA })));
    }
    const info = this.service.nodeInfo(actor, node);
    const c = info.rec.config;
    const meta: FormField[] = [
      { var: 'FORM_TYPE', type: 'hidden', values: [NS.META_DATA] },
      { var: 'pubsub#title', values: [c.title] },
      { var: 'pubsub#type', values: [c.type] },
      { var: 'pubsub#creation_date', values: [new Date(info.rec.created).toISOString()] },
      { var: 'pubsub#creator', type: 'jid-single', values: [info.rec.creator] },
      { var: 'pubsub#owner', type: 'jid-multi', values: info.owners },
      { var: 'pubsub#publisher', type: 'jid-multi', values: info.publishers },
      { var: 'pubsub#access_model', values: [c.access_model] },
      { var: 'pubsub#publish_model', values: [c.publish_model] },
      { var: 'pubsub#max_items', values: [formatConfigValue(c, 'max_items')] },
      { var: 'pubsub#node_type', values: [c.node_type] },
      { var: 'pubsub#collection', type: 'text-multi', values: c.collection },
      ...(c.node_type === 'collection' ? [{ var: 'pubsub#children', type: 'text-multi', values: this.service.childrenOf(node) }] : []),
      { var: 'pubsub#num_subscribers', values: [String(info.subscribers)] },
    ];
    return result(iq, xml('query', { xmlns: NS.DISCO_INFO, node },
      xml('identity', { category: 'pubsub', type: c.node_type, name: c.title || undefined }),
      xml('feature', { var: NS.PUBSUB }),
      xml('feature', { var: MAM }),
      xml('feature', { var: MAM_EXTENDED }),
      buildForm('result', meta)));
  }

  private discoItems(iq: Element, q: Element, actor: Actor): Element {
    const node = q.attrs.node;
    const me = this.opts.domain;
    if (!node) {
      const nodes = this.service.listNodes(actor);
      return result(iq, xml('query', { xmlns: NS.DISCO_ITEMS }, ...nodes.map((n) => xml('item', { jid: me, node: n.id, name: n.config.title || undefined }))));
    }
    if (node === NS.COMMANDS) {
      return result(iq, xml('query', { xmlns: NS.DISCO_ITEMS, node }, xml('item', { jid: me, node: NS.GET_PENDING, name: 'Get pending subscription requests' }),
        ...(this.opts.threads ? [xml('item', { jid: me, node: EVENT_COMMAND, name: 'Event thread: alerts and current state of one event' })] : [])));
    }
    // The nodes of a collection (XEP-0248 §5.2), those the asker may see.
    if (this.service.nodeConfig(node)?.node_type === 'collection') {
      this.service.nodeInfo(actor, node);
      const kids = this.service.childrenOf(node).filter((c) => this.service.may('discover', c, actor.bare));
      return result(iq, xml('query', { xmlns: NS.DISCO_ITEMS, node }, ...kids.map((c) => xml('item', { jid: me, node: c }))));
    }
    // Items of a leaf node, by id (XEP-0060 §5.5).
    const page = this.service.getItems(actor, node, { max: this.maxPage });
    return result(iq, xml('query', { xmlns: NS.DISCO_ITEMS, node }, ...page.items.map((it) => xml('item', { jid: me, name: it.id }))));
  }

  // ------------------------------------------------------------------ ad-hoc: event threads

  private eventCommand(iq: Element, cmd: Element): Element {
    const sessionid = cmd.attrs.sessionid ?? `event-${Date.now().toString(36)}`;
    if (cmd.attrs.action === 'cancel')
      return result(iq, xml('command', { xmlns: NS.COMMANDS, node: EVENT_COMMAND, sessionid, status: 'canceled' }));
    const ref = readForm(cmd.getChild('x', NS.DATA))?.fields.ref?.[0];
    if (ref === undefined) return result(iq, eventCommandForm(sessionid));
    return result(iq, eventCommandResult(sessionid, this.opts.threads!.query(actorOf(iq), ref)));
  }

  // ------------------------------------------------------------------ ad-hoc: get-pending (XEP-0060 §8.7)

  private command(iq: Element, cmd: Element, actor: Actor): Element {
    if (cmd.attrs.node === EVENT_COMMAND && this.opts.threads) return this.eventCommand(iq, cmd);
    if (cmd.attrs.node !== NS.GET_PENDING) throw errors.itemNotFound(`no command ${cmd.attrs.node}`);
    const action = cmd.attrs.action ?? 'execute';
    if (action === 'cancel') {
      return result(iq, xml('command', { xmlns: NS.COMMANDS, node: NS.GET_PENDING, sessionid: cmd.attrs.sessionid, status: 'canceled' }));
    }
    const form = readForm(cmd.getChild('x', NS.DATA));
    const chosen = form?.fields['pubsub#node']?.[0];
    if (!chosen) {
      const nodes = this.service.nodesWithPending(actor);
      if (nodes.length === 0 && this.service.listNodes(actor).every((n) => !this.service.may('manage-subscriptions', n.id, actor.bare)))
        throw errors.forbidden('you own no node');
      return result(iq, xml('command', { xmlns: NS.COMMANDS, node: NS.GET_PENDING, sessionid: cmd.attrs.sessionid ?? `pending-${Date.now()}`, status: 'executing' },
        xml('actions', { execute: 'complete' }, xml('complete')),
        buildForm('form', [
          { var: 'FORM_TYPE', type: 'hidden', values: [NS.SUB_AUTH] },
          { var: 'pubsub#node', type: 'list-single', label: 'Node with pending subscription requests', values: [], options: nodes },
        ])));
    }
    const pending = this.service.pendingRequests(actor, chosen);
    for (const p of pending) this.opts.send(authorizationRequest(this.opts.domain, bareJid(iq.attrs.from ?? ''), p.node, p.jid, p.subid));
    return result(iq, xml('command', { xmlns: NS.COMMANDS, node: NS.GET_PENDING, sessionid: cmd.attrs.sessionid, status: 'completed' },
      xml('note', { type: 'info' }, `${pending.length} pending request(s) sent`)));
  }
}

function requireType(ok: boolean, what: string): void {
  if (!ok) throw errors.badRequest(undefined, `wrong IQ type for ${what}`);
}


export function itemElement(it: Item, withPayload: boolean): Element {
  const el = xml('item', { id: it.id, publisher: it.publisher });
  if (withPayload && it.payload) el.append(rawXml(it.payload));
  return el;
}

