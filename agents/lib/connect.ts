/**
 * The agent: one XMPP client connection (xmpp.js) that reconnects with
 * exponential backoff and jitter, talks XEP-0060 to one publish-subscribe
 * service, and keeps followed nodes caught up (see follow.ts).
 *
 *   const agent = await connectAgent({ jid, password, server, service, stateDir, name: 'telescope' });
 *   await agent.follow('svom.fr/grb', async (item) => { ... }, { since: 'latest' });
 *   const id = await agent.publish('svom.fr/grb', xmlText, { id: itemIdFor(ivorn) });
 *   await agent.stop();
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { client, xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { trustCertificates } from '../../common/xmpp/tls.ts';
import { fixXmppUtf8Decoding } from '../../common/xmpp/utf8.ts';
import { silentLogger, type Logger } from './log.ts';
import type { ConnectionOptions } from './options.ts';
import { isStorageFull } from '../../common/storage-full.ts';
import { AgentState, lockStateFile, type StateOptions } from './state.ts';
import { archiveQueryElement, archivedItemOf, archivePageOf, MAM, type ArchivedItem, type ArchivePage, type ArchiveQuery } from './archive.ts';
import { itemFromElement, type PubsubItem } from './xml.ts';
import { NS } from '../../common/ns.ts';
import { embeddablePayload, rawXml } from '../../common/xml-standalone.ts';
import { NotConnectedError, XmppIqError } from '../../common/xmpp/iq-errors.ts';
import { IqCaller } from '../../common/xmpp/iq-caller.ts';
import { Reconnector } from '../../common/xmpp/reconnect.ts';

export type { PubsubItem };
import { Follower, type FollowOptions, type FollowedItem, type ItemHandler } from './follow.ts';
import { AgentMetrics } from './metrics.ts';
import { serveMetrics, type MetricsServer } from '../../common/metrics-http.ts';
import { backoffDelay, type BackoffOptions } from '../../common/backoff.ts';

export { backoffDelay, type BackoffOptions };

export type AgentOptions = ConnectionOptions & {
  /** Agent name for logs, the resource and the state file (default "agent"). */
  name?: string;
  log?: Logger;
  /** Persist follow() state in `<stateDir>/<stateName>.json` (locked against a second process). */
  stateDir?: string;
  /** Default `<name>-<bare JID>`. */
  stateName?: string;
  /** Or give the state directly (in-memory when neither this nor stateDir is given). */
  state?: AgentState;
  stateOptions?: StateOptions;
  backoff?: BackoffOptions;
  /** Retry the first connection with backoff instead of failing (a wrong password still fails). */
  waitForServer?: boolean;
  /** IQ reply timeout (default 15 s). */
  iqTimeoutMs?: number;
  /** Ping the service this often to notice a broker restart (default 15 s; 0 = never). */
  servicePingMs?: number;
  /** Followers re-fetch after their cursor this often, as a safety net (default 30 s; 0 = never). */
  resyncMs?: number;
  /** Give up a connection attempt that is not online after this long (default 20 s). */
  connectTimeoutMs?: number;
};

export type ItemsPage = {
  items: PubsubItem[];
  /** RSM: number of items in the node. */
  count?: number;
  /** RSM: index of the first returned item. */
  firstIndex?: number;
};

export type ItemsQuery = { max?: number; after?: string; before?: string; index?: number; ids?: string[] };

function bareOf(jid: string): string {
  const i = jid.indexOf('/');
  return (i === -1 ? jid : jid.slice(0, i)).toLowerCase();
}

function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9._@-]+/g, '_');
}

export class Agent extends EventEmitter {
  readonly name: string;
  readonly bare: string;
  readonly domain: string;
  readonly service: string;
  /** The server of the current (or next) connection: one of `servers`. */
  server: string;
  /** Every address given (`server` may list several, comma-separated: the nodes of a cluster); tried in turn after a lost connection. */
  readonly servers: string[];
  readonly log: Logger;
  readonly state: AgentState;
  /** Full JID once online. */
  jid: string;
  private readonly xmpp: ReturnType<typeof client>;
  private readonly iqs: IqCaller;
  private readonly reconnector: Reconnector;
  private readonly followers = new Set<Follower>();
  /** Archive queries in flight: queryid → the result messages received so far. */
  private readonly archiveResults = new Map<string, ArchivedItem[]>();
  private archiveSeq = 0;
  private readonly iqTimeoutMs: number;
  private readonly resyncMsDefault: number;
  private releaseLock?: () => void;
  private connectDeadline?: NodeJS.Timeout;
  private pingTimer?: NodeJS.Timeout;
  /** The /metrics endpoint, once serveMetrics() was called. */
  metricsServer?: MetricsServer;
  private reconnecting = false;
  private started = false;
  private stopping = false;
  private online = false;
  private serviceUp = true;
  private tlsReported = false;
  private everOnline = false;

  constructor(private readonly opts: AgentOptions) {
    super();
    this.name = opts.name ?? 'agent';
    this.log = opts.log ?? silentLogger();
    this.bare = bareOf(opts.jid);
    this.domain = this.bare.slice(this.bare.indexOf('@') + 1);
    this.service = opts.service ?? `pubsub.${this.domain}`;
    this.servers = (opts.server ?? `xmpp://${this.domain}:5222`).split(',').map((x) => x.trim()).filter(Boolean);
    this.server = this.servers[0]!;
    this.iqTimeoutMs = opts.iqTimeoutMs ?? 15_000;
    this.resyncMsDefault = opts.resyncMs ?? 30_000;
    this.iqs = new IqCaller(this.name, this.iqTimeoutMs);
    this.reconnector = new Reconnector(() => void this.reconnect(), opts.backoff);
    this.jid = this.bare;
    if (opts.state) this.state = opts.state;
    else if (opts.stateDir) {
      const file = join(opts.stateDir, `${slug(opts.stateName ?? `${this.name}-${this.bare}`)}.json`);
      this.releaseLock = lockStateFile(file);
      try {
        this.state = new AgentState(file, opts.stateOptions);
      } catch (e) {
        this.releaseLock();
        throw e;
      }
    } else this.state = new AgentState(undefined, opts.stateOptions);
    if (opts.trust?.length) trustCertificates(opts.trust);
    fixXmppUtf8Decoding();
    const username = this.bare.slice(0, this.bare.indexOf('@'));
    const password = opts.password;
    const resourceFromJid = opts.jid.includes('/') ? opts.jid.slice(opts.jid.indexOf('/') + 1) : undefined;
    this.xmpp = client({
      service: this.server,
      domain: this.domain,
      resource: opts.resource ?? resourceFromJid ?? `${this.name}-${randomBytes(4).toString('hex')}`,
      // PLAIN inside TLS costs nothing; xmpp.js's SCRAM-SHA-1 takes seconds of CPU.
      credentials: (authenticate: (c: object, m: string) => Promise<void>, mechanisms: string[]) =>
        authenticate({ username, password }, mechanisms.includes('PLAIN') ? 'PLAIN' : mechanisms[0]!),
    });
    // Reconnection is ours (backoff with jitter), not xmpp.js's fixed delay.
    this.xmpp.reconnect.stop();
    // Before the first session, start() reports what went wrong (once, with the fix); a log line first would repeat it.
    this.xmpp.on('error', (err: Error) => (this.everOnline ? this.log.warn({ err: err.message }, 'xmpp error') : this.log.debug({ err: err.message }, 'xmpp error')));
    this.xmpp.on('online', (address: { toString(): string }) => this.onOnline(address.toString()));
    this.xmpp.streamManagement?.on?.('resumed', () => this.onOnline(this.jid));
    this.xmpp.on('disconnect', () => this.onDisconnect());
    this.xmpp.on('stanza', (st: Element) => this.onStanza(st));
  }

  // ------------------------------------------------------------------ connection

  /** Connect (called by connectAgent). */
  async start(): Promise<void> {
    this.started = !!this.opts.waitForServer;
    try {
      await this.xmpp.start();
    } catch (e) {
      const err = e as Error & { condition?: string; code?: string };
      const auth = err.name === 'SASLError';
      const tlsFix = tlsProblem(err);
      // Waiting cannot cure a wrong password or an untrusted certificate: say so once, with the fix.
      if (!this.opts.waitForServer || auth || tlsFix) {
        this.stopping = true;
        this.reconnector.cancel();
        await this.xmpp.stop().catch(() => {});
        this.releaseLock?.();
        const why = auth ? `authentication failed (${err.condition ?? err.message})` : tlsFix ?? (err.message || err.name);
        throw new Error(`cannot connect to ${this.server} as ${this.bare}: ${why}`);
      }
      this.log.warn({ err: err.message, server: this.server }, 'server not reachable yet; retrying');
      this.scheduleReconnect();
      await this.whenOnline(Infinity);
    }
    this.started = true;
    const pingMs = this.opts.servicePingMs ?? 15_000;
    if (pingMs > 0) {
      this.pingTimer = setInterval(() => void this.checkService(Math.min(pingMs, this.iqTimeoutMs)), pingMs);
      this.pingTimer.unref();
    }
  }

  isOnline(): boolean {
    return this.online;
  }

  /** Resolves when online (at once if online); rejects after timeoutMs or when the agent stops. */
  whenOnline(timeoutMs = this.iqTimeoutMs): Promise<void> {
    if (this.online) return Promise.resolve();
    if (this.stopping) return Promise.reject(new NotConnectedError('agent stopped'));
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.off('online', onOnline);
        this.off('stopping', onStop);
        if (err) reject(err);
        else resolve();
      };
      const onOnline = () => done();
      const onStop = () => done(new NotConnectedError('agent stopped'));
      const timer = Number.isFinite(timeoutMs) ? setTimeout(() => done(new NotConnectedError(`not connected to ${this.server} within ${timeoutMs} ms`)), timeoutMs) : undefined;
      this.on('online', onOnline);
      this.on('stopping', onStop);
    });
  }

  private onOnline(address: string): void {
    clearTimeout(this.connectDeadline);
    this.jid = address;
    this.reconnector.succeeded();
    this.tlsReported = false;
    this.everOnline = true;
    this.online = true;
    this.serviceUp = true;
    this.log.info({ jid: address, server: this.server }, 'online');
    this.xmpp.send(xml('presence')).catch(() => {});
    this.emit('online', address);
  }

  private onDisconnect(): void {
    const was = this.online;
    this.online = false;
    this.iqs.rejectAll('disconnected before the reply came');
    if (was) {
      if (this.stopping) this.log.debug('disconnected');
      else this.log.warn('disconnected');
      this.emit('offline');
    }
    if (this.started && !this.stopping) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopping || this.reconnecting) return;
    const delay = this.reconnector.schedule();
    if (delay === undefined) return;
    // That server is down or cut off: with several (a cluster's nodes), the next attempt goes to the next one.
    if (this.servers.length > 1) {
      this.server = this.servers[(this.servers.indexOf(this.server) + 1) % this.servers.length]!;
      (this.xmpp as unknown as { options: { service: string } }).options.service = this.server;
    }
    this.log.info({ delay, attempt: this.reconnector.attempts, server: this.server }, 'reconnecting');
  }

  private async reconnect(): Promise<void> {
    if (this.stopping || this.online) return;
    this.reconnecting = true;
    // A connection attempt that neither fails nor comes online (e.g. refused authentication) is cut.
    clearTimeout(this.connectDeadline);
    this.connectDeadline = setTimeout(() => {
      if (!this.online && !this.stopping) {
        this.log.warn('connection attempt timed out');
        this.xmpp.disconnect().catch(() => {});
      }
    }, this.opts.connectTimeoutMs ?? 20_000);
    try {
      await this.xmpp.reconnect.reconnect();
    } catch (e) {
      const fix = tlsProblem(e as Error);
      if (fix && !this.tlsReported) {
        this.tlsReported = true;
        this.log.error({ server: this.server }, fix);
      } else this.log.debug({ err: (e as Error).message }, 'reconnection attempt failed');
    } finally {
      this.reconnecting = false;
    }
    // Failed without a socket close (so no 'disconnect' event): try again.
    const status = this.xmpp.status as string;
    if (!this.online && (status === 'disconnect' || status === 'offline')) this.scheduleReconnect();
  }

  private async checkService(timeoutMs: number): Promise<void> {
    if (!this.online || this.stopping) return;
    let up: boolean;
    try {
      await this.iq('get', xml('ping', { xmlns: NS.PING }), { timeoutMs });
      up = true;
    } catch (e) {
      if (e instanceof NotConnectedError) return;
      // An error reply from the service itself (it is up, just does not ping) counts as up.
      up = e instanceof XmppIqError && !e.transient;
    }
    if (up === this.serviceUp) return;
    this.serviceUp = up;
    if (up) {
      this.log.info({ service: this.service }, 'service is back');
      this.emit('service-up');
    } else {
      this.log.warn({ service: this.service }, 'service is not answering');
      this.emit('service-down');
    }
  }

  // ------------------------------------------------------------------ stanzas

  private onStanza(st: Element): void {
    this.emit('stanza', st);
    if (st.is('iq') && (st.attrs.type === 'result' || st.attrs.type === 'error')) {
      this.iqs.handle(st);
      return;
    }
    if (st.is('message') && this.archiveResults.size && st.getChild('result', MAM)) {
      const qid = st.getChild('result', MAM)!.attrs.queryid ?? '';
      const got = this.archiveResults.get(qid);
      const item = got && bareOf(st.attrs.from ?? '') === this.service.toLowerCase() ? archivedItemOf(st, qid) : undefined;
      if (item) got!.push(item);
      return;
    }
    if (st.is('message') && st.attrs.type !== 'error' && bareOf(st.attrs.from ?? '') === this.service.toLowerCase()) {
      const event = st.getChild('event', NS.EVENT);
      if (!event) return;
      for (const child of event.getChildElements()) {
        const node = child.attrs.node;
        if (!node) continue;
        for (const f of this.followers) if (f.node === node) f.onEvent(child);
      }
    }
  }

  /** Send any stanza (e.g. MUC presence or groupchat); rejects with NotConnectedError when offline. */
  async send(stanza: Element): Promise<void> {
    if (!this.online) throw new NotConnectedError(`not connected to ${this.server}`);
    await this.xmpp.send(stanza).catch((e: Error) => {
      throw new NotConnectedError(`could not send: ${e.message}`);
    });
  }

  /** Send an IQ to the service (or `to`); resolves with the result stanza, rejects with XmppIqError, NotConnectedError or IqTimeoutError. */
  iq(type: 'get' | 'set', child: Element, opts: { to?: string; timeoutMs?: number } = {}): Promise<Element> {
    if (!this.online) return Promise.reject(new NotConnectedError(`not connected to ${this.server}`));
    const id = this.iqs.nextId();
    const to = opts.to ?? this.service;
    return this.iqs.call(id, () => this.xmpp.send(xml('iq', { type, to, id }, child)), { to, timeoutMs: opts.timeoutMs });
  }

  // ------------------------------------------------------------------ XEP-0060

  /**
   * Publish one item; resolves with its id once the service stored it. `payload`
   * is an element or serialized XML of one element (no XML declaration). Waits up
   * to the IQ timeout for the connection when offline.
   */
  async publish(node: string, payload: Element | string, opts: { id?: string; publishOptions?: Record<string, string> } = {}): Promise<string> {
    const [id] = await this.publishItems(node, [{ id: opts.id, payload }], opts);
    return id ?? opts.id ?? '';
  }

  /**
   * Publish several items in one request; resolves with their ids once the service
   * stored them. The VOXnet broker stores them in one transaction (all or none, one
   * disk sync) and notifies them in one event; a service that takes one item per
   * publish refuses the request (bad-request) and nothing is stored.
   */
  async publishItems(node: string, items: { id?: string; payload: Element | string }[], opts: { publishOptions?: Record<string, string> } = {}): Promise<string[]> {
    await this.whenOnline();
    const els = items.map((it) => xml('item', { id: it.id }, typeof it.payload === 'string' ? rawXml(embeddablePayload(it.payload)) : it.payload));
    const children: Element[] = [xml('publish', { node }, ...els)];
    if (opts.publishOptions) {
      children.push(xml('publish-options', {}, xml('x', { xmlns: NS.DATA, type: 'submit' },
        xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, 'http://jabber.org/protocol/pubsub#publish-options')),
        ...Object.entries(opts.publishOptions).map(([k, v]) => xml('field', { var: k }, xml('value', {}, v))))));
    }
    const reply = await this.iq('set', xml('pubsub', { xmlns: NS.PUBSUB }, ...children));
    const stored = reply.getChild('pubsub', NS.PUBSUB)?.getChild('publish')?.getChildren('item') ?? [];
    return items.map((it, i) => stored[i]?.attrs.id ?? it.id ?? '');
  }

  /** Retrieve items (oldest first) with XEP-0059 paging. */
  async getItems(node: string, q: ItemsQuery = {}): Promise<ItemsPage> {
    const itemsEl = xml('items', { node }, ...(q.ids ?? []).map((id) => xml('item', { id })));
    const children: Element[] = [itemsEl];
    if (!q.ids) {
      const set = xml('set', { xmlns: NS.RSM });
      if (q.max !== undefined) set.append(xml('max', {}, String(q.max)));
      if (q.after !== undefined) set.append(xml('after', {}, q.after));
      else if (q.before !== undefined) set.append(xml('before', {}, q.before));
      else if (q.index !== undefined) set.append(xml('index', {}, String(q.index)));
      children.push(set);
    }
    const reply = await this.iq('get', xml('pubsub', { xmlns: NS.PUBSUB }, ...children));
    const ps = reply.getChild('pubsub', NS.PUBSUB);
    const items = (ps?.getChild('items')?.getChildren('item') ?? []).map((it) => itemFromElement(node, it));
    const rsm = ps?.getChild('set', NS.RSM);
    const count = rsm?.getChildText('count');
    const first = rsm?.getChild('first');
    return {
      items,
      count: count != null ? Number(count) : undefined,
      firstIndex: first?.attrs.index !== undefined ? Number(first.attrs.index) : undefined,
    };
  }

  /**
   * One page of a node's archive (XEP-0313): items matching the query in
   * publication order. Refusals come as XmppIqError (e.g. forbidden when the
   * node keeps no history for us).
   */
  async archive(node: string, q: ArchiveQuery = {}): Promise<ArchivePage> {
    const queryid = `q${(++this.archiveSeq).toString(36)}${randomBytes(3).toString('hex')}`;
    const got: ArchivedItem[] = [];
    this.archiveResults.set(queryid, got);
    try {
      const reply = await this.iq('set', archiveQueryElement(node, queryid, q));
      return archivePageOf(reply, got);
    } finally {
      this.archiveResults.delete(queryid);
    }
  }

  /** One item by id, or undefined when the node has no such item. */
  async getItem(node: string, id: string): Promise<PubsubItem | undefined> {
    try {
      return (await this.getItems(node, { ids: [id] })).items[0];
    } catch (e) {
      // No such item (or no such node yet: then there is no such item either).
      if (e instanceof XmppIqError && e.condition === 'item-not-found') return undefined;
      throw e;
    }
  }

  /** Subscribe the agent's bare JID, with subscription options (XEP-0060 §6.3.7) when given, e.g. { 'voxnet#filter': 'role = "observation"' }. */
  async subscribe(node: string, options?: Record<string, string>): Promise<{ subscription: string; subid?: string }> {
    const reply = await this.iq('set', xml('pubsub', { xmlns: NS.PUBSUB }, xml('subscribe', { node, jid: this.bare }),
      ...(options ? [xml('options', {}, subscriptionOptionsForm(options))] : [])));
    const sub = reply.getChild('pubsub', NS.PUBSUB)?.getChild('subscription');
    return { subscription: sub?.attrs.subscription ?? 'subscribed', subid: sub?.attrs.subid };
  }

  /**
   * Subscribe unless this account already holds a subscription to the node: a
   * service with multi-subscribe (XEP-0060 §6.1.6, ours) adds a subscription per
   * request, and an agent resubscribing at each reconnection must not pile them up.
   */
  async ensureSubscribed(node: string, options?: Record<string, string>): Promise<{ subscription: string; subid?: string }> {
    let mine: { subscription: string; subid?: string } | undefined;
    try {
      const reply = await this.iq('get', xml('pubsub', { xmlns: NS.PUBSUB }, xml('subscriptions', { node })));
      const subs = reply.getChild('pubsub', NS.PUBSUB)?.getChild('subscriptions')?.getChildren('subscription') ?? [];
      const s = subs.find((x) => x.attrs.jid === this.bare && (x.attrs.subscription === 'subscribed' || x.attrs.subscription === 'pending'));
      if (s) mine = { subscription: s.attrs.subscription!, subid: s.attrs.subid };
    } catch (e) {
      // A service without retrieve-subscriptions: subscribing is all we can do.
      if (!(e instanceof XmppIqError)) throw e;
    }
    // An existing subscription takes the options asked for now (e.g. a changed filter).
    if (mine?.subid && options)
      await this.iq('set', xml('pubsub', { xmlns: NS.PUBSUB }, xml('options', { node, jid: this.bare, subid: mine.subid }, subscriptionOptionsForm(options))));
    return mine ?? this.subscribe(node, options);
  }

  async unsubscribe(node: string): Promise<void> {
    await this.iq('set', xml('pubsub', { xmlns: NS.PUBSUB }, xml('unsubscribe', { node, jid: this.bare })));
  }

  /**
   * Follow a node: subscribe, then hand every item to `handler` exactly once, in
   * publication order, whether it arrives live or is fetched after a disconnection
   * (catch-up by XEP-0059 paging after the last confirmed item; dedupe by item id
   * and IVORN). Resolves once the first catch-up is done.
   */
  async follow(node: string, handler: ItemHandler, opts: FollowOptions = {}): Promise<Follower> {
    return this.startFollower(new Follower(this, node, handler, { resyncMs: this.resyncMsDefault, ...opts }));
  }

  /**
   * Follow a node as `follow` does, handing the items in batches: a fetched page, or the
   * live items that arrived while the previous batch was handled (at most `batchSize`);
   * the state is written once per batch. For relays whose far side takes batches.
   */
  async followBatch(node: string, handler: (items: FollowedItem[]) => void | Promise<void>, opts: FollowOptions & { batchSize: number }): Promise<Follower> {
    const { batchSize, ...rest } = opts;
    return this.startFollower(new Follower(this, node, { batch: handler, maxItems: Math.max(1, batchSize) }, { resyncMs: this.resyncMsDefault, ...rest }));
  }

  private async startFollower(f: Follower): Promise<Follower> {
    f.on('item', (it: PubsubItem) => this.emit('item', it));
    this.followers.add(f);
    f.once('stopped', () => this.followers.delete(f));
    try {
      await f.start();
    } catch (e) {
      await f.stop();
      throw e;
    }
    return f;
  }

  /** Serve /metrics (AgentMetrics) and /healthz (connected or not) on 127.0.0.1:port until stop(). */
  async serveMetrics(port: number): Promise<MetricsServer> {
    const m = new AgentMetrics(this.name);
    m.setConnected(this.online);
    this.on('online', () => m.setConnected(true));
    this.on('offline', () => m.setConnected(false));
    this.on('item', (it: PubsubItem) => m.itemHandled(it));
    this.metricsServer = await serveMetrics({
      port,
      registry: m.registry,
      health: () => (this.online ? { ok: true } : { ok: false, reason: `not connected to ${this.server}` }),
    });
    this.log.info({ url: `${this.metricsServer.url}/metrics` }, 'metrics and /healthz served');
    return this.metricsServer;
  }

  /** Graceful shutdown: followers finish the item in hand, state is saved, the stream is closed. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.emit('stopping');
    await this.metricsServer?.close();
    this.reconnector.cancel();
    clearTimeout(this.connectDeadline);
    clearInterval(this.pingTimer);
    await Promise.all([...this.followers].map((f) => f.stop()));
    try {
      this.state.save();
    } catch (e) {
      if (!isStorageFull(e)) throw e;
      this.log.error({ state: this.state.file, err: (e as Error).message }, 'state not saved: its directory is full (items handled since the last save will be handled again at the next start)');
    } finally {
      this.releaseLock?.();
    }
    if (this.online) await this.xmpp.send(xml('presence', { type: 'unavailable' })).catch(() => {});
    await this.xmpp.stop().catch(() => {});
    this.online = false;
    this.iqs.rejectAll('agent stopped');
    this.log.info('stopped');
  }

  /** For tests and tools: drop the connection as if the network failed (the agent reconnects). */
  async dropConnection(): Promise<void> {
    // xmpp.js wraps the TCP/TLS socket (after STARTTLS the TLS one is inside).
    type Sock = { destroy?: () => void; socket?: Sock | null };
    let s = this.xmpp.socket as Sock | null;
    while (s && !s.destroy && s.socket) s = s.socket;
    s?.destroy?.();
  }
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
]);

/** A certificate the server presented and we do not trust: the message with the fix, else undefined. */
export function tlsProblem(err: Error & { code?: string }): string | undefined {
  const code = err.code ?? '';
  if (!TLS_CODES.has(code) && !/certificate|self[- ]signed/i.test(err.message ?? '')) return undefined;
  const fix = code === 'ERR_TLS_CERT_ALTNAME_INVALID'
    ? 'connect with the server name the certificate was made for'
    : code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID'
      ? 'renew the server certificate (or check this machine\'s clock)'
      : "trust the server's certificate or its CA with --trust FILE (or VOXNET_TRUST=FILE)";
  return `the server's TLS certificate is not trusted (${err.message}): ${fix}`;
}

/** Connect an agent; resolves once it is online. */
export async function connectAgent(opts: AgentOptions): Promise<Agent> {
  const agent = new Agent(opts);
  await agent.start();
  if (opts.metricsPort !== undefined) await agent.serveMetrics(opts.metricsPort);
  return agent;
}

/** A submitted pubsub#subscribe_options form. */
function subscriptionOptionsForm(options: Record<string, string>): Element {
  return xml('x', { xmlns: NS.DATA, type: 'submit' },
    xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, 'http://jabber.org/protocol/pubsub#subscribe_options')),
    ...Object.entries(options).map(([k, v]) => xml('field', { var: k }, xml('value', {}, v))));
}
