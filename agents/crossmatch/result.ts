/**
 * The crossmatch result in its two published forms:
 *  - JSON (inside XEP-0335 <json xmlns="urn:xmpp:json:0">): the alert it answers,
 *    where the localisation came from, and sky's CrossmatchResult (map summary
 *    with credible areas, top galaxies inside the credible level, field coverage,
 *    watch-list targets inside the credible level);
 *  - a VOEvent citing the alert (cite="followup", and cite="supersedes" of the
 *    previous result for the same event), built with voevent build and checked
 *    against the VOEvent 2.0 schema and semantic rules before it is published.
 */
import { createHash } from 'node:crypto';
import type { Element } from '@xmpp/xml';
import { xml } from '@xmpp/xml';
import type { CrossmatchResult } from '../../sky/index.ts';
import { build, validate, type EventIVORN, type Param, type Reference, type Table, type VOEvent } from '../../voevent/index.ts';
import { JSON_NS, type AlertInfo, type LocalisationSource } from './alert.ts';

export const RESULT_TYPE = 'voxnet.crossmatch.result';

/** What the result is about and how it was made. */
export interface ResultContext {
  agent: string;
  authorIvorn: string;
  shortName: string;
  contactEmail?: string;
  alert: AlertInfo;
  /** Alert node and item id (and the service, for an xmpp: URI). */
  node: string;
  itemId: string;
  service?: string;
  format: 'voevent' | 'gwalert';
  source: LocalisationSource;
  warnings: string[];
  credibleLevel: number;
  /** IVORN of the previous result for the same event (cited as superseded). */
  supersedes?: string;
  now: Date;
}

export interface ResultDocument {
  type: typeof RESULT_TYPE;
  version: 1;
  agent: string;
  created: string;
  /** IVORN of the companion VOEvent. */
  result_ivorn: string;
  supersedes: string | null;
  alert: {
    node: string;
    item: string;
    uri: string | null;
    format: 'voevent' | 'igwn.gwalert';
    ivorn: string | null;
    key: string;
    role: string;
    mission: string | null;
    event_id: string | null;
    alert_type: string | null;
    time: string | null;
  };
  localisation: LocalisationSource;
  credible_level: number;
  warnings: string[];
  result: CrossmatchResult;
}

let seq = 0;

/** Item id of a result on its node: stable per event, so an update replaces the previous result. */
export function resultItemId(key: string, form: 'voevent' | 'json'): string {
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 10);
  const slug = key.replace(/^ivorn:/, '').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[_.-]+|[_.-]+$/g, '').slice(-60);
  return `crossmatch-${slug ? `${slug}-` : ''}${hash}${form === 'json' ? '.json' : ''}`;
}

/** A fresh IVORN for a result VOEvent. */
export function resultIvorn(authorIvorn: string, key: string, now: Date): string {
  const slug = key.replace(/^ivorn:/, '').replace(/[^A-Za-z0-9._:-]+/g, '_').slice(-80);
  const stamp = now.toISOString().replace(/[-:]/g, '');
  return `${authorIvorn}#crossmatch_${slug}_${stamp}_${(seq++ % 1000).toString().padStart(3, '0')}`;
}

/** xmpp: URI of a pubsub item (RFC 5122, XEP-0060 §12.22 query action). */
export function itemUri(service: string | undefined, node: string, id: string): string | null {
  if (!service) return null;
  const enc = (s: string) => encodeURIComponent(s).replace(/%2F/g, '/');
  return `xmpp:${service}?pubsub;action=retrieve;node=${enc(node)};item=${enc(id)}`;
}

/**
 * Keep galaxies inside the credible level (re-ranked 1..topN) and watch-list
 * targets inside it; the rest of the result as sky computed it.
 */
export function trimResult(r: CrossmatchResult, credibleLevel: number, topN: number): CrossmatchResult {
  const inside = (p: number | null) => p !== null && p <= credibleLevel;
  const out: CrossmatchResult = { ...r };
  if (r.galaxies) {
    out.galaxies = { ...r.galaxies, top: r.galaxies.top.filter((g) => inside(g.searchedProb)).slice(0, topN).map((g, k) => ({ ...g, rank: k + 1 })) };
  }
  if (r.watchlist) out.watchlist = { ...r.watchlist, targets: r.watchlist.targets.filter((t) => inside(t.searchedProb)).map((t, k) => ({ ...t, rank: k + 1 })) };
  return out;
}

export function resultDocument(ctx: ResultContext, result: CrossmatchResult, resultIvornText: string): ResultDocument {
  const a = ctx.alert;
  return {
    type: RESULT_TYPE,
    version: 1,
    agent: ctx.agent,
    created: ctx.now.toISOString(),
    result_ivorn: resultIvornText,
    supersedes: ctx.supersedes ?? null,
    alert: {
      node: ctx.node,
      item: ctx.itemId,
      uri: itemUri(ctx.service, ctx.node, ctx.itemId),
      format: ctx.format === 'gwalert' ? 'igwn.gwalert' : 'voevent',
      ivorn: a.ivorn ?? null,
      key: a.key,
      role: a.role,
      mission: a.mission ?? null,
      event_id: a.eventId ?? null,
      alert_type: a.alertType ?? null,
      time: a.time ?? null,
    },
    localisation: ctx.source,
    credible_level: ctx.credibleLevel,
    warnings: [...ctx.warnings, ...result.map.warnings],
    result,
  };
}

/** JSON text without NaN/Infinity (written as null). */
export function jsonText(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? null : x));
}

/** The JSON payload element (XEP-0335). */
export function jsonPayload(doc: ResultDocument): Element {
  return xml('json', { xmlns: JSON_NS }, jsonText(doc));
}

const num = (v: number | null | undefined, digits = 6): string => (v === null || v === undefined || !Number.isFinite(v) ? '' : Number(v.toPrecision(digits)).toString());
const p = (name: string, value: string | number, extra: Partial<Param> = {}): Param => ({ name, value: String(value), ...extra });
const pct = (level: number) => Math.round(level * 1000) / 10;
const levelName = (level: number) => String(pct(level)).replace('.', '_');

function localisationParams(s: LocalisationSource): Param[] {
  switch (s.kind) {
    case 'gwalert':
      return [p('Localisation', s.combined ? 'igwn.gwalert external_coinc.combined_skymap' : 'igwn.gwalert event.skymap', { ucd: 'meta.code' })];
    case 'url':
      return [p('Localisation', 'sky map', { ucd: 'meta.code' }), p('Skymap_URL', s.url, { ucd: 'meta.ref.url' })];
    case 'circle':
      return [
        p('Localisation', `error circle (${s.profile})`, { ucd: 'meta.code' }),
        p('Circle_RA', num(s.ra, 10), { unit: 'deg', ucd: 'pos.eq.ra', dataType: 'float' }),
        p('Circle_Dec', num(s.dec, 10), { unit: 'deg', ucd: 'pos.eq.dec', dataType: 'float' }),
        p('Circle_Radius', num(s.radius, 8), { unit: 'deg', ucd: 'stat.error;pos.eq', dataType: 'float' }),
        p('Circle_Containment', num(s.containment), { ucd: 'stat.probability', dataType: 'float' }),
      ];
  }
}

/** The result VOEvent model. */
export function resultEvent(ctx: ResultContext, r: CrossmatchResult, ivorn: string): VOEvent {
  const a = ctx.alert;
  const m = r.map;
  const uri = itemUri(ctx.service, ctx.node, ctx.itemId);
  const params: Param[] = [
    p('Event_Key', a.key, { ucd: 'meta.id' }),
    ...(a.ivorn ? [p('Alert_IVORN', a.ivorn, { ucd: 'meta.ref.ivoid' })] : []),
    p('Alert_Node', ctx.node, { ucd: 'meta.id' }),
    p('Alert_Item', ctx.itemId, { ucd: 'meta.id' }),
    p('Alert_Format', ctx.format === 'gwalert' ? 'igwn.gwalert' : 'voevent', { ucd: 'meta.code' }),
    ...(a.eventId ? [p('Event_ID', a.eventId, { ucd: 'meta.id' })] : []),
    ...(a.alertType ? [p('Alert_Type', a.alertType, { ucd: 'meta.code' })] : []),
    ...localisationParams(ctx.source),
    p('Credible_Level', num(ctx.credibleLevel), { ucd: 'stat.probability', dataType: 'float' }),
  ];
  const areaParams = m.areas.map((x) =>
    p(`Area_${levelName(x.level)}`, num(x.areaDeg2), { unit: 'deg2', ucd: 'phys.angArea;stat.max', dataType: 'float', descriptions: [`greedy ${pct(x.level)}% credible area`] }),
  );
  const mapParams: Param[] = [
    ...areaParams,
    p('Densest_RA', num(m.densest.ra, 10), { unit: 'deg', ucd: 'pos.eq.ra', dataType: 'float' }),
    p('Densest_Dec', num(m.densest.dec, 10), { unit: 'deg', ucd: 'pos.eq.dec', dataType: 'float' }),
    ...(m.distance
      ? [
          p('Distance_Mean', num(m.distance.mean), { unit: 'Mpc', ucd: 'pos.distance;stat.mean', dataType: 'float' }),
          p('Distance_Std', num(m.distance.std), { unit: 'Mpc', ucd: 'pos.distance;stat.stdev', dataType: 'float' }),
        ]
      : []),
    ...(m.object ? [p('Object', m.object, { ucd: 'meta.id' })] : []),
    ...(m.instruments.length ? [p('Instruments', m.instruments.join(','), { ucd: 'instr' })] : []),
  ];
  const groups = [{ name: 'Skymap_Summary', params: mapParams }];
  const tables: Table[] = [];
  if (r.galaxies) {
    const g = r.galaxies;
    groups.push({
      name: 'Galaxy_Catalogue',
      params: [
        p('Catalogue', g.catalog, { ucd: 'meta.id' }),
        p('Catalogue_Size', g.size, { dataType: 'int', ucd: 'meta.number' }),
        p('Ranked_By', g.rankedBy, { ucd: 'meta.code', descriptions: [g.rankedBy === '3d' ? 'dP/dV × weight' : 'dP/dΩ × weight'] }),
        ...(g.weight ? [p('Weight', g.weight, { ucd: 'meta.code' })] : []),
        ...g.within.map((w) => p(`Galaxies_In_${levelName(w.level)}`, w.count, { dataType: 'int', ucd: 'meta.number', descriptions: [`galaxies inside the ${pct(w.level)}% credible region`] })),
      ],
    });
    tables.push({
      name: 'Top_Galaxies',
      params: [],
      descriptions: [`best galaxies inside the ${pct(ctx.credibleLevel)}% credible region, best first`],
      fields: [
        { name: 'Rank', dataType: 'int', ucd: 'meta.number' },
        { name: 'Name', dataType: 'string', ucd: 'meta.id' },
        { name: 'RA', dataType: 'float', unit: 'deg', ucd: 'pos.eq.ra' },
        { name: 'Dec', dataType: 'float', unit: 'deg', ucd: 'pos.eq.dec' },
        { name: 'Distance', dataType: 'float', unit: 'Mpc', ucd: 'pos.distance' },
        { name: 'Prob', dataType: 'float', ucd: 'stat.probability', descriptions: ["the galaxy's share of the catalogue's score"] },
        { name: 'Searched_Prob', dataType: 'float', ucd: 'stat.probability', descriptions: ['greedy credible level of the galaxy position'] },
        { name: 'Searched_Area', dataType: 'float', unit: 'deg2', ucd: 'phys.angArea' },
        { name: 'Offset', dataType: 'float', unit: 'deg', ucd: 'pos.angDistance', descriptions: ['angle from the densest tile'] },
        { name: 'Score', dataType: 'float', ucd: 'stat.likelihood' },
      ],
      rows: g.top.map((t) => [String(t.rank), t.id, num(t.ra, 10), num(t.dec, 10), num(t.distance), num(t.prob), num(t.searchedProb), num(t.searchedArea), num(t.offset), num(t.score)]),
    });
  }
  if (r.fields) {
    const f = r.fields;
    const last = f.top.at(-1);
    groups.push({
      name: 'Field_Coverage',
      params: [
        p('Field_Grid', f.catalog, { ucd: 'meta.id' }),
        p('Field_Grid_Size', f.size, { dataType: 'int', ucd: 'meta.number' }),
        p('Fields_Reported', f.top.length, { dataType: 'int', ucd: 'meta.number' }),
        p('Total_Coverage', num(last?.cumulativeProb ?? f.top.reduce((s, x) => Math.max(s, x.prob), 0)), {
          dataType: 'float',
          ucd: 'stat.probability',
          descriptions: ['probability inside the union of the reported fields'],
        }),
      ],
    });
    tables.push({
      name: 'Fields',
      params: [],
      descriptions: ['telescope fields covering most probability, best first'],
      fields: [
        { name: 'Rank', dataType: 'int', ucd: 'meta.number' },
        { name: 'Field_ID', dataType: 'string', ucd: 'meta.id' },
        { name: 'RA', dataType: 'float', unit: 'deg', ucd: 'pos.eq.ra' },
        { name: 'Dec', dataType: 'float', unit: 'deg', ucd: 'pos.eq.dec' },
        { name: 'Prob', dataType: 'float', ucd: 'stat.probability' },
        { name: 'Cumulative_Prob', dataType: 'float', ucd: 'stat.probability', descriptions: ['inside the union of fields 1..rank'] },
      ],
      rows: f.top.map((x) => [String(x.rank), x.id, num(x.ra, 10), num(x.dec, 10), num(x.prob), num(x.cumulativeProb)]),
    });
  }
  if (r.watchlist) {
    const w = r.watchlist;
    tables.push({
      name: 'Watchlist',
      params: [p('Watchlist', w.catalog, { ucd: 'meta.id' }), p('Watchlist_Size', w.size, { dataType: 'int', ucd: 'meta.number' })],
      descriptions: [`watch-list targets inside the ${pct(ctx.credibleLevel)}% credible region`],
      fields: [
        { name: 'Name', dataType: 'string', ucd: 'meta.id' },
        { name: 'RA', dataType: 'float', unit: 'deg', ucd: 'pos.eq.ra' },
        { name: 'Dec', dataType: 'float', unit: 'deg', ucd: 'pos.eq.dec' },
        { name: 'Searched_Prob', dataType: 'float', ucd: 'stat.probability' },
        { name: 'Probdensity', dataType: 'float', unit: 'sr-1', ucd: 'stat.probability' },
      ],
      rows: w.targets.map((t) => [t.id, num(t.ra, 10), num(t.dec, 10), num(t.searchedProb), num(t.probdensity)]),
    });
  }
  const eventIVORNs: EventIVORN[] = [];
  if (a.ivorn) eventIVORNs.push({ ivorn: a.ivorn, cite: 'followup' });
  if (ctx.supersedes && ctx.supersedes !== ivorn) eventIVORNs.push({ ivorn: ctx.supersedes, cite: 'supersedes' });
  const references: Reference[] = [];
  if (uri) references.push({ uri, type: 'url', meaning: 'alert item' });
  for (const l of a.links) references.push({ uri: l, type: 'url' });
  if (ctx.source.kind === 'url') references.push({ uri: ctx.source.url, type: 'url', mimetype: 'application/fits', meaning: 'sky map' });
  const what = `${a.eventId ?? a.ivorn ?? a.key}: A${pct(0.9)} ${num(m.area90, 4)} deg²${r.galaxies?.top[0] ? `, best galaxy ${r.galaxies.top[0].id}` : ''}`;
  const ev: VOEvent = {
    ivorn,
    role: a.role === 'test' ? 'test' : 'utility',
    version: '2.0',
    who: {
      authorIVORN: ctx.authorIvorn,
      date: ctx.now.toISOString().replace(/Z$/, ''),
      author: { shortName: ctx.shortName, ...(ctx.contactEmail ? { contactEmail: ctx.contactEmail } : {}) },
    },
    what: { params, groups, tables, descriptions: [`crossmatch of ${what}`], ...(references.length ? { references } : {}) },
    how: { descriptions: [`voxnet agent crossmatch ${ctx.agent}`, ...ctx.warnings], references: [] },
    ...(eventIVORNs.length ? { citations: { eventIVORNs, description: `crossmatch of the localisation of ${a.eventId ?? a.ivorn ?? a.key}` } } : {}),
  };
  return ev;
}

export class ResultValidationError extends Error {
  override name = 'ResultValidationError';
}

/** The result VOEvent as XML, checked against the VOEvent 2.0 schema and semantic rules. */
export function resultXml(ev: VOEvent): string {
  const text = build(ev);
  const r = validate(text);
  if (!r.valid) throw new ResultValidationError(`result VOEvent is invalid: ${r.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return text;
}
