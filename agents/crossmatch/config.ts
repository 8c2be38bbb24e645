/**
 * Crossmatch agent configuration: one YAML file validated with ajv (every
 * problem reported at once, naming the key), normalised into `CrossmatchConfig`
 * (durations in milliseconds, paths resolved against the file's folder). See
 * config/crossmatch.example.yaml.
 */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { ConfigError, checkConfig, parseYaml, readConfigText, type ParsedYaml } from '../../common/config.ts';
import { durationSchema, parseDuration } from '../../common/duration.ts';
import { XMPP_CONFIG_SCHEMA, type ConnectionOptions } from '../lib/options.ts';
import { isValidIvorn } from '../../voevent/index.ts';
import type { CatalogOptions } from '../../sky/index.ts';

const CATALOG_COLUMNS = {
  format: { enum: ['auto', 'csv', 'glade+'] },
  ra_column: { type: 'string', minLength: 1 },
  dec_column: { type: 'string', minLength: 1 },
  distance_column: { type: 'string', minLength: 1, description: "luminosity distance column (Mpc); 'none' to ignore distances" },
  id_columns: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
  weight_column: { type: 'string', minLength: 1 },
  weight_is_magnitude: { type: 'boolean' },
  limit: { type: 'integer', minimum: 1 },
  name: { type: 'string', minLength: 1 },
} as const;

const LEVEL = { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 } as const;

export const CROSSMATCH_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['author_ivorn', 'subscribe'],
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9._-]+$', description: 'letters, digits, ".", "_" or "-"', default: 'crossmatch' },
    xmpp: XMPP_CONFIG_SCHEMA,
    author_ivorn: { type: 'string', minLength: 8 },
    short_name: { type: 'string', minLength: 1 },
    contact_email: { type: 'string', minLength: 3 },
    subscribe: {
      type: 'object',
      additionalProperties: false,
      required: ['nodes'],
      properties: {
        nodes: {
          type: 'array',
          minItems: 1,
          items: {
            anyOf: [
              { type: 'string', minLength: 1 },
              {
                type: 'object',
                additionalProperties: false,
                required: ['node'],
                properties: { node: { type: 'string', minLength: 1 }, result_node: { type: 'string', minLength: 1 } },
              },
            ],
          },
        },
        since: { type: 'string', minLength: 1, default: 'latest' },
        page_size: { type: 'integer', minimum: 1, maximum: 1000, default: 5 },
      },
    },
    results: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        node: { type: 'string', minLength: 1, default: '{node}/crossmatch' },
        formats: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ['voevent', 'json'] }, default: ['voevent', 'json'] },
      },
    },
    catalog: {
      type: 'object',
      additionalProperties: false,
      required: ['path'],
      properties: { path: { type: 'string', minLength: 1 }, ...CATALOG_COLUMNS },
    },
    fields: {
      type: 'object',
      additionalProperties: false,
      required: ['path', 'footprint'],
      properties: {
        path: { type: 'string', minLength: 1 },
        ...CATALOG_COLUMNS,
        footprint: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          maxProperties: 1,
          properties: {
            region: { type: 'string', minLength: 1 },
            radius: { type: 'number', exclusiveMinimum: 0, maximum: 90 },
            rectangle: { type: 'array', items: { type: 'number', exclusiveMinimum: 0, maximum: 180 }, minItems: 2, maxItems: 2 },
          },
        },
        order: { type: 'integer', minimum: 0, maximum: 24, default: 10 },
        top_n: { type: 'integer', minimum: 1, default: 10 },
        rasterise_at_start: { type: 'boolean', default: false },
      },
    },
    watchlist: {
      type: 'object',
      additionalProperties: false,
      required: ['path'],
      properties: { path: { type: 'string', minLength: 1 }, ...CATALOG_COLUMNS },
    },
    top_n: { type: 'integer', minimum: 1, maximum: 10000, default: 20 },
    credible_level: { ...LEVEL, default: 0.9 },
    levels: { type: 'array', items: LEVEL, minItems: 1, default: [0.5, 0.9] },
    rank: { enum: ['auto', '3d', '2d'], default: 'auto' },
    circles: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        containment: { ...LEVEL, default: 0.9 },
        profile: { enum: ['fisher', 'tophat'], default: 'fisher' },
        containment_by_stream: { type: 'object', additionalProperties: LEVEL, default: {} },
        max_radius: { type: 'number', exclusiveMinimum: 0, maximum: 180, default: 180 },
      },
    },
    skymaps: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        prefer_combined: { type: 'boolean', default: true },
        fetch_timeout: { ...durationSchema(), default: '60s' },
        retries: { type: 'integer', minimum: 0, maximum: 20, default: 3 },
        retry_delay: { ...durationSchema(), default: '2s' },
        max_bytes: { type: 'integer', minimum: 1024, default: 268_435_456 },
        allow_urls: { type: 'array', items: { type: 'string', pattern: '^(https?|file)://', description: 'a URL prefix (http://, https:// or file://)' } },
      },
    },
    test_alerts: { enum: ['process', 'ignore'], default: 'process' },
    state_file: { type: 'string', minLength: 1 },
  },
} as const;

/** A catalogue section: the file and sky's column options for it. */
export type CatalogSection = CatalogOptions & { path: string };

export type Footprint = { region: string } | { radius: number } | { rectangle: [number, number] };

export type NodeRoute = { node: string; resultNode: string };

export interface CrossmatchConfig {
  name: string;
  authorIvorn: string;
  shortName: string;
  contactEmail?: string;
  routes: NodeRoute[];
  since: string;
  pageSize: number;
  formats: ('voevent' | 'json')[];
  catalog?: CatalogSection;
  fields?: CatalogSection & { footprint: Footprint; order: number; topN: number; rasteriseAtStart: boolean };
  watchlist?: CatalogSection;
  topN: number;
  credibleLevel: number;
  /** Levels for areas and counts (always including credibleLevel), ascending. */
  levels: number[];
  rank: 'auto' | '3d' | '2d';
  circles: { containment: number; profile: 'fisher' | 'tophat'; containmentByStream: Record<string, number>; maxRadius: number };
  skymaps: { preferCombined: boolean; fetchTimeoutMs: number; retries: number; retryDelayMs: number; maxBytes: number; allowUrls?: string[] };
  testAlerts: 'process' | 'ignore';
  stateFile?: string;
  xmpp?: Partial<ConnectionOptions>;
  /** Where the configuration came from (for messages). */
  source: string;
}

type RawCatalog = {
  path: string;
  format?: 'auto' | 'csv' | 'glade+';
  ra_column?: string;
  dec_column?: string;
  distance_column?: string;
  id_columns?: string[];
  weight_column?: string;
  weight_is_magnitude?: boolean;
  limit?: number;
  name?: string;
};

type Raw = {
  name: string;
  xmpp?: Partial<ConnectionOptions>;
  author_ivorn: string;
  short_name?: string;
  contact_email?: string;
  subscribe: { nodes: (string | { node: string; result_node?: string })[]; since: string; page_size: number };
  results: { node: string; formats: ('voevent' | 'json')[] };
  catalog?: RawCatalog;
  fields?: RawCatalog & { footprint: { region?: string; radius?: number; rectangle?: [number, number] }; order: number; top_n: number; rasterise_at_start: boolean };
  watchlist?: RawCatalog;
  top_n: number;
  credible_level: number;
  levels: number[];
  rank: 'auto' | '3d' | '2d';
  circles: { containment: number; profile: 'fisher' | 'tophat'; containment_by_stream: Record<string, number>; max_radius: number };
  skymaps: { prefer_combined: boolean; fetch_timeout: number | string; retries: number; retry_delay: number | string; max_bytes: number; allow_urls?: string[] };
  test_alerts: 'process' | 'ignore';
  state_file?: string;
};

const durationMs = (v: number | string): number => parseDuration(v);

/** The result node for an alert node: `{node}` in the template is replaced by the alert node. */
export function resultNodeFor(template: string, node: string): string {
  return template.split('{node}').join(node);
}

/** Validate and normalise configuration data (already parsed from YAML); `source` names it in errors. */
export function normaliseConfig(data: unknown, source: string, baseDir = '.', locate?: ParsedYaml['locate']): CrossmatchConfig {
  const raw = checkConfig<Raw>(data ?? {}, CROSSMATCH_CONFIG_SCHEMA, source, { locate });
  const problems: string[] = [];
  const path = (key: string, p: string, mustExist = true): string => {
    const abs = isAbsolute(p) ? p : resolve(baseDir, p);
    if (mustExist && !existsSync(abs)) problems.push(`${key}: no such file: ${abs}`);
    return abs;
  };
  const catalog = (key: string, c: RawCatalog): CatalogSection => ({
    path: path(`${key}.path`, c.path),
    ...(c.format !== undefined ? { format: c.format } : {}),
    ...(c.ra_column !== undefined ? { raColumn: c.ra_column } : {}),
    ...(c.dec_column !== undefined ? { decColumn: c.dec_column } : {}),
    ...(c.distance_column !== undefined ? { distColumn: c.distance_column } : {}),
    ...(c.id_columns !== undefined ? { idColumns: c.id_columns } : {}),
    ...(c.weight_column !== undefined ? { weightColumn: c.weight_column } : {}),
    ...(c.weight_is_magnitude !== undefined ? { weightIsMagnitude: c.weight_is_magnitude } : {}),
    ...(c.limit !== undefined ? { limit: c.limit } : {}),
    ...(c.name !== undefined ? { name: c.name } : {}),
  });

  if (!isValidIvorn(`${raw.author_ivorn}#x`) || raw.author_ivorn.includes('#')) {
    problems.push(`author_ivorn: '${raw.author_ivorn}' is not an IVORN stream like ivo://example.org/crossmatch (no '#')`);
  }
  if (!raw.catalog && !raw.fields && !raw.watchlist) problems.push('catalog: give at least one of catalog, fields, watchlist');

  const routes: NodeRoute[] = [];
  const seen = new Set<string>();
  for (const [i, n] of raw.subscribe.nodes.entries()) {
    const node = typeof n === 'string' ? n : n.node;
    const resultNode = typeof n === 'string' || n.result_node === undefined ? resultNodeFor(raw.results.node, node) : n.result_node;
    if (seen.has(node)) problems.push(`subscribe.nodes[${i}]: node '${node}' is listed twice`);
    seen.add(node);
    routes.push({ node, resultNode });
  }
  const alertNodes = new Set(routes.map((r) => r.node));
  for (const r of routes) {
    if (alertNodes.has(r.resultNode)) problems.push(`results.node: result node '${r.resultNode}' of '${r.node}' is also an alert node (the agent would read its own results)`);
  }

  let fields: CrossmatchConfig['fields'];
  if (raw.fields) {
    const f = raw.fields;
    const fp: Footprint = f.footprint.region !== undefined
      ? { region: path('fields.footprint.region', f.footprint.region) }
      : f.footprint.radius !== undefined
        ? { radius: f.footprint.radius }
        : { rectangle: f.footprint.rectangle! };
    fields = { ...catalog('fields', f), footprint: fp, order: f.order, topN: f.top_n, rasteriseAtStart: f.rasterise_at_start };
  }
  for (const stream of Object.keys(raw.circles.containment_by_stream)) {
    if (!stream.startsWith('ivo://')) problems.push(`circles.containment_by_stream.${stream}: keys must be stream IVORNs starting with ivo://`);
  }
  const levels = [...new Set([...raw.levels, raw.credible_level])].sort((a, b) => a - b);

  const cfg: CrossmatchConfig = {
    name: raw.name,
    authorIvorn: raw.author_ivorn.replace(/\/+$/, ''),
    shortName: raw.short_name ?? `VOXnet crossmatch ${raw.name}`,
    ...(raw.contact_email !== undefined ? { contactEmail: raw.contact_email } : {}),
    routes,
    since: raw.subscribe.since,
    pageSize: raw.subscribe.page_size,
    formats: raw.results.formats,
    ...(raw.catalog ? { catalog: catalog('catalog', raw.catalog) } : {}),
    ...(fields ? { fields } : {}),
    ...(raw.watchlist ? { watchlist: catalog('watchlist', raw.watchlist) } : {}),
    topN: raw.top_n,
    credibleLevel: raw.credible_level,
    levels,
    rank: raw.rank,
    circles: {
      containment: raw.circles.containment,
      profile: raw.circles.profile,
      containmentByStream: Object.fromEntries(Object.entries(raw.circles.containment_by_stream).map(([k, v]) => [k.toLowerCase(), v])),
      maxRadius: raw.circles.max_radius,
    },
    skymaps: {
      preferCombined: raw.skymaps.prefer_combined,
      fetchTimeoutMs: durationMs(raw.skymaps.fetch_timeout),
      retries: raw.skymaps.retries,
      retryDelayMs: durationMs(raw.skymaps.retry_delay),
      maxBytes: raw.skymaps.max_bytes,
      ...(raw.skymaps.allow_urls ? { allowUrls: raw.skymaps.allow_urls } : {}),
    },
    testAlerts: raw.test_alerts,
    ...(raw.state_file !== undefined ? { stateFile: path('state_file', raw.state_file, false) } : {}),
    ...(raw.xmpp ? { xmpp: raw.xmpp } : {}),
    source,
  };
  if (problems.length) throw new ConfigError(source, problems);
  return cfg;
}

/** Read, validate and normalise a configuration file; throws ConfigError listing every problem. */
export function loadCrossmatchConfig(file: string): CrossmatchConfig {
  const { data, locate } = parseYaml(readConfigText(file), file);
  return normaliseConfig(data, file, dirname(resolve(file)), locate);
}
