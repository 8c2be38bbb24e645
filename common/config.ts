/**
 * Configuration files: YAML read with positions, checked with ajv, and every
 * problem reported at once as one ConfigError whose lines read
 * `FILE:LINE:COL: key.path: message`.
 *
 *   const cfg = loadConfigFile<MyConfig>(file, SCHEMA);   // defaults from the schema filled in
 *
 * Loaders with rules a schema cannot state use the pieces: readConfigText,
 * parseYaml (data + locate), checkConfig, and ConfigError with their own problems.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type Options as AjvOptions, type ValidateFunction } from 'ajv';
import YAML, { isMap, isNode, isSeq, LineCounter, type Document } from 'yaml';

export type PathSegment = string | number;
export type Position = { line: number; col: number };

/** One problem: where (key path, and line:col when known) and what. */
export type ConfigProblem = { path: PathSegment[]; message: string; line?: number; col?: number };

/** "levels[0].members" */
export function formatPath(path: readonly PathSegment[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${p}` : p;
  return s;
}

function problemText(p: ConfigProblem): string {
  const path = formatPath(p.path);
  return path ? `${path}: ${p.message}` : p.message;
}

/** Everything wrong with one configuration source (a file, or "environment"). */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly issues: ConfigProblem[];
  constructor(
    readonly source: string,
    problems: (ConfigProblem | string)[],
  ) {
    const issues = problems.map((p) => (typeof p === 'string' ? { path: [], message: p } : p));
    super(issues.map((i) => `${source}${i.line ? `:${i.line}:${i.col ?? 1}` : ''}: ${problemText(i)}`).join('\n'));
    this.issues = issues;
  }
  /** The problems without the source: "key: message". */
  get problems(): string[] {
    return this.issues.map(problemText);
  }
}

/** A file's text, or a ConfigError naming it. */
export function readConfigText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, [`cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`]);
  }
}

export type ParsedYaml = {
  data: unknown;
  /** Line and column of the value at `path` (or of its deepest existing ancestor); with `atKey`, of the last key. */
  locate(path: readonly PathSegment[], atKey?: boolean): Position | undefined;
};

/** Parse YAML (duplicate keys refused, aliases bounded); syntax errors become a located ConfigError. */
export function parseYaml(text: string, source: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return { path: [], message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''), line: pos?.line, col: pos?.col };
      }),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError(source, [(e as Error).message]);
  }
  return {
    data,
    locate(path, atKey = false) {
      const off = offsetOf(doc, path, atKey);
      return off === undefined ? undefined : lineCounter.linePos(off);
    },
  };
}

function offsetOf(doc: Document, path: readonly PathSegment[], atKey: boolean): number | undefined {
  let node: unknown = doc.contents;
  let offset = isNode(node) ? node.range?.[0] : undefined;
  for (const [i, seg] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((it) => String(isNode(it.key) ? (it.key as { value?: unknown }).value : it.key) === String(seg));
      if (!pair) break;
      offset = isNode(pair.key) ? pair.key.range?.[0] ?? offset : offset;
      node = pair.value;
      if (atKey && i === path.length - 1) break;
      if (isNode(node) && node.range && !isMap(node) && !isSeq(node)) offset = node.range[0];
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (isNode(node) && node.range) offset = node.range[0];
      else break;
    } else break;
  }
  return offset;
}

/** An ajv instance with our defaults (all errors, schema defaults filled in; verbose, for the descriptions in messages). */
export function createAjv(opts: AjvOptions = {}): Ajv {
  return new Ajv({ allErrors: true, useDefaults: true, allowUnionTypes: true, strict: false, verbose: true, ...opts });
}

const defaultAjv = createAjv();
const compiled = new WeakMap<object, ValidateFunction>();

function pathOf(e: ErrorObject): PathSegment[] {
  if (!e.instancePath) return [];
  return e.instancePath
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function descriptionOf(e: ErrorObject): string | undefined {
  return (e.parentSchema as { description?: string } | undefined)?.description;
}

/**
 * A rule of the caller's for one ajv error: a problem to report instead of the
 * generic one, `null` to drop the error, or undefined for the generic text.
 */
export type ExplainError = (e: ErrorObject, path: PathSegment[]) => ConfigProblem | null | undefined;

/**
 * One problem per ajv error, naming the key: "x: is required", "x: is not a
 * known key", "x: must be one of …". An `anyOf` whose schema has a description
 * is reported once as "must be <description>" instead of once per branch (so
 * give durations and other alternatives a description).
 */
export function describeAjvErrors(errors: ErrorObject[] | null | undefined, explain?: ExplainError): (ConfigProblem & { atKey?: boolean })[] {
  const out: (ConfigProblem & { atKey?: boolean })[] = [];
  const seen = new Set<string>();
  const all = errors ?? [];
  const explained = all.filter((e) => e.keyword === 'anyOf' && descriptionOf(e));
  const insideExplained = (e: ErrorObject) =>
    explained.some((a) => a !== e && e.instancePath.startsWith(a.instancePath) && e.schemaPath.startsWith(a.schemaPath.replace(/\/anyOf$/, '/anyOf/')));
  for (const e of all) {
    if (insideExplained(e)) continue;
    const path = pathOf(e);
    const own = explain?.(e, path);
    if (own === null) continue;
    if (!own && e.keyword === 'anyOf' && !descriptionOf(e)) continue; // its branches say it better
    if (!own && e.keyword === 'if') continue; // its `then` says it
    let p: ConfigProblem & { atKey?: boolean };
    if (own) p = own;
    else if (e.keyword === 'required') p = { path: [...path, String(e.params.missingProperty)], message: 'is required' };
    else if (e.keyword === 'additionalProperties') p = { path: [...path, String(e.params.additionalProperty)], message: 'is not a known key', atKey: true };
    else if (e.keyword === 'dependencies') p = { path: [...path, String(e.params.property)], message: `needs ${String(e.params.deps).split(', ').join(' and ')} as well` };
    else if (e.keyword === 'anyOf' || (e.keyword === 'pattern' && descriptionOf(e))) p = { path, message: `must be ${descriptionOf(e)}` };
    else if (e.keyword === 'enum') p = { path, message: `must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}` };
    else if (e.keyword === 'const') p = { path, message: `must be ${JSON.stringify(e.params.allowedValue)}` };
    else p = { path, message: e.message ?? e.keyword };
    const key = `${formatPath(p.path)}\0${p.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(p);
  }
  return out;
}

/**
 * Validate plain data against a schema (defaults filled in place); throws a
 * ConfigError naming `source`, with positions when `locate` is given.
 */
export function checkConfig<T>(
  data: unknown,
  schema: object | ValidateFunction,
  source: string,
  opts: { locate?: ParsedYaml['locate']; explain?: ExplainError } = {},
): T {
  let validate: ValidateFunction;
  if (typeof schema === 'function') validate = schema as ValidateFunction;
  else {
    validate = compiled.get(schema) ?? defaultAjv.compile(schema);
    compiled.set(schema, validate);
  }
  if (!validate(data)) {
    const problems = describeAjvErrors(validate.errors, opts.explain).map(({ atKey, ...p }) => {
      const pos = p.line === undefined ? opts.locate?.(p.path, atKey) : undefined;
      return pos ? { ...p, line: pos.line, col: pos.col } : p;
    });
    throw new ConfigError(source, problems);
  }
  return data as T;
}

/** Read a YAML file and check it against a schema; every problem is a located line of one ConfigError. */
export function loadConfigFile<T>(file: string, schema: object | ValidateFunction, opts: { explain?: ExplainError; emptyIs?: unknown } = {}): T {
  const { data, locate } = parseYaml(readConfigText(file), file);
  return checkConfig<T>(data ?? opts.emptyIs ?? {}, schema, file, { locate, explain: opts.explain });
}
