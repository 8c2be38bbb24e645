/**
 * The broker's event threads: every stored alert (VOEvent, or JSON notice inside
 * an XEP-0335 <json/> element) joins the thread of its event, kept in tables next
 * to the store's. What links alerts and what a thread's state is are decided in
 * voevent/thread.ts; this file only keeps the index and answers queries.
 *
 * Crash safety: the keeper follows the items table by sequence number and
 * remembers the last one it indexed, so an item stored just before a crash is
 * indexed when the broker starts again. Queries show only the alerts of nodes
 * the asker may retrieve items from (the core's decision), so a thread never
 * reveals an embargoed or closed node's alert; the state is folded from those.
 */
import { factsOfJson, factsOfVOEvent, fromElement, joinThreads, parse, threadKeysOf, threadState, type AlertFacts, type ThreadEntry, type ThreadState, type XmlElement } from '../../voevent/index.ts';
import { errors } from '../../pubsub/errors.ts';
import type { PubsubService } from '../core/service.ts';
import type { Actor } from '../../pubsub/types.ts';
import type { ThreadIndexOp, ThreadIndexStore } from '../store/store.ts';

const JSON_NS = 'urn:xmpp:json:0';

export type ThreadAnswer = { thread: string; state: ThreadState };

function localName(name: string): string {
  const i = name.indexOf(':');
  return i === -1 ? name : name.slice(i + 1);
}

function decode(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos);/g, (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e]!);
}

const JSON_ELEMENT = /^\s*<(?:[\w.-]+:)?json\b[^>]*>([\s\S]*)<\/(?:[\w.-]+:)?json>\s*$/;

/** The facts of a stored payload (from the tree the publish was parsed into when there is one), or undefined for non-alerts. */
export function factsOfPayload(payload: string, parsed?: unknown): AlertFacts | undefined {
  try {
    const tree = parsed as XmlElement | undefined;
    if (tree && typeof tree.name === 'string') {
      if (localName(tree.name) === 'VOEvent') return factsOfVOEvent(fromElement(tree));
      if (localName(tree.name) !== 'json' || tree.attrs.xmlns !== JSON_NS) return undefined;
    }
    if (/^\s*<(?:[\w.-]+:)?VOEvent[\s>]/.test(payload)) return factsOfVOEvent(parse(payload));
    const m = JSON_ELEMENT.exec(payload);
    return m && payload.includes(JSON_NS) ? factsOfJson(JSON.parse(decode(m[1]!))) : undefined;
  } catch {
    return undefined; // not an alert we can read: it joins no thread
  }
}

export class ThreadKeeper {
  private fresh = 0;
  /** Trees of items published since the last catch-up, by node and id (not parsed again). */
  private pending = new Map<string, unknown>();
  private timer?: NodeJS.Immediate;

  constructor(
    private readonly store: ThreadIndexStore,
    private readonly service: PubsubService,
    private readonly opts: { onError?: (err: Error) => void } = {},
  ) {}

  /**
   * Index items just stored, off the publisher's path: right after the current
   * turn of the event loop, many publishes in one transaction (one fsync). A crash
   * before it runs loses nothing: the next catch-up starts from the last item indexed.
   */
  schedule(items: { node: string; id: string }[], parsed: unknown[] = []): void {
    items.forEach((it, i) => this.pending.set(`${it.node}\n${it.id}`, parsed[i]));
    this.timer ??= setImmediate(() => this.flush());
  }

  /** Index now whatever was scheduled. */
  flush(): void {
    if (this.timer) clearImmediate(this.timer);
    this.timer = undefined;
    const parsed = this.pending;
    this.pending = new Map();
    try {
      this.catchUp(parsed);
    } catch (err) {
      this.opts.onError?.(err as Error);
    }
  }

  /**
   * Index every stored item not indexed yet (after publishes, and at start).
   * `parsed`: the trees of items just published, by node and id, so they are not parsed again.
   */
  catchUp(parsed?: Map<string, unknown>): number {
    let n = 0;
    for (;;) {
      const rows = this.store.itemsAfter(this.store.threadMark(), 500);
      if (rows.length === 0) return n;
      // Keys decided in this batch, seen before the store has them.
      const overlay = new Map<string, string>();
      const ops: ThreadIndexOp[] = [];
      for (const r of rows) {
        const facts = factsOfPayload(r.payload, parsed?.get(`${r.node}\n${r.id}`));
        if (facts) this.add({ ...facts, published: r.published, node: r.node, item: r.id }, overlay, ops);
      }
      this.store.updateThreads(ops, rows[rows.length - 1]!.seq);
      n += rows.length;
    }
  }

  private add(entry: ThreadEntry, overlay: Map<string, string>, ops: ThreadIndexOp[]): string {
    const keys = threadKeysOf(entry);
    const extra = entry.eventId ? [`id:${entry.eventId.slice(entry.eventId.indexOf(':') + 1).toLowerCase()}`] : [];
    const found = keys.map((k) => overlay.get(k) ?? this.store.threadOfKey(k)).filter((x): x is string => !!x);
    const { thread, merged } = joinThreads(found, `t${Date.now().toString(36)}${(this.fresh++).toString(36).padStart(4, '0')}`);
    for (const m of merged) {
      ops.push({ op: 'merge', into: thread, from: m });
      for (const [k, t] of overlay) if (t === m) overlay.set(k, thread);
    }
    for (const k of [...keys, ...extra]) {
      overlay.set(k, thread);
      ops.push({ op: 'key', key: k, thread });
    }
    const { published, node, item, ...facts } = entry;
    ops.push({ op: 'entry', node: node!, item: item!, thread, published, facts: JSON.stringify(facts) });
    return thread;
  }

  /** Items that left their node (retracted, purged, node deleted) leave their thread. */
  forget(node: string, items?: string[]): void {
    this.store.forgetThreadEntries(node, items);
  }

  /** The thread id a reference names: an IVORN, a mission event id ("lvk:S190425z" or "S190425z"), or an item id. */
  resolve(ref: string): string | undefined {
    const r = ref.trim();
    if (r.startsWith('ivo://')) return this.store.threadOfKey(`ivorn:${r}`);
    const lower = r.toLowerCase();
    return (
      (r.includes(':') ? this.store.threadOfKey(`event:${lower.slice(0, lower.indexOf(':'))}${r.slice(r.indexOf(':'))}`) : undefined) ??
      this.store.threadOfKey(`id:${lower}`) ??
      this.store.threadOfItem(r)
    );
  }

  /**
   * The thread an actor asked for, made of the alerts of nodes it may retrieve
   * items from. A thread with none of those is item-not-found, as if absent.
   */
  query(actor: Actor, ref: string): ThreadAnswer {
    if (this.timer) this.flush(); // a query sees every item stored before it
    if (!ref.trim() || ref.length > 1024) throw errors.badRequest(undefined, 'give an IVORN, an event id or an item id (at most 1024 characters)');
    const thread = this.resolve(ref);
    const none = () => errors.itemNotFound(`no event thread for ${ref}`);
    if (!thread) throw none();
    const rows = this.store.threadEntries(thread);
    const visible: ThreadEntry[] = [];
    const mayRead = new Map<string, boolean>();
    for (const r of rows) {
      let ok = mayRead.get(r.node);
      if (ok === undefined) mayRead.set(r.node, (ok = this.service.may('retrieve-items', r.node, actor.bare)));
      if (ok) visible.push({ ...(JSON.parse(r.facts) as AlertFacts), published: r.published, node: r.node, item: r.item });
    }
    if (visible.length === 0) throw none();
    return { thread, state: threadState(dedupe(visible)) };
  }
}

/** One entry per alert: the same IVORN on several nodes (source and level nodes) counts once, at its first publication. */
function dedupe(entries: ThreadEntry[]): ThreadEntry[] {
  const byIvorn = new Map<string, ThreadEntry>();
  const out: ThreadEntry[] = [];
  for (const e of [...entries].sort((a, b) => a.published - b.published)) {
    if (!e.ivorn) out.push(e);
    else if (!byIvorn.has(e.ivorn)) {
      byIvorn.set(e.ivorn, e);
      out.push(e);
    }
  }
  return out;
}
