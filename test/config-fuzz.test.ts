/**
 * Configuration files under mutation (issue 20 §1): the example policy, broker, telescope
 * and chat-rooms files, changed the way hand edits and bad merges change YAML (lines
 * dropped, doubled or re-indented, values replaced by wrong types, anchors and alias
 * bombs, tags, stray bytes), always give either a configuration or a ConfigError whose
 * every line names the file (with line:col where the problem has a place), never
 * another exception. That the policy in force survives a refused file is proven with a
 * real broker in policy-broker.test.ts ("a bad policy file is refused…").
 */
import { describe, it, expect, afterAll } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../common/config.ts';
import { parsePolicy } from '../access-policy/load.ts';
import { loadBrokerConfig } from '../broker-component/config.ts';
import { parseRules } from '../agents/telescope/rules.ts';
import { loadConfigFile } from '../common/config.ts';
import { ROOMS_SCHEMA } from '../agents/rooms/cli.ts';

const RUNS = Number(process.env.VOXNET_FUZZ_RUNS ?? 150);
const dir = mkdtempSync(join(tmpdir(), 'voxnet-config-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const VALUES = ['-1', '0', '1e999', '"x"', "'unterminated", '[]', '{}', '~', 'yes', '*nowhere', '&a [*a, *a]', '!!js/function "f"', '!!binary AAAA', '2026-13-45', '"\\u0000"', 'x'.repeat(5000)];
const BOMB = 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n';

type Edit = { kind: 'drop' | 'double' | 'indent' | 'dedent' | 'value' | 'bytes' | 'bomb'; line: number; pick: number; bytes: number[] };
const edit = fc.record({
  kind: fc.constantFrom('drop', 'double', 'indent', 'dedent', 'value', 'value', 'bytes', 'bomb'),
  line: fc.nat(),
  pick: fc.nat(),
  bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 6 }),
}) as fc.Arbitrary<Edit>;

function mutate(text: string, edits: Edit[]): string {
  let lines = text.split('\n');
  for (const e of edits) {
    const i = e.line % lines.length;
    const l = lines[i]!;
    switch (e.kind) {
      case 'drop': lines.splice(i, 1); break;
      case 'double': lines.splice(i, 0, l); break;
      case 'indent': lines[i] = `  ${l}`; break;
      case 'dedent': lines[i] = l.replace(/^ {1,2}/, ''); break;
      case 'value': lines[i] = /:\s*\S/.test(l) ? l.replace(/:\s*(.*)$/, `: ${VALUES[e.pick % VALUES.length]}`) : `${l} ${VALUES[e.pick % VALUES.length]}`; break;
      case 'bytes': lines[i] = l.slice(0, e.pick % (l.length + 1)) + Buffer.from(e.bytes).toString('latin1') + l.slice(e.pick % (l.length + 1)); break;
      case 'bomb': lines = [...lines, ...BOMB.split('\n')]; break;
    }
    if (!lines.length) lines = [''];
  }
  return lines.join('\n');
}

/** The loader either returns or throws a ConfigError naming the file on every line. */
function checkLoader(name: string, example: string, load: (text: string, file: string) => unknown) {
  it(`${name}: a configuration or a ConfigError naming the file, never another exception`, () => {
    const text = readFileSync(example, 'utf8');
    expect(() => load(text, join(dir, 'ok.yaml'))).not.toThrow();
    let refused = 0;
    let located = 0;
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 3 }), fc.nat(), (edits, n) => {
        const file = join(dir, `${name}-${n}.yaml`);
        const bad = mutate(text, edits);
        try {
          load(bad, file);
        } catch (e) {
          if (!(e instanceof ConfigError)) throw new Error(`${name}: ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}\n--- input ---\n${bad.slice(0, 2000)}`);
          refused++;
          for (const line of e.message.split('\n').filter(Boolean)) expect(line.startsWith(file), line).toBe(true);
          if (/^[^:]+:\d+:\d+: /.test(e.message.slice(file.length - file.split(':')[0]!.length))) located++;
        }
      }),
      { numRuns: RUNS, seed: Number(process.env.VOXNET_FUZZ_SEED ?? 77) },
    );
    expect(refused).toBeGreaterThan(RUNS / 10);
    expect(located).toBeGreaterThan(0);
  }, 120_000);
}

describe('found by the mutations', () => {
  it('a duration of 1e999 (YAML reads Infinity) or 13 digits is refused by the schema, with its line, not by a DurationError later', () => {
    const text = readFileSync('config/telescope.example.yaml', 'utf8');
    for (const v of ['1e999', '"9999999999999d"']) {
      const bad = text.replace(/^(\s*step:\s*).*$/m, `$1${v}`);
      expect(bad).not.toBe(text);
      expect(() => parseRules(bad, 'rules.yaml', 'config')).toThrow(ConfigError);
      expect(() => parseRules(bad, 'rules.yaml', 'config')).toThrow(/^rules\.yaml:\d+:\d+: /);
    }
  });
});

describe('configuration files under mutation', () => {
  checkLoader('policy', 'config/policy.example.yaml', (text, file) => parsePolicy(text, file));
  checkLoader('telescope', 'config/telescope.example.yaml', (text, file) => parseRules(text, file, 'config'));
  checkLoader('broker', 'config/broker.example.yaml', (text, file) => {
    writeFileSync(file, text);
    return loadBrokerConfig(file, {});
  });
  checkLoader('rooms', 'config/rooms.example.yaml', (text, file) => {
    writeFileSync(file, text);
    return loadConfigFile(file, ROOMS_SCHEMA);
  });
});
