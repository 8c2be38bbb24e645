/**
 * Telescope trigger rules: one YAML file, validated with ajv, normalised into
 * `Rules` (durations in milliseconds, paths resolved against the file's folder).
 *
 * The file says which alerts the telescope accepts (streams, packet types, roles,
 * error radius, importance/probability), where the telescope is, what it can
 * observe (altitude or airmass, Sun altitude, Moon distance, declination), how
 * long after the trigger it may observe, what to ask for (an LCO-shaped request)
 * and how to ask (HTTP POST or a command). See config/telescope.example.yaml.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import type { ErrorObject } from 'ajv';
import { ConfigError, checkConfig, createAjv, parseYaml, readConfigText, type ConfigProblem, type ParsedYaml, type PathSegment } from '../../common/config.ts';
import { durationSchema, parseDuration } from '../../common/duration.ts';
import { XMPP_CONFIG_SCHEMA } from '../lib/options.ts';
import type { ConnectionOptions } from '../lib/options.ts';

// ---------------------------------------------------------------------------
// Normalised rules (what the rest of agents/telescope reads)

export interface StreamRule {
  /** Stream id (IVORN before '#'), matched case-insensitively as a prefix: ivo://org.svom/fsc */
  stream: string;
  /** Accepted What/Param Packet_Type values; absent = any. */
  packetTypes?: number[];
  /** Per-stream overrides of the global limits. */
  maxErrorRadius?: number;
  minImportance?: number;
  minProbability?: number;
}

export interface Site {
  name?: string;
  /** Degrees north. */
  latitude: number;
  /** Degrees east. */
  longitude: number;
  /** Metres above sea level. */
  elevation: number;
}

export interface Observability {
  /** Minimum target altitude in degrees (the stricter of min_altitude and max_airmass wins). */
  minAltitude: number;
  /** Maximum airmass (sec z), when configured. */
  maxAirmass?: number;
  /** The Sun must be at or below this altitude (degrees), e.g. -12 for nautical twilight. */
  maxSunAltitude: number;
  /** Minimum angular distance target–Moon in degrees. */
  minMoonDistance: number;
  decMin: number;
  decMax: number;
  /** Observing window relative to the trigger time, ms. */
  windowStart: number;
  windowEnd: number;
  /** Search step for the next visible time, ms. */
  step: number;
  /** Shortest useful visible stretch, ms (0 = any). */
  minDuration: number;
  /** Correct the target altitude for atmospheric refraction (the Sun limit is always geometric). */
  refraction: boolean;
}

export interface InstrumentConfig {
  exposureTime: number;
  exposureCount: number;
  filter?: string;
  mode?: string;
}

export interface RequestTemplate {
  proposal: string;
  ipp_value: number;
  namePrefix: string;
  instrumentType: string;
  configurationType: string;
  instrumentConfigs: InstrumentConfig[];
  telescopeClass?: string;
  acceptabilityThreshold?: number;
}

export interface RetryPolicy {
  attempts: number;
  initial: number;
  max: number;
  factor: number;
}

export type ActionRules =
  | { type: 'http'; url: string; cancelUrl?: string; headers: Record<string, string>; tokenEnv?: string; timeout: number; retry: RetryPolicy }
  | { type: 'command'; command: string[]; timeout: number; retry: RetryPolicy; env: Record<string, string> };

export interface Rules {
  telescope: { name: string; authorIvorn: string; shortName: string; contactEmail?: string };
  site: Site;
  nodes: string[];
  statusNode?: string;
  roles: string[];
  drill: boolean;
  streams: StreamRule[];
  maxErrorRadius: number;
  minImportance?: number;
  minProbability?: number;
  /** Reject packets that state no importance / probability when a minimum is set (default: they pass). */
  requireWhy: boolean;
  observability: Observability;
  request: RequestTemplate;
  action: ActionRules;
  stateFile?: string;
  /** Connection defaults (the command line and VOXNET_AGENT_* variables override them). */
  xmpp?: Partial<ConnectionOptions>;
  /** Where the rules came from (for messages). */
  source: string;
}

// ---------------------------------------------------------------------------
// Schema of the YAML file

const DURATION = durationSchema();
/** Window bounds may be negative (a window that opens before the event). */
const SIGNED_DURATION = durationSchema({ negative: true });
const DEG = (min: number, max: number, description: string) => ({ type: 'number', minimum: min, maximum: max, description }) as const;

const retrySchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    attempts: { type: 'integer', minimum: 1, maximum: 100, default: 5, description: 'tries in all, the first included' },
    initial: { ...DURATION, default: '500ms', title: 'delay before the second try' },
    max: { ...DURATION, default: '30s', title: 'longest delay between tries' },
    factor: { type: 'number', minimum: 1, default: 2 },
  },
} as const;

export const rulesSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['telescope', 'site', 'observability', 'request', 'action'],
  properties: {
    telescope: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'short name, used in request names and status IVORNs' },
        author_ivorn: { type: 'string', pattern: '^ivo://[A-Za-z0-9][^#\\s]{2,}$', description: 'stream of the status packets (default ivo://voxnet/telescope/NAME)' },
        contact_email: { type: 'string' },
      },
    },
    site: {
      type: 'object',
      additionalProperties: false,
      required: ['latitude', 'longitude'],
      properties: {
        name: { type: 'string' },
        latitude: DEG(-90, 90, 'degrees north'),
        longitude: DEG(-180, 360, 'degrees east (west is negative)'),
        elevation: { type: 'number', minimum: -500, maximum: 9000, default: 0, description: 'metres' },
      },
    },
    subscribe: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        nodes: { type: 'array', items: { type: 'string', minLength: 1 }, default: [], description: 'pubsub nodes carrying alerts' },
        status_node: { type: 'string', minLength: 1, description: 'pubsub node to publish status VOEvents on' },
      },
    },
    accept: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        roles: { type: 'array', items: { enum: ['observation', 'prediction', 'utility', 'test'] }, default: ['observation'], uniqueItems: true },
        drill: { type: 'boolean', default: false, description: 'drill mode: role=test alerts are handled like real ones' },
        streams: {
          type: 'array',
          items: {
            anyOf: [
              { type: 'string', pattern: '^ivo://' },
              {
                type: 'object',
                additionalProperties: false,
                required: ['stream'],
                properties: {
                  stream: { type: 'string', pattern: '^ivo://' },
                  packet_types: { type: 'array', items: { type: 'integer' }, minItems: 1 },
                  max_error_radius: DEG(0, 180, 'degrees'),
                  min_importance: DEG(0, 1, ''),
                  min_probability: DEG(0, 1, ''),
                },
              },
            ],
          },
          default: [],
          description: 'accepted streams (empty = every stream)',
        },
        max_error_radius: { ...DEG(0, 180, 'largest accepted error radius, degrees'), default: 180 },
        min_importance: DEG(0, 1, 'minimum Why@importance'),
        min_probability: DEG(0, 1, 'minimum Inference@probability'),
        require_why: { type: 'boolean', default: false },
      },
    },
    observability: {
      type: 'object',
      additionalProperties: false,
      properties: {
        min_altitude: DEG(-5, 90, 'degrees'),
        max_airmass: { type: 'number', minimum: 1, maximum: 40 },
        max_sun_altitude: { ...DEG(-90, 90, 'degrees, e.g. -12'), default: -12 },
        min_moon_distance: { ...DEG(0, 180, 'degrees'), default: 0 },
        dec_min: { ...DEG(-90, 90, 'degrees'), default: -90 },
        dec_max: { ...DEG(-90, 90, 'degrees'), default: 90 },
        window: {
          type: 'object',
          additionalProperties: false,
          required: ['end'],
          properties: { start: { ...SIGNED_DURATION, default: 0 }, end: SIGNED_DURATION },
          description: 'observing window after the trigger time',
        },
        step: { ...DURATION, default: '5m' },
        min_duration: { ...DURATION, default: 0 },
        refraction: { type: 'boolean', default: true },
      },
      required: ['window'],
      anyOf: [{ required: ['min_altitude'] }, { required: ['max_airmass'] }],
    },
    request: {
      type: 'object',
      additionalProperties: false,
      required: ['proposal', 'instrument_type', 'exposures'],
      properties: {
        proposal: { type: 'string', minLength: 1 },
        ipp_value: { type: 'number', exclusiveMinimum: 0, default: 1.05 },
        name_prefix: { type: 'string' },
        instrument_type: { type: 'string', minLength: 1, description: 'e.g. 1M0-SCICAM-SINISTRO' },
        configuration_type: { type: 'string', default: 'EXPOSE' },
        telescope_class: { type: 'string', description: 'e.g. 1m0' },
        acceptability_threshold: { type: 'number', minimum: 0, maximum: 100 },
        exposures: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['exposure_time'],
            properties: {
              exposure_time: { type: 'number', exclusiveMinimum: 0, description: 'seconds' },
              exposure_count: { type: 'integer', minimum: 1, default: 1 },
              filter: { type: 'string' },
              mode: { type: 'string' },
            },
          },
        },
      },
    },
    action: {
      type: 'object',
      required: ['type'],
      properties: { type: { enum: ['http', 'command'] } },
      // if/then rather than oneOf: ajv fills in defaults inside `then`, never inside oneOf.
      allOf: [
        {
          if: { properties: { type: { const: 'http' } } },
          then: {
            properties: {
              type: { const: 'http' },
              url: { type: 'string', pattern: '^https?://' },
              cancel_url: { type: 'string', pattern: '^https?://', description: 'template with {id}; default URL/{id}/cancel/' },
              headers: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
              token_env: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'environment variable holding the API token (Authorization: Token ...)' },
              timeout: { ...DURATION, default: '10s' },
              retry: retrySchema,
            },
            required: ['url'],
            additionalProperties: false,
          },
        },
        {
          if: { properties: { type: { const: 'command' } } },
          then: {
            properties: {
              type: { const: 'command' },
              command: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
              env: { type: 'object', additionalProperties: { type: 'string' }, default: {} },
              timeout: { ...DURATION, default: '30s' },
              retry: retrySchema,
            },
            required: ['command'],
            additionalProperties: false,
          },
        },
      ],
    },
    state_file: { type: 'string', minLength: 1, description: 'where requests are remembered across restarts' },
    xmpp: XMPP_CONFIG_SCHEMA,
  },
} as const;

const validateRaw = createAjv({ coerceTypes: false }).compile(rulesSchema);

/** Airmass sec z ↔ altitude: the altitude at which the plane-parallel airmass equals `airmass`. */
export function altitudeForAirmass(airmass: number): number {
  return (Math.asin(1 / airmass) * 180) / Math.PI;
}

const STREAM_ENTRY = 'a stream IVORN (ivo://...) or { stream, packet_types, max_error_radius, min_importance, min_probability }';

/** The rules' own words for the alternatives of the schema (common/config.ts reports the rest). */
function explainFor(data: Record<string, unknown>) {
  const streams = (data.accept as { streams?: unknown[] } | undefined)?.streams;
  return (e: ErrorObject, path: PathSegment[]): ConfigProblem | null | undefined => {
    if (e.schemaPath.startsWith('#/properties/observability/anyOf')) {
      return e.keyword === 'anyOf' ? { path: ['observability'], message: 'needs min_altitude or max_airmass' } : null;
    }
    const m = /^\/accept\/streams\/(\d+)/.exec(e.instancePath);
    if (m) {
      const entry = Array.isArray(streams) ? streams[Number(m[1])] : undefined;
      const isObject = entry !== null && typeof entry === 'object';
      // A stream entry written as a mapping: what is wrong inside it; otherwise the one line.
      if (e.keyword === 'anyOf') return isObject ? null : { path, message: `must be ${STREAM_ENTRY}` };
      if (/\/anyOf\/0\//.test(e.schemaPath) || !isObject) return null;
    }
    return undefined;
  };
}

/** Validate and normalise a parsed rules document. */
export function rulesFromObject(data: unknown, source = 'rules', baseDir = process.cwd(), locate?: ParsedYaml['locate']): Rules {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new ConfigError(source, [{ path: [], message: 'the rules must be a mapping of keys', line: 1, col: 1 }]);
  const copy = structuredClone(data) as Record<string, unknown>;
  const raw = checkConfig<any>(copy, validateRaw, source, { locate, explain: explainFor(copy) });
  const problems: ConfigProblem[] = [];
  const problem = (path: PathSegment[], message: string) => {
    const pos = locate?.(path);
    problems.push({ path, message, ...(pos ? { line: pos.line, col: pos.col } : {}) });
  };
  const ob = raw.observability;
  const windowStart = parseDuration(ob.window.start ?? 0);
  const windowEnd = parseDuration(ob.window.end);
  if (windowEnd <= windowStart) problem(['observability', 'window', 'end'], 'must be after observability.window.start');
  if (ob.dec_min > ob.dec_max) problem(['observability', 'dec_min'], 'must not exceed dec_max');
  const step = parseDuration(ob.step);
  if (step < 1000) problem(['observability', 'step'], 'must be at least 1s');
  const minAltitude = Math.max(ob.min_altitude ?? -90, ob.max_airmass !== undefined ? altitudeForAirmass(ob.max_airmass) : -90);
  if (problems.length) throw new ConfigError(source, problems);

  const retry = (r: any): RetryPolicy => ({ attempts: r.attempts, initial: parseDuration(r.initial), max: parseDuration(r.max), factor: r.factor });
  const a = raw.action;
  const action: ActionRules =
    a.type === 'http'
      ? { type: 'http', url: a.url, cancelUrl: a.cancel_url, headers: a.headers, tokenEnv: a.token_env, timeout: parseDuration(a.timeout), retry: retry(a.retry) }
      : {
          type: 'command',
          command: [...a.command],
          timeout: parseDuration(a.timeout),
          retry: retry(a.retry),
          env: a.env,
        };
  if (action.type === 'command' && /^\.\.?\//.test(action.command[0]!)) action.command[0] = resolve(baseDir, action.command[0]!);

  const name: string = raw.telescope.name;
  const streams: StreamRule[] = raw.accept.streams.map((s: any) =>
    typeof s === 'string'
      ? { stream: s }
      : dropUndefined({ stream: s.stream, packetTypes: s.packet_types, maxErrorRadius: s.max_error_radius, minImportance: s.min_importance, minProbability: s.min_probability }),
  );
  const rq = raw.request;
  return dropUndefined({
    telescope: dropUndefined({
      name,
      authorIvorn: raw.telescope.author_ivorn ?? `ivo://voxnet/telescope/${name}`,
      shortName: name,
      contactEmail: raw.telescope.contact_email,
    }),
    site: dropUndefined({ name: raw.site.name, latitude: raw.site.latitude, longitude: raw.site.longitude > 180 ? raw.site.longitude - 360 : raw.site.longitude, elevation: raw.site.elevation }),
    nodes: raw.subscribe.nodes,
    statusNode: raw.subscribe.status_node,
    roles: raw.accept.roles,
    drill: raw.accept.drill,
    streams,
    maxErrorRadius: raw.accept.max_error_radius,
    minImportance: raw.accept.min_importance,
    minProbability: raw.accept.min_probability,
    requireWhy: raw.accept.require_why,
    observability: dropUndefined({
      minAltitude,
      maxAirmass: ob.max_airmass,
      maxSunAltitude: ob.max_sun_altitude,
      minMoonDistance: ob.min_moon_distance,
      decMin: ob.dec_min,
      decMax: ob.dec_max,
      windowStart,
      windowEnd,
      step,
      minDuration: parseDuration(ob.min_duration),
      refraction: ob.refraction,
    }),
    request: dropUndefined({
      proposal: rq.proposal,
      ipp_value: rq.ipp_value,
      namePrefix: rq.name_prefix ?? name,
      instrumentType: rq.instrument_type,
      configurationType: rq.configuration_type,
      telescopeClass: rq.telescope_class,
      acceptabilityThreshold: rq.acceptability_threshold,
      instrumentConfigs: rq.exposures.map((e: any) => dropUndefined({ exposureTime: e.exposure_time, exposureCount: e.exposure_count, filter: e.filter, mode: e.mode })),
    }),
    action,
    stateFile: raw.state_file === undefined ? undefined : isAbsolute(raw.state_file) ? raw.state_file : resolve(baseDir, raw.state_file),
    xmpp: raw.xmpp === undefined ? undefined : { ...raw.xmpp, ...(raw.xmpp.trust ? { trust: raw.xmpp.trust.map((f: string) => (isAbsolute(f) ? f : resolve(baseDir, f))) } : {}) },
    source,
  }) as Rules;
}

/** Parse YAML text (with line numbers in errors) and validate it; throws ConfigError. */
export function parseRules(text: string, source = 'rules', baseDir = process.cwd()): Rules {
  const { data, locate } = parseYaml(text, source);
  return rulesFromObject(data ?? {}, source, baseDir, locate);
}

/** Read, validate and normalise a rules file; throws ConfigError listing every problem with its line. */
export function loadRules(file: string): Rules {
  return parseRules(readConfigText(file), file, dirname(resolve(file)));
}

/** The stream rule an event's stream id matches (longest prefix), or undefined. */
export function matchStream(rules: Pick<Rules, 'streams'>, stream: string): StreamRule | undefined {
  const s = stream.toLowerCase();
  let best: StreamRule | undefined;
  for (const r of rules.streams) {
    const p = r.stream.toLowerCase().replace(/\/+$/, '');
    if ((s === p || s.startsWith(p + '/') || s.startsWith(p + '#')) && (!best || p.length > best.stream.length)) best = r;
  }
  return best;
}

function dropUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
