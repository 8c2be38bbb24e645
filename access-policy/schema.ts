/**
 * The policy file's JSON schema (checked with ajv) and the rules a schema cannot
 * say (unique ids, known levels and groups, the public level last, no one both
 * banned and admitted). Every problem is an Issue with the path of the offending
 * value, which load.ts turns into file:line.
 */
import type { ErrorObject } from 'ajv';
import { createAjv, describeAjvErrors, type ConfigProblem, type PathSegment } from '../common/config.ts';
import { durationSchema, parseDuration } from '../common/duration.ts';
import type { Policy } from './types.ts';

export type { PathSegment };
/** A problem at `path`; `atKey` points at the key itself (unknown keys) rather than its value. */
export type Issue = ConfigProblem & { atKey?: boolean };

const ID = '^[a-z0-9][a-z0-9._-]*$';
/** A bare JID: local@domain, no resource. */
const BARE_JID = '^[^@/\\s"&\'<>:]+@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$';
const DOMAIN = '^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$';

const jids = { type: 'array', items: { type: 'string', pattern: BARE_JID }, uniqueItems: true } as const;
const domains = { type: 'array', items: { type: 'string', pattern: DOMAIN }, uniqueItems: true } as const;

export const POLICY_SCHEMA = {
  $id: 'https://voxnet.example/access-policy.schema.json',
  title: 'VOXnet access policy',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'levels', 'products'],
  properties: {
    version: { const: 1, description: 'format version of this file (1)' },
    mission: { type: 'string', minLength: 1 },
    node_prefix: { type: 'string', pattern: '^[A-Za-z0-9._/-]*$', description: 'prepended to node ids, e.g. "svom/"' },
    groups: {
      type: 'object',
      propertyNames: { pattern: ID },
      additionalProperties: jids,
    },
    levels: {
      type: 'array',
      minItems: 1,
      description: 'ordered, highest first',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id'],
        properties: {
          id: { type: 'string', pattern: ID },
          title: { type: 'string' },
          description: { type: 'string' },
          public: { type: 'boolean' },
          members: {
            type: 'object',
            additionalProperties: false,
            properties: {
              jids,
              domains,
              groups: { type: 'array', items: { type: 'string', pattern: ID }, uniqueItems: true },
            },
          },
        },
      },
    },
    outcasts: {
      type: 'object',
      additionalProperties: false,
      properties: { jids, domains },
    },
    products: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'publishers', 'levels'],
        properties: {
          id: { type: 'string', pattern: ID },
          title: { type: 'string' },
          description: { type: 'string' },
          publishers: { ...jids, minItems: 1 },
          max_items: { anyOf: [{ type: 'integer', minimum: 1 }, { const: 'max' }], description: 'items kept per node, or "max" (default)' },
          max_age: durationSchema({ description: 'remove items older than this: seconds, or a duration such as 90s, 30m, 6h, 1d (default: keep)' }),
          levels: {
            type: 'object',
            minProperties: 1,
            additionalProperties: {
              type: ['object', 'null'],
              additionalProperties: false,
              properties: {
                embargo: durationSchema({ description: 'a number of seconds (≥ 0) or a duration such as 90s, 30m, 6h, 1d' }),
                history: { type: 'boolean' },
                redact: {
                  type: 'object',
                  additionalProperties: false,
                  properties: {
                    params: { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true },
                    groups: { type: 'array', items: { type: 'string', minLength: 1 }, uniqueItems: true },
                    position_precision_deg: { type: 'number', exclusiveMinimum: 0, maximum: 180 },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
} as const;

const validateSchema = createAjv({ strict: true, useDefaults: false }).compile(POLICY_SCHEMA);

/** Seconds of an embargo value (a number of seconds or a duration string, common/duration.ts). */
export function embargoSeconds(v: number | string | undefined): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  return Math.round(parseDuration(v, { what: 'embargo' }) / 1000);
}

/** The policy's own words for what its patterns mean (common/config.ts reports the rest). */
function explain(e: ErrorObject, path: PathSegment[]): Issue | undefined {
  if (e.keyword === 'propertyNames') return { path: [...path, e.params.propertyName as string], message: `"${e.params.propertyName}" is not a valid name (lower-case letters, digits, . _ -)`, atKey: true };
  if (e.keyword === 'pattern') {
    const what = e.schemaPath.includes('jids') || e.schemaPath.includes('publishers') || e.schemaPath.includes('groups/additionalProperties')
      ? 'a bare JID (user@domain)'
      : e.schemaPath.includes('domains')
        ? 'a domain (e.g. svom.fr)'
        : e.params.pattern === ID
          ? 'an id of lower-case letters, digits, . _ -'
          : `of the form ${e.params.pattern}`;
    return { path, message: `must be ${what}` };
  }
  return undefined;
}

/** Check a parsed policy document. Returns the policy when there is no issue. */
export function checkPolicy(data: unknown): { policy?: Policy; issues: Issue[] } {
  if (!validateSchema(data)) {
    const issues: Issue[] = describeAjvErrors(validateSchema.errors, explain);
    if (issues.length === 0) issues.push({ path: [], message: 'invalid value' });
    return { issues };
  }
  const policy = data as unknown as Policy;
  const issues = semanticIssues(policy);
  return issues.length ? { issues } : { policy, issues };
}

function semanticIssues(p: Policy): Issue[] {
  const issues: Issue[] = [];
  const groups = p.groups ?? {};
  const levelIds = new Map<string, number>();
  p.levels.forEach((l, i) => {
    if (levelIds.has(l.id)) issues.push({ path: ['levels', i, 'id'], message: `level "${l.id}" is defined twice` });
    levelIds.set(l.id, i);
    if (l.id === 'source') issues.push({ path: ['levels', i, 'id'], message: '"source" is reserved for the node publishers publish to' });
    if (l.public) {
      if (i !== p.levels.length - 1) issues.push({ path: ['levels', i, 'public'], message: `the public level "${l.id}" must be the last (lowest) level` });
      const m = l.members ?? {};
      if ((m.jids?.length ?? 0) + (m.domains?.length ?? 0) + (m.groups?.length ?? 0) > 0)
        issues.push({ path: ['levels', i, 'members'], message: `the public level "${l.id}" is everyone; it takes no members` });
    }
    (l.members?.groups ?? []).forEach((g, j) => {
      if (!(g in groups)) issues.push({ path: ['levels', i, 'members', 'groups', j], message: `unknown group "${g}" (define it under groups:)` });
    });
  });

  const productIds = new Set<string>();
  p.products.forEach((prod, i) => {
    if (productIds.has(prod.id)) issues.push({ path: ['products', i, 'id'], message: `product "${prod.id}" is defined twice` });
    productIds.add(prod.id);
    for (const lvl of Object.keys(prod.levels)) {
      if (!levelIds.has(lvl))
        issues.push({ path: ['products', i, 'levels', lvl], message: `unknown level "${lvl}" (levels are ${[...levelIds.keys()].join(', ')})`, atKey: true });
    }
  });

  // Nobody may be both banned and admitted by name: the policy would contradict itself.
  const outcasts = new Set([...(p.outcasts?.jids ?? []), ...(p.outcasts?.domains ?? [])].map((s) => s.toLowerCase()));
  if (outcasts.size) {
    p.levels.forEach((l, i) => {
      const admitted = [
        ...(l.members?.jids ?? []),
        ...(l.members?.domains ?? []),
        ...(l.members?.groups ?? []).flatMap((g) => groups[g] ?? []),
      ];
      for (const e of admitted)
        if (outcasts.has(e.toLowerCase())) issues.push({ path: ['levels', i, 'members'], message: `${e} is both an outcast and a member of level "${l.id}"` });
    });
    p.products.forEach((prod, i) => {
      for (const e of prod.publishers)
        if (outcasts.has(e.toLowerCase())) issues.push({ path: ['products', i, 'publishers'], message: `${e} is both an outcast and a publisher of "${prod.id}"` });
    });
  }
  return issues;
}
