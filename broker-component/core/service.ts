/**
 * The publish-subscribe service core (XEP-0060 semantics without XML or sockets).
 *
 * Nodes, affiliations and subscriptions live in memory, mirrored to the Store on
 * every change; items live in the Store only. Every operation asks `decide()` in
 * privileges.ts; refusals are thrown as PubsubError.
 *
 * Two kinds of events leave the core, as in Prosody's util/pubsub.lua (fire_event
 * apart from broadcast):
 * - domain events (`onDomainEvent`): what happened to the data (items stored,
 *   retracted, node purged, deleted...), always, whatever the node's configuration;
 *   the broker's own components (the access policy's release queue) ride on these;
 * - notifications (`onEvent`): what must be told to other entities, when the
 *   node's configuration says so (deliver_notifications, notify_retract...); the
 *   delivery layer turns them into stanzas.
 */
import { randomUUID } from 'node:crypto';
import { PubsubError, errors } from '../../pubsub/errors.ts';
import { affiliationIn, decide, type Decision, type DecisionContext, type Operation } from '../../pubsub/privileges.ts';
import { applyConfig, DEFAULT_NODE_CONFIG, fieldVar, firstDifference, type NodeConfigChanges } from '../../pubsub/node-config.ts';
import { AFFILIATIONS, type Actor, type Affiliation, type Item, type NodeConfig, type NodeRecord, type Subscription, type SubscriptionState } from '../../pubsub/types.ts';
import { bareJid, domainOf, isValidJid } from '../../pubsub/jid.ts';
import { idProblem } from '../../pubsub/ids.ts';
import { checkSubscriptionOptions, delivers, DEFAULT_SUBSCRIPTION_OPTIONS } from '../../pubsub/subscription-options.ts';
import type { SubscriptionOptions } from '../../pubsub/types.ts';
import type { ArchivePage, ArchiveQuery, ItemPage, ItemQuery, Store } from '../store/store.ts';
import { applyFilters } from './filtering.ts';

/**
 * One delivery target: a subscribed JID and the subscriptions through which it
 * receives; `collection` when it receives through a collection above the node
 * (XEP-0248 Collection header); `body: false` when it asked for no <body>.
 */
export type Recipient = { jid: string; subids: string[]; collection?: string; body?: boolean };

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
  | { kind: 'config'; node: string; config: NodeConfig; recipients: Recipient[]; children?: string[] }
  /** XEP-0248: a node was added to a collection (for subscriptions of type 'nodes'). */
  | { kind: 'associate'; node: string; child: string; recipients: Recipient[] }
  | { kind: 'subscription'; node: string; jid: string; subid?: string; state: SubscriptionState; reason?: string }
  | { kind: 'authorization-request'; node: string; owners: string[]; jid: string; subid: string };

/**
 * What happened to the data, emitted for every change whatever the node's
 * notification settings (synchronously, before the call returns).
 */
export type DomainEvent =
  | { kind: 'items-published'; node: string; items: Item[] }
  | { kind: 'items-retracted'; node: string; ids: string[] }
  | { kind: 'node-purged'; node: string }
  | { kind: 'node-created'; node: string; config: NodeConfig }
  | { kind: 'node-configured'; node: string; config: NodeConfig }
  | { kind: 'node-deleted'; node: string };

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
  /** Notifications, as the node's configuration asks (see ServiceEvent); may return the promise of their dispatch. */
  onEvent?: (ev: ServiceEvent) => Promise<void> | void;
  /** Domain events, always (see DomainEvent). */
  onDomainEvent?: (ev: DomainEvent) => void;
  onAudit?: (rec: AuditRecord) => void;
  /** Payload rules of a node (e.g. VOEvent validity on VOEvent nodes); throw a PubsubError to refuse. */
  checkPayload?: (node: string, config: NodeConfig, item: PublishInput) => void;
  /**
   * Filters of subscriptions (voxnet#filter): `check` refuses a filter that does not
   * parse (a PubsubError naming the column); `passing` says which of an item's
   * distinct filters accept it, each evaluated once. Without it, filters are refused.
   */
  filters?: FilterEvaluator;
  /** What the archive indexes about a payload (its IVORN), read from the tree the protocol layer parsed. */
  describePayload?: (node: string, config: NodeConfig, item: PublishInput) => PayloadKeys | undefined;
  now?: () => number;
};

export type FilterEvaluator = {
  check(text: string): void;
  passing(payload: string, parsed: unknown, filters: ReadonlySet<string>): ReadonlySet<string>;
};

/** Keys of a payload that the archive indexes. */
export type PayloadKeys = { ivorn?: string };

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


export class PubsubService {
  private nodes = new Map<string, NodeState>();
  private readonly admins: Set<string>;
  private readonly canCreate: (bare: string) => boolean;
  readonly defaultConfig: NodeConfig;
  private readonly maxSubs: number;
  private readonly emit: (ev: ServiceEvent) => Promise<void> | void;
  private readonly fire: (ev: DomainEvent) => void;
  private readonly audit: (rec: AuditRecord) => void;
  private readonly now: () => number;
  private readonly checkPayload: (node: string, config: NodeConfig, item: PublishInput) => void;
  private readonly describePayload: NonNullable<ServiceOptions['describePayload']>;
  private readonly filters?: FilterEvaluator;
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
    this.fire = opts.onDomainEvent ?? (() => {});
    this.audit = opts.onAudit ?? (() => {});
    this.now = opts.now ?? Date.now;
    this.checkPayload = opts.checkPayload ?? (() => {});
    this.describePayload = opts.describePayload ?? (() => undefined);
    this.filters = opts.filters;
    const state = store.load();
    for (const rec of state.nodes) this.nodes.set(rec.id, { rec, affiliations: new Map(), subs: new Map() });
    for (const a of state.affiliations) this.nodes.get(a.node)?.affiliations.set(a.jid, a.affiliation);
    for (const s of state.subscriptions) this.nodes.get(s.node)?.subs.set(s.subid, s);
  }

  // ---------------------------------------------------------------- helpers

  /**
   * Hand a notification to the delivery sink; when the call serves a traced
   * request, its dispatch joins the request's (the reply may wait for it).
   */
  private notify(actor: Actor | undefined, ev: ServiceEvent): void {
    const dispatched = this.emit(ev);
    if (dispatched && actor?.request) actor.request.dispatched.push(dispatched);
  }

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

  /**
   * Active subscriptions of a node that want notifications now (pubsub#deliver on,
   * not expired), grouped by JID. Expired subscriptions are removed on the way.
   */
  recipients(n: NodeState, type: SubscriptionOptions['subscription_type'] = 'items'): Recipient[] {
    const byJid = new Map<string, Recipient>();
    this.collectRecipients(n, byJid, type, 0);
    return [...byJid.values()];
  }

  private collectRecipients(n: NodeState, byJid: Map<string, Recipient>, type: SubscriptionOptions['subscription_type'], depth: number, leaf?: NodeState): void {
    const now = this.now();
    for (const s of [...n.subs.values()]) {
      if (s.state !== 'subscribed') continue;
      if (s.options.expire !== null && s.options.expire <= now) {
        this.dropSubscription(n, s, 'subscription expired (pubsub#expire)');
        continue;
      }
      if (!delivers(s.options, now) || s.options.subscription_type !== type) continue;
      if (depth > 0) {
        if (depth > s.options.subscription_depth) continue;
        // Access is decided on the leaf, for each subscriber of a collection above it.
        if (leaf && !decide('receive-via-collection', this.contextOf(leaf, bareJid(s.jid))).allow) continue;
      }
      const r = byJid.get(s.jid);
      if (r) {
        if (!r.subids.includes(s.subid)) r.subids.push(s.subid);
        if (depth === 0) delete r.collection;
        if (s.options.include_body) r.body = true;
      } else {
        byJid.set(s.jid, { jid: s.jid, subids: [s.subid], ...(depth > 0 ? { collection: n.rec.id } : {}), body: s.options.include_body });
      }
    }
  }

  /**
   * Who receives a leaf's items: its own subscribers, then the subscribers of the
   * collections above it (XEP-0248), nearest first, each within its subscription
   * depth and allowed by the leaf's access model and affiliations.
   */
  private itemRecipients(leaf: NodeState): Recipient[] {
    const byJid = new Map<string, Recipient>();
    this.collectRecipients(leaf, byJid, 'items', 0);
    for (const [c, depth] of this.ancestors(leaf)) this.collectRecipients(c, byJid, 'items', depth, leaf);
    return [...byJid.values()];
  }

  /** The collections above a node with their distance, nearest first (each once). */
  private ancestors(n: NodeState): [NodeState, number][] {
    const out: [NodeState, number][] = [];
    const seen = new Set<string>([n.rec.id]);
    let level = [n];
    for (let depth = 1; level.length; depth++) {
      const next: NodeState[] = [];
      for (const x of level)
        for (const p of x.rec.config.collection) {
          const pn = this.nodes.get(p);
          if (!pn || seen.has(p)) continue;
          seen.add(p);
          out.push([pn, depth]);
          next.push(pn);
        }
      level = next;
    }
    return out;
  }

  /** The nodes directly in a collection. */
  childrenOf(id: string): string[] {
    const out: string[] = [];
    for (const n of this.nodes.values()) if (n.rec.config.collection.includes(id)) out.push(n.rec.id);
    return out.sort();
  }

  private dropSubscription(n: NodeState, s: Subscription, reason: string): void {
    this.store.deleteSubscription(n.rec.id, s.subid);
    n.subs.delete(s.subid);
    this.notify(undefined, { kind: 'subscription', node: n.rec.id, jid: s.jid, subid: s.subid, state: 'none', reason });
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

  createNode(actor: Actor, id: string | undefined, changes?: NodeConfigChanges, children?: string[]): string {
    if (!this.isAdmin(actor.bare) && !this.canCreate(actor.bare)) {
      this.audit({ actor: actor.bare, op: 'create', node: id ?? '', decision: 'refuse', reason: 'not allowed to create nodes' });
      throw errors.forbidden('you may not create nodes on this service');
    }
    const nodeId = id ?? randomUUID();
    const bad = idProblem(nodeId);
    if (bad) throw errors.notAcceptable(undefined, `invalid node id: it ${bad}`);
    if (this.nodes.has(nodeId)) throw errors.conflict(undefined, `node ${nodeId} already exists`);
    const config = changes ? applyConfig(this.defaultConfig, changes) : { ...this.defaultConfig };
    if (children !== undefined && config.node_type !== 'collection') throw errors.notAcceptable('invalid-options', 'only a collection node has pubsub#children');
    this.checkParents(actor, nodeId, config.collection, []);
    if (children) this.checkChildren(actor, nodeId, children);
    const rec: NodeRecord = { id: nodeId, config, created: this.now(), creator: actor.bare };
    this.store.createNode(rec, actor.bare);
    this.nodes.set(nodeId, { rec, affiliations: new Map([[actor.bare, 'owner']]), subs: new Map() });
    this.audit({ actor: actor.bare, op: 'create', node: nodeId, decision: 'grant', reason: 'created' });
    for (const p of config.collection) this.announceChild(p, nodeId, actor);
    if (children) this.setChildren(nodeId, children);
    this.fire({ kind: 'node-created', node: nodeId, config: { ...config } });
    return nodeId;
  }

  /**
   * A node may join collections that exist, are collections, that the actor may
   * associate nodes with, and that do not lie below the node (no cycles).
   */
  private checkParents(actor: Actor, nodeId: string, parents: string[], before: string[]): void {
    for (const p of parents) {
      if (before.includes(p)) continue;
      const pn = this.nodes.get(p);
      if (!pn) throw errors.itemNotFound(`no collection ${p}`);
      if (pn.rec.config.node_type !== 'collection') throw errors.notAcceptable('invalid-options', `${p} is a leaf, not a collection`);
      this.check('associate', pn, actor);
      if (p === nodeId || this.ancestors(pn).some(([a]) => a.rec.id === nodeId))
        throw errors.notAcceptable('invalid-options', `${p} lies below ${nodeId}: a collection cannot contain itself`);
    }
  }

  /** The actor sets a collection's children: it must be able to configure each child (the collection is checked by the caller). */
  private checkChildren(actor: Actor, collection: string, children: string[]): void {
    const current = new Set(this.childrenOf(collection));
    for (const c of children) {
      if (current.has(c)) continue;
      const cn = this.nodes.get(c);
      if (!cn) throw errors.itemNotFound(`no node ${c}`);
      this.check('configure', cn, actor);
      if (c === collection || (this.nodes.has(collection) && this.ancestors(this.nodes.get(collection)!).some(([a]) => a.rec.id === c)))
        throw errors.notAcceptable('invalid-options', `${c} lies above ${collection}: a collection cannot contain itself`);
    }
    for (const c of current) if (!children.includes(c)) this.check('configure', this.nodes.get(c)!, actor);
  }

  private setChildren(collection: string, children: string[]): void {
    for (const n of this.nodes.values()) {
      const has = n.rec.config.collection.includes(collection);
      const want = children.includes(n.rec.id);
      if (has === want) continue;
      const config = { ...n.rec.config, collection: want ? [...n.rec.config.collection, collection] : n.rec.config.collection.filter((p) => p !== collection) };
      this.store.updateNodeConfig(n.rec.id, config);
      n.rec.config = config;
      if (want) this.announceChild(collection, n.rec.id);
    }
  }

  /** Tell a collection's 'nodes' subscribers (and those above, within their depth) that a node joined it. */
  private announceChild(collection: string, child: string, actor?: Actor): void {
    const c = this.nodes.get(collection);
    if (!c) return;
    const byJid = new Map<string, Recipient>();
    this.collectRecipients(c, byJid, 'nodes', 0);
    for (const [a, depth] of this.ancestors(c)) this.collectRecipients(a, byJid, 'nodes', depth);
    if (byJid.size) this.notify(actor, { kind: 'associate', node: collection, child, recipients: [...byJid.values()] });
  }

  getConfig(actor: Actor, id: string): NodeConfig {
    const n = this.node(id);
    this.check('configure', n, actor);
    return { ...n.rec.config };
  }

  configure(actor: Actor, id: string, changes: NodeConfigChanges, children?: string[]): NodeConfig {
    const n = this.node(id);
    this.check('configure', n, actor);
    const before = n.rec.config;
    const config = applyConfig(before, changes);
    if (config.node_type !== before.node_type)
      throw errors.notAcceptable('invalid-options', `pubsub#node_type is fixed at creation (this node is a ${before.node_type})`);
    if (children !== undefined && config.node_type !== 'collection') throw errors.notAcceptable('invalid-options', 'only a collection node has pubsub#children');
    this.checkParents(actor, id, config.collection, before.collection);
    if (children) this.checkChildren(actor, id, children);
    this.store.updateNodeConfig(id, config);
    n.rec.config = config;
    if (config.max_items < before.max_items || (!config.persist_items && before.persist_items)) {
      this.store.trim(id, config.persist_items ? config.max_items : 0);
    }
    if (config.max_age > 0 && (before.max_age === 0 || config.max_age < before.max_age)) this.store.expire(id, this.now() - config.max_age * 1000);
    if (config.access_model !== before.access_model) this.revokeWhereDenied(n, 'access model changed', actor);
    for (const p of config.collection) if (!before.collection.includes(p)) this.announceChild(p, id, actor);
    if (children) this.setChildren(id, children);
    this.fire({ kind: 'node-configured', node: id, config: { ...config } });
    if (config.notify_config && config.deliver_notifications) {
      this.notify(actor, { kind: 'config', node: id, config, recipients: this.recipients(n), children: config.node_type === 'collection' ? this.childrenOf(id) : undefined });
    }
    return { ...config };
  }

  deleteNode(actor: Actor, id: string, redirect?: string): void {
    const n = this.node(id);
    this.check('delete-node', n, actor);
    const recipients = this.recipients(n);
    if (n.rec.config.node_type === 'collection') this.setChildren(id, []);
    this.store.atomically(() => {
      this.store.deleteNode(id);
      this.fire({ kind: 'node-deleted', node: id });
    });
    this.nodes.delete(id);
    if (n.rec.config.notify_delete) this.notify(actor, { kind: 'delete', node: id, redirect, recipients });
  }

  purge(actor: Actor, id: string): void {
    const n = this.node(id);
    this.check('purge', n, actor);
    if (!n.rec.config.persist_items) throw errors.unsupported('persistent-items', 'this node does not persist items');
    this.store.atomically(() => {
      this.store.purge(id);
      this.fire({ kind: 'node-purged', node: id });
    });
    if (n.rec.config.notify_retract && n.rec.config.deliver_notifications)
      this.notify(actor, { kind: 'purge', node: id, recipients: this.recipients(n) });
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
    this.revokeWhereDenied(n, `affiliation changed by ${actor.bare}`, actor);
  }

  /**
   * Remove every subscription whose holder may no longer subscribe (outcast,
   * dropped from a whitelist...), telling each one its subscription is now `none`.
   */
  private revokeWhereDenied(n: NodeState, reason: string, actor?: Actor): void {
    for (const s of [...n.subs.values()]) {
      const bare = bareJid(s.jid);
      // Could this very subscription be made now? (its own state, not the JID's other ones)
      const d = decide('subscribe', { ...this.contextOf(n, bare), subscribed: s.state === 'subscribed', pending: false });
      if (d.allow) continue;
      this.store.deleteSubscription(n.rec.id, s.subid);
      n.subs.delete(s.subid);
      this.audit({ actor: bare, op: 'revoke', node: n.rec.id, decision: 'revoke', reason: `${reason}: ${d.reason}` });
      this.notify(actor, { kind: 'subscription', node: n.rec.id, jid: s.jid, subid: s.subid, state: 'none', reason: d.reason });
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
          this.notify(actor, { kind: 'subscription', node: id, jid: s.jid, subid: s.subid, state: 'none', reason: `removed by ${actor.bare}` });
        }
      } else if (c.subscription === 'subscribed') {
        const target = existing[0];
        if (target) {
          if (target.state !== 'subscribed') {
            target.state = 'subscribed';
            this.store.putSubscription(target);
            this.notify(actor, { kind: 'subscription', node: id, jid: target.jid, subid: target.subid, state: 'subscribed' });
          }
        } else {
          const sub = this.addSubscription(n, c.jid, 'subscribed');
          this.notify(actor, { kind: 'subscription', node: id, jid: sub.jid, subid: sub.subid, state: 'subscribed' });
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
      this.notify(actor, { kind: 'subscription', node: id, jid: sub.jid, subid: sub.subid, state: 'subscribed' });
      this.sendLastTo(n, sub, actor);
    } else {
      this.store.deleteSubscription(id, sub.subid);
      n.subs.delete(sub.subid);
      this.notify(actor, { kind: 'subscription', node: id, jid: sub.jid, subid: sub.subid, state: 'none', reason: `denied by ${actor.bare}` });
    }
  }

  // ---------------------------------------------------------------- subscriber use cases

  /**
   * Subscribe (XEP-0060 §6.1). Every request makes a new subscription with its own
   * subid and options (multi-subscribe, §6.1.6): one JID may hold several, e.g.
   * with different filters, up to maxSubscriptionsPerJid per node.
   */
  subscribe(actor: Actor, id: string, jid: string, options: SubscriptionOptions = DEFAULT_SUBSCRIPTION_OPTIONS): Subscription {
    const n = this.node(id);
    if (!isValidJid(jid) || bareJid(jid) !== actor.bare)
      throw errors.badRequest('invalid-jid', `subscription JID ${jid} does not match your JID ${actor.bare}`);
    const d = this.check('subscribe', n, actor);
    checkSubscriptionOptions(options, n.rec.config.node_type, this.now());
    this.checkFilter(options);
    if (this.subsOf(n, actor.bare).length >= this.maxSubs)
      throw new PubsubError('not-allowed', { pubsub: 'too-many-subscriptions', text: `at most ${this.maxSubs} subscriptions per JID and node` });
    const sub = this.addSubscription(n, jid, d.pending ? 'pending' : 'subscribed', options);
    if (sub.state === 'pending') {
      const owners = [...n.affiliations].filter(([, a]) => a === 'owner').map(([j]) => j);
      this.notify(actor, { kind: 'authorization-request', node: id, owners, jid, subid: sub.subid });
    }
    return sub;
  }

  /** After the subscribe reply went out: deliver the last item if the node says so. */
  afterSubscribe(sub: Subscription): void {
    const n = this.nodes.get(sub.node);
    if (n && sub.state === 'subscribed') this.sendLastTo(n, sub);
  }

  private sendLastTo(n: NodeState, sub: Subscription, actor?: Actor): void {
    if (n.rec.config.send_last_published_item === 'never' || !n.rec.config.deliver_notifications) return;
    if (!delivers(sub.options, this.now()) || sub.options.subscription_type !== 'items') return;
    // The last item is history: a node without history sends live items only.
    if (n.rec.config.history === false && !['owner', 'publisher'].includes(this.affiliationOf(n, bareJid(sub.jid)))) return;
    const last = this.store.lastItem(n.rec.id);
    if (!last) return;
    const f = sub.options.filter;
    if (f && !this.filters?.passing(last.payload, undefined, new Set([f])).has(f)) return;
    this.notify(actor, { kind: 'items', node: n.rec.id, items: [last], recipients: [{ jid: sub.jid, subids: [sub.subid], body: sub.options.include_body }], config: n.rec.config, lastPublished: true });
  }

  private addSubscription(n: NodeState, jid: string, state: SubscriptionState, options: SubscriptionOptions = DEFAULT_SUBSCRIPTION_OPTIONS): Subscription {
    const sub: Subscription = { node: n.rec.id, jid, subid: randomUUID(), state, created: this.now(), options: { ...options } };
    this.store.putSubscription(sub);
    n.subs.set(sub.subid, sub);
    return sub;
  }

  /**
   * The one subscription of `jid` a request names (XEP-0060 §6.2.3, §6.3.4): the
   * JID must be the actor's own (or the actor manages the node's subscriptions),
   * it must hold one, and with several the subid must say which.
   */
  private subscriptionOf(actor: Actor, n: NodeState, jid: string, subid: string | undefined, what: string): Subscription {
    if (!isValidJid(jid)) throw errors.badRequest('invalid-jid', `invalid JID ${jid}`);
    if (bareJid(jid) !== actor.bare && !this.may('manage-subscriptions', n.rec.id, actor.bare))
      throw errors.forbidden(`you may not ${what} for ${jid}`);
    const subs = [...n.subs.values()].filter((s) => s.jid === jid);
    if (subs.length === 0) throw new PubsubError('unexpected-request', { pubsub: 'not-subscribed', text: `${jid} holds no subscription to ${n.rec.id}` });
    if (subid) {
      const target = subs.find((s) => s.subid === subid);
      if (!target) throw errors.notAcceptable('invalid-subid', `no subscription ${subid} of ${jid} to ${n.rec.id}`);
      return target;
    }
    if (subs.length > 1) throw errors.badRequest('subid-required', `${jid} holds ${subs.length} subscriptions to ${n.rec.id}: say which with subid`);
    return subs[0]!;
  }

  unsubscribe(actor: Actor, id: string, jid: string, subid?: string): void {
    const n = this.node(id);
    const target = this.subscriptionOf(actor, n, jid, subid, 'unsubscribe');
    this.store.deleteSubscription(id, target.subid);
    n.subs.delete(target.subid);
  }

  /** One subscription with its options (XEP-0060 §6.3.2). */
  subscriptionOptions(actor: Actor, id: string, jid: string, subid?: string): Subscription {
    return { ...this.subscriptionOf(actor, this.node(id), jid, subid, 'read subscription options') };
  }

  /** Replace a subscription's options (XEP-0060 §6.3.5). */
  setSubscriptionOptions(actor: Actor, id: string, jid: string, subid: string | undefined, options: SubscriptionOptions): Subscription {
    const n = this.node(id);
    const sub = this.subscriptionOf(actor, n, jid, subid, 'set subscription options');
    checkSubscriptionOptions(options, n.rec.config.node_type, this.now());
    this.checkFilter(options);
    sub.options = { ...options };
    this.store.putSubscription(sub);
    return { ...sub };
  }

  /** Default subscription options, of the service or of one node (XEP-0060 §6.4). */
  defaultSubscriptionOptions(actor: Actor, id?: string): SubscriptionOptions {
    if (id !== undefined) this.check('discover', this.node(id), actor);
    return { ...DEFAULT_SUBSCRIPTION_OPTIONS };
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
    if (n.rec.config.node_type === 'collection')
      throw errors.unsupported('retrieve-items', `${id} is a collection: it holds nodes, not items; retrieve from its leaves (pubsub#children)`);
    if (!n.rec.config.persist_items) return { items: [], count: 0, firstIndex: 0 };
    const page = this.store.getItems(id, q);
    if (page.missingCursor !== undefined) throw errors.itemNotFound(`no item ${page.missingCursor} in node ${id}`);
    if (q.ids && page.items.length === 0) throw errors.itemNotFound(`no such item in node ${id}`);
    return page;
  }

  /**
   * Archive query (XEP-0313 on a node). The same decision as retrieving items:
   * whoever may not look back at a node (no access, or voxnet#history off) may not
   * query its archive either.
   */
  queryArchive(actor: Actor, id: string, q: ArchiveQuery): ArchivePage {
    const n = this.node(id);
    this.check('retrieve-items', n, actor);
    if (!n.rec.config.persist_items) return { items: [], complete: true, count: 0 };
    const page = this.store.queryArchive(id, q);
    if (page.missingCursor !== undefined) throw errors.itemNotFound(`no item ${page.missingCursor} in node ${id}`);
    return page;
  }

  /** Age retention: remove items older than each node's max_age. Returns the number removed. */
  expireItems(): number {
    let removed = 0;
    const now = this.now();
    for (const n of this.nodes.values()) {
      const age = n.rec.config.max_age;
      if (age > 0 && n.rec.config.persist_items) removed += this.store.expire(n.rec.id, now - age * 1000).length;
    }
    return removed;
  }

  // ---------------------------------------------------------------- publisher use cases

  /**
   * Publish items. Resolves once they are stored; notifications are emitted after.
   * `options` are publish-options: preconditions on the node configuration (and
   * the configuration of a node created on the fly).
   */
  publish(actor: Actor, id: string, items: PublishInput[], options?: NodeConfigChanges): Item[] {
    if (!id) throw errors.badRequest('nodeid-required');
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
    if (cfg.node_type === 'collection') throw errors.unsupported('publish', `${id} is a collection: publish to one of its leaves`);
    // XEP-0060 §7.1 (publication scenarios): a transient notification-only node takes
    // no item at all; every other node needs one, and payload nodes a payload in it.
    const notificationOnlyTransient = !cfg.persist_items && !cfg.deliver_payloads;
    if (notificationOnlyTransient && items.length > 0)
      throw errors.badRequest('item-forbidden', 'this node is transient and notification-only (persist_items and deliver_payloads off): publish without an item');
    if (!notificationOnlyTransient && items.length === 0) throw errors.badRequest('item-required', 'publish at least one item');
    for (const it of items) {
      if (it.id !== undefined) {
        const bad = idProblem(it.id);
        if (bad) throw errors.badRequest(undefined, `invalid item id: it ${bad}`);
      }
      if (!it.payload && cfg.deliver_payloads) throw errors.badRequest('payload-required', 'this node delivers payloads: the item needs one');
      if (Buffer.byteLength(it.payload) > cfg.max_payload_size)
        throw errors.notAcceptable('payload-too-big', `payload larger than ${cfg.max_payload_size} bytes`);
      if (it.payload) this.checkPayload(id, cfg, it);
    }
    const ids = new Set<string>();
    const toStore = items.map((it) => {
      const itemId = it.id || randomUUID();
      if (ids.has(itemId)) throw errors.badRequest(undefined, `item id ${itemId} appears twice`);
      ids.add(itemId);
      const keys = it.payload ? this.describePayload(id, cfg, it) : undefined;
      return { id: itemId, payload: it.payload, publisher: actor.bare, published: now, ...(keys?.ivorn ? { ivorn: keys.ivorn } : {}) };
    });
    // The items and what the domain-event hook writes for them (the policy's release
    // jobs) are one transaction: a full disk refuses both, never stores one alone.
    const stored = this.store.atomically(() => {
      const s: Item[] =
        cfg.persist_items && cfg.max_items > 0
          ? this.store.publishItems(id, toStore, cfg.max_items).stored
          : toStore.map((it) => ({ ...it, node: id, seq: --this.transientSeq }));
      this.fire({ kind: 'items-published', node: id, items: s });
      return s;
    });
    if (cfg.deliver_notifications) this.notifyItems(actor, n, stored, items.map((it) => it.parsed));
    return stored;
  }

  /**
   * Tell an item's recipients. Subscriptions with a filter (voxnet#filter) get only
   * the items it accepts: each distinct filter is evaluated once per item, before
   * fan-out; without filters the items go out together, as published.
   */
  private notifyItems(actor: Actor, n: NodeState, stored: Item[], parsed: unknown[]): void {
    const cfg = n.rec.config;
    const recipients = this.itemRecipients(n);
    const filterOf = this.subscriptionFilters(n, recipients);
    if (!filterOf || !this.filters) {
      this.notify(actor, { kind: 'items', node: n.rec.id, items: stored, recipients, config: cfg, parsed });
      return;
    }
    const filters = this.filters;
    stored.forEach((it, i) => {
      const r = applyFilters(recipients, (subid) => filterOf.get(subid), (fs) => filters.passing(it.payload, parsed[i], fs));
      if (r.length) this.notify(actor, { kind: 'items', node: n.rec.id, items: [it], recipients: r, config: cfg, parsed: [parsed[i]] });
    });
  }

  /** subid → filter of the recipients' subscriptions (on the node and the collections above), or undefined when none has one. */
  private subscriptionFilters(n: NodeState, recipients: Recipient[]): Map<string, string> | undefined {
    const wanted = new Set(recipients.flatMap((r) => r.subids));
    let out: Map<string, string> | undefined;
    for (const x of [n, ...this.ancestors(n).map(([c]) => c)])
      for (const s of x.subs.values())
        if (s.options.filter && wanted.has(s.subid)) (out ??= new Map()).set(s.subid, s.options.filter);
    return out;
  }

  /** A filter must parse (bad-request naming the column); a service without a filter engine refuses filters. */
  private checkFilter(o: SubscriptionOptions): void {
    if (o.filter === null) return;
    if (!this.filters) throw errors.unsupported('subscription-options', 'this service evaluates no voxnet#filter');
    this.filters.check(o.filter);
  }

  private checkPreconditions(n: NodeState, options: NodeConfigChanges): void {
    const d = firstDifference(n.rec.config, options);
    if (d) throw errors.conflict('precondition-not-met', `${fieldVar(d.key)} is ${d.have}, not ${d.want}`);
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
    // With what the hook writes (cancelled release jobs): a full disk refuses both.
    const removed = this.store.atomically(() => {
      const r = this.store.retractItems(id, itemIds);
      if (r.length) this.fire({ kind: 'items-retracted', node: id, ids: r });
      return r;
    });
    if ((notify || n.rec.config.notify_retract) && n.rec.config.deliver_notifications && removed.length)
      this.notify(actor, { kind: 'retract', node: id, ids: removed, recipients: this.itemRecipients(n) });
  }

  /** Direct read for the service's own components (policy reconcile, catch-up): no access check. */
  nodeConfig(id: string): NodeConfig | undefined {
    const n = this.nodes.get(id);
    return n ? { ...n.rec.config } : undefined;
  }
}
