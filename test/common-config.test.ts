/** common/config.ts: YAML + ajv, every problem at once, each at FILE:LINE:COL with its key. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, checkConfig, describeAjvErrors, formatPath, loadConfigFile, parseYaml, createAjv } from '../common/config.ts';
import { durationSchema } from '../common/duration.ts';

const SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['node'],
  properties: {
    node: { type: 'string' },
    every: { ...durationSchema(), default: '1s' },
    sub: { type: 'object', properties: { n: { type: 'integer' }, list: { type: 'array', items: { enum: ['a', 'b'] } } } },
  },
} as const;

const dir = mkdtempSync(join(tmpdir(), 'voxnet-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};
const errorOf = (fn: () => unknown): ConfigError => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('no error');
};

describe('configuration files', () => {
  it('fills defaults and returns the data', () => {
    expect(loadConfigFile(file('ok.yaml', 'node: a\n'), SCHEMA)).toEqual({ node: 'a', every: '1s' });
  });

  it('reports every problem with the line and column of its key', () => {
    const f = file('bad.yaml', ['every: soon', 'sub:', '  n: x', '  list: [a, c]', 'zap: 1'].join('\n'));
    const e = errorOf(() => loadConfigFile(f, SCHEMA));
    expect(e.message.split('\n')).toEqual([
      `${f}:1:1: node: is required`,
      `${f}:5:1: zap: is not a known key`,
      `${f}:1:8: every: must be a duration such as 500ms, 90s, 5m, 12h, 1d (or a number of seconds)`,
      `${f}:3:6: sub.n: must be integer`,
      `${f}:4:13: sub.list[1]: must be one of "a", "b"`,
    ]);
    expect(e.source).toBe(f);
    expect(e.problems[0]).toBe('node: is required');
  });

  it('YAML syntax errors and duplicate keys are located too; an unreadable file is named', () => {
    expect(errorOf(() => loadConfigFile(file('syntax.yaml', 'node: [a\n'), SCHEMA)).message).toMatch(/syntax\.yaml:\d+:\d+: /);
    expect(errorOf(() => loadConfigFile(file('dup.yaml', 'node: a\nnode: b\n'), SCHEMA)).message).toMatch(/dup\.yaml:2:1: .*[Uu]nique/);
    expect(errorOf(() => loadConfigFile(join(dir, 'missing.yaml'), SCHEMA)).message).toBe(`${join(dir, 'missing.yaml')}: cannot read: ENOENT`);
  });

  it('checks data without a file (no positions) and lets a caller word its own errors', () => {
    expect(errorOf(() => checkConfig({ node: 3 }, SCHEMA, 'environment')).message).toBe('environment: node: must be string');
    const validate = createAjv().compile(SCHEMA);
    validate({});
    expect(describeAjvErrors(validate.errors, (e) => (e.keyword === 'required' ? { path: ['node'], message: 'is required (or set NODE)' } : undefined))).toEqual([
      { path: ['node'], message: 'is required (or set NODE)' },
    ]);
  });

  it('locates paths in a document and formats them', () => {
    const { data, locate } = parseYaml('a:\n  - x: 1\n  - y: 2\n', 'd.yaml');
    expect(data).toEqual({ a: [{ x: 1 }, { y: 2 }] });
    expect(locate(['a', 1, 'y'])).toEqual({ line: 3, col: 8 });
    expect(locate(['a', 1, 'y'], true)).toEqual({ line: 3, col: 5 });
    expect(locate(['a', 5])).toEqual({ line: 1, col: 1 }); // no such entry: the key holding the list
    expect(formatPath(['levels', 0, 'members'])).toBe('levels[0].members');
  });
});
