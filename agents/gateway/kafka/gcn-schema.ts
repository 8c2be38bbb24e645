/**
 * GCN Unified Schema validation: a JSON notice is checked against the schema its
 * `$schema` names, with ajv (draft 2020-12 + formats). The schemas are those of
 * the installed `@nasa-gcn/schema` package, loaded from disk once; nothing is
 * fetched. A `$schema` of another version (`.../schema/v4.1.0/gcn/...`, `/main/`)
 * is checked against the installed version of the same path, and said so.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describeAjvErrors, formatPath } from '../../../common/config.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;
const SCHEMA_URL = /^https:\/\/gcn\.nasa\.gov\/schema\/([^/]+)\/(gcn\/.+\.schema\.json)$/;

type Loaded = { ajv: Ajv2020; version: string; ids: Map<string, string>; cache: Map<string, ValidateFunction> };
let loaded: Loaded | undefined;

function packageDir(): string {
  const req = createRequire(import.meta.url);
  return dirname(req.resolve('@nasa-gcn/schema/package.json'));
}

function load(): Loaded {
  if (loaded) return loaded;
  const root = packageDir();
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const ajv = new Ajv2020({ allErrors: true, strict: false, allowUnionTypes: true, validateSchema: false });
  addFormats(ajv);
  const ids = new Map<string, string>();
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f.endsWith('.schema.json')) {
        const s = JSON.parse(readFileSync(p, 'utf8')) as { $id: string };
        ajv.addSchema(s);
        ids.set(relative(root, p).split('\\').join('/'), s.$id);
      }
    }
  };
  walk(join(root, 'gcn'));
  loaded = { ajv, version, ids, cache: new Map() };
  return loaded;
}

export type GcnCheck = { ok: true; path: string; note?: string } | { ok: false; reason: string };

/** Is `$schema` a GCN Unified Schema URL? */
export function isGcnSchemaUrl(url: unknown): url is string {
  return typeof url === 'string' && SCHEMA_URL.test(url);
}

/** Validate a parsed notice against the schema its `$schema` names. */
export function checkGcnNotice(doc: unknown): GcnCheck {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return { ok: false, reason: 'a GCN notice must be a JSON object' };
  const url = (doc as { $schema?: unknown }).$schema;
  if (typeof url !== 'string') return { ok: false, reason: 'no $schema: not a GCN Unified Schema notice' };
  const m = SCHEMA_URL.exec(url);
  if (!m) return { ok: false, reason: `$schema ${url} is not a GCN Unified Schema URL (https://gcn.nasa.gov/schema/<version>/gcn/...schema.json)` };
  const L = load();
  const path = m[2]!;
  const id = L.ids.get(path);
  if (!id) return { ok: false, reason: `$schema ${url}: no such schema in @nasa-gcn/schema ${L.version}` };
  let validate = L.cache.get(id);
  if (!validate) {
    validate = L.ajv.getSchema(id);
    if (!validate) return { ok: false, reason: `$schema ${url}: the schema does not compile` };
    L.cache.set(id, validate);
  }
  if (!validate(doc)) return { ok: false, reason: `schema ${path}: ${describeAjvErrors(validate.errors).map((p) => `${formatPath(p.path) || '(top level)'}: ${p.message}`).join('; ')}` };
  const note = m[1] !== `v${L.version}` ? `validated against @nasa-gcn/schema ${L.version} (the notice names ${m[1]})` : undefined;
  return { ok: true, path, note };
}
