/**
 * `npm pack` gives an installable package: every file that `voxnet` can load (followed
 * through static and lazy imports from bin/) is in the tarball, and every package those
 * files import is a runtime dependency (not a devDependency, not undeclared).
 * The full install (`npm install -g` of the tarball, native modules built) takes minutes
 * and is checked by hand before a release: docs/deploy.md §1.
 */
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { builtinModules } from 'node:module';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string>; optionalDependencies?: Record<string, string> };

/** Files reachable from `entry` through relative imports, and the packages they import. */
function reachable(entries: string[]): { files: Set<string>; packages: Map<string, string> } {
  const files = new Set<string>();
  const packages = new Map<string, string>();
  const todo = [...entries];
  const spec = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g;
  while (todo.length) {
    const f = todo.pop()!;
    if (files.has(f)) continue;
    files.add(f);
    const text = readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
    for (const m of text.matchAll(spec)) {
      const s = m[1]!;
      if (/[\s$`{}]/.test(s)) continue; // text in a string that reads like an import, not a module specifier
      if (s.startsWith('.')) {
        const target = normalize(join(dirname(f), s));
        if (!existsSync(target)) throw new Error(`${f}: imports ${s}, which does not exist`);
        todo.push(target);
      } else if (!s.startsWith('node:') && !builtinModules.includes(s)) {
        const name = s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!;
        if (!packages.has(name)) packages.set(name, f);
      }
    }
  }
  return { files, packages };
}

describe('the npm package', () => {
  const { files, packages } = reachable(['bin/voxnet.js', 'bin/cli.ts']);
  const packed = new Set(
    (JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8' })) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path),
  );

  it('holds every file the voxnet command can load', () => {
    const missing = [...files].map((f) => relative('.', f)).filter((f) => !packed.has(f));
    expect(files.size).toBeGreaterThan(50);
    expect(missing).toEqual([]);
  });

  it('declares every package those files import as a runtime dependency', () => {
    // Optional dependencies are runtime ones too (npm installs them; pg-native: the postgres storage driver, loaded on use).
    const problems = [...packages].filter(([name]) => !pkg.dependencies[name] && !pkg.optionalDependencies?.[name]).map(([name, f]) => `${name} (imported by ${f})${pkg.devDependencies[name] ? ' is only a devDependency' : ' is not declared'}`);
    expect(problems).toEqual([]);
  });

  it('carries what the commands read at run time: schemas, the Prosody module, the demo packets', () => {
    for (const need of ['voevent/schema/', 'config/prosody-modules/mod_voxnet_multicast.lua', 'test/fixtures/voevents/', 'config/policy.example.yaml', 'docs/deploy.md']) {
      expect([...packed].some((p) => p.startsWith(need)), need).toBe(true);
    }
    expect([...packed].some((p) => p.startsWith('bench/') || p.startsWith('test/') && !p.startsWith('test/fixtures/voevents/'))).toBe(false);
  });
});
