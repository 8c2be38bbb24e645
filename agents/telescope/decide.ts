/**
 * The decision for one VOEvent: pure (event + rules + instant + what we already
 * asked for → decision). Every rule leaves a verdict so an operator can see why.
 *
 *   ignore    not for this telescope (role, stream, packet type), a duplicate, or
 *             nothing to change; no request, no status packet
 *   reject    for this telescope but unusable (position, error radius, importance,
 *             declination, window, visibility); a status packet says why
 *   trigger   observable now: an immediate (RAPID_RESPONSE) request
 *   schedule  observable later within the window: a NORMAL request for that window
 *   update    a followup with a better position, or a packet that supersedes the one
 *             we acted on: the request is replaced
 *   cancel    a retraction of (or a failing successor to) an event we asked for
 */
import { factsOfVOEvent, lvk, missionSummary, paramNumber, streamId, type VOEvent } from '../../voevent/index.ts';
import { matchStream, type Rules } from './rules.ts';
import { conditionsAt, findVisibility, type Conditions } from './visibility.ts';

/** What the agent decides to do about an alert (see Decision). */
export type DecisionAction = 'trigger' | 'schedule' | 'update' | 'cancel' | 'reject' | 'ignore';
/** later = fails at the decision instant, holds later in the window. */
export type VerdictState = 'pass' | 'fail' | 'later' | 'skip';

export interface Verdict {
  rule: string;
  verdict: VerdictState;
  detail: string;
}

/** How a new packet relates to an event we already hold a request for. */
export type Relation = 'followup' | 'supersedes' | 'retraction' | 'same-event';

/** What the tracker knows about the thread the packet belongs to. */
export interface Prior {
  threadId: string;
  relation: Relation;
  /** The IVORN of the packet the current request was made for. */
  eventIvorn: string;
  /** The request, when one is active. */
  requestId?: string;
  active: boolean;
  /** Error radius (degrees) of the position the request used. */
  error?: number;
  /** The thread was retracted. */
  retracted?: boolean;
}

export interface Target {
  name: string;
  ra: number;
  dec: number;
  /** Error radius, degrees. */
  error: number;
}

export interface Decision {
  action: DecisionAction;
  /** One line for logs and the status packet. */
  reason: string;
  verdicts: Verdict[];
  at: Date;
  ivorn: string;
  stream: string;
  role: string;
  retraction: boolean;
  /** For update: the packet supersedes (replace) or follows up (better position). */
  relation?: Relation;
  target?: Target;
  triggerTime?: Date;
  /** Request window (trigger / schedule / update). */
  window?: { start: Date; end: Date };
  observationType?: 'RAPID_RESPONSE' | 'NORMAL';
  /** Conditions at the decision instant (when there is a position). */
  conditions?: Conditions;
  /** Conditions at the window start. */
  conditionsAtStart?: Conditions;
  prior?: Prior;
}

export interface DecideOptions {
  /** Evaluate visibility even when an earlier rule already decided (for --explain). */
  full?: boolean;
  /** The packet was handled before. */
  duplicate?: boolean;
}

/** ISO time as VOEvents write it (no zone = UTC, microseconds allowed) → Date. */
export function parseIsoUtc(s: string | undefined): Date | undefined {
  if (!s) return undefined;
  let t = s.trim();
  if (!/(Z|[+-]\d\d:?\d\d)$/i.test(t)) t += 'Z';
  t = t.replace(/(\.\d{3})\d+/, '$1');
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? new Date(ms) : undefined;
}

/** The IVORNs this packet retracts (empty when it is not a retraction): the thread rules of voevent/thread.ts decide. */
export function retractedIvorns(ev: VOEvent): string[] {
  const f = factsOfVOEvent(ev);
  return f.relation === 'retraction' ? f.targets : [];
}

export function isRetraction(ev: VOEvent): boolean {
  return factsOfVOEvent(ev).relation === 'retraction';
}

/** A name for the target: mission and event id when known, else the IVORN's local id. */
export function targetName(ev: VOEvent): string {
  const m = missionSummary(ev);
  if (m.mission && m.eventId) return `${m.mission} ${m.eventId}`;
  const local = ev.ivorn.slice(ev.ivorn.indexOf('#') + 1);
  return local || ev.ivorn;
}

const fmt = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : String(n));
const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const hours = (ms: number) => {
  const m = Math.round(Math.abs(ms) / 60000);
  return m < 120 ? `${m} min` : `${(m / 60).toFixed(1)} h`;
};

export function decide(ev: VOEvent, rules: Rules, at: Date, prior?: Prior, opts: DecideOptions = {}): Decision {
  const verdicts: Verdict[] = [];
  const add = (rule: string, verdict: VerdictState, detail: string) => verdicts.push({ rule, verdict, detail });
  const stream = streamId(ev);
  const role = ev.role || 'observation';
  const retraction = isRetraction(ev);
  const base = { at, ivorn: ev.ivorn, stream, role, retraction, verdicts } as const;
  const out = (action: DecisionAction, reason: string, extra: Partial<Decision> = {}): Decision => ({ ...base, action, reason, ...(prior ? { prior } : {}), ...extra });

  // --- Filters: is this packet for us at all? -----------------------------
  const roles = new Set(rules.roles);
  if (rules.drill) roles.add('test');
  const roleOk = roles.has(role);
  add('role', roleOk ? 'pass' : 'fail', roleOk ? `role=${role}${role === 'test' ? ' (drill mode)' : ''}` : role === 'test' ? 'role=test ignored outside drill mode' : `role=${role} not in ${[...roles].join(', ')}`);

  const sr = rules.streams.length ? matchStream(rules, stream) : undefined;
  const streamOk = rules.streams.length === 0 || sr !== undefined;
  add('stream', streamOk ? 'pass' : 'fail', streamOk ? (sr ? `${stream} accepted (${sr.stream})` : `${stream} (every stream accepted)`) : `${stream} is not an accepted stream`);

  const packetType = paramNumber(ev, 'Packet_Type');
  let typeOk = true;
  if (retraction) add('packet_type', 'pass', `retraction${packetType !== undefined ? ` (Packet_Type ${packetType})` : ''}: always accepted from an accepted stream`);
  else if (sr?.packetTypes) {
    typeOk = packetType !== undefined && sr.packetTypes.includes(packetType);
    add('packet_type', typeOk ? 'pass' : 'fail', packetType === undefined ? `no Packet_Type (accepted: ${sr.packetTypes.join(', ')})` : `Packet_Type ${packetType}${typeOk ? '' : ` not in ${sr.packetTypes.join(', ')}`}`);
  } else add('packet_type', 'skip', packetType === undefined ? 'no Packet_Type; any accepted' : `Packet_Type ${packetType}; any accepted`);

  const filtered = !roleOk || !streamOk || !typeOk;
  if (opts.duplicate) add('duplicate', 'fail', 'this packet was handled before');

  // --- Retractions ---------------------------------------------------------
  if (retraction && !filtered && !opts.duplicate) {
    if (prior?.active) {
      add('retraction', 'pass', `retracts ${prior.eventIvorn}, for which request ${prior.requestId ?? '(no id)'} is active`);
      return out('cancel', `retracted by ${ev.ivorn}`, { relation: 'retraction' });
    }
    add('retraction', 'skip', prior ? `retracts ${prior.eventIvorn}, which has no active request` : 'retracts an event this telescope is not following');
    return out('ignore', 'retraction of an event without an active request');
  }

  // --- Quality ---------------------------------------------------------------
  const q: Verdict[] = [];
  const qadd = (rule: string, verdict: VerdictState, detail: string) => {
    const v = { rule, verdict, detail };
    q.push(v);
    verdicts.push(v);
  };
  const pos = ev.whereWhen?.position;
  let target: Target | undefined;
  const missingPos = !pos || !Number.isFinite(pos.ra) || !Number.isFinite(pos.dec);
  if (missingPos) {
    const skymap = lvk(ev)?.skymapUrl;
    qadd('position', 'fail', skymap ? 'no position, only a sky map (tiling sky maps is not supported)' : 'the packet has no sky position');
  } else if (!(pos.error >= 0) || (pos.error === 0 && pos.ra === 0 && pos.dec === 0)) {
    // RA 0, Dec 0, radius 0 is the placeholder of notices sent before any localisation (Fermi GBM alerts).
    qadd('position', 'fail', `RA ${fmt(pos.ra, 4)} Dec ${fmt(pos.dec, 4)} with error radius ${pos.error}: no usable localisation${pos.error === 0 ? ' (a placeholder: no position yet)' : ''}`);
  } else if (pos.error === 0) {
    // A real position whose notice gives no error (AGILE GRB notices): observed as a point.
    target = { name: targetName(ev), ra: pos.ra, dec: pos.dec, error: 0 };
    qadd('position', 'pass', `RA ${fmt(pos.ra, 4)} Dec ${fmt(pos.dec, 4)}, error radius not given (0): treated as a point position`);
  } else {
    target = { name: targetName(ev), ra: pos.ra, dec: pos.dec, error: pos.error };
    qadd('position', 'pass', `RA ${fmt(pos.ra, 4)} Dec ${fmt(pos.dec, 4)} ± ${fmt(pos.error, 4)}°`);
  }

  const maxErr = sr?.maxErrorRadius ?? rules.maxErrorRadius;
  if (target) qadd('error_radius', target.error <= maxErr ? 'pass' : 'fail', `${fmt(target.error, 4)}° ${target.error <= maxErr ? '≤' : '>'} ${maxErr}°`);
  else qadd('error_radius', 'skip', 'no position');

  const minImp = sr?.minImportance ?? rules.minImportance;
  const imp = ev.why?.importance;
  if (minImp === undefined) qadd('importance', 'skip', imp === undefined ? 'no minimum set' : `importance ${imp}; no minimum set`);
  else if (imp === undefined) qadd('importance', rules.requireWhy ? 'fail' : 'skip', rules.requireWhy ? 'the packet states no importance' : 'the packet states no importance; not required');
  else qadd('importance', imp >= minImp ? 'pass' : 'fail', `importance ${imp} ${imp >= minImp ? '≥' : '<'} ${minImp}`);

  const minProb = sr?.minProbability ?? rules.minProbability;
  const probs = (ev.why?.inferences ?? []).map((i) => i.probability).filter((p): p is number => typeof p === 'number');
  const prob = probs.length ? Math.max(...probs) : undefined;
  if (minProb === undefined) qadd('probability', 'skip', prob === undefined ? 'no minimum set' : `probability ${prob}; no minimum set`);
  else if (prob === undefined) qadd('probability', rules.requireWhy ? 'fail' : 'skip', rules.requireWhy ? 'the packet states no inference probability' : 'the packet states no inference probability; not required');
  else qadd('probability', prob >= minProb ? 'pass' : 'fail', `probability ${prob} ${prob >= minProb ? '≥' : '<'} ${minProb}`);

  const ob = rules.observability;
  if (target) {
    const ok = target.dec >= ob.decMin && target.dec <= ob.decMax;
    qadd('declination', ok ? 'pass' : 'fail', `Dec ${fmt(target.dec, 2)}° ${ok ? 'within' : 'outside'} [${ob.decMin}°, ${ob.decMax}°]`);
  } else qadd('declination', 'skip', 'no position');

  const triggerTime = parseIsoUtc(ev.whereWhen?.time?.iso) ?? parseIsoUtc(ev.who?.date);
  let from: Date | undefined;
  let to: Date | undefined;
  if (!triggerTime) qadd('window', 'fail', 'the packet has no event time (WhereWhen) nor date (Who)');
  else {
    from = new Date(Math.max(at.getTime(), triggerTime.getTime() + ob.windowStart));
    to = new Date(triggerTime.getTime() + ob.windowEnd);
    const since = at.getTime() - triggerTime.getTime();
    if (to.getTime() <= at.getTime()) qadd('window', 'fail', `trigger ${iso(triggerTime)}, ${hours(since)} ago: the window closed at ${iso(to)}`);
    else qadd('window', 'pass', `trigger ${iso(triggerTime)} (${since >= 0 ? `${hours(since)} ago` : `in ${hours(since)}`}); window ${iso(from)} – ${iso(to)}`);
  }

  // --- Visibility ----------------------------------------------------------
  const failedSoFar = filtered || opts.duplicate || q.some((v) => v.verdict === 'fail');
  const evaluate = target !== undefined && (opts.full || !failedSoFar);
  let conditions: Conditions | undefined;
  let conditionsAtStart: Conditions | undefined;
  let window: { start: Date; end: Date } | undefined;
  let visibleNow = false;
  if (evaluate && target) {
    conditions = conditionsAt(rules.site, target, at, ob);
    const search = from && to && to > from ? findVisibility(rules.site, target, from, to, ob) : undefined;
    const later: VerdictState = search?.window ? 'later' : 'fail';
    const c = conditions;
    const altLimit = ob.maxAirmass !== undefined ? `${fmt(ob.minAltitude)}° (airmass ${ob.maxAirmass})` : `${fmt(ob.minAltitude)}°`;
    add('altitude', c.ok.altitude ? 'pass' : later, `altitude ${fmt(c.altitude)}° (airmass ${Number.isFinite(c.airmass) ? fmt(c.airmass, 2) : '∞'}) ${c.ok.altitude ? '≥' : '<'} ${altLimit} at ${iso(at)}`);
    add('sun', c.ok.sun ? 'pass' : later, `Sun at ${fmt(c.sunAltitude)}° ${c.ok.sun ? '≤' : '>'} ${ob.maxSunAltitude}°`);
    add('moon', c.ok.moon ? 'pass' : later, `Moon ${fmt(c.moonDistance)}° away ${c.ok.moon ? '≥' : '<'} ${ob.minMoonDistance}°`);
    if (!search) qadd('visibility', 'fail', 'no observing window left');
    else if (!search.window) qadd('visibility', 'fail', search.reason ?? 'not observable in the window');
    else {
      const w = search.window;
      window = { start: w.start, end: w.end };
      conditionsAtStart = w.atStart;
      visibleNow = w.now && w.start.getTime() === at.getTime();
      qadd('visibility', 'pass', visibleNow
        ? `observable now until ${iso(w.end)}`
        : `observable from ${iso(w.start)} (in ${hours(w.start.getTime() - at.getTime())}, altitude ${fmt(w.atStart.altitude)}°, Sun ${fmt(w.atStart.sunAltitude)}°) until ${iso(w.end)}`);
    }
  } else {
    for (const r of ['altitude', 'sun', 'moon']) add(r, 'skip', target ? 'not evaluated (an earlier rule decided)' : 'no position');
    qadd('visibility', 'skip', target ? 'not evaluated (an earlier rule decided)' : 'no position');
  }

  const extra: Partial<Decision> = {};
  if (target) extra.target = target;
  if (triggerTime) extra.triggerTime = triggerTime;
  if (conditions) extra.conditions = conditions;
  if (conditionsAtStart) extra.conditionsAtStart = conditionsAtStart;

  if (filtered) {
    const first = verdicts.find((v) => v.verdict === 'fail')!;
    return out('ignore', first.detail, extra);
  }
  if (opts.duplicate) return out('ignore', 'already handled', extra);
  if (prior?.retracted) return out('ignore', `the event was retracted (${prior.eventIvorn})`, extra);

  const failed = q.filter((v) => v.verdict === 'fail');
  if (failed.length) {
    const why = failed.map((v) => `${v.rule}: ${v.detail}`).join('; ');
    if (prior?.active && prior.relation === 'supersedes') return out('cancel', `superseded by a packet that no longer qualifies (${why})`, { ...extra, relation: 'supersedes' });
    if (prior?.active) return out('ignore', `keeping request ${prior.requestId ?? ''} for ${prior.eventIvorn}: this ${prior.relation} does not qualify (${why})`.replace('  ', ' '), extra);
    return out('reject', why, extra);
  }

  extra.window = window!;
  extra.observationType = visibleNow ? 'RAPID_RESPONSE' : 'NORMAL';
  if (prior?.active) {
    if (prior.relation === 'supersedes') return out('update', `replaces the request for ${prior.eventIvorn} (supersedes)`, { ...extra, relation: 'supersedes' });
    const better = prior.error === undefined || target!.error < prior.error;
    add('better_position', better ? 'pass' : 'fail', prior.error === undefined ? 'the previous request had no error radius' : `${fmt(target!.error, 4)}° ${better ? '<' : '≥'} ${fmt(prior.error, 4)}° of ${prior.eventIvorn}`);
    if (!better) return out('ignore', `no better position than ${prior.eventIvorn}; keeping request ${prior.requestId ?? ''}`.trim(), extra);
    return out('update', `better position (${fmt(target!.error, 4)}° < ${fmt(prior.error ?? NaN, 4)}°) than ${prior.eventIvorn}`, { ...extra, relation: prior.relation });
  }
  if (visibleNow) return out('trigger', `observable now (altitude ${fmt(conditions!.altitude)}°, Sun ${fmt(conditions!.sunAltitude)}°, Moon ${fmt(conditions!.moonDistance)}°) until ${iso(window!.end)}`, extra);
  return out('schedule', `observable from ${iso(window!.start)} until ${iso(window!.end)}`, extra);
}

/** The decision as text: one line per rule, then the decision (for --explain and logs). */
export function formatDecision(d: Decision): string {
  const mark: Record<VerdictState, string> = { pass: 'ok  ', fail: 'FAIL', later: 'LATE', skip: ' -  ' };
  const lines = [`packet   ${d.ivorn} (role=${d.role})`, `at       ${d.at.toISOString()}`];
  if (d.target) lines.push(`target   ${d.target.name}: RA ${d.target.ra} Dec ${d.target.dec} ± ${d.target.error}°`);
  if (d.prior) lines.push(`thread   ${d.prior.relation} of ${d.prior.eventIvorn}${d.prior.active ? `, request ${d.prior.requestId ?? '(no id)'} active` : ''}`);
  lines.push('');
  const w = Math.max(...d.verdicts.map((v) => v.rule.length));
  for (const v of d.verdicts) lines.push(`  [${mark[v.verdict]}] ${v.rule.padEnd(w)}  ${v.detail}`);
  lines.push('');
  lines.push(`decision ${d.action.toUpperCase()}: ${d.reason}`);
  if (d.window) lines.push(`window   ${d.window.start.toISOString()} – ${d.window.end.toISOString()} (${d.observationType})`);
  return lines.join('\n');
}
