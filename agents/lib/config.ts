/**
 * Agent configuration files: YAML validated with ajv against the agent's JSON
 * schema. Errors name the file and the key (`publisher.yaml: inbox: must be
 * string`), all of them at once.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';
import YAML from 'yaml';

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly file: string, readonly problems: string[]) {
    super(problems.map((p) => `${file}: ${p}`).join('\n'));
  }
}

/** The `xmpp:` block every agent configuration may carry (see ConnectionOptions). */
export const XMPP_CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    jid: { type: 'string', pattern: '^[^@/\\s]+@[^@/\\s]+(/.*)?$', description: 'a JID such as fsc@svom.fr' },
    password: { type: 'string' },
    server: { type: 'string', pattern: '^xmpps?://[^/:\\s]+(:[0-9]+)?/?$', description: 'a server address such as xmpp://xmpp.svom.fr:5222' },
    service: { type: 'string', minLength: 1 },
    trust: { type: 'array', items: { type: 'string', minLength: 1 } },
    resource: { type: 'string', minLength: 1 },
  },
} as const;

/** A duration in a config file: "1s", "500ms", "5m", or a number of seconds. */
export const DURATION_SCHEMA = {
  description: 'a duration such as 500ms, 1s or 5m (or a number of seconds)',
  anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', pattern: '^\\s*[0-9]+(\\.[0-9]+)?\\s*(ms|s|m|h)?\\s*$' }],
} as const;

const ajv = new Ajv({ allErrors: true, useDefaults: true, allowUnionTypes: true, strict: false, verbose: true });

function keyOf(e: ErrorObject): string {
  const path = e.instancePath.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (e.keyword === 'required') path.push(String(e.params.missingProperty));
  if (e.keyword === 'additionalProperties') path.push(String(e.params.additionalProperty));
  if (e.keyword === 'dependencies') path.push(String(e.params.property));
  return path.reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : acc ? `${acc}.${p}` : p), '') || '(top level)';
}

function descriptionOf(e: ErrorObject): string | undefined {
  return (e.parentSchema as { description?: string } | undefined)?.description;
}

/** One readable line per ajv error, naming the key. */
export function describeErrors(errors: ErrorObject[] | null | undefined): string[] {
  const out: string[] = [];
  const all = errors ?? [];
  // An anyOf with a description explains itself in one line instead of one per alternative.
  const explained = new Set(all.filter((e) => e.keyword === 'anyOf' && descriptionOf(e)).map((e) => e.instancePath));
  for (const e of all) {
    if (e.keyword !== 'anyOf' && explained.has(e.instancePath)) continue;
    if (e.keyword === 'anyOf' && !explained.has(e.instancePath)) continue;
    const key = keyOf(e);
    let msg: string;
    if (e.keyword === 'anyOf' || (e.keyword === 'pattern' && descriptionOf(e))) msg = `must be ${descriptionOf(e)}`;
    else if (e.keyword === 'required') msg = 'is required';
    else if (e.keyword === 'dependencies') msg = `needs ${String(e.params.deps).split(', ').join(' and ')} as well`;
    else if (e.keyword === 'additionalProperties') msg = 'is not a known key';
    else if (e.keyword === 'enum') msg = `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    else msg = e.message ?? e.keyword;
    const line = `${key}: ${msg}`;
    if (!out.includes(line)) out.push(line);
  }
  return out;
}

/** Validate plain data against a schema; throws ConfigError naming `source`. Fills defaults in place. */
export function checkConfig<T>(data: unknown, schema: object, source: string): T {
  const validate = ajv.compile(schema);
  if (!validate(data)) throw new ConfigError(source, describeErrors(validate.errors));
  return data as T;
}

/** Read a YAML file and validate it (defaults from the schema filled in). */
export function loadConfigFile<T>(file: string, schema: object): T {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [`cannot read: ${(e as Error).message}`]);
  }
  let data: unknown;
  try {
    data = YAML.parse(text) ?? {};
  } catch (e) {
    const err = e as Error & { linePos?: { line: number; col: number }[] };
    const pos = err.linePos?.[0];
    throw new ConfigError(pos ? `${file}:${pos.line}:${pos.col}` : file, [`not valid YAML: ${err.message.split('\n')[0]}`]);
  }
  return checkConfig<T>(data, schema, file);
}
