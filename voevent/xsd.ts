/**
 * XML Schema validation with libxmljs2 (libxml2): the reference path, used by the
 * CLI and by the agreement test as the oracle for the fast validator.
 *
 * Parsing is locked down: no entity substitution (noent false), no DTD loading or
 * validation, no network (nonet), no XInclude, no "huge" documents. The schema
 * document is parsed once and cached; libxmljs2 has no API to keep a compiled
 * schema, so libxml2 still compiles it on each validate() call (the main cost here).
 *
 * The native addon is loaded on first use only: the broker and the agents import
 * voevent/ for the fast validator and never pay for (or depend on) libxml2.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import type * as Libxml from 'libxmljs2';
import type { Document as XmlDocument } from 'libxmljs2';
import type { Issue } from './issues.ts';

let libxmlModule: typeof Libxml | undefined;
const libxml = {
  parseXml(...args: Parameters<typeof Libxml.parseXml>): XmlDocument {
    libxmlModule ??= createRequire(import.meta.url)('libxmljs2') as typeof Libxml;
    return libxmlModule.parseXml(...args);
  },
};

export const SCHEMA_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'schema', 'VOEvent-v2.0.xsd');

/** Parser options that never read a DTD, an entity or anything from the network. */
export const SAFE_PARSE_OPTIONS = {
  noent: false,
  dtdload: false,
  dtdvalid: false,
  dtdattr: false,
  doctype: true,
  nonet: true,
  xinclude: false,
  huge: false,
  recover: false,
  noblanks: false,
  nocdata: false,
} as const;

const schemaCache = new Map<string, XmlDocument>();

/** The parsed schema document (cached per file). */
export function loadSchema(file = SCHEMA_PATH): XmlDocument {
  let doc = schemaCache.get(file);
  if (!doc) {
    doc = libxml.parseXml(fs.readFileSync(file, 'utf8'), { ...SAFE_PARSE_OPTIONS, baseUrl: file });
    schemaCache.set(file, doc);
  }
  return doc;
}

interface LibxmlError {
  message?: string;
  line?: number | null;
  column?: number | null;
}

/** Column of the element a libxml2 message names on its line (libxml2 gives column 0). */
function guessColumn(text: string, line: number, message: string): number {
  const m = /^Element '(?:\{[^}]*\})?([^']+)'/.exec(message);
  if (!m || line < 1) return 1;
  let start = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', start);
    if (nl === -1) return 1;
    start = nl + 1;
  }
  const end = text.indexOf('\n', start);
  const lineText = text.slice(start, end === -1 ? undefined : end);
  const re = new RegExp(`<(?:[A-Za-z_][\\w.-]*:)?${m[1]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=[\\s/>])`);
  const k = lineText.search(re);
  return k === -1 ? 1 : k + 1;
}

function tidy(message: string): string {
  return message.trim().replace(/\s+/g, ' ');
}

/**
 * Validate XML text against an XML Schema with libxml2. Returns issues (kind "xml"
 * for documents libxml2 cannot parse, "schema" for validity errors); empty means valid.
 * The caller is responsible for the size limit (validate() applies it first).
 */
export function xsdValidateText(text: string, schemaFile = SCHEMA_PATH): Issue[] {
  const schema = loadSchema(schemaFile);
  let doc: XmlDocument;
  try {
    doc = libxml.parseXml(text, SAFE_PARSE_OPTIONS);
  } catch (e) {
    const err = e as LibxmlError;
    return [{
      kind: 'xml', severity: 'error', line: err.line ?? 0, column: err.column ?? 0, path: '',
      message: tidy(err.message ?? String(e)),
    }];
  }
  const issues: Issue[] = [];
  for (const w of doc.errors ?? []) {
    // Namespace errors are reported by libxml2 but do not stop parsing.
    const err = w as unknown as LibxmlError;
    issues.push({ kind: 'xml', severity: 'error', line: err.line ?? 0, column: err.column ?? 0, path: '', message: tidy(err.message ?? '') });
  }
  if (doc.getDtd() !== null) {
    issues.push({ kind: 'xml', severity: 'error', line: 1, column: 1, path: '', message: 'DOCTYPE declarations are not allowed' });
  }
  if (!doc.validate(schema)) {
    for (const v of doc.validationErrors) {
      const err = v as unknown as LibxmlError;
      const line = err.line ?? 0;
      const message = tidy(err.message ?? '');
      issues.push({ kind: 'schema', severity: 'error', line, column: err.column || guessColumn(text, line, message), path: '', message });
    }
    if (issues.length === 0) {
      issues.push({ kind: 'schema', severity: 'error', line: 0, column: 0, path: '', message: 'document is not valid against the schema' });
    }
  }
  return issues;
}

/** Schema verdict only (true = valid) — the agreement test's oracle call. */
export function xsdIsValid(text: string, schemaFile = SCHEMA_PATH): boolean {
  const schema = loadSchema(schemaFile);
  let doc: XmlDocument;
  try {
    doc = libxml.parseXml(text, SAFE_PARSE_OPTIONS);
  } catch {
    return false;
  }
  return doc.validate(schema);
}
