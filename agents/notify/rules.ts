/**
 * Notification rules: which alerts go to which endpoints, and when. Pure.
 *
 * `matches(rule, alert)` is the one place a rule is matched against an alert; a
 * rule's `filter` is an expression of the filter language of subscriptions
 * (filter/, docs/filters.md), evaluated the same way as the broker does.
 * `quietUntil(q, now)` says until when a rule's quiet hours hold notifications back.
 */
import { allParams, factsOfVOEvent, type VOEvent } from '../../voevent/index.ts';
import { Subject, compileFilter, type Filter } from '../../filter/index.ts';
import type { Alert } from '../lib/alert.ts';

export type Threshold = { min?: number; max?: number; equals?: string | number; in?: (string | number)[] };

export type QuietHours = {
  /** "22:00" */
  from: string;
  /** "07:00" (may be earlier than from: the quiet time crosses midnight) */
  to: string;
  /** IANA time zone, default UTC. */
  timezone?: string;
  /** defer (default): delivered when the quiet hours end; drop: not delivered. */
  then?: 'defer' | 'drop';
};

export type Rule = {
  name: string;
  /** Nodes this rule listens to (at least one). */
  nodes: string[];
  /** Roles that match (default: observation only — test and utility packets are not news). */
  roles?: string[];
  /** Why/@importance bounds; an alert without importance never matches a bound. */
  importance?: { min?: number; max?: number };
  /** What/Param thresholds by Param name (all must hold; a missing Param fails). */
  params?: Record<string, Threshold>;
  /** An expression of the filter language (docs/filters.md): Params, Groups, sky regions, relation... */
  filter?: string;
  quiet_hours?: QuietHours;
  /** Endpoint names. */
  to: string[];
};

function paramValues(ev: VOEvent | undefined): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of ev ? allParams(ev) : []) if (p.name && p.value !== undefined && !m.has(p.name)) m.set(p.name, String(p.value));
  return m;
}

function holds(t: Threshold, raw: string | undefined): boolean {
  if (raw === undefined) return false;
  const n = Number(raw);
  if (t.min !== undefined && !(Number.isFinite(n) && n >= t.min)) return false;
  if (t.max !== undefined && !(Number.isFinite(n) && n <= t.max)) return false;
  const same = (v: string | number) => (typeof v === 'number' ? Number.isFinite(n) && n === v : raw.trim() === v);
  if (t.equals !== undefined && !same(t.equals)) return false;
  if (t.in !== undefined && !t.in.some(same)) return false;
  return true;
}

/** Does the alert (received on alert.node) match the rule? */
export function matches(rule: Rule, alert: Alert): boolean {
  if (!rule.nodes.includes(alert.node)) return false;
  const roles = rule.roles ?? ['observation'];
  if (!roles.includes('*') && !roles.includes(alert.role ?? '')) return false;
  if (rule.importance) {
    const i = alert.importance;
    if (i === undefined) return false;
    if (rule.importance.min !== undefined && i < rule.importance.min) return false;
    if (rule.importance.max !== undefined && i > rule.importance.max) return false;
  }
  if (rule.params) {
    const values = paramValues(alert.voevent);
    for (const [name, t] of Object.entries(rule.params)) if (!holds(t, values.get(name))) return false;
  }
  if (rule.filter && !compiled(rule.filter).accepts(subjectOfAlert(alert))) return false;
  return true;
}

const filters = new Map<string, Filter>();
/** A rule's filter, compiled once (a FilterError names the column; the configuration check reports it first). */
export function compiled(text: string): Filter {
  let f = filters.get(text);
  if (!f) filters.set(text, (f = compileFilter(text)));
  return f;
}

const subjects = new WeakMap<Alert, Subject>();
function subjectOfAlert(a: Alert): Subject {
  let s = subjects.get(a);
  if (!s) subjects.set(a, (s = new Subject(a.voevent ? factsOfVOEvent(a.voevent) : undefined, a.voevent)));
  return s;
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
}

/** Minutes since local midnight in `timezone` at `at`. */
function localMinutes(at: Date, timezone: string): number {
  const parts = new Intl.DateTimeFormat('en-GB', { timeZone: timezone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value ?? 0);
  return get('hour') * 60 + get('minute');
}

export function isQuiet(q: QuietHours, at: Date): boolean {
  const from = minutesOf(q.from);
  const to = minutesOf(q.to);
  const now = localMinutes(at, q.timezone ?? 'UTC');
  if (from === to) return false;
  return from < to ? now >= from && now < to : now >= from || now < to;
}

/** The end of the quiet hours holding at `now` (to the minute), or undefined when it is not quiet. */
export function quietUntil(q: QuietHours | undefined, now: Date): Date | undefined {
  if (!q || !isQuiet(q, now)) return undefined;
  const start = new Date(Math.floor(now.getTime() / 60_000) * 60_000);
  for (let i = 1; i <= 24 * 60 + 60; i++) {
    const t = new Date(start.getTime() + i * 60_000);
    if (!isQuiet(q, t)) return t;
  }
  return undefined;
}
