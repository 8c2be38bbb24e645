/**
 * One pubsub item as the page shows it: a VOEvent (through voevent/'s model and
 * summary), a JSON alert (XEP-0335 <json/>: igwn.gwalert, GCN JSON notices, the
 * crossmatch agent's results) or anything else (shown raw). Pure: no DOM.
 */
import type { Element } from '@xmpp/xml';
import { fromElement } from '../../voevent/parse.ts';
import { summary as voeventSummary } from '../../voevent/summary.ts';
import { missionSummary } from '../../voevent/missions.ts';
import { factsOfVOEvent } from '../../voevent/thread.ts';
import type { VOEvent } from '../../voevent/model.ts';

export const JSON_NS = 'urn:xmpp:json:0';

export type Citation = { ivorn: string; cite: string };

export type Alert = {
  node: string;
  id: string;
  kind: 'voevent' | 'json' | 'other';
  summary: string;
  role: string;
  importance?: number;
  /** Event time (ISO) when the alert states one. */
  time?: string;
  mission?: string;
  ivorn?: string;
  /** The event the alert is about, shared by its updates and retractions (JSON: superevent id). */
  eventKey?: string;
  /** True for a retraction (VOEvent cite="retraction", igwn.gwalert RETRACTION). */
  retraction: boolean;
  citations: Citation[];
  voevent?: VOEvent;
  json?: Record<string, unknown>;
  /** The payload as received (XML text). */
  raw: string;
  /** Problem reading the payload, shown instead of a summary. */
  problem?: string;
};

type JsonObj = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

function jsonSummary(j: JsonObj): Pick<Alert, 'summary' | 'role' | 'time' | 'mission' | 'eventKey' | 'retraction'> {
  // igwn.gwalert (LVK over GCN Kafka / SCiMMA)
  const sid = str(j.superevent_id);
  if (sid) {
    const type = str(j.alert_type) ?? 'ALERT';
    const ev = (j.event ?? {}) as JsonObj;
    const far = typeof ev.far === 'number' ? `; FAR ${ev.far.toExponential(2)} Hz` : '';
    const instr = Array.isArray(ev.instruments) ? ` ${ev.instruments.join(',')}` : '';
    const skymap = str(ev.skymap) ? ' sky map' : '';
    const time = str(ev.time) ?? str(j.time_created);
    return {
      summary: `LVK ${sid} ${type}${instr}${skymap}${time ? ` at ${time}` : ''}${far}`,
      role: sid.startsWith('M') || sid.startsWith('T') ? 'test' : 'observation',
      ...(time ? { time } : {}),
      mission: 'LVK',
      eventKey: `LVK:${sid}`,
      retraction: type === 'RETRACTION',
    };
  }
  // the crossmatch agent's result
  if (j.type === 'voxnet.crossmatch.result') {
    const a = (j.alert ?? {}) as JsonObj;
    const r = ((j.result ?? {}) as JsonObj).map as JsonObj | undefined;
    const area = typeof r?.area90 === 'number' ? ` 90% ${r.area90.toFixed(1)} deg²` : '';
    const g = ((j.result as JsonObj)?.galaxies as JsonObj | undefined)?.top;
    const n = Array.isArray(g) ? `; ${g.length} galaxies` : '';
    return {
      summary: `crossmatch of ${str(a.event_id) ?? str(a.key) ?? str(a.item) ?? 'an alert'}${area}${n}`,
      role: str(a.role) ?? 'utility',
      ...(str(a.time) ? { time: str(a.time)! } : {}),
      ...(str(a.mission) ? { mission: str(a.mission)! } : {}),
      retraction: false,
    };
  }
  // GCN JSON notices (gcn.nasa.gov schema): mission from the field or the $schema path, id, trigger time
  const fromSchema = str(j.$schema)?.match(/\/notices\/([^/]+)\//)?.[1];
  const mission = str(j.mission) ?? (fromSchema ? fromSchema.toUpperCase() : undefined);
  const instrument = str(j.instrument);
  const time = str(j.trigger_time) ?? str(j.alert_datetime);
  const first = (v: unknown) => (Array.isArray(v) ? (v.length ? String(v[0]) : undefined) : v === undefined || v === null || v === '' ? undefined : String(v));
  const id = first(j.event_name) ?? first(j.id) ?? first(j.trigger_id);
  const type = str(j.alert_type);
  const pos = typeof j.ra === 'number' && typeof j.dec === 'number' ? ` RA ${j.ra} Dec ${j.dec}${typeof j.ra_dec_error === 'number' ? ` ±${j.ra_dec_error}°` : ''}` : '';
  const head = [[mission, instrument].filter(Boolean).join('/'), id].filter(Boolean).join(' ') || 'JSON alert';
  return {
    summary: `${head}${type ? ` ${type}` : ''}${pos}${time ? ` at ${time}` : ''}`,
    role: str(j.alert_tense) === 'test' ? 'test' : 'observation',
    ...(time ? { time } : {}),
    ...(mission ? { mission } : {}),
    ...(id ? { eventKey: `${mission ?? ''}:${id}` } : {}),
    retraction: type?.toLowerCase() === 'retraction' || j.retraction === true,
  };
}

/** Reads an item's payload. Never throws: a payload it cannot read becomes an 'other' alert with a problem. */
export function readAlert(node: string, id: string, payload: Element | undefined): Alert {
  const raw = payload ? payload.toString() : '';
  const base = { node, id, raw, citations: [] as Citation[], retraction: false };
  if (!payload) return { ...base, kind: 'other', summary: '(empty item)', role: 'unknown' };
  const local = payload.name.includes(':') ? payload.name.slice(payload.name.indexOf(':') + 1) : payload.name;
  try {
    if (local === 'VOEvent') {
      const ev = fromElement(payload as never);
      const ms = missionSummary(ev);
      // What this alert does to the ones it cites: the broker's thread rules (voevent/thread.ts),
      // e.g. an LVK retraction says AlertType=Retraction and cites with "supersedes".
      const facts = factsOfVOEvent(ev);
      const citations = (ev.citations?.eventIVORNs ?? []).map((c) => ({
        ivorn: c.ivorn,
        cite: facts.relation !== 'initial' && facts.targets.includes(c.ivorn.trim()) ? facts.relation : (c.cite ?? 'followup'),
      }));
      const time = ev.whereWhen?.time?.iso;
      return {
        ...base,
        kind: 'voevent',
        summary: voeventSummary(ev),
        role: ev.role,
        ...(ev.why?.importance !== undefined ? { importance: ev.why.importance } : {}),
        ...(time ? { time } : {}),
        ...(ms.mission ? { mission: ms.mission } : {}),
        ivorn: ev.ivorn,
        ...(ms.eventId ? { eventKey: `${ms.mission ?? ''}:${ms.eventId}` } : {}),
        retraction: facts.relation === 'retraction',
        citations,
        voevent: ev,
      };
    }
    if (local === 'json' && (payload.attrs.xmlns === JSON_NS || payload.getChildElements().length === 0)) {
      const j = JSON.parse(payload.text()) as unknown;
      if (!j || typeof j !== 'object' || Array.isArray(j)) throw new Error('JSON payload is not an object');
      const s = jsonSummary(j as JsonObj);
      return { ...base, kind: 'json', ...s, json: j as JsonObj };
    }
    return { ...base, kind: 'other', summary: `<${payload.name}> item`, role: 'unknown' };
  } catch (err) {
    return { ...base, kind: 'other', summary: `unreadable ${local} item`, role: 'unknown', problem: err instanceof Error ? err.message : String(err) };
  }
}

/** What one alert says about another: updates (followup/supersedes) and retractions. */
export type Relation = { cite: string; by: Alert };

/**
 * The citation threads of a set of alerts: for each alert key (node/id), the
 * later alerts citing its IVORN, or sharing its JSON event key (igwn.gwalert
 * updates and retractions of one superevent).
 */
export class Threads {
  private byIvorn = new Map<string, Alert>();
  private byEvent = new Map<string, Alert[]>();
  /** Citations of IVORNs not seen yet: they attach when the cited alert arrives (history pages come newest first). */
  private waiting = new Map<string, Relation[]>();
  private relations = new Map<string, Relation[]>();

  static key(a: Pick<Alert, 'node' | 'id'>): string {
    return `${a.node}\u0000${a.id}`;
  }

  add(a: Alert): void {
    if (a.ivorn) {
      this.byIvorn.set(a.ivorn, a);
      for (const r of this.waiting.get(a.ivorn) ?? []) this.relate(a, r);
    }
    for (const c of a.citations) {
      const target = this.byIvorn.get(c.ivorn);
      if (target) this.relate(target, { cite: c.cite, by: a });
      const w = this.waiting.get(c.ivorn) ?? [];
      if (!w.some((r) => r.by === a)) w.push({ cite: c.cite, by: a });
      this.waiting.set(c.ivorn, w);
    }
    if (a.kind === 'json' && a.eventKey) {
      // igwn.gwalert: later notices of a superevent update (or retract) the earlier ones
      const same = this.byEvent.get(a.eventKey) ?? [];
      for (const e of same) {
        const [older, newer] = (e.time ?? e.id) <= (a.time ?? a.id) ? [e, a] : [a, e];
        this.relate(older, { cite: newer.retraction ? 'retraction' : 'update', by: newer });
      }
      same.push(a);
      this.byEvent.set(a.eventKey, same);
    }
  }

  private relate(target: Alert, r: Relation): void {
    if (target === r.by || Threads.key(target) === Threads.key(r.by)) return;
    const k = Threads.key(target);
    const list = (this.relations.get(k) ?? []).filter((x) => Threads.key(x.by) !== Threads.key(r.by));
    list.push(r);
    this.relations.set(k, list);
  }

  /** Later alerts about this one: updates and retractions. */
  of(a: Pick<Alert, 'node' | 'id'>): Relation[] {
    return this.relations.get(Threads.key(a)) ?? [];
  }

  /** The alerts this one cites that the page has seen. */
  cited(a: Alert): { cite: string; alert: Alert }[] {
    return a.citations.flatMap((c) => {
      const t = this.byIvorn.get(c.ivorn);
      return t ? [{ cite: c.cite, alert: t }] : [];
    });
  }
}
