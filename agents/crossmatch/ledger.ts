/**
 * The crossmatch agent's ledger: for each event (see AlertInfo.key) the result
 * items it published (node + item id), the IVORN of its latest result VOEvent,
 * the alert IVORNs it answered, and whether the event was retracted. A
 * retraction finds the results to withdraw here, also after a restart: the
 * ledger is one JSON file replaced atomically.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../lib/index.ts';

export type PublishedItem = { node: string; id: string };

export interface EventRecord {
  key: string;
  /** Result items currently published for this event. */
  items: PublishedItem[];
  /** IVORN of the latest result VOEvent. */
  resultIvorn?: string;
  /** Alert IVORNs answered or retracted under this key. */
  alertIvorns: string[];
  retracted?: string;
  updated: string;
}

type LedgerFile = { version: 1; events: EventRecord[] };

export class Ledger {
  private readonly events = new Map<string, EventRecord>();
  private readonly byIvorn = new Map<string, string>();

  constructor(readonly file?: string, private readonly maxEvents = 5000) {
    if (file && existsSync(file)) {
      let data: LedgerFile;
      try {
        data = JSON.parse(readFileSync(file, 'utf8')) as LedgerFile;
      } catch (e) {
        throw new Error(`${file}: not a crossmatch ledger: ${(e as Error).message}`);
      }
      if (data?.version !== 1 || !Array.isArray(data.events)) throw new Error(`${file}: not a crossmatch ledger (version 1)`);
      for (const r of data.events) this.put(r);
    }
  }

  private put(r: EventRecord): void {
    this.events.delete(r.key);
    this.events.set(r.key, r);
    for (const iv of r.alertIvorns) this.byIvorn.set(iv, r.key);
    if (r.resultIvorn) this.byIvorn.set(r.resultIvorn, r.key);
    while (this.events.size > this.maxEvents) {
      const oldest = this.events.values().next().value!;
      this.events.delete(oldest.key);
      for (const iv of oldest.alertIvorns) if (this.byIvorn.get(iv) === oldest.key) this.byIvorn.delete(iv);
      if (oldest.resultIvorn && this.byIvorn.get(oldest.resultIvorn) === oldest.key) this.byIvorn.delete(oldest.resultIvorn);
    }
  }

  get(key: string): EventRecord | undefined {
    return this.events.get(key);
  }

  /** The event an IVORN (an alert answered, or a result) belongs to. */
  keyOfIvorn(ivorn: string): string | undefined {
    return this.byIvorn.get(ivorn.trim());
  }

  isRetracted(key: string): boolean {
    return this.events.get(key)?.retracted !== undefined;
  }

  /** Record a result (replacing the event's record; items published before and not republished are returned as stale). */
  recordResult(key: string, alertIvorn: string | undefined, items: PublishedItem[], resultIvorn: string | undefined, now = new Date()): PublishedItem[] {
    const prev = this.events.get(key);
    const same = (a: PublishedItem, b: PublishedItem) => a.node === b.node && a.id === b.id;
    const kept = (prev?.items ?? []).filter((i) => !items.some((j) => same(i, j)));
    const rec: EventRecord = {
      key,
      items: [...kept, ...items],
      ...(resultIvorn ?? prev?.resultIvorn ? { resultIvorn: resultIvorn ?? prev!.resultIvorn! } : {}),
      alertIvorns: [...new Set([...(prev?.alertIvorns ?? []), ...(alertIvorn ? [alertIvorn] : [])])],
      updated: now.toISOString(),
    };
    this.put(rec);
    return kept;
  }

  /**
   * Mark an event retracted (creating its record if it has none); returns the
   * items to withdraw, which stay in the record until dropItems says they are gone.
   */
  retract(key: string, alertIvorn: string | undefined, now = new Date()): PublishedItem[] {
    const prev = this.events.get(key);
    const rec: EventRecord = {
      key,
      items: [...(prev?.items ?? [])],
      ...(prev?.resultIvorn ? { resultIvorn: prev.resultIvorn } : {}),
      alertIvorns: [...new Set([...(prev?.alertIvorns ?? []), ...(alertIvorn ? [alertIvorn] : [])])],
      retracted: now.toISOString(),
      updated: now.toISOString(),
    };
    this.put(rec);
    return rec.items;
  }

  /** Retracted events that still have items to withdraw (an earlier retract failed). */
  pendingWithdrawals(): string[] {
    return [...this.events.values()].filter((r) => r.retracted !== undefined && r.items.length > 0).map((r) => r.key);
  }

  /** Forget items that turned out to be gone already. */
  dropItems(key: string, gone: PublishedItem[]): void {
    const r = this.events.get(key);
    if (!r) return;
    r.items = r.items.filter((i) => !gone.some((g) => g.node === i.node && g.id === i.id));
  }

  save(): void {
    if (!this.file) return;
    const data: LedgerFile = { version: 1, events: [...this.events.values()] };
    writeFileAtomic(this.file, JSON.stringify(data));
  }

  get size(): number {
    return this.events.size;
  }
}
