/**
 * What the telescope has asked for, per event thread, kept across restarts.
 *
 * A thread is one astrophysical event as the alert streams tell it: the packets
 * that cite each other (followup, supersedes, retraction), those citing the same
 * earlier packet, and those naming the same mission event (SVOM burst id, Swift /
 * Fermi trigger number, LVK superevent). Each thread holds at most one active
 * request; the tracker tells decide() how a new packet relates to it.
 *
 * The state is one JSON file, replaced atomically (write a temporary file, fsync,
 * rename, fsync the folder) after every change, so a crash leaves the old or the
 * new state, never half of one.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../lib/state.ts';
import { factsOfVOEvent, threadKeysOf, type VOEvent } from '../../voevent/index.ts';
import { retractedIvorns, type Decision, type Prior, type Relation } from './decide.ts';

export type RequestState = 'active' | 'cancelled' | 'failed';

export interface TrackedRequest {
  /** The telescope's id for the request (when it gave one). */
  id?: string;
  state: RequestState;
  /** The packet the request was made (or last updated) for. */
  eventIvorn: string;
  target: { name: string; ra: number; dec: number; error: number };
  window: { start: string; end: string };
  observationType: 'RAPID_RESPONSE' | 'NORMAL';
  createdAt: string;
  updatedAt: string;
}

export interface HistoryEntry {
  at: string;
  ivorn: string;
  action: string;
  reason: string;
  requestId?: string;
  error?: string;
}

export interface Thread {
  id: string;
  /** IVORNs of the packets seen, in arrival order. */
  events: string[];
  /** Every key the thread is known by: IVORNs seen and cited, mission:event ids. */
  keys: string[];
  retracted?: boolean;
  request?: TrackedRequest;
  history: HistoryEntry[];
  updatedAt: string;
}

/** An action begun and not yet recorded: after a crash, the request may exist at the telescope. */
export interface PendingAction {
  ivorn: string;
  kind: 'submit' | 'update' | 'cancel';
  at: string;
}

interface StateFile {
  version: 1;
  threads: Thread[];
  handled: string[];
  /** Write-ahead: actions sent (or about to be) whose outcome is not recorded yet. */
  pending?: PendingAction[];
}

export interface TrackerOptions {
  /** JSON file; absent = in memory only. */
  file?: string;
  maxThreads?: number;
  maxHandled?: number;
}

/** The keys a packet is known by (its IVORN, the IVORNs it cites, its mission event id): the broker's thread keys. */
export function threadKeys(ev: VOEvent): string[] {
  return threadKeysOf(factsOfVOEvent(ev));
}

/** Keys of state files written before the shared thread keys: a bare IVORN, "mission:<Mission>:<id>". */
function upgradeKey(k: string): string {
  if (k.startsWith('ivo://')) return `ivorn:${k}`;
  const m = /^mission:([^:]+):(.*)$/.exec(k);
  return m ? `event:${m[1]!.toLowerCase()}:${m[2]}` : k;
}

export class Tracker {
  private threads = new Map<string, Thread>();
  private byKey = new Map<string, string>();
  private handled: string[] = [];
  private handledSet = new Set<string>();
  private pending = new Map<string, PendingAction>();
  private seq = 0;
  readonly file?: string;
  private readonly maxThreads: number;
  private readonly maxHandled: number;

  constructor(opts: TrackerOptions = {}) {
    this.file = opts.file;
    this.maxThreads = opts.maxThreads ?? 2000;
    this.maxHandled = opts.maxHandled ?? 20000;
    if (this.file && existsSync(this.file)) this.load(this.file);
  }

  private load(file: string): void {
    let data: StateFile;
    try {
      data = JSON.parse(readFileSync(file, 'utf8')) as StateFile;
    } catch (e) {
      throw new Error(`${file}: unreadable telescope state: ${(e as Error).message}`);
    }
    if (data.version !== 1 || !Array.isArray(data.threads)) throw new Error(`${file}: not a telescope state file (version ${String(data.version)})`);
    for (const t of data.threads) this.index({ ...t, keys: t.keys.map(upgradeKey) });
    for (const h of data.handled ?? []) this.markHandled(h);
    for (const p of data.pending ?? []) this.pending.set(p.ivorn, p);
  }

  /**
   * Write ahead (saved before the action goes out): if the process dies between
   * sending the request and record(), the restarted agent finds it here and asks
   * the telescope whether the request exists instead of sending it a second time.
   */
  begin(ivorn: string, kind: PendingAction['kind'], at = new Date()): void {
    this.pending.set(ivorn, { ivorn, kind, at: at.toISOString() });
    this.save();
  }

  /** The action begun for this packet and never recorded (a crash in between). */
  pendingFor(ivorn: string): PendingAction | undefined {
    return this.pending.get(ivorn);
  }

  /** Ids of every request this tracker knows (a request found at the telescope and not among them is new). */
  requestIds(): Set<string> {
    return new Set([...this.threads.values()].flatMap((t) => (t.request?.id !== undefined ? [t.request.id] : [])));
  }

  private index(t: Thread): void {
    this.threads.set(t.id, t);
    for (const k of t.keys) this.byKey.set(k, t.id);
    const n = Number(/^t(\d+)/.exec(t.id)?.[1] ?? 0);
    if (n >= this.seq) this.seq = n + 1;
  }

  private markHandled(ivorn: string): void {
    if (this.handledSet.has(ivorn)) return;
    this.handled.push(ivorn);
    this.handledSet.add(ivorn);
    while (this.handled.length > this.maxHandled) this.handledSet.delete(this.handled.shift()!);
  }

  isHandled(ivorn: string): boolean {
    return this.handledSet.has(ivorn);
  }

  /** The thread a packet belongs to (prefer one with an active request). */
  threadOf(ev: VOEvent): Thread | undefined {
    const found = new Map<string, Thread>();
    for (const k of threadKeys(ev)) {
      const id = this.byKey.get(k);
      if (id) found.set(id, this.threads.get(id)!);
    }
    const list = [...found.values()];
    return list.find((t) => t.request?.state === 'active') ?? list.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt))[0];
  }

  /** How the packet relates to what we hold: the `prior` for decide(), or undefined for a new event. */
  lookup(ev: VOEvent): Prior | undefined {
    const t = this.threadOf(ev);
    if (!t) return undefined;
    const inThread = (ivorn: string) => t.keys.includes(`ivorn:${ivorn}`);
    const cites = ev.citations?.eventIVORNs ?? [];
    let relation: Relation = 'same-event';
    if (retractedIvorns(ev).some(inThread)) relation = 'retraction';
    else if (cites.some((c) => c.cite === 'supersedes' && inThread(c.ivorn.trim()))) relation = 'supersedes';
    else if (cites.some((c) => c.cite === 'followup' && inThread(c.ivorn.trim()))) relation = 'followup';
    const r = t.request;
    const prior: Prior = {
      threadId: t.id,
      relation,
      eventIvorn: r?.eventIvorn ?? t.events[t.events.length - 1] ?? ev.ivorn,
      active: r?.state === 'active',
    };
    if (r?.id !== undefined) prior.requestId = r.id;
    if (r) prior.error = r.target.error;
    if (t.retracted) prior.retracted = true;
    return prior;
  }

  /**
   * Remember what was decided for a packet and what the action gave.
   * outcome.requestId: the id of the new request (trigger / schedule / update);
   * outcome.error: the action failed (the request is marked failed, or stays as it was for a cancel).
   */
  record(ev: VOEvent, d: Decision, outcome: { requestId?: string; error?: string; at?: Date } = {}): Thread | undefined {
    const now = (outcome.at ?? new Date()).toISOString();
    this.markHandled(ev.ivorn);
    this.pending.delete(ev.ivorn);
    let t = this.threadOf(ev);
    // A retraction of an event we do not follow yet still opens its thread, retracted:
    // the alert it retracts may arrive after it, and must then be ignored.
    const retracts = d.retraction && d.verdicts.some((v) => v.rule === 'retraction');
    if (!t && d.action === 'ignore' && !retracts) {
      this.save();
      return undefined;
    }
    if (!t) {
      t = { id: `t${this.seq++}`, events: [], keys: [], history: [], updatedAt: now };
      this.threads.set(t.id, t);
    }
    if (!t.events.includes(ev.ivorn)) t.events.push(ev.ivorn);
    for (const k of threadKeys(ev)) {
      if (!t.keys.includes(k)) t.keys.push(k);
      this.byKey.set(k, t.id);
    }
    const entry: HistoryEntry = { at: now, ivorn: ev.ivorn, action: d.action, reason: d.reason };
    if (retracts) t.retracted = true;
    if (outcome.error) entry.error = outcome.error;
    if (d.action === 'trigger' || d.action === 'schedule' || d.action === 'update') {
      if (outcome.error) {
        if (t.request && d.action === 'update') t.request.updatedAt = now; // the old request may still stand
        else if (t.request) t.request.state = 'failed';
        else if (d.target && d.window && d.observationType) t.request = this.makeRequest(ev, d, now, 'failed');
      } else {
        const prev = t.request;
        t.request = this.makeRequest(ev, d, now, 'active', outcome.requestId);
        if (prev && d.action === 'update') t.request.createdAt = prev.createdAt;
        if (outcome.requestId !== undefined) entry.requestId = outcome.requestId;
      }
    } else if (d.action === 'cancel') {
      if (t.request && !outcome.error) {
        t.request.state = 'cancelled';
        t.request.updatedAt = now;
      }
      if (t.request?.id !== undefined) entry.requestId = t.request.id;
    }
    t.history.push(entry);
    t.updatedAt = now;
    this.prune();
    this.save();
    return t;
  }

  private makeRequest(ev: VOEvent, d: Decision, now: string, state: RequestState, id?: string): TrackedRequest {
    const r: TrackedRequest = {
      state,
      eventIvorn: ev.ivorn,
      target: { ...d.target! },
      window: { start: d.window!.start.toISOString(), end: d.window!.end.toISOString() },
      observationType: d.observationType!,
      createdAt: now,
      updatedAt: now,
    };
    if (id !== undefined) r.id = id;
    return r;
  }

  private prune(): void {
    if (this.threads.size <= this.maxThreads) return;
    const old = [...this.threads.values()].sort((a, b) => a.updatedAt.localeCompare(b.updatedAt));
    for (const t of old.slice(0, this.threads.size - this.maxThreads)) {
      this.threads.delete(t.id);
      for (const k of t.keys) if (this.byKey.get(k) === t.id) this.byKey.delete(k);
    }
  }

  /** Every thread, newest first. */
  list(): Thread[] {
    return [...this.threads.values()].sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
  }

  get(threadId: string): Thread | undefined {
    return this.threads.get(threadId);
  }

  toJSON(): StateFile {
    return { version: 1, threads: [...this.threads.values()], handled: [...this.handled], ...(this.pending.size ? { pending: [...this.pending.values()] } : {}) };
  }

  /** Write the state atomically (no-op in memory mode). */
  save(): void {
    if (!this.file) return;
    const dir = dirname(this.file);
    // All or nothing, a full disk included (a short write is never renamed into place).
    writeFileAtomic(this.file, JSON.stringify(this.toJSON(), null, 1));
    try {
      const dfd = openSync(dir, 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch {
      /* some filesystems refuse to fsync a directory */
    }
  }
}
