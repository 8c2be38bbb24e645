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
import type Database from 'better-sqlite3';
import { factsOfJson, factsOfVOEvent, fromElement, joinThreads, parse, threadKeysOf, threadState, type AlertFacts, type ThreadEntry, type ThreadState, type XmlElement } from '../../voevent/index.ts';
import { errors } from '../../pubsub/errors.ts';
import type { PubsubService } from '../core/service.ts';
import type { Actor } from '../../pubsub/types.ts';

const META_SEQ = 'threads.seq';
const JSON_NS = 'urn:xmpp:json:0';

export type ThreadAnswer = { thread: string; state: ThreadState };

type Row = { seq: number; node: string; id: string; payload: string; published: number };

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
  private readonly q;
  private fresh = 0;
  /** Trees of items published since the last catch-up, by node and id (not parsed again). */
  private pending = new Map<string, unknown>();
  private timer?: NodeJS.Immediate;

  constructor(
    private readonly db: Database.Database,
    private readonly service: PubsubService,
    private readonly opts: { onError?: (err: Error) => void } = {},
  ) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS thread_keys (key TEXT PRIMARY KEY, thread TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS thread_keys_thread ON thread_keys(thread);
      CREATE TABLE IF NOT EXISTS thread_entries (
        node TEXT NOT NULL, item TEXT NOT NULL, thread TEXT NOT NULL, published INTEGER NOT NULL, facts TEXT NOT NULL,
        PRIMARY KEY (node, item));
      CREATE INDEX IF NOT EXISTS thread_entries_thread ON thread_entries(thread);
    `);
    this.q = {
      after: db.prepare('SELECT seq, node, id, payload, published FROM items WHERE seq > ? ORDER BY seq LIMIT 500'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?').pluck(),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
      threadOfKey: db.prepare('SELECT thread FROM thread_keys WHERE key = ?').pluck(),
      putKey: db.prepare('INSERT INTO thread_keys (key, thread) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET thread = excluded.thread'),
      moveKeys: db.prepare('UPDATE thread_keys SET thread = ? WHERE thread = ?'),
      moveEntries: db.prepare('UPDATE thread_entries SET thread = ? WHERE thread = ?'),
      putEntry: db.prepare(
        `INSERT INTO thread_entries (node, item, thread, published, facts) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(node, item) DO UPDATE SET thread = excluded.thread, published = excluded.published, facts = excluded.facts`,
      ),
      entries: db.prepare('SELECT node, item, published, facts FROM thread_entries WHERE thread = ?'),
      threadOfItem: db.prepare('SELECT thread FROM thread_entries WHERE item = ? LIMIT 1').pluck(),
      delItem: db.prepare('DELETE FROM thread_entries WHERE node = ? AND item = ?'),
      delNode: db.prepare('DELETE FROM thread_entries WHERE node = ?'),
    };
  }

  /**
   * Index items just stored, off the publisher's path: right after the current
   * turn of the event loop, many publishes in one transaction (one fsync). A crash
   * before it runs loses nothing: the next catch-up starts from the last item indexed.
   */
  schedule(items: { node: string; id: string }[], parsed: unknown[]): void {
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
   * Index every stored item not indexed yet (after a publish, and at start).
   * `parsed`: the trees of items just published, by item id, so they are not parsed again.
   */
  catchUp(parsed?: Map<string, unknown>): number {
    let n = 0;
    for (;;) {
      const mark = Number(this.q.getMeta.get(META_SEQ) ?? 0);
      const rows = this.q.after.all(mark) as Row[];
      if (rows.length === 0) return n;
      this.db.transaction(() => {
        for (const r of rows) {
          const facts = factsOfPayload(r.payload, parsed?.get(`${r.node}\n${r.id}`));
          if (facts) this.add({ ...facts, published: r.published, node: r.node, item: r.id });
        }
        this.q.setMeta.run(META_SEQ, String(rows[rows.length - 1]!.seq));
      })();
      n += rows.length;
    }
  }

  private add(entry: ThreadEntry): string {
    const keys = threadKeysOf(entry);
    const extra = entry.eventId ? [`id:${entry.eventId.slice(entry.eventId.indexOf(':') + 1).toLowerCase()}`] : [];
    const found = keys.map((k) => this.q.threadOfKey.get(k) as string | undefined).filter((x): x is string => !!x);
    const { thread, merged } = joinThreads(found, `t${Date.now().toString(36)}${(this.fresh++).toString(36).padStart(4, '0')}`);
    for (const m of merged) {
      this.q.moveKeys.run(thread, m);
      this.q.moveEntries.run(thread, m);
    }
    for (const k of [...keys, ...extra]) this.q.putKey.run(k, thread);
    const { published, node, item, ...facts } = entry;
    this.q.putEntry.run(node, item, thread, published, JSON.stringify(facts));
    return thread;
  }

  /** Items that left their node (retracted, purged, node deleted) leave their thread. */
  forget(node: string, items?: string[]): void {
    if (!items) this.q.delNode.run(node);
    else for (const id of items) this.q.delItem.run(node, id);
  }

  /** The thread id a reference names: an IVORN, a mission event id ("lvk:S190425z" or "S190425z"), or an item id. */
  resolve(ref: string): string | undefined {
    const r = ref.trim();
    if (r.startsWith('ivo://')) return this.q.threadOfKey.get(`ivorn:${r}`) as string | undefined;
    const lower = r.toLowerCase();
    return (
      ((r.includes(':') ? this.q.threadOfKey.get(`event:${lower.slice(0, lower.indexOf(':'))}${r.slice(r.indexOf(':'))}`) : undefined) as string | undefined) ??
      (this.q.threadOfKey.get(`id:${lower}`) as string | undefined) ??
      (this.q.threadOfItem.get(r) as string | undefined)
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
    const rows = this.q.entries.all(thread) as { node: string; item: string; published: number; facts: string }[];
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
