/**
 * IVORNs (IVOA Resource Names) and the citation graph between events.
 *
 * An event IVORN is ivo://authority/path#local_ID (VOEvent 2.0 section 2.1 and
 * IVOA Identifiers). The part before '#' names the stream that published the
 * event (e.g. ivo://nasa.gsfc.gcn/SWIFT); the local ID names the event in it.
 */
import type { Cite, VOEvent } from './model.ts';

export interface Ivorn {
  authority: string;
  /** Resource key without the leading slash ('' when absent). */
  path: string;
  /** Local ID after '#' (undefined when there is no '#'). */
  local?: string;
  /** ivo://authority/path — the stream id. */
  stream: string;
}

// IVOA Identifiers 2.0: authority = [\w\d][\w\d\-_\.!~\*'\(\)\+=]{2,}
const AUTHORITY = "[A-Za-z0-9][A-Za-z0-9\\-_.!~*'()+=]{2,}";
const IVORN_RE = new RegExp(`^ivo://(${AUTHORITY})(/[^#\\s?]*)?(?:#(.*))?$`);

/** Split an IVORN into its parts, or undefined when it is not ivo://authority[/path][#local]. */
export function parseIvorn(ivorn: string): Ivorn | undefined {
  const m = IVORN_RE.exec(ivorn.trim());
  if (!m) return undefined;
  const authority = m[1]!;
  const path = (m[2] ?? '').replace(/^\//, '');
  const out: Ivorn = { authority, path, stream: `ivo://${authority}${m[2] ?? ''}` };
  if (m[3] !== undefined) out.local = m[3];
  return out;
}

/** Why an event IVORN is malformed, or undefined when it is ivo://authority/path#local. */
export function ivornProblem(ivorn: string, requireLocal = true): string | undefined {
  if (ivorn !== ivorn.trim()) return 'has leading or trailing whitespace';
  if (!ivorn.startsWith('ivo://')) return "does not start with 'ivo://'";
  const p = parseIvorn(ivorn);
  if (!p) {
    if (/\s/.test(ivorn)) return 'contains whitespace';
    if ((ivorn.match(/#/g) ?? []).length > 1) return "contains more than one '#'";
    return 'has no valid authority (ivo://authority/path#local, authority at least 3 characters)';
  }
  if (requireLocal) {
    if (p.local === undefined) return "has no '#local_ID' part";
    if (p.local.length === 0) return "has an empty local ID after '#'";
    if (/[\s#]/.test(p.local)) return "has whitespace or '#' in its local ID";
  }
  return undefined;
}

export function isValidIvorn(ivorn: string): boolean {
  return ivornProblem(ivorn) === undefined;
}

/** The stream id: the part of the IVORN before '#' (the whole string when it has none). */
export function streamId(ivornOrEvent: string | Pick<VOEvent, 'ivorn'>): string {
  const ivorn = typeof ivornOrEvent === 'string' ? ivornOrEvent : ivornOrEvent.ivorn;
  const i = ivorn.indexOf('#');
  return (i === -1 ? ivorn : ivorn.slice(0, i)).trim();
}

/** The local ID (after '#'), or '' when there is none. */
export function localId(ivorn: string): string {
  const i = ivorn.indexOf('#');
  return i === -1 ? '' : ivorn.slice(i + 1);
}

// ---------------------------------------------------------------------------
// Citations

export interface CitationLink {
  /** The citing event. */
  from: string;
  /** The cited event. */
  to: string;
  cite: Cite | undefined;
}

/** The citations an event makes, as links. */
export function citationLinks(ev: VOEvent): CitationLink[] {
  const out: CitationLink[] = [];
  for (const e of ev.citations?.eventIVORNs ?? []) {
    const cite = e.cite === 'followup' || e.cite === 'supersedes' || e.cite === 'retraction' ? e.cite : undefined;
    out.push({ from: ev.ivorn, to: e.ivorn.trim(), cite });
  }
  return out;
}

/**
 * Index of events and their citations: threads of followups, what supersedes or
 * retracts what. Events may be added in any order; cited events need not be known.
 */
export class CitationIndex {
  private readonly events = new Map<string, VOEvent>();
  private readonly order: string[] = [];
  private readonly out = new Map<string, CitationLink[]>();
  private readonly in = new Map<string, CitationLink[]>();

  constructor(events: Iterable<VOEvent> = []) {
    for (const e of events) this.add(e);
  }

  add(ev: VOEvent): void {
    if (this.events.has(ev.ivorn)) return;
    this.events.set(ev.ivorn, ev);
    this.order.push(ev.ivorn);
    for (const l of citationLinks(ev)) {
      push(this.out, l.from, l);
      push(this.in, l.to, l);
    }
  }

  get(ivorn: string): VOEvent | undefined {
    return this.events.get(ivorn);
  }

  /** Links from this event to the events it cites. */
  cites(ivorn: string): CitationLink[] {
    return this.out.get(ivorn) ?? [];
  }

  /** Links from other (known) events that cite this one. */
  citedBy(ivorn: string): CitationLink[] {
    return this.in.get(ivorn) ?? [];
  }

  /** The events that retract this one. */
  retractedBy(ivorn: string): string[] {
    return this.citedBy(ivorn).filter((l) => l.cite === 'retraction').map((l) => l.from);
  }

  isRetracted(ivorn: string): boolean {
    return this.retractedBy(ivorn).length > 0;
  }

  /** The events that supersede this one. */
  supersededBy(ivorn: string): string[] {
    return this.citedBy(ivorn).filter((l) => l.cite === 'supersedes').map((l) => l.from);
  }

  /**
   * Every event connected to this one through citations of any kind (including
   * cited IVORNs not in the index), in the order: known events by Who/Date (then
   * insertion order), unknown IVORNs last.
   */
  thread(ivorn: string): string[] {
    const seen = new Set<string>([ivorn]);
    const queue = [ivorn];
    while (queue.length) {
      const cur = queue.shift()!;
      for (const l of [...this.cites(cur), ...this.citedBy(cur)]) {
        for (const n of [l.from, l.to]) {
          if (!seen.has(n)) {
            seen.add(n);
            queue.push(n);
          }
        }
      }
    }
    const known = [...seen].filter((i) => this.events.has(i));
    const unknown = [...seen].filter((i) => !this.events.has(i)).sort();
    known.sort((a, b) => {
      const da = this.events.get(a)!.who?.date ?? '';
      const db = this.events.get(b)!.who?.date ?? '';
      const t = Date.parse(da) - Date.parse(db);
      if (Number.isFinite(t) && t !== 0) return t;
      return this.order.indexOf(a) - this.order.indexOf(b);
    });
    return [...known, ...unknown];
  }

  /**
   * The chain of citations of one kind starting at an event, following what it cites:
   * e.g. chain(update, 'supersedes') → [update, initial, preliminary, ...]. Cycles stop it.
   */
  chain(ivorn: string, cite: Cite): string[] {
    const out = [ivorn];
    const seen = new Set(out);
    let cur = ivorn;
    for (;;) {
      const next = this.cites(cur).find((l) => l.cite === cite && !seen.has(l.to));
      if (!next) return out;
      out.push(next.to);
      seen.add(next.to);
      cur = next.to;
    }
  }

  /**
   * The newest known event that supersedes or follows up this one (following the
   * links forward); the event itself when nothing newer is known.
   */
  latest(ivorn: string): string {
    let cur = ivorn;
    const seen = new Set([cur]);
    for (;;) {
      const newer = this.citedBy(cur)
        .filter((l) => (l.cite === 'supersedes' || l.cite === 'followup') && !seen.has(l.from))
        .map((l) => l.from);
      if (newer.length === 0) return cur;
      const sorted = this.thread(cur).filter((i) => newer.includes(i));
      cur = sorted[sorted.length - 1] ?? newer[newer.length - 1]!;
      seen.add(cur);
    }
  }
}

function push<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}
