/**
 * A burst description in JSON, as the science centre's pipeline writes it, and
 * the VOEvent 2.0 packet built from it.
 *
 *   { "id": "sb26051101_eclairs-wakeup", "trigger_time": "2026-05-11T06:13:32.594",
 *     "ra": 197.9295, "dec": -33.8525, "error_radius": 0.04, "instrument": "ECLAIRs",
 *     "params": { "Packet_Type": 202, "SNR": 8.2 }, "importance": 0.8,
 *     "citations": [{ "ivorn": "ivo://org.svom/fsc#sb26051101_grm-trigger", "cite": "followup" }] }
 */
import type { Author, Param, VOEvent } from '../../voevent/index.ts';
import { checkConfig } from '../../common/config.ts';

export type BurstDescription = {
  id: string;
  ivorn?: string;
  role?: 'observation' | 'prediction' | 'utility' | 'test';
  /** Who/Date (default: the file's modification time, so a rebuild gives the same packet). */
  date?: string;
  trigger_time: string;
  ra?: number;
  dec?: number;
  /** Error radius in degrees. */
  error_radius?: number;
  coord_system?: string;
  instrument?: string;
  params?: Record<string, string | number | boolean> | { name: string; value: string | number | boolean; unit?: string; ucd?: string; dataType?: string }[];
  importance?: number;
  concepts?: string[];
  description?: string;
  citations?: { ivorn: string; cite: 'followup' | 'supersedes' | 'retraction' }[];
};

/** How a publisher completes burst descriptions (its configuration's `burst:` block). */
export type BurstDefaults = {
  /** IVORN without '#local', e.g. ivo://org.svom/fsc; the description's id is the local part. */
  ivorn_base?: string;
  author_ivorn?: string;
  author?: Author;
  role?: BurstDescription['role'];
  observatory?: string;
};

const ISO = '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:?[0-9]{2})?$';
const SCALAR = { type: ['string', 'number', 'boolean'] };

export const BURST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'trigger_time'],
  properties: {
    id: { type: 'string', pattern: '^[A-Za-z0-9._~-]+$', description: 'letters, digits and . _ ~ - (the IVORN local part)' },
    ivorn: { type: 'string', pattern: '^ivo://[^/#\\s]+[^#\\s]*#[^#\\s]+$', description: 'an IVORN ivo://authority/path#local' },
    role: { enum: ['observation', 'prediction', 'utility', 'test'] },
    date: { type: 'string', pattern: ISO, description: 'an ISO 8601 date-time such as 2026-05-11T06:14:19Z' },
    trigger_time: { type: 'string', pattern: ISO, description: 'an ISO 8601 date-time such as 2026-05-11T06:13:32.594' },
    ra: { type: 'number', minimum: 0, exclusiveMaximum: 360 },
    dec: { type: 'number', minimum: -90, maximum: 90 },
    error_radius: { type: 'number', minimum: 0 },
    coord_system: { type: 'string' },
    instrument: { type: 'string', minLength: 1 },
    params: {
      anyOf: [
        { type: 'object', additionalProperties: SCALAR },
        {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'value'],
            properties: { name: { type: 'string', minLength: 1 }, value: SCALAR, unit: { type: 'string' }, ucd: { type: 'string' }, dataType: { enum: ['string', 'int', 'float'] } },
          },
        },
      ],
    },
    importance: { type: 'number', minimum: 0, maximum: 1 },
    concepts: { type: 'array', items: { type: 'string', minLength: 1 } },
    description: { type: 'string' },
    citations: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['ivorn', 'cite'],
        properties: { ivorn: { type: 'string', pattern: '^ivo://' }, cite: { enum: ['followup', 'supersedes', 'retraction'] } },
      },
    },
  },
  dependencies: { ra: ['dec', 'error_radius'], dec: ['ra', 'error_radius'], error_radius: ['ra', 'dec'] },
} as const;

function param(name: string, value: string | number | boolean, extra: Partial<Param> = {}): Param {
  const p: Param = { name, value: String(value) };
  if (extra.unit) p.unit = extra.unit;
  if (extra.ucd) p.ucd = extra.ucd;
  const dataType = extra.dataType ?? (typeof value === 'number' ? (Number.isInteger(value) ? 'int' : 'float') : undefined);
  if (dataType) p.dataType = dataType;
  return p;
}

/** Check a parsed description (ConfigError naming the key and `source`). */
export function checkBurst(data: unknown, source: string): BurstDescription {
  return checkConfig<BurstDescription>(data, BURST_SCHEMA, source);
}

/** The VOEvent for a burst description. `date` fills Who/Date when the description has none. */
export function burstEvent(b: BurstDescription, defaults: BurstDefaults, date: string, source: string): VOEvent {
  const ivorn = b.ivorn ?? (defaults.ivorn_base ? `${defaults.ivorn_base.replace(/#.*$/, '')}#${b.id}` : undefined);
  if (!ivorn) throw new Error(`${source}: no ivorn, and the publisher configuration has no burst.ivorn_base to make one from id`);
  const params: Param[] = [];
  if (b.instrument) params.push(param('Instrument', b.instrument));
  if (Array.isArray(b.params)) for (const p of b.params) params.push(param(p.name, p.value, { unit: p.unit, ucd: p.ucd, dataType: p.dataType }));
  else for (const [k, v] of Object.entries(b.params ?? {})) params.push(param(k, v));
  const ev: VOEvent = {
    ivorn,
    role: b.role ?? defaults.role ?? 'observation',
    version: '2.0',
    who: {
      ...(defaults.author_ivorn ? { authorIVORN: defaults.author_ivorn } : {}),
      date: b.date ?? date,
      ...(defaults.author ? { author: defaults.author } : {}),
    },
    what: { params, groups: [], tables: [] },
    whereWhen: {
      observatoryId: defaults.observatory ?? 'GEOLUN',
      coordSystemId: b.coord_system ?? 'UTC-ICRS-TOPO',
      time: { iso: b.trigger_time },
      ...(b.ra !== undefined ? { position: { ra: b.ra, dec: b.dec!, error: b.error_radius! } } : {}),
    },
  };
  if (b.instrument) ev.how = { descriptions: [b.instrument], references: [] };
  if (b.importance !== undefined || b.concepts?.length) {
    ev.why = { inferences: [] };
    if (b.importance !== undefined) ev.why.importance = b.importance;
    if (b.concepts?.length) ev.why.concepts = b.concepts;
  }
  if (b.citations?.length) ev.citations = { eventIVORNs: b.citations.map((c) => ({ ivorn: c.ivorn, cite: c.cite })) };
  if (b.description) ev.description = b.description;
  return ev;
}
