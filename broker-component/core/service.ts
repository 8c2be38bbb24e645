/**
 * The publish-subscribe service core (XEP-0060 semantics without XML or sockets).
 *
 * Nodes, affiliations and subscriptions live in memory, mirrored to the Store on
 * every change; items live in the Store only. Every operation asks `decide()` in
 * privileges.ts; refusals are thrown as PubsubError. What must be told to other
 * entities (notifications, authorization requests, subscription changes) is
 * handed to the `onEvent` sink, which the delivery layer turns into stanzas.
 */
import { randomUUID } from 'node:crypto';
import { parseBoolean } from '../../common/boolean.ts';
import { PubsubError, errors } from '../../pubsub/errors.ts';
import { affiliationIn, decide, type Decision, type DecisionContext, type Operation } from '../../pubsub/privileges.ts';
import { applyConfigFields, DEFAULT_NODE_CONFIG, formatConfigValue, fieldVar, CONFIG_FIELDS } from '../../pubsub/node-config.ts';
import { AFFILIATIONS, type Actor, type Affiliation, type Item, type NodeConfig, type NodeRecord, type Subscription, type SubscriptionState } from '../../pubsub/types.ts';
import { bareJid, domainOf, isValidJid } from '../../pubsub/jid.ts';
import type { ItemPage, ItemQuery, Store } from '../store/store.ts';

/** One delivery target: a subscribed JID and the subscriptions through which it receives. */
export type Recipient = { jid: string; subids: string[] };

export type ServiceEvent =
  | {
      kind: 'items';
      node: string;
      items: Item[];
      recipients: Recipient[];
      config: NodeConfig;
      lastPublished?: boolean;
      /** The payload trees the publisher's stanza was parsed into, by item (when the publish brought them). */
      parsed?: unknown[];
    }
  | { kind: 'retract'; node: string; ids: string[]; recipients: Recipient[] }
  | { kind: 'purge'; node: string; recipients: Recipient[] }
  | { kind: 'delete'; node: string; redirect?: string; recipients: Recipient[] }
  | { kind: 'config'; node: string; config: NodeConfig; recipients: Recipient[] }
  | { kind: 'subscription'; node: string; jid: string; subid?: string; state: SubscriptionState; reason?: string }
  | { kind: 'authorization-request'; node: string; owners: string[]; jid: string; subid: string };

/** Audit record of one decision (grant or refusal). */
export type AuditRecord = { actor: string; op: Operation | 'create' | 'revoke'; node: string; decision: 'grant' | 'refuse' | 'revoke'; reason: string };

export type ServiceOptions = {
  /** Bare JIDs (or domains) treated as owners of every node. */
  admins?: string[];
  /** May this bare JID create nodes? Default: nobody but admins. */
  canCreate?: (bare: string) => boolean;
  /** Overrides of the default node configuration. */
  defaultConfig?: Partial<NodeConfig>;
  /** Limit of subscriptions per JID and node. */
  maxSubscriptionsPerJid?: number;
  onEvent?: (ev: ServiceEvent) => void;
  onAudit?: (rec: AuditRecord) => void;
  /** Payload rules of a node (e.g. VOEvent validity on VOEvent nodes); throw a PubsubError to refuse. */
  checkPayload?: (node: string, config: NodeConfig, item: PublishInput) => void;
  now?: () => number;
};

type NodeState = {
  rec: NodeRecord;
  affiliations: Map<string, Affiliation>;
  subs: Map<string, Subscription>;
};

/**
 * An item to publish. `parsed` is the payload as the protocol layer already holds
 * it (opaque to the core), handed to the `checkPayload` hook so that it never has
 * to be parsed again.
 */
export type PublishInput = { id?: string; payload: string; parsed?: unknown };

const NODE_ID_MAX = 1024;

export class PubsubService {
  private nodes = new Map<string, NodeState>();
  private readonly admins: Set<string>;
  private readonly canCreate: (bare: string) => boolean;
  readonly defaultConfig: NodeConfig;
  private readonly maxSubs: number;
  private readonly emit: (ev: ServiceEvent) => void;
  private readonly audit: (rec: AuditRecord) => void;
  private readonly now: () => number;
  private readonly checkPayload: (node: string, config: NodeConfig, item: PublishInput) => void;
  private transientSeq = 0;

  constructor(
    private readonly store: Store,
    opts: ServiceOptions = {},
  ) {
    this.admins = new Set(opts.admins ?? []);
    this.canCreate = opts.canCreate ?? (() => false);
    this.defaultConfig = { ...DEFAULT_NODE_CONFIG, ...opts.defaultConfig };
    this.maxSubs = opts.maxSubscriptionsPerJid ?? 32;
    this.emit = opts.onEvent ?? (() => {});
    this.audit = opts.onAudit ?? (() => {});
    this.now = opts.now ?? Date.now;
    this.checkPayload = opts.checkPayload ?? (() => {});
    const state = store.load();
    for (const rec of state.nodes) this.nodes.set(rec.id, { rec, affiliations: new Map(), subs: new Map() });
    for (const a of state.affiliations) this.nodes.get(a.node)?.affiliations.set(a.jid, a.affiliation);
    for (const s of state.subscriptions) this.nodes.get(s.node)?.subs.set(s.subid, s);
  }

  // ---------------------------------------------------------------- helpers

  private node(id: string | undefined): NodeState {
    if (!id) throw errors.badRequest('nodeid-required');
    const n = this.nodes.get(id);
    if (!n) throw errors.itemNotFound(`no node ${id}`);
    return n;
  }

  isAdmin(bare: string): boolean {
    return this.admins.has(bare) || this.admins.has(domainOf(bare));
  }

  /** Affiliation of a bare JID: admins own everything; then the JID's own, then its domain's. */
  affiliationOf(n: NodeState, bare: string): Affiliation {
    if (this.isAdmin(bare)) return 'owner';
    return affiliationIn(n.affiliations, bare);
  }

  private subsOf(n: NodeState, bare: string): Subscription[] {
    const out: Subscription[] = [];
    for (const s of n.subs.values()) if (bareJid(s.jid) === bare) out.push(s);
    return out;
  }

  /** Everything `decide` needs to know about this bare JID and node: built in one place. */
  private contextOf(n: NodeState, bare: string): DecisionContext {
    const subs = this.subsOf(n, bare);
    return {
      affiliation: this.affiliationOf(n, bare),
      accessModel: n.rec.config.access_model,
      publishModel: n.rec.config.publish_model,
      subscribed: subs.some((s) => s.state === 'subscribed'),
      pending: subs.some((s) => s.state === 'pending'),
      history: n.rec.config.history,
    };
  }

  private check(op: Operation, n: NodeState, actor: Actor): Decision & { allow: true } {
    const ctx = this.contextOf(n, actor.bare);
    const d = decide(op, ctx);
    this.audit({ actor: actor.bare, op, node: n.rec.id, decision: d.allow ? 'grant' : 'refuse', reason: d.allow ? ctx.affiliation : d.reason });
    if (!d.allow) throw d.error;
    return d;
  }

  /** Would this actor be allowed `op` on `node`? (no audit, no throw; for discovery and tools) */
  may(op: Operation, nodeId: string, bare: string): boolean {
    const n = this.nodes.get(nodeId);
    return !!n && decide(op, this.contextOf(n, bare)).allow;
  }

  /** Active subscribers that may still receive items, grouped by JID. */
  recipients(n: NodeState): Recipient[] {
    const byJid = new Map<string, Recipient>();
    for (const s of n.subs.values()) {
      if (s.state !== 'subscribed') continue;
      const r = byJid.get(s.jid);
      if (r) r.subids.push(s.subid);
      else byJid.set(s.jid, { jid: s.jid, subids: [s.subid] });
    }
    return [...byJid.values()];
  }

  // ---------------------------------------------------------------- discovery

  hasNode(id: string): boolean {
    return this.nodes.has(id);
  }

  nodeIds(): string[] {
    return [...this.nodes.keys()];
  }

  /** Nodes the actor may see (disco#items). */
  listNodes(actor: Actor): NodeRecord[] {
    const out: NodeRecord[] = [];
    for (const n of this.nodes.values()) {
      if (decide('discover', this.contextOf(n, actor.bare)).allow) out.push(n.rec);
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Node meta-data (disco#info on a node). Hidden nodes look absent. */
  nodeInfo(actor: Actor, id: string): { rec: NodeRecord; owners: string[]; publishers: string[]; subscribers: number; itemCount: number } {
    const n = this.node(id);
    this.check('discover', n, actor);
    const owners: string[] = [];
    const publishers: string[] = [];
    for (const [jid, a] of n.affiliations) {
      if (a === 'owner') owners.push(jid);
      if (a === 'publisher' || a === 'publish-only') publishers.push(jid);
    }
    const itemCount = this.store.getItems(id, { max: 0 }).count;
    return { rec: n.rec, owners, publishers, subscribers: this.recipients(n).length, itemCount };
  }

  // ---------------------------------------------------------------- owner use cases

  createNode(actor: Actor, id: string | undefined, configFields?: Record<string, string[]>): string {
    if (!this.isAdmin(actor.bare) && !this.canCreate(actor.bare)) {
      this.audit({ actor: actor.bare, op: 'create', node: id ?? '', decision: 'refuse', reason: 'not allowed to create nodes' });
      throw errors.forbidden('you may not create nodes on this service');
    }
    const nodeId = id ?? randomUUID();
    if (nodeId.length > NODE_ID_MAX || /[\u0000-\u001f]/.test(nodeId)) throw errors.notAcceptable(undefined, 'invalid node id');
    if (this.nodes.has(nodeId)) throw errors.conflict(undefined, `node ${nodeId} already exists`);
    const config = configFields ? applyConfigFields(this.defaultConfig, configFields) : { ...this.defaultConfig };
    const rec: NodeRecord = { id: nodeId, config, created: this.now(), creator: actor.bare };
    this.store.createNode(rec, actor.bare);
    this.nodes.set(nodeId, { rec, affiliations: new Map([[actor.bare, 'owner']]), subs: new Map() });
    this.audit({ actor: actor.bare, op: 'create', node: nodeId, decision: 'grant', reason: 'created' });
    return nodeId;
  }

  getConfig(actor: Actor, id: string): NodeConfig {
    const n = this.node(id);
    this.check('configure', n, actor);
    return { ...n.rec.config };
  }

  configure(actor: Actor, id: string, fields: Record<string, string[]>): NodeConfig {
    const n = this.node(id);
    this.check('configure', n, actor);
    const before = n.rec.config;
    const config = applyConfigFields(before, fields);
    this.store.updateNodeConfig(id, config);
    n.rec.config = config;
    if (config.max_items < before.max_items || (!config.persist_items && before.persist_items)) {
      this.store.trim(id, config.persist_items ? config.max_items : 0);
    }
    if (config.access_model !== before.access_model) this.revokeWhereDenied(n, 'access model changed');
    if (config.notify_config && config.deliver_notifications) {
      this.emit({ kind: 'config', node: id, config, recipients: this.recipients(n) });
    }
    return { ...config };
  }

  deleteNode(actor: Actor, id: string, redirect?: string): void {
    const n = this.node(id);
    this.check('delete-node', n, actor);
    const recipients = this.recipients(n);
    this.store.deleteNode(id);
    this.nodes.delete(id);
    if (n.rec.config.notify_delete) this.emit({ kind: 'delete', node: id, redirect, recipients });
  }

  purge(actor: Actor, id: string): void {
    const n = this.node(id);
    this.check('purge', n, actor);
    if (!n.rec.config.persist_items) throw errors.unsupported('persistent-items', 'this node does not persist items');
    this.store.purge(id);
    if (n.rec.config.notify_retract && n.rec.config.deliver_notifications)
      this.emit({ kind: 'purge', node: id, recipients: this.recipients(n) });
  }

  getAffiliationsOfNode(actor: Actor, id: string): { jid: string; affiliation: Affiliation }[] {
    const n = this.node(id);
    this.check('modify-affiliations', n, actor);
    return [...n.affiliations].map(([jid, affiliation]) => ({ jid, affiliation }));
  }

  setAffiliations(actor: Actor, id: string, changes: { jid: string; affiliation: string }[]): void {
    const n = this.node(id);
    this.check('modify-affiliations', n, actor);
    for (const c of changes) {
      if (!isValidJid(c.jid)) throw errors.badRequest('invalid-jid', `invalid JID ${c.jid}`);
      if (!(AFFILIATIONS as readonly string[]).includes(c.affiliation))
        throw errors.badRequest(undefined, `unknown affiliation ${c.affiliation}`);
    }
    const after = new Map(n.affiliations);
    for (const c of changes) {
      const jid = bareJid(c.jid);
      if (c.affiliation === 'none') after.delete(jid);
      else after.set(jid, c.affiliation as Affiliation);
    }
    if (![...after.values()].includes('owner') && !this.isAdmin(actor.bare))
      throw errors.notAcceptable(undefined, 'a node must keep at least one owner');
    for (const c of changes) {
      const jid = bareJid(c.jid);
      this.store.setAffiliation(id, jid, c.affiliation as Affiliation);
      if (c.affiliation === 'none') n.affiliations.delete(jid);
      else n.affiliations.set(jid, c.affiliation as Affiliation);
    }
    this.revokeWhereDenied(n, `affiliation changed by ${actor.bare}`);
  }

  /**
   * Remove every subscription whose holder may no longer subscribe (outcast,
   * dropped from a whitelist...), telling each one its subscription is now `none`.
   */
  private revokeWhereDenied(n: NodeState, reason: string): void {
    for (const s of [...n.subs.values()]) {
      const bare = bareJid(s.jid);
      // Could this very subscription be made now? (its own state, not the JID's other ones)
      const d = decide('subscribe', { ...this.contextOf(n, bare), subscribed: s.state === 'subscribed', pending: false });
      if (d.allow) continue;
      this.store.deleteSubscription(n.rec.id, s.subid);
      n.subs.delete(s.subid);
      this.audit({ actor: bare, op: 'revoke', node: n.rec.id, decision: 'revoke', reason: `${reason}: ${d.reason}` });
      this.emit({ kind: 'subscription', node: n.rec.id, jid: s.jid, subid: s.subid, state: 'none', reason: d.reason });
    }
  }

  getSubscriptionsOfNode(actor: Actor, id: string): Subscription[] {
    const n = this.node(id);
    this.check('manage-subscriptions', n, actor);
    return [...n.subs.values()];
  }

  setSubscriptions(actor: Actor, id: string, changes: { jid: string; subscription: string; subid?: string }[]): void {
    const n = this.node(id);
    this.check('manage-subscriptions', n, actor);
    for (const c of changes) {
      if (!isValidJid(c.jid)) throw errors.badRequest('invalid-jid', `invalid JID ${c.jid}`);
      if (!['none', 'subscribed', 'pending', 'unconfigured'].includes(c.subscription))
        throw errors.badRequest(undefined, `unknown subscription state ${c.subscription}`);
    }
    for (const c of changes) {
      const existing = [...n.subs.values()].filter((s) => s.jid === c.jid && (!c.subid || s.subid === c.subid));
      if (c.subscription === 'none') {
        for (const s of existing) {
          this.store.deleteSubscription(id, s.subid);
          n.subs.delete(s.subid);
          this.emit({ kind: 'subscription', node: id, jid: s.jid, subid: s.subid, state: 'none', reason: `removed by ${actor.bare}` });
        }
      } else if (c.subscription === 'subscribed') {
        const target = existing[0];
        if (target) {
          if (target.state !== 'subscribed') {
            target.state = 'subscribed';
            this.store.putSubscription(target);
            this.emit({ kind: 'subscription', node: id, jid: target.jid, subid: target.subid, state: 'subscribed' });
          }
        } else {
          const sub = this.addSubscription(n, c.jid, 'subscribed');
          this.emit({ kind: 'subscription', node: id, jid: sub.jid, subid: sub.subid, state: 'subscribed' });
        }
      } else {
        throw errors.badRequest(undefined, `an owner may set a subscription to subscribed or none, not ${c.subscription}`);
      }
    }
  }

  /** Pending subscription requests on nodes the actor manages (all of them, or one node). */
  pendingRequests(actor: Actor, id?: string): Subscription[] {
    const nodes = id ? [this.node(id)] : [...this.nodes.values()];
    const out: Subscription[] = [];
    for (const n of nodes) {
      if (id) this.check('manage-subscriptions', n, actor);
      else if (!this.may('manage-subscriptions', n.rec.id, actor.bare)) continue;
      for (const s of n.subs.values()) if (s.state === 'pending') out.push(s);
    }
    return out;
  }

  /** Nodes on which the actor may manage subscriptions and that have pending requests. */
  nodesWithPending(actor: Actor): string[] {
    return [...new Set(this.pendingRequests(actor).map((s) => s.node))];
  }

  /** The owner's answer to a subscription authorization request (XEP-0060 §8.6). */
  authorize(actor: Actor, id: string, jid: string, subid: string | undefined, allow: boolean): void {
    const n = this.node(id);
    this.check('manage-subscriptions', n, actor);
    const sub = [...n.subs.values()].find((s) => s.state === 'pending' && (subid ? s.subid === subid : s.jid === jid));
    if (!sub) throw errors.itemNotFound(`no pending subscription of ${jid}`);
    if (allow) {
      sub.state = 'subscribed';
      this.store.putSubscription(sub);
      this.emit({ kind: 'subscription', node: id, jid: sub.jid, subid: sub.subid, state: 'subscribed' });
      this.sendLastTo(n, sub);
    } else {
      this.store.deleteSubscription(id, sub.subid);
      n.subs.delete(sub.subid);
      this.emit({ kind: 'subscription', node: id, jid: sub.jid, subid: sub.subid, state: 'none', reason: `denied by ${actor.bare}` });
    }
  }

  // ---------------------------------------------------------------- subscriber use cases

  subscribe(actor: Actor, id: string, jid: string): Subscription {
    const n = this.node(id);
    if (!isValidJid(jid) || bareJid(jid) !== actor.bare)
      throw errors.badRequest('invalid-jid', `subscription JID ${jid} does not match your JID ${actor.bare}`);
    const existing = this.subsOf(n, actor.bare).find((s) => s.jid === jid);
    if (existing?.state === 'subscribed') return existing;
    const d = this.check('subscribe', n, actor);
    if (this.subsOf(n, actor.bare).length >= this.maxSubs)
      throw new PubsubError('not-allowed', { pubsub: 'too-many-subscriptions' });
    const sub = this.addSubscription(n, jid, d.pending ? 'pending' : 'subscribed');
    if (sub.state === 'pending') {
      const owners = [...n.affiliations].filter(([, a]) => a === 'owner').map(([j]) => j);
      this.emit({ kind: 'authorization-request', node: id, owners, jid, subid: sub.subid });
    }
    return sub;
  }

  /** After the subscribe reply went out: deliver the last item if the node says so. */
  afterSubscribe(sub: Subscription): void {
    const n = this.nodes.get(sub.node);
    if (n && sub.state === 'subscribed') this.sendLastTo(n, sub);
  }

  private sendLastTo(n: NodeState, sub: Subscription): void {
    if (n.rec.config.send_last_published_item === 'never' || !n.rec.config.deliver_notifications) return;
    // The last item is history: a node without history sends live items only.
    if (n.rec.config.history === false && !['owner', 'publisher'].includes(this.affiliationOf(n, bareJid(sub.jid)))) return;
    const last = this.store.lastItem(n.rec.id);
    if (!last) return;
    this.emit({ kind: 'items', node: n.rec.id, items: [last], recipients: [{ jid: sub.jid, subids: [sub.subid] }], config: n.rec.config, lastPublished: true });
  }

  private addSubscription(n: NodeState, jid: string, state: SubscriptionState): Subscription {
    const sub: Subscription = { node: n.rec.id, jid, subid: randomUUID(), state, created: this.now() };
    this.store.putSubscription(sub);
    n.subs.set(sub.subid, sub);
    return sub;
  }

  unsubscribe(actor: Actor, id: string, jid: string, subid?: string): void {
    const n = this.node(id);
    if (!isValidJid(jid)) throw errors.badRequest('invalid-jid');
    if (bareJid(jid) !== actor.bare && !this.may('manage-subscriptions', id, actor.bare))
      throw errors.forbidden(`you may not unsubscribe ${jid}`);
    const subs = [...n.subs.values()].filter((s) => s.jid === jid);
    if (subs.length === 0) throw new PubsubError('unexpected-request', { pubsub: 'not-subscribed' });
    let target: Subscription | undefined;
    if (subid) {
      target = subs.find((s) => s.subid === subid);
      if (!target) throw errors.notAcceptable('invalid-subid');
    } else {
      if (subs.length > 1) throw errors.badRequest('subid-required');
      target = subs[0]!;
    }
    this.store.deleteSubscription(id, target.subid);
    n.subs.delete(target.subid);
  }

  /** The actor's own subscriptions, on one node or all. */
  ownSubscriptions(actor: Actor, id?: string): Subscription[] {
    const nodes = id ? [this.node(id)] : [...this.nodes.values()];
    return nodes.flatMap((n) => this.subsOf(n, actor.bare));
  }

  /** The actor's own affiliations, on one node or all. */
  ownAffiliations(actor: Actor, id?: string): { node: string; affiliation: Affiliation }[] {
    const nodes = id ? [this.node(id)] : [...this.nodes.values()];
    const out: { node: string; affiliation: Affiliation }[] = [];
    for (const n of nodes) {
      const a = n.affiliations.get(actor.bare);
      if (a) out.push({ node: n.rec.id, affiliation: a });
    }
    return out;
  }

  getItems(actor: Actor, id: string, q: ItemQuery): ItemPage {
    const n = this.node(id);
    this.check('retrieve-items', n, actor);
    if (!n.rec.config.persist_items) return { items: [], count: 0, firstIndex: 0 };
    const page = this.store.getItems(id, q);
    if (page.missingCursor !== undefined) throw errors.itemNotFound(`no item ${page.missingCursor} in node ${id}`);
    if (q.ids && page.items.length === 0) throw errors.itemNotFound(`no such item in node ${id}`);
    return page;
  }

  // ---------------------------------------------------------------- publisher use cases

  /**
   * Publish items. Resolves once they are stored; notifications are emitted after.
   * `options` are publish-options fields: preconditions on the node configuration
   * (and the configuration of a node created on the fly).
   */
  publish(actor: Actor, id: string, items: PublishInput[], options?: Record<string, string[]>): Item[] {
    if (!id) throw errors.badRequest('nodeid-required');
    if (items.length === 0) throw errors.badRequest('item-required');
    let n = this.nodes.get(id);
    if (!n) {
      if (!this.isAdmin(actor.bare) && !this.canCreate(actor.bare)) throw errors.itemNotFound(`no node ${id}`);
      this.createNode(actor, id, options);
      n = this.nodes.get(id)!;
    } else if (options) {
      this.checkPreconditions(n, options);
    }
    this.check('publish', n, actor);
    const cfg = n.rec.config;
    const now = this.now();
    for (const it of items) {
      if (!it.payload && cfg.deliver_payloads && cfg.persist_items) throw errors.badRequest('payload-required');
      if (Buffer.byteLength(it.payload) > cfg.max_payload_size)
        throw errors.notAcceptable('payload-too-big', `payload larger than ${cfg.max_payload_size} bytes`);
      if (it.payload) this.checkPayload(id, cfg, it);
    }
    const ids = new Set<string>();
    const toStore = items.map((it) => {
      const itemId = it.id || randomUUID();
      if (ids.has(itemId)) throw errors.badRequest(undefined, `item id ${itemId} appears twice`);
      ids.add(itemId);
      return { id: itemId, payload: it.payload, publisher: actor.bare, published: now };
    });
    let stored: Item[];
    if (cfg.persist_items && cfg.max_items > 0) {
      stored = this.store.publishItems(id, toStore, cfg.max_items).stored;
    } else {
      stored = toStore.map((it) => ({ ...it, node: id, seq: --this.transientSeq }));
    }
    if (cfg.deliver_notifications) this.emit({ kind: 'items', node: id, items: stored, recipients: this.recipients(n), config: cfg, parsed: items.map((it) => it.parsed) });
    return stored;
  }

  private checkPreconditions(n: NodeState, options: Record<string, string[]>): void {
    for (const [name, values] of Object.entries(options)) {
      if (name === 'FORM_TYPE') continue;
      const spec = CONFIG_FIELDS.find((f) => fieldVar(f.key) === name);
      if (!spec) throw errors.conflict('precondition-not-met', `unknown publish option ${name}`);
      const have = formatConfigValue(n.rec.config, spec.key);
      const want = values[0] ?? '';
      const norm = (v: string) => (spec.kind === 'boolean' ? String(parseBoolean(v) ?? v) : v);
      if (norm(want) !== norm(have))
        throw errors.conflict('precondition-not-met', `${name} is ${have}, not ${want}`);
    }
  }

  retract(actor: Actor, id: string, itemIds: string[], notify: boolean): void {
    const n = this.node(id);
    if (itemIds.length === 0 || itemIds.some((x) => !x)) throw errors.badRequest('item-required');
    const mayAny = decide('retract-any', this.contextOf(n, actor.bare)).allow;
    this.check(mayAny ? 'retract-any' : 'retract-own', n, actor);
    for (const itemId of itemIds) {
      const it = this.store.getItem(id, itemId);
      if (!it) throw errors.itemNotFound(`no item ${itemId} in node ${id}`);
      if (!mayAny && it.publisher !== actor.bare) throw errors.forbidden(`item ${itemId} was published by someone else`);
    }
    const removed = this.store.retractItems(id, itemIds);
    if ((notify || n.rec.config.notify_retract) && n.rec.config.deliver_notifications && removed.length)
      this.emit({ kind: 'retract', node: id, ids: removed, recipients: this.recipients(n) });
  }

  /** Direct read for the service's own components (policy reconcile, catch-up): no access check. */
  nodeConfig(id: string): NodeConfig | undefined {
    const n = this.nodes.get(id);
    return n ? { ...n.rec.config } : undefined;
  }
}
