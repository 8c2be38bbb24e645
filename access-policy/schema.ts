/**
 * The policy file's JSON schema (checked with ajv) and the rules a schema cannot
 * say (unique ids, known levels and groups, the public level last, no one both
 * banned and admitted). Every problem is an Issue with the path of the offending
 * value, which load.ts turns into file:line.
 */
import { Ajv, type ErrorObject } from 'ajv';
import type { Policy } from './types.ts';

export type PathSegment = string | number;
/** A problem at `path`; `at: 'key'` points at the key itself (unknown keys) rather than its value. */
export type Issue = { path: PathSegment[]; message: string; at?: 'key' };

const ID = '^[a-z0-9][a-z0-9._-]*$';
/** A bare JID: local@domain, no resource. */
const BARE_JID = '^[^@/\\s"&\'<>:]+@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$';
const DOMAIN = '^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$';
export const DURATION = '^([0-9]+(\\.[0-9]+)?)\\s*(s|m|h|d)$';

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
          max_age: {
            anyOf: [
              { type: 'integer', minimum: 0 },
              { type: 'string', pattern: DURATION },
            ],
            description: 'remove items older than this: seconds, or a duration such as 90s, 30m, 6h, 1d (default: keep)',
          },
          levels: {
            type: 'object',
            minProperties: 1,
            additionalProperties: {
              type: ['object', 'null'],
              additionalProperties: false,
              properties: {
                embargo: {
                  anyOf: [
                    { type: 'integer', minimum: 0 },
                    { type: 'string', pattern: DURATION },
                  ],
                  description: 'seconds, or a duration such as 90s, 30m, 6h, 1d',
                },
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

const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, strict: true });
const validateSchema = ajv.compile(POLICY_SCHEMA);

/** Seconds of an embargo value (a number of seconds or a duration string). */
export function embargoSeconds(v: number | string | undefined): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  const m = new RegExp(DURATION).exec(v.trim());
  if (!m) throw new Error(`bad duration ${v}`);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[m[3] as 's' | 'm' | 'h' | 'd'];
  return Math.round(Number(m[1]) * unit);
}

function pathOf(instancePath: string): PathSegment[] {
  if (!instancePath) return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function schemaIssue(e: ErrorObject): Issue | undefined {
  const path = pathOf(e.instancePath);
  // One message for every way an embargo can be wrong.
  if (e.schemaPath.includes('/embargo/')) return { path, message: 'must be a number of seconds (≥ 0) or a duration such as 90s, 30m, 6h, 1d' };
  switch (e.keyword) {
    case 'additionalProperties':
      return { path: [...path, e.params.additionalProperty as string], message: `unknown key "${e.params.additionalProperty}"`, at: 'key' };
    case 'required':
      return { path, message: `missing key "${e.params.missingProperty}"` };
    case 'propertyNames':
      return { path: [...path, e.params.propertyName as string], message: `"${e.params.propertyName}" is not a valid name (lower-case letters, digits, . _ -)` };
    case 'const':
      return { path, message: `must be ${JSON.stringify(e.params.allowedValue)}` };
    case 'pattern': {
      const what = e.schemaPath.includes('jids') || e.schemaPath.includes('publishers') || e.schemaPath.includes('groups/additionalProperties')
        ? 'a bare JID (user@domain)'
        : e.schemaPath.includes('domains')
          ? 'a domain (e.g. svom.fr)'
          : e.params.pattern === ID
            ? 'an id of lower-case letters, digits, . _ -'
            : `of the form ${e.params.pattern}`;
      return { path, message: `must be ${what}` };
    }
    case 'anyOf':
      return undefined; // the branch errors say it better
    case 'if':
      return undefined;
    default:
      return { path, message: e.message ?? e.keyword };
  }
}

/** Check a parsed policy document. Returns the policy when there is no issue. */
export function checkPolicy(data: unknown): { policy?: Policy; issues: Issue[] } {
  if (!validateSchema(data)) {
    const seen = new Set<string>();
    const issues: Issue[] = [];
    for (const e of validateSchema.errors ?? []) {
      const i = schemaIssue(e);
      if (!i) continue;
      const key = JSON.stringify(i);
      if (!seen.has(key)) issues.push(i), seen.add(key);
    }
    if (issues.length === 0) issues.push({ path: pathOf(validateSchema.errors?.[0]?.instancePath ?? ''), message: 'invalid value' });
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
        issues.push({ path: ['products', i, 'levels', lvl], message: `unknown level "${lvl}" (levels are ${[...levelIds.keys()].join(', ')})`, at: 'key' });
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
