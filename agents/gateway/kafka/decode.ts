/**
 * One Kafka message → one pubsub item, or Refused with the reason.
 *
 * How a message is read: the route's `format` when it names one, else the
 * Hopskotch `_format` header, else the bytes themselves (`<` → VOEvent, `{` → JSON).
 *
 *   voevent    VOEvent 2.0 validated by our validator; the item is the packet, id from the IVORN
 *   json       a JSON object; with a GCN `$schema` it must validate (gcn-schema.ts); an
 *              igwn.gwalert notice (superevent_id + alert_type) is recognised as such;
 *              the item is XEP-0335 <json xmlns="urn:xmpp:json:0">, the container the
 *              crossmatcher reads
 *   gcn-json   json whose `$schema` is required
 *   gwalert    json that must be an igwn.gwalert notice
 *   heartbeat  GCN's heartbeat ({"alert_datetime": ...}) → a VOXnet heartbeat VOEvent (role
 *              utility), so the silence alarm of followers works on it
 *
 * Anything else (`blob`, `avro`, `circular`, an unknown `_format`), bad XML, bad
 * JSON, a schema-invalid notice or an oversized message is Refused.
 */
import { build } from '../../../voevent/index.ts';
import { prepareVOEvent, InvalidVOEventError } from '../../lib/publish.ts';
import { heartbeatEvent } from '../../heartbeat/heartbeat.ts';
import { JSON_NS } from '../../crossmatch/alert.ts';
import { bridgedItemId, dedupeKey, hopIdText, Refused } from '../lib/index.ts';
import { checkGcnNotice, isGcnSchemaUrl } from './gcn-schema.ts';

export const FORMATS = ['auto', 'voevent', 'json', 'gcn-json', 'gwalert', 'heartbeat'] as const;
export type RouteFormat = (typeof FORMATS)[number];

export type KafkaMessageIn = {
  topic: string;
  partition: number;
  offset: string;
  value: Buffer | null;
  headers: Record<string, Buffer | string | undefined>;
};

export type BridgedItem = {
  id: string;
  /** The payload element, serialized. */
  xml: string;
  kind: 'voevent' | 'json' | 'gwalert' | 'heartbeat';
  ivorn?: string;
  /** Seen-store key (IVORN or Hopskotch _id), when the message has one. */
  key?: string;
  /** Set when the notice named another schema version than the installed one, etc. */
  note?: string;
};

export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export function headerText(h: Buffer | string | undefined): string | undefined {
  return h === undefined ? undefined : typeof h === 'string' ? h : h.toString('utf8');
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** The XEP-0335 container. */
export function jsonContainer(text: string): string {
  return `<json xmlns="${JSON_NS}">${esc(text)}</json>`;
}

function isGwAlert(doc: Record<string, unknown>): boolean {
  return typeof doc.superevent_id === 'string' && typeof doc.alert_type === 'string';
}

function parseJson(text: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Refused(`not JSON: ${(e as Error).message}`);
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new Refused('JSON message is not an object');
  return doc as Record<string, unknown>;
}

export function decodeMessage(m: KafkaMessageIn, opts: { format?: RouteFormat; maxBytes?: number; heartbeatIvornBase?: string } = {}): BridgedItem {
  const max = opts.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const value = m.value ?? Buffer.alloc(0);
  if (value.length > max) throw new Refused(`message of ${value.length} bytes is over the limit of ${max} bytes`);
  if (value.length === 0) throw new Refused('empty message');
  const hopFormat = headerText(m.headers._format);
  const hopId = m.headers._id;
  const position = ['kafka', m.topic, m.partition, m.offset];
  let format: string = opts.format && opts.format !== 'auto' ? opts.format : hopFormat ?? '';
  if (!format) {
    const first = value.subarray(0, 64).toString('utf8').trimStart()[0];
    format = first === '<' ? 'voevent' : first === '{' ? 'json' : '';
    if (!format) throw new Refused('neither XML nor JSON, and no _format header says what it is');
  }
  const text = value.toString('utf8');
  switch (format) {
    case 'voevent': {
      let ev;
      try {
        ev = prepareVOEvent(value, `${m.topic}/${m.partition}/${m.offset}`);
      } catch (e) {
        if (e instanceof InvalidVOEventError) throw new Refused(`invalid VOEvent: ${e.message}`);
        throw new Refused(`invalid VOEvent: ${(e as Error).message}`);
      }
      return { id: bridgedItemId({ ivorn: ev.ivorn }), xml: ev.xml, kind: 'voevent', ivorn: ev.ivorn, key: dedupeKey({ ivorn: ev.ivorn }) };
    }
    case 'json':
    case 'gcn-json':
    case 'gwalert': {
      const doc = parseJson(text);
      let note: string | undefined;
      if (format === 'gcn-json' || isGcnSchemaUrl(doc.$schema) || (format === 'json' && doc.$schema !== undefined)) {
        const c = checkGcnNotice(doc);
        if (!c.ok) throw new Refused(c.reason);
        note = c.note;
      }
      const gw = isGwAlert(doc);
      if (format === 'gwalert' && !gw) throw new Refused('not an igwn.gwalert notice (superevent_id and alert_type are required)');
      const id = bridgedItemId({ hopId, position });
      return { id, xml: jsonContainer(text), kind: gw ? 'gwalert' : 'json', key: dedupeKey({ hopId }), note };
    }
    case 'heartbeat': {
      const doc = parseJson(text);
      const at = typeof doc.alert_datetime === 'string' ? new Date(doc.alert_datetime) : undefined;
      if (!at || Number.isNaN(at.getTime())) throw new Refused('heartbeat without a valid alert_datetime');
      const seq = Math.floor(at.getTime() / 1000);
      const xml = build(heartbeatEvent({ ivornBase: opts.heartbeatIvornBase ?? `ivo://voxnet/kafka-heartbeat/${m.topic}`, seq, at, intervalMs: 1000, source: `kafka ${m.topic}` }));
      const ev = prepareVOEvent(xml, 'heartbeat');
      return { id: bridgedItemId({ ivorn: ev.ivorn }), xml: ev.xml, kind: 'heartbeat', ivorn: ev.ivorn };
    }
    default:
      throw new Refused(`unknown _format '${format}' (bridged: voevent, json)`);
  }
}

/** The text form of a Kafka header map (dead letters, logs). `_id` as a UUID. */
export function headersAsText(h: Record<string, Buffer | string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k] = k === '_id' ? hopIdText(v) ?? Buffer.from(v).toString('hex') : headerText(v)!;
  }
  return out;
}
