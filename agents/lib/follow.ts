/**
 * Following a node: live notifications plus catch-up, so that nothing is missed
 * and nothing is handled twice.
 *
 * The cursor (kept in the agent state) is the newest item *fetched* from the
 * service with every item before it handled: it only moves through fetches
 * (XEP-0059 `after` paging), never on a live notification, because a
 * notification can be lost (the agent or the broker restarted) while a later
 * one arrives. Live items are handled at once for latency; the next fetch
 * (after a reconnection, when the service comes back, and every `resyncMs` as a
 * safety net) picks up whatever was not delivered, and the ids and IVORNs
 * remembered in the state keep anything from being handled twice.
 *
 * If the cursor item is gone (trimmed by max_items, retracted), the follower
 * walks back from the newest page to the newest item it remembers and handles
 * what lies after it.
 */
import { EventEmitter } from 'node:events';
import type { Element } from '@xmpp/xml';
import type { Agent } from './connect.ts';
import { XmppIqError, isTransient } from '../../common/xmpp/iq-errors.ts';
import { backoffDelay } from '../../common/backoff.ts';
import { isStorageFull } from '../../common/storage-full.ts';
import { itemFromElement, type PubsubItem } from './xml.ts';

export type FollowedItem = PubsubItem & {
  /** True when the item came in a notification, false when a catch-up fetched it. */
  live: boolean;
};

/** Called once per item, in order; the next item waits for the returned promise. */
export type ItemHandler = (item: FollowedItem) => void | Promise<void>;

/**
 * Called with the items ready at once (a fetched page, the live items that came while
 * the previous call ran), in order, at most `maxItems` each; the next call waits for the
 * returned promise, and the state (cursor, handled ids) is written once per call.
 */
export type BatchHandler = { batch: (items: FollowedItem[]) => void | Promise<void>; maxItems: number };

export type FollowOptions = {
  /**
   * Where to start when the state holds no cursor for the node: 'latest' (default,
   * only items published from now on), 'beginning' (everything the node holds),
   * or an item id (the items published after it; this one overrides a stored cursor,
   * unless it is no longer in the node: then the stored cursor is used, and without
   * one following fails with "no item").
   */
  since?: string;
  /**
   * Start at a point of the node's archive instead (XEP-0313): the items published
   * at or after this time, or the newest `last` items. Like an item id in `since`,
   * this overrides a stored cursor (items already handled are still skipped).
   */
  start?: { time: Date } | { last: number };
  /** Subscription options to subscribe with (and to set on an existing subscription), e.g. { 'voxnet#filter': '...' }. */
  subscriptionOptions?: Record<string, string>;
  /** Subscribe the agent's bare JID (default true; false = poll by fetches only). */
  subscribe?: boolean;
  /** Unsubscribe on stop() (default false: the subscription outlives the process). */
  unsubscribeOnStop?: boolean;
  /**
   * Items per fetch (default 20). Keep pages well under the server's stanza limit
   * (Prosody: 512 KB from a component): 20 typical VOEvents are 50-200 KB.
   */
  pageSize?: number;
  /** Re-fetch after the cursor this often (default: the agent's resyncMs). */
  resyncMs?: number;
  /** Emit 'alarm' when no live item arrived for this long (e.g. a heartbeat node). */
  silenceMs?: number;
  /** Most items handled when recovering from a vanished cursor (default 10000). */
  maxRecover?: number;
  /** Stop after handing this many items to the handler (emits 'limit'); nothing after them counts as handled. */
  maxItems?: number;
  /**
   * Dedupe by IVORN within this node only (default false: a packet handled on any
   * followed node is not handled again). For relays whose every node has its own
   * audience, e.g. one chat room per level node.
   */
  ivornPerNode?: boolean;
};

export type SilenceAlarm = {
  node: string;
  /** How long nothing has arrived. */
  silentForMs: number;
  /** When the last live item arrived (undefined: none since following began). */
  lastItemAt?: Date;
};

class Stopped extends Error {}

/**
 * Events: 'alarm' (SilenceAlarm), 'recovered' (SilenceAlarm), 'retract' (ids: string[]),
 * 'purge', 'delete', 'handler-error' (err, item), 'caught-up', 'limit', 'stopped'.
 */
export class Follower extends EventEmitter {
  private chain: Promise<void> = Promise.resolve();
  private syncing = false;
  private syncAgain = false;
  private needSubscribe = true;
  private buffered: FollowedItem[] = [];
  /** Batch mode: live items waiting for the next handler call, and whether a call is queued. */
  private liveQueue: FollowedItem[] = [];
  private drainQueued = false;
  private firstSyncDone = false;
  /** The item of an explicit `since` is gone from the node and the state held a cursor: the state wins. */
  private sinceGone = false;
  private firstSync?: { resolve: () => void; reject: (e: Error) => void };
  private stopped = false;
  private stopping?: Promise<void>;
  private failures = 0;
  /** The last state write found the disk full (warned once until one succeeds). */
  private stateFull = false;
  private resyncTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private silenceTimer?: NodeJS.Timeout;
  private readonly startedAt = Date.now();
  private lastLiveAt?: number;
  private alarmed = false;
  private handledCount = 0;
  private readonly pageSize: number;

  private readonly onOnline = () => {
    this.needSubscribe = true;
    this.requestSync('reconnected');
  };
  private readonly onServiceUp = () => {
    this.needSubscribe = true;
    this.requestSync('service back');
  };

  constructor(
    readonly agent: Agent,
    readonly node: string,
    private readonly handler: ItemHandler | BatchHandler,
    private readonly opts: FollowOptions = {},
  ) {
    super();
    this.pageSize = Math.max(1, opts.pageSize ?? 20);
  }

  private get log() {
    return this.agent.log;
  }

  /** Subscribe and catch up once; resolves when done (rejects on a permanent error such as a missing node). */
  async start(): Promise<void> {
    this.agent.on('online', this.onOnline);
    this.agent.on('service-up', this.onServiceUp);
    this.armSilence();
    await new Promise<void>((resolve, reject) => {
      this.firstSync = { resolve, reject };
      this.requestSync('start');
    });
    const every = this.opts.resyncMs ?? 0;
    if (every > 0) {
      this.resyncTimer = setInterval(() => this.agent.isOnline() && this.requestSync('periodic'), every);
      this.resyncTimer.unref();
    }
  }

  /** Live items received and not yet handed to the handler. */
  get waiting(): number {
    return this.liveQueue.length + this.buffered.length;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Fetch what the service holds after the cursor now (e.g. after the caller noticed something). */
  resync(): void {
    this.requestSync('requested');
  }

  /** Stop: the item in hand finishes, nothing more is handled. */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.stopped = true;
    clearInterval(this.resyncTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
    this.agent.off('online', this.onOnline);
    this.agent.off('service-up', this.onServiceUp);
    this.firstSync?.reject(new Error('stopped before the first catch-up'));
    this.firstSync = undefined;
    this.stopping = (async () => {
      await this.chain.catch(() => {});
      if (this.opts.unsubscribeOnStop && this.agent.isOnline()) await this.agent.unsubscribe(this.node).catch(() => {});
      this.emit('stopped');
    })();
    return this.stopping;
  }

  // ------------------------------------------------------------------ live events (called by the agent)

  onEvent(ev: Element): void {
    if (this.stopped) return;
    if (ev.name === 'items') {
      const retracted = ev.getChildren('retract').map((r) => r.attrs.id ?? '');
      if (retracted.length) this.emit('retract', retracted);
      const items = ev.getChildren('item');
      if (items.length === 0) return;
      this.kickSilence();
      for (const it of items) {
        const item: FollowedItem = { ...itemFromElement(this.node, it), live: true };
        if (this.syncing) this.buffered.push(item);
        else if (typeof this.handler === 'function') this.enqueue(() => this.process(item, false));
        else {
          this.liveQueue.push(item);
          if (!this.drainQueued) {
            this.drainQueued = true;
            this.enqueue(async () => {
              while (this.liveQueue.length) await this.processMany(this.liveQueue.splice(0, (this.handler as BatchHandler).maxItems), false);
              this.drainQueued = false;
            });
          }
        }
      }
    } else if (ev.name === 'purge') {
      this.log.warn({ node: this.node }, 'node purged');
      this.emit('purge');
    } else if (ev.name === 'delete') {
      this.log.warn({ node: this.node }, 'node deleted');
      this.emit('delete');
    }
  }

  // ------------------------------------------------------------------ sync

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(task).catch((e) => {
      if (!(e instanceof Stopped)) this.log.error({ err: (e as Error).stack, node: this.node }, 'follower task failed');
    });
  }

  private requestSync(reason: string): void {
    if (this.stopped) return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    clearTimeout(this.retryTimer);
    this.enqueue(async () => {
      let ok = true;
      do {
        this.syncAgain = false;
        try {
          this.log.debug({ node: this.node, reason }, 'catching up');
          await this.syncOnce();
          ok = true;
          this.failures = 0;
          if (!this.firstSyncDone) {
            this.firstSyncDone = true;
            this.firstSync?.resolve();
            this.firstSync = undefined;
          }
          this.emit('caught-up');
        } catch (e) {
          ok = false;
          if (e instanceof Stopped || this.stopped) break;
          this.syncFailed(e as Error);
        }
      } while (ok && this.syncAgain && !this.stopped);
      this.syncing = false;
      // Live items that came during the fetch, in arrival order (those it fetched are skipped as seen).
      const live = this.buffered;
      this.buffered = [];
      await this.processAll(live, false);
    });
  }

  private syncFailed(err: Error): void {
    const permanent = !isTransient(err);
    if (!this.firstSyncDone && permanent) {
      this.firstSync?.reject(err);
      this.firstSync = undefined;
      return;
    }
    const delay = backoffDelay(this.failures++, { initialMs: 1000, maxMs: 30_000 });
    this.log.warn({ node: this.node, err: err.message, retryInMs: delay }, 'catch-up failed');
    // Offline: the reconnection triggers the next attempt. Online: retry after a while.
    if (this.agent.isOnline()) {
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.requestSync('retry'), delay);
      this.retryTimer.unref();
    }
  }

  private check(): void {
    if (this.stopped) throw new Stopped();
  }

  private async syncOnce(): Promise<void> {
    const { agent, node } = this;
    const state = agent.state;
    if (this.needSubscribe && this.opts.subscribe !== false) {
      const sub = await agent.ensureSubscribed(node, this.opts.subscriptionOptions);
      if (sub.subscription !== 'subscribed') this.log.warn({ node, subscription: sub.subscription }, 'subscription is not active yet');
      this.needSubscribe = false;
    }
    this.check();
    let since = this.opts.since ?? 'latest';
    if (!this.firstSyncDone && this.opts.start) {
      // The archive says which item lies just before the requested start ('' = the node's beginning).
      const s = this.opts.start;
      const page = 'time' in s
        ? await agent.archive(node, { end: new Date(s.time.getTime() - 1), before: '', max: 1 })
        : await agent.archive(node, { before: '', max: s.last + 1 });
      const before = 'time' in s ? page.items[0] : page.items.length > s.last ? page.items[0] : undefined;
      since = before?.id ?? 'beginning';
      if (since === 'beginning') state.setCursor(node, '');
    }
    const explicit = !this.firstSyncDone && !this.sinceGone && since !== 'latest' && since !== 'beginning';
    let cursor = explicit ? since : state.cursor(node);
    if (cursor === undefined) {
      if (since === 'latest') {
        // First time on this node: start after its newest item ('' = the node is empty, all to come is new).
        const page = await agent.getItems(node, { before: '', max: 1 });
        state.setCursor(node, page.items.at(-1)?.id ?? '');
        state.save();
        return;
      }
      cursor = '';
    }
    if (cursor === '') {
      const first = await agent.getItems(node, { index: 0, max: this.pageSize });
      await this.processAll(first.items.map((it) => ({ ...it, live: false })), true);
      if (isLastPage(first, this.pageSize)) return;
      cursor = first.items.at(-1)!.id;
    }
    for (;;) {
      this.check();
      let page;
      try {
        page = await agent.getItems(node, { after: cursor, max: this.pageSize });
      } catch (e) {
        if (!(e instanceof XmppIqError && e.condition === 'item-not-found')) throw e;
        if (explicit && cursor === since) {
          // A restarted `--since ID` whose item was trimmed away (max_items, max_age)
          // resumes from the saved state when there is one: it is newer than ID (every
          // item after ID handled was recorded), and nothing is printed twice.
          if (state.cursor(node) === undefined) throw new Error(`no item '${since}' in node ${node}`);
          this.log.warn({ node, since, cursor: state.cursor(node) }, `item '${since}' is no longer in the node; resuming from the saved state`);
          this.sinceGone = true;
          return this.syncOnce();
        }
        await this.recover(cursor);
        return;
      }
      if (explicit && cursor === since && page.items.length === 0) {
        // Nothing after the requested item yet: it is where we stand.
        state.setCursor(node, since);
        state.save();
      }
      await this.processAll(page.items.map((it) => ({ ...it, live: false })), true);
      if (isLastPage(page, this.pageSize)) return;
      cursor = page.items.at(-1)!.id;
    }
  }

  /** The cursor item is gone: walk back from the newest page to the newest item already handled. */
  private async recover(lost: string): Promise<void> {
    const { agent, node } = this;
    const state = agent.state;
    const max = this.opts.maxRecover ?? 10_000;
    this.log.warn({ node, cursor: lost }, 'cursor item is gone from the node; looking for the newest item already handled');
    const collected: PubsubItem[] = [];
    let anchor: string | undefined;
    let before = '';
    for (;;) {
      this.check();
      const page = await agent.getItems(node, { before, max: this.pageSize });
      const items = page.items;
      let k = items.length - 1;
      while (k >= 0 && !state.hasId(node, items[k]!.id)) k--;
      if (k >= 0) {
        anchor = items[k]!.id;
        collected.unshift(...items.slice(k + 1));
        break;
      }
      collected.unshift(...items);
      // The service may cut a page short (stanza size limit): only RSM's index says we reached the start.
      if (items.length === 0 || page.firstIndex === 0 || (page.firstIndex === undefined && items.length < this.pageSize)) break;
      if (collected.length >= max) {
        this.log.error({ node, handled: collected.length }, 'no handled item found within maxRecover items; older items are skipped');
        break;
      }
      before = items[0]!.id;
    }
    state.setCursor(node, anchor ?? '');
    await this.processAll(collected.map((it) => ({ ...it, live: false })), true);
    state.save();
  }

  /** Items in order: one by one to an item handler, in calls of at most maxItems to a batch handler. */
  private async processAll(items: FollowedItem[], fetched: boolean): Promise<void> {
    if (typeof this.handler === 'function') {
      for (const it of items) await this.process(it, fetched);
      return;
    }
    for (let i = 0; i < items.length; i += this.handler.maxItems) await this.processMany(items.slice(i, i + this.handler.maxItems), fetched);
  }

  private process(item: FollowedItem, fetched: boolean): Promise<void> {
    return this.processMany([item], fetched);
  }

  /**
   * Hand items to the handler unless seen (by id or IVORN); remember them; move
   * the cursor for fetched items. The new state is written before the handler
   * runs and renamed into place right after it returns, so that a crash repeats
   * items only if it strikes in between those two instants.
   */
  private async processMany(items: FollowedItem[], fetched: boolean): Promise<void> {
    this.check();
    const state = this.agent.state;
    const fresh: FollowedItem[] = [];
    for (let item of items) {
      const ivornKey = item.ivorn !== undefined && this.opts.ivornPerNode ? `${this.node}\n${item.ivorn}` : item.ivorn;
      const seen = state.hasId(this.node, item.id) || (ivornKey !== undefined && state.hasIvorn(ivornKey)) || fresh.some((f) => f.id === item.id);
      if (seen) this.log.debug({ node: this.node, id: item.id, ivorn: item.ivorn }, 'skipping an item already handled');
      else if (!item.payload && item.live) {
        // Notification without payload (deliver_payloads off): fetch the item itself.
        const full = await this.agent.getItem(this.node, item.id).catch(() => undefined);
        if (full) item = { ...full, live: true };
        this.check();
      }
      state.remember(this.node, item.id, ivornKey);
      if (fetched) state.setCursor(this.node, item.id);
      if (!seen) fresh.push(item);
    }
    let commit: () => void;
    try {
      commit = state.stage();
      this.stateFull = false;
    } catch (e) {
      if (!isStorageFull(e)) throw e;
      // A full state directory must not hold back an alert: handle it and keep it in memory
      // (never repeated while this process runs); the state is written with the next item
      // once there is room. Only a crash before that repeats it.
      if (!this.stateFull) this.log.warn({ node: this.node, state: state.file, err: (e as Error).message }, 'the state directory is full: items are handled but not recorded on disk until space returns (a crash meanwhile repeats them)');
      this.stateFull = true;
      commit = () => {};
    }
    const handle = async (call: () => void | Promise<void>, what: FollowedItem[]) => {
      try {
        await call();
      } catch (e) {
        // The items count as handled: a handler that always fails must not block the stream.
        this.log.error({ node: this.node, ids: what.map((i) => i.id), err: (e as Error).stack ?? String(e) }, 'item handler failed');
        for (const it of what) this.emit('handler-error', e, it);
      }
    };
    for (const it of fresh) this.emit('item', it);
    if (typeof this.handler === 'function') {
      const h = this.handler;
      for (const it of fresh) await handle(() => h(it), [it]);
    } else if (fresh.length) {
      const h = this.handler;
      await handle(() => h.batch(fresh), fresh);
    }
    commit();
    if (fresh.length && this.opts.maxItems !== undefined && (this.handledCount += fresh.length) >= this.opts.maxItems) {
      this.emit('limit');
      // A limit reached during the first catch-up is a success, not an interruption.
      this.firstSync?.resolve();
      this.firstSync = undefined;
      void this.stop();
    }
  }

  // ------------------------------------------------------------------ silence watchdog

  private armSilence(): void {
    const ms = this.opts.silenceMs;
    if (!ms || this.stopped) return;
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => {
      if (this.stopped || this.alarmed) return;
      this.alarmed = true;
      const alarm = this.silence();
      this.log.error(alarm, 'silence alarm: no item arrived');
      this.emit('alarm', alarm);
    }, ms);
    this.silenceTimer.unref();
  }

  private silence(): SilenceAlarm {
    return {
      node: this.node,
      silentForMs: Date.now() - (this.lastLiveAt ?? this.startedAt),
      lastItemAt: this.lastLiveAt !== undefined ? new Date(this.lastLiveAt) : undefined,
    };
  }

  private kickSilence(): void {
    if (this.alarmed) {
      const info = this.silence();
      this.alarmed = false;
      this.log.info(info, 'items arrive again');
      this.emit('recovered', info);
    }
    this.lastLiveAt = Date.now();
    this.armSilence();
  }
}

/**
 * Whether a forward page is the last one. The service may return fewer items than
 * asked (it cuts replies at its stanza size limit), so RSM's index and count decide;
 * a short page means the end only when the service gave no RSM information.
 */
function isLastPage(page: { items: unknown[]; count?: number; firstIndex?: number }, pageSize: number): boolean {
  if (page.items.length === 0) return true;
  if (page.count !== undefined && page.firstIndex !== undefined) return page.firstIndex + page.items.length >= page.count;
  return page.items.length < pageSize;
}
