/**
 * Policy file (YAML) → checked Policy, or a PolicyError whose lines read
 * "FILE:LINE:COL: path: message" for every problem found.
 */
import { readFileSync } from 'node:fs';
import YAML, { isMap, isNode, isSeq, LineCounter, type Document } from 'yaml';
import { checkPolicy, type Issue, type PathSegment } from './schema.ts';
import type { Policy } from './types.ts';

export type LocatedIssue = Issue & { line?: number; col?: number };

export class PolicyError extends Error {
  constructor(
    readonly source: string,
    readonly issues: LocatedIssue[],
  ) {
    super(issues.map((i) => formatIssue(source, i)).join('\n'));
    this.name = 'PolicyError';
  }
}

export function formatPath(path: PathSegment[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s ? `.${p}` : p;
  return s;
}

function formatIssue(source: string, i: LocatedIssue): string {
  const where = i.line ? `${source}:${i.line}:${i.col ?? 1}` : source;
  const path = formatPath(i.path);
  return `${where}: ${path ? `${path}: ` : ''}${i.message}`;
}

/**
 * Offset of the value at `path` (or of the deepest existing ancestor), for line
 * numbers: a scalar's own position, a mapping's or sequence's key, or with
 * `atKey` the key of the last segment.
 */
function offsetOf(doc: Document, path: PathSegment[], atKey = false): number | undefined {
  let node: unknown = doc.contents;
  let offset = isNode(node) ? node.range?.[0] : undefined;
  for (const [i, seg] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((it) => (isNode(it.key) ? (it.key as { value?: unknown }).value : it.key) === seg);
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

/** Parse and check policy text. `source` names it in errors (usually the file name). */
export function parsePolicy(text: string, source = 'policy'): Policy {
  const lineCounter = new LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    throw new PolicyError(
      source,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return { path: [], message: e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, ''), line: pos?.line, col: pos?.col };
      }),
    );
  }
  const data = doc.toJS({ maxAliasCount: 100 });
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    throw new PolicyError(source, [{ path: [], message: 'the policy must be a mapping with version, levels and products', line: 1, col: 1 }]);
  const { policy, issues } = checkPolicy(data);
  if (!policy) {
    throw new PolicyError(
      source,
      issues.map((i) => {
        const off = offsetOf(doc, i.path, i.at === 'key');
        const { at: _at, ...issue } = i;
        const pos = off !== undefined ? lineCounter.linePos(off) : undefined;
        return { ...issue, line: pos?.line, col: pos?.col };
      }),
    );
  }
  return policy;
}

/** Read and check a policy file. Throws PolicyError (with file:line) on any problem. */
export function loadPolicyFile(file: string): { policy: Policy; text: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new PolicyError(file, [{ path: [], message: `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` }]);
  }
  return { policy: parsePolicy(text, file), text };
}
