/**
 * The status VOEvent the agent publishes after acting, so the network sees which
 * telescope follows what: it cites the alert (cite="followup") and says
 * triggered, scheduled, updated, cancelled, rejected or failed, with the reason,
 * the request, the window and the sky conditions. role="utility" (a statement
 * about plans, not an observation); role="test" when the alert was a test (drills).
 */
import { build, localId, validate, type Param, type VOEvent } from '../../voevent/index.ts';
import type { Decision } from './decide.ts';
import type { Rules } from './rules.ts';

export type StatusWord = 'triggered' | 'scheduled' | 'updated' | 'cancelled' | 'rejected' | 'failed';

export const STATUS_OF: Partial<Record<Decision['action'], StatusWord>> = {
  trigger: 'triggered',
  schedule: 'scheduled',
  update: 'updated',
  cancel: 'cancelled',
  reject: 'rejected',
};

export interface StatusInput {
  status: StatusWord;
  alert: VOEvent;
  decision: Decision;
  rules: Rules;
  /** The request the status is about (the new one for trigger/schedule/update, the cancelled one for cancel). */
  requestId?: string;
  /** The request an update replaced. */
  previousRequestId?: string;
  /** Why the action failed (status failed). */
  error?: string;
  attempts?: number;
  now?: Date;
}

let counter = 0;

const iso = (d: Date) => d.toISOString();
const p = (name: string, value: string | number, extra: Partial<Param> = {}): Param => ({ name, value: String(value), ...extra });

/** A local ID safe for an IVORN: status, alert local id, time. */
function statusLocalId(status: StatusWord, alert: VOEvent, now: Date): string {
  const alertId = (localId(alert.ivorn) || alert.ivorn).replace(/[^A-Za-z0-9._:-]+/g, '_').slice(0, 120);
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.(\d{3})Z$/, '.$1Z');
  return `${alertId}_${status}_${stamp}_${(counter++ % 1000).toString().padStart(3, '0')}`;
}

/** The status VOEvent model. */
export function statusEvent(s: StatusInput): VOEvent {
  const { decision: d, rules, alert } = s;
  const now = s.now ?? new Date();
  const reason = s.status === 'failed' && s.error ? `${d.action} failed: ${s.error}` : d.reason;
  const params: Param[] = [
    p('Status', s.status, { ucd: 'meta.code.status', descriptions: [reason] }),
    p('Reason', reason, { ucd: 'meta.note' }),
    p('Telescope', rules.telescope.name, { ucd: 'instr.tel' }),
    p('Alert_IVORN', alert.ivorn, { ucd: 'meta.ref.ivoid' }),
    p('Decision', d.action, { ucd: 'meta.code' }),
    p('Decided_At', iso(d.at), { ucd: 'time.processing' }),
  ];
  if (s.requestId !== undefined) params.push(p('Request_Id', s.requestId, { ucd: 'meta.id' }));
  if (s.previousRequestId !== undefined) params.push(p('Replaces_Request_Id', s.previousRequestId, { ucd: 'meta.id' }));
  if (s.attempts !== undefined) params.push(p('Attempts', s.attempts, { dataType: 'int' }));
  if (d.observationType && s.status !== 'rejected' && s.status !== 'cancelled') params.push(p('Observation_Type', d.observationType, { ucd: 'meta.code' }));
  if (d.window && s.status !== 'rejected' && s.status !== 'cancelled') {
    params.push(p('Window_Start', iso(d.window.start), { ucd: 'time.start' }), p('Window_End', iso(d.window.end), { ucd: 'time.end' }));
  }
  const c = d.conditionsAtStart ?? d.conditions;
  const groups = [
    {
      name: 'Site',
      params: [
        ...(rules.site.name ? [p('Name', rules.site.name)] : []),
        p('Latitude', rules.site.latitude, { unit: 'deg', ucd: 'pos.earth.lat', dataType: 'float' }),
        p('Longitude', rules.site.longitude, { unit: 'deg', ucd: 'pos.earth.lon', dataType: 'float' }),
        p('Elevation', rules.site.elevation, { unit: 'm', ucd: 'pos.earth.altitude', dataType: 'float' }),
      ],
    },
    ...(c
      ? [{
          name: d.conditionsAtStart ? 'Conditions_At_Window_Start' : 'Conditions_At_Decision',
          params: [
            p('Time', iso(c.at), { ucd: 'time.epoch' }),
            p('Altitude', c.altitude.toFixed(3), { unit: 'deg', ucd: 'pos.az.alt', dataType: 'float' }),
            p('Azimuth', c.azimuth.toFixed(3), { unit: 'deg', ucd: 'pos.az.azi', dataType: 'float' }),
            ...(Number.isFinite(c.airmass) ? [p('Airmass', c.airmass.toFixed(3), { ucd: 'obs.airMass', dataType: 'float' })] : []),
            p('Sun_Altitude', c.sunAltitude.toFixed(3), { unit: 'deg', ucd: 'pos.az.alt', dataType: 'float' }),
            p('Moon_Distance', c.moonDistance.toFixed(3), { unit: 'deg', ucd: 'pos.angDistance', dataType: 'float' }),
          ],
        }]
      : []),
    {
      name: 'Verdicts',
      params: d.verdicts.map((v) => p(v.rule, v.verdict, { ucd: 'meta.code', descriptions: [v.detail] })),
    },
  ];
  const ev: VOEvent = {
    ivorn: `${rules.telescope.authorIvorn}#${statusLocalId(s.status, alert, now)}`,
    role: alert.role === 'test' ? 'test' : 'utility',
    version: '2.0',
    who: {
      authorIVORN: rules.telescope.authorIvorn,
      date: now.toISOString().replace(/Z$/, ''),
      author: { shortName: rules.telescope.shortName, ...(rules.telescope.contactEmail ? { contactEmail: rules.telescope.contactEmail } : {}) },
    },
    what: { params, groups, tables: [] },
    citations: { eventIVORNs: [{ ivorn: alert.ivorn, cite: 'followup' }], description: `${rules.telescope.name} ${s.status}: ${reason}` },
  };
  if (d.target) {
    ev.whereWhen = {
      observatoryId: 'GEOSURFACE',
      coordSystemId: 'UTC-ICRS-TOPO',
      ...(d.triggerTime ? { time: { iso: d.triggerTime.toISOString().replace(/Z$/, ''), unit: 's' } } : {}),
      position: { ra: d.target.ra, dec: d.target.dec, error: d.target.error, name1: 'RA', name2: 'Dec' },
    };
  }
  ev.how = { descriptions: [`voxnet agent telescope ${rules.telescope.name}`], references: [] };
  return ev;
}

export class StatusValidationError extends Error {}

/** The status VOEvent as XML, checked against the VOEvent 2.0 schema and semantic rules. */
export function statusXml(s: StatusInput): string {
  const xml = build(statusEvent(s));
  const r = validate(xml);
  if (!r.valid) throw new StatusValidationError(`status VOEvent is invalid: ${r.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  return xml;
}
