/**
 * ARCHITECTURE.md's room table is the rule: every import between our folders must
 * be one its "May import" column allows. The table is parsed here, so the document
 * and the check cannot drift; a new folder must get its row before it has code.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

type Rule = { room: string; mayImport: Set<string> | 'anything' };

/** The rows of the "Rooms and what each may touch" table: folder → rooms it may import. */
export function parseRooms(markdown: string): Rule[] {
  const section = markdown.split(/^## /m).find((s) => s.startsWith('Rooms and what each may touch'));
  if (!section) throw new Error('ARCHITECTURE.md has no "Rooms and what each may touch" section');
  const rows = section.split('\n').filter((l) => /^\|\s*`[^`]+`/.test(l));
  const header = section.split('\n').find((l) => l.startsWith('| Folder'))!;
  const cells = (l: string) => l.split('|').slice(1, -1).map((c) => c.trim());
  const col = cells(header).indexOf('May import');
  if (col < 0) throw new Error('the room table has no "May import" column');
  return rows.map((l) => {
    const c = cells(l);
    const room = /^`([^`]+)`/.exec(c[0]!)![1]!.replace(/\/$/, '');
    const may = c[col]!;
    return { room, mayImport: /^anything\b/.test(may) ? 'anything' : new Set([...may.matchAll(/`([^`]+)\/`/g)].map((m) => m[1]!)) };
  });
}

/** The room of a repository path: the longest room folder containing it. */
function roomOf(rules: Rule[], path: string): string | undefined {
  let best: string | undefined;
  for (const { room } of rules) if ((path === room || path.startsWith(room + '/')) && (!best || room.length > best.length)) best = room;
  return best;
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"](\.{1,2}\/[^'"]+)['"]/g;

/** Relative imports of each file (paths relative to the repository root). */
export function importsOf(files: Record<string, string>): { from: string; to: string }[] {
  const out: { from: string; to: string }[] = [];
  for (const [file, text] of Object.entries(files))
    for (const m of text.matchAll(IMPORT)) out.push({ from: file, to: join(dirname(file), m[1]!).split(sep).join('/') });
  return out;
}

/** Imports the table forbids, and files in no room. */
export function violations(rules: Rule[], files: Record<string, string>): string[] {
  const out: string[] = [];
  for (const file of Object.keys(files)) if (file.includes('/') && !roomOf(rules, file)) out.push(`${file}: in no room of ARCHITECTURE.md`);
  for (const { from, to } of importsOf(files)) {
    const a = roomOf(rules, from);
    const b = roomOf(rules, to);
    if (!a || !b || a === b) continue;
    const rule = rules.find((r) => r.room === a)!;
    if (rule.mayImport !== 'anything' && !rule.mayImport.has(b)) out.push(`${from} imports ${to}: ${a}/ may not import ${b}/`);
  }
  return out;
}

function sources(dir: string, out: Record<string, string> = {}): Record<string, string> {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (/\.(ts|mts|js|mjs)$/.test(name)) out[relative(ROOT, p).split(sep).join('/')] = readFileSync(p, 'utf8');
  }
  return out;
}

describe('ARCHITECTURE.md room table', () => {
  const rules = parseRooms(readFileSync(resolve(ROOT, 'ARCHITECTURE.md'), 'utf8'));

  it('is parsed: the floor may import nothing of ours, tests anything', () => {
    expect(rules.find((r) => r.room === 'common')?.mayImport).toEqual(new Set());
    expect(rules.find((r) => r.room === 'access-policy')?.mayImport).toEqual(new Set(['common', 'pubsub', 'voevent']));
    expect(rules.find((r) => r.room === 'test')?.mayImport).toBe('anything');
  });

  it('catches a forbidden edge and a file outside every room', () => {
    expect(
      violations(rules, {
        'common/x.ts': "import { decide } from '../pubsub/privileges.ts';",
        'access-policy/y.ts': "const { loadBrokerConfig } = await import('../broker-component/config.ts');",
        'broker-component/core/z.ts': "import type { Store } from '../store/store.ts';",
        'newroom/w.ts': '',
      }),
    ).toEqual([
      'newroom/w.ts: in no room of ARCHITECTURE.md',
      'common/x.ts imports pubsub/privileges.ts: common/ may not import pubsub/',
      'access-policy/y.ts imports broker-component/config.ts: access-policy/ may not import broker-component/',
    ]);
  });

  it('allows every import in the repository', () => {
    expect(violations(rules, sources(ROOT))).toEqual([]);
  });
});
