/**
 * Event threads: the alerts that tell one astrophysical event (a GRB trigger, a
 * GW superevent...) linked into one thread, and the thread's current state.
 *
 * One place decides, as data:
 *  - RELATION_RULES: what an alert does to its event (first come, rule order
 *    decides): VOEvent citations, LVK's AlertType, GCN JSON's alert_type;
 *  - EFFECTS: what each relation does to the thread's state;
 *  - keys: an alert is known by its IVORN, the IVORNs it cites and its mission
 *    event id (VOEvent mission readers; JSON superevent_id, mission + id).
 * Alerts sharing a key are in one thread, whatever order they arrive in (a
 * retraction before the alert it retracts still retracts it). Everything here is
 * pure: the broker keeps threads with it, agents judge alerts with it.
 */
import type { VOEvent } from './model.ts';
import { lvk, missionSummary } from './missions.ts';

export const RELATIONS = ['initial', 'followup', 'supersedes', 'retraction'] as const;
export type Relation = (typeof RELATIONS)[number];

export type Localisation =
  | { kind: 'circle'; ra: number; dec: number; error: number }
  | { kind: 'skymap'; url?: string };

/** What one alert says about its event. */
export type AlertFacts = {
  format: 'voevent' | 'json';
  ivorn?: string;
  role: string;
  /** The mission event this alert is about, e.g. "lvk:S190425z", "swift:1118357". */
  eventId?: string;
  /** AlertType / alert_type as written. */
  alertType?: string;
  /** IVORNs cited, with how. */
  cites: { ivorn: string; cite?: string }[];
  relation: Relation;
  /** The IVORNs this alert retracts or supersedes (by citation). */
  targets: string[];
  /** Event time (ISO) when the alert gives one. */
  time?: string;
  localisation?: Localisation;
};

type Evidence = {
  cites: { ivorn: string; cite?: string }[];
  alertType?: string;
  role: string;
  format: AlertFacts['format'];
};

/** A rule: when it matches, the alert has this relation to its event, towards these cited IVORNs. */
export type RelationRule = { name: string; relation: Relation; match: (e: Evidence) => string[] | undefined };

const citing = (kind: string) => (e: Evidence) => {
  const t = e.cites.filter((c) => c.cite === kind).map((c) => c.ivorn);
  return t.length ? t : undefined;
};
const alertTypeIs = (...values: string[]) => (e: Evidence) =>
  e.alertType && values.includes(e.alertType.trim().toLowerCase()) ? e.cites.map((c) => c.ivorn) : undefined;

/** What an alert does to its event: the first rule that matches decides. */
export const RELATION_RULES: readonly RelationRule[] = [
  { name: 'cites with cite="retraction"', relation: 'retraction', match: citing('retraction') },
  // LVK retractions say AlertType=Retraction and cite what they withdraw with "supersedes".
  { name: 'AlertType / alert_type is Retraction', relation: 'retraction', match: alertTypeIs('retraction') },
  { name: 'cites with cite="supersedes"', relation: 'supersedes', match: citing('supersedes') },
  { name: 'AlertType / alert_type is Update', relation: 'supersedes', match: alertTypeIs('update') },
  { name: 'cites with cite="followup"', relation: 'followup', match: citing('followup') },
  { name: 'anything else', relation: 'initial', match: () => [] },
];

/** What each relation does to the thread's state. */
export const EFFECTS: Record<Relation, { retracts: boolean; localises: boolean; replacesTargets: boolean }> = {
  initial: { retracts: false, localises: true, replacesTargets: false },
  followup: { retracts: false, localises: true, replacesTargets: false },
  supersedes: { retracts: false, localises: true, replacesTargets: true },
  retraction: { retracts: true, localises: false, replacesTargets: false },
};

export function relationOf(e: Evidence): { relation: Relation; targets: string[]; rule: string } {
  for (const r of RELATION_RULES) {
    const t = r.match(e);
    if (t) return { relation: r.relation, targets: t, rule: r.name };
  }
  /* c8 ignore next */
  throw new Error('unreachable: the last rule matches everything');
}

// ---------------------------------------------------------------------------- facts

export function factsOfVOEvent(ev: VOEvent): AlertFacts {
  const m = missionSummary(ev);
  const l = lvk(ev);
  const cites = (ev.citations?.eventIVORNs ?? []).map((c) => ({ ivorn: c.ivorn.trim(), ...(c.cite ? { cite: String(c.cite) } : {}) })).filter((c) => c.ivorn);
  const alertType = l?.alertType ?? undefined;
  const ev2: Evidence = { cites, alertType, role: ev.role, format: 'voevent' };
  const { relation, targets } = relationOf(ev2);
  const pos = ev.whereWhen?.position;
  let localisation: Localisation | undefined;
  if (l?.skymapUrl) localisation = { kind: 'skymap', url: l.skymapUrl };
  else if (pos && Number.isFinite(pos.ra) && Number.isFinite(pos.dec)) localisation = { kind: 'circle', ra: pos.ra, dec: pos.dec, error: pos.error };
  const out: AlertFacts = { format: 'voevent', ivorn: ev.ivorn, role: ev.role || 'observation', cites, relation, targets };
  if (m.mission && m.eventId) out.eventId = `${String(m.mission).toLowerCase()}:${m.eventId}`;
  if (alertType) out.alertType = alertType;
  const time = ev.whereWhen?.time?.iso ?? ev.who?.date;
  if (time) out.time = time;
  if (localisation) out.localisation = localisation;
  return out;
}

/** The mission of a GCN JSON notice: its `mission` field, else the one its $schema names (…/notices/<mission>/…). */
function jsonMission(o: Record<string, unknown>): string | undefined {
  if (typeof o.mission === 'string' && o.mission) return o.mission.toLowerCase();
  const s = typeof o.$schema === 'string' ? /\/notices\/([^/]+)\//.exec(o.$schema) : null;
  return s ? s[1]!.toLowerCase() : undefined;
}

/**
 * Facts of a JSON notice: igwn.gwalert (superevent_id, alert_type) or the GCN
 * unified schema (mission, id[], alert_type, ra/dec/ra_dec_error); undefined for
 * JSON that names no event.
 */
export function factsOfJson(o: unknown): AlertFacts | undefined {
  if (!o || typeof o !== 'object' || Array.isArray(o)) return undefined;
  const j = o as Record<string, unknown>;
  let eventId: string | undefined;
  let role = 'observation';
  if (typeof j.superevent_id === 'string' && j.superevent_id) {
    eventId = `lvk:${j.superevent_id}`;
    // Superevent ids starting with M are mock events of the low-latency test stream.
    if (/^M/.test(j.superevent_id)) role = 'test';
  } else {
    const mission = jsonMission(j);
    const ids = Array.isArray(j.id) ? j.id : j.id !== undefined ? [j.id] : j.trigger_id !== undefined ? [j.trigger_id] : [];
    const first = ids.find((x) => typeof x === 'string' || typeof x === 'number');
    if (mission && first !== undefined) eventId = `${mission}:${String(first)}`;
  }
  if (!eventId) return undefined;
  const alertType = typeof j.alert_type === 'string' ? j.alert_type : undefined;
  const { relation, targets } = relationOf({ cites: [], alertType, role, format: 'json' });
  const out: AlertFacts = { format: 'json', role, eventId, cites: [], relation, targets };
  if (alertType) out.alertType = alertType;
  const ev = j.event as Record<string, unknown> | null | undefined;
  const time = typeof j.trigger_time === 'string' ? j.trigger_time : typeof ev?.time === 'string' ? ev.time : undefined;
  if (time) out.time = time;
  if (typeof j.ra === 'number' && typeof j.dec === 'number')
    out.localisation = { kind: 'circle', ra: j.ra, dec: j.dec, error: typeof j.ra_dec_error === 'number' ? j.ra_dec_error : NaN };
  else if (ev && typeof ev.skymap === 'string') out.localisation = { kind: 'skymap' };
  return out;
}

/** The keys an alert is known by: its own IVORN, every IVORN it cites, its mission event id. */
export function threadKeysOf(f: AlertFacts): string[] {
  const keys: string[] = [];
  if (f.ivorn) keys.push(`ivorn:${f.ivorn}`);
  for (const c of f.cites) keys.push(`ivorn:${c.ivorn}`);
  if (f.eventId) keys.push(`event:${f.eventId}`);
  return [...new Set(keys)];
}

// ---------------------------------------------------------------------------- state

/** One alert in a thread, where it was seen. */
export type ThreadEntry = AlertFacts & {
  /** When the service stored it (ms since epoch): the order of the thread. */
  published: number;
  node?: string;
  item?: string;
};

export type ThreadState = {
  /** Entries oldest first (by publication, then as given). */
  entries: ThreadEntry[];
  eventIds: string[];
  retracted: boolean;
  /** The IVORN (or item) of the first retraction. */
  retractedBy?: string;
  /** IVORNs replaced by a later alert (supersedes / Update). */
  superseded: string[];
  /** The newest alert that is neither a retraction nor superseded. */
  latest?: ThreadEntry;
  /** The newest localisation among alerts that localise and are not superseded. */
  localisation?: Localisation & { from: string };
};

/** A localisation in one line, e.g. "RA 123.4567° Dec -12.3456° ± 0.0500° (from ivo://...)". */
export function describeLocalisation(l: (Localisation & { from: string }) | undefined): string {
  if (!l) return '';
  if (l.kind === 'circle') return `RA ${l.ra.toFixed(4)}° Dec ${l.dec.toFixed(4)}°${Number.isFinite(l.error) ? ` ± ${l.error.toFixed(4)}°` : ''} (from ${l.from})`;
  return `sky map${l.url ? ` ${l.url}` : ''} (from ${l.from})`;
}

const label = (e: ThreadEntry) => e.ivorn ?? `${e.node ?? ''}/${e.item ?? ''}`;

/** Fold a thread's entries into its state. Order-free: the entries are sorted first. */
export function threadState(entries: readonly ThreadEntry[]): ThreadState {
  const sorted = entries.map((e, i) => [e, i] as const).sort((a, b) => a[0].published - b[0].published || a[1] - b[1]).map(([e]) => e);
  const superseded = new Set<string>();
  let retractedBy: string | undefined;
  for (const e of sorted) {
    const eff = EFFECTS[e.relation];
    if (eff.retracts && retractedBy === undefined) retractedBy = label(e);
    if (eff.replacesTargets) for (const t of e.targets) superseded.add(t);
  }
  // An Update without citations (JSON) replaces every earlier alert of its event.
  for (let i = 0; i < sorted.length; i++) {
    const e = sorted[i]!;
    if (EFFECTS[e.relation].replacesTargets && e.targets.length === 0) for (const p of sorted.slice(0, i)) if (p.ivorn) superseded.add(p.ivorn);
  }
  const live = sorted.filter((e) => !EFFECTS[e.relation].retracts && !(e.ivorn && superseded.has(e.ivorn)));
  const latest = live[live.length - 1];
  const located = [...live].reverse().find((e) => EFFECTS[e.relation].localises && e.localisation);
  const state: ThreadState = {
    entries: sorted,
    eventIds: [...new Set(sorted.map((e) => e.eventId).filter((x): x is string => !!x))],
    retracted: retractedBy !== undefined,
    superseded: [...superseded],
  };
  if (retractedBy !== undefined) state.retractedBy = retractedBy;
  if (latest) state.latest = latest;
  if (located) state.localisation = { ...located.localisation!, from: label(located) };
  return state;
}

/**
 * Grouping: an alert whose keys are known in threads `found` joins the oldest of
 * them and the others merge into it; with none it opens thread `fresh`.
 */
export function joinThreads(found: readonly string[], fresh: string): { thread: string; merged: string[] } {
  const distinct = [...new Set(found)].sort();
  if (distinct.length === 0) return { thread: fresh, merged: [] };
  return { thread: distinct[0]!, merged: distinct.slice(1) };
}

/** An in-memory index of threads (agents; the broker keeps the same in its database). */
export class ThreadIndex {
  private readonly byKey = new Map<string, string>();
  private readonly threads = new Map<string, ThreadEntry[]>();
  private seq = 0;

  /** Add an alert; returns its thread id. */
  add(entry: ThreadEntry): string {
    const keys = threadKeysOf(entry);
    const found = keys.map((k) => this.byKey.get(k)).filter((x): x is string => !!x);
    const { thread, merged } = joinThreads(found, `t${String(this.seq++).padStart(8, '0')}`);
    const list = this.threads.get(thread) ?? [];
    for (const m of merged) {
      list.push(...(this.threads.get(m) ?? []));
      this.threads.delete(m);
      for (const [k, t] of this.byKey) if (t === m) this.byKey.set(k, thread);
    }
    if (!entry.ivorn || !list.some((e) => e.ivorn === entry.ivorn)) list.push(entry);
    this.threads.set(thread, list);
    for (const k of keys) this.byKey.set(k, thread);
    return thread;
  }

  /** The thread an alert (or a key such as "ivorn:…" / "event:lvk:S…") belongs to. */
  threadOf(keyOrFacts: string | AlertFacts): string | undefined {
    const keys = typeof keyOrFacts === 'string' ? [keyOrFacts] : threadKeysOf(keyOrFacts);
    for (const k of keys) {
      const t = this.byKey.get(k);
      if (t) return t;
    }
    return undefined;
  }

  state(thread: string): ThreadState | undefined {
    const list = this.threads.get(thread);
    return list ? threadState(list) : undefined;
  }
}
