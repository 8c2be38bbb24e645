/**
 * One readable line per event, for chat clients and logs, e.g.
 *
 *   SVOM/ECLAIRs sb26051101 [observation] ivo://org.svom/fsc#sb26051101_slewing
 *   RA 197.9295 Dec -33.8525 ±2.4' at 2026-05-11T06:13:32.594000; follows up
 *   sb26051101_grm-trigger (+2 more)
 */
import type { VOEvent } from './model.ts';
import { localId } from './ivorn.ts';
import { lvk, missionSummary } from './missions.ts';

function fmtNum(n: number, digits: number): string {
  return Number(n.toFixed(digits)).toString();
}

/** An error radius in degrees, in the unit that reads best. */
export function formatRadius(deg: number): string {
  if (deg >= 1) return `${fmtNum(deg, 2)}°`;
  if (deg * 60 >= 1) return `${fmtNum(deg * 60, 1)}'`;
  return `${fmtNum(deg * 3600, 1)}"`;
}

function citationText(ev: VOEvent): string | undefined {
  const evs = ev.citations?.eventIVORNs ?? [];
  if (evs.length === 0) return undefined;
  const verb: Record<string, string> = { followup: 'follows up', supersedes: 'supersedes', retraction: 'RETRACTS' };
  const first = evs[0]!;
  const kind = first.cite ?? 'cites';
  const same = evs.filter((e) => (e.cite ?? 'cites') === kind).length;
  const others = evs.length - 1;
  const target = localId(first.ivorn) || first.ivorn;
  return `${verb[kind] ?? 'cites'} ${target}${others ? ` (+${others} more${same !== evs.length ? ', mixed' : ''})` : ''}`;
}

/** One line describing the event: who/what, id, role, position ± error, time, citations. */
export function summary(ev: VOEvent): string {
  const parts: string[] = [];
  const ms = missionSummary(ev);
  const head = [ms.mission, ms.instrument].filter(Boolean).join('/');
  const lead = [head, ms.eventId].filter(Boolean).join(' ');
  if (lead) parts.push(lead);
  parts.push(`[${ev.role}]`);
  parts.push(ev.ivorn || '(no ivorn)');
  let line = parts.join(' ');

  const pos = ev.whereWhen?.position;
  if (pos && !(pos.ra === 0 && pos.dec === 0 && pos.error === 0)) {
    line += ` RA ${fmtNum(pos.ra, 4)} Dec ${fmtNum(pos.dec, 4)}`;
    if (pos.error > 0) line += ` ±${formatRadius(pos.error)}`;
  } else if (lvk(ev)?.skymapUrl) {
    line += ' sky map';
  }
  const t = ev.whereWhen?.time?.iso;
  if (t) line += ` at ${t}`;
  const extra: string[] = [];
  const l = lvk(ev);
  if (l?.alertType) extra.push(l.alertType);
  if (l?.far !== undefined) extra.push(`FAR ${l.far.toExponential(2)} Hz`);
  const cites = citationText(ev);
  if (cites) extra.push(cites);
  if (extra.length) line += '; ' + extra.join('; ');
  return line;
}
