/**
 * The event-thread query over XMPP: the ad-hoc command (XEP-0050) `urn:voxnet:event`.
 * Executed with a `ref` (an IVORN, a mission event id such as lvk:S190425z, or an
 * item id) it completes with a result form — the state as fields, the alerts as a
 * table (XEP-0004 <reported/> + <item/>) — and the same answer as JSON in an
 * XEP-0335 <json/> element for programs. Without a ref it asks for one.
 */
import { xml, type Element } from '@xmpp/xml';
import { NS } from '../../common/ns.ts';
import { buildForm } from '../xep0060/forms.ts';
import type { ThreadAnswer } from './keeper.ts';
import { describeLocalisation } from '../../voevent/index.ts';

export const EVENT_COMMAND = 'urn:voxnet:event';
export const JSON_NS = 'urn:xmpp:json:0';

/** The form that asks for the reference. */
export function eventCommandForm(sessionid: string): Element {
  return xml('command', { xmlns: NS.COMMANDS, node: EVENT_COMMAND, sessionid, status: 'executing' },
    xml('actions', { execute: 'complete' }, xml('complete')),
    buildForm('form', [
      { var: 'ref', type: 'text-single', label: 'IVORN, event id (e.g. lvk:S190425z) or item id', values: [] },
    ], 'Event thread'));
}

/** The completed command: the thread's state and alerts. */
export function eventCommandResult(sessionid: string | undefined, a: ThreadAnswer): Element {
  const s = a.state;
  const form = buildForm('result', [
    { var: 'thread', type: 'text-single', label: 'Thread', values: [a.thread] },
    { var: 'event', type: 'text-multi', label: 'Mission event ids', values: s.eventIds },
    { var: 'retracted', type: 'boolean', label: 'Retracted', values: [s.retracted ? '1' : '0'] },
    { var: 'retracted_by', type: 'text-single', label: 'Retracted by', values: s.retractedBy ? [s.retractedBy] : [] },
    { var: 'latest', type: 'text-single', label: 'Latest alert', values: s.latest?.ivorn ? [s.latest.ivorn] : [] },
    { var: 'localisation', type: 'text-single', label: 'Latest localisation', values: s.localisation ? [describeLocalisation(s.localisation)] : [] },
  ], `Event thread ${a.thread}`);
  const cols = ['published', 'node', 'item', 'ivorn', 'relation', 'alert_type'];
  form.append(xml('reported', {}, ...cols.map((c) => xml('field', { var: c }))));
  for (const e of s.entries) {
    const values: Record<string, string> = {
      published: new Date(e.published).toISOString(), node: e.node ?? '', item: e.item ?? '', ivorn: e.ivorn ?? '', relation: e.relation, alert_type: e.alertType ?? '',
    };
    form.append(xml('item', {}, ...cols.map((c) => xml('field', { var: c }, xml('value', {}, values[c]!)))));
  }
  return xml('command', { xmlns: NS.COMMANDS, node: EVENT_COMMAND, sessionid, status: 'completed' },
    form, xml('json', { xmlns: JSON_NS }, JSON.stringify(a)));
}
