/** voxnet validate / voxnet show. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { showCommand, validateCommand } from '../voevent/cli.ts';
import { FIXTURES, REPO_ROOT, fixture } from './voevent-helpers.ts';

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'voxnet-cli-'));
const good = path.join(FIXTURES, 'gcn-notice-parser__svom_eclairs_320__sb26051101_slewing.xml');
const bad = path.join(tmp, 'bad.xml');
fs.writeFileSync(bad, fixture('gcn-notice-parser__svom_eclairs_320__sb26051101_slewing.xml').replace('<C2>-33.8525</C2>', '<C2>minus 33</C2>'));
const broken = path.join(tmp, 'broken.xml');
fs.writeFileSync(broken, '<?xml version="1.0"?>\n<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0">\n  <Who>\n</voe:VOEvent>\n');

describe('voxnet validate', () => {
  it('exits 0 when every file is valid', async () => {
    const c = capture();
    expect(await validateCommand([good, path.join(FIXTURES, 'skyportal__GW190814__S190814bv-5-Update.xml')], c.io)).toBe(0);
    expect(c.err).toEqual([]);
    expect(c.out).toEqual([`${good}: valid`, `${path.join(FIXTURES, 'skyportal__GW190814__S190814bv-5-Update.xml')}: valid`]);
  });

  it('exits 1 and prints file:line:col for each error (XSD engine and --fast)', async () => {
    for (const args of [[good, bad], ['--fast', good, bad]]) {
      const c = capture();
      expect(await validateCommand(args, c.io)).toBe(1);
      const line = fixture('gcn-notice-parser__svom_eclairs_320__sb26051101_slewing.xml').split('\n').findIndex((l) => l.includes('<C2>')) + 1;
      expect(c.err.length).toBeGreaterThan(0);
      expect(c.err[0]).toMatch(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}:15: .*minus 33`));
      expect(c.out).toContain(`${bad}: INVALID (1 error)`);
    }
  });

  it('reports XML syntax errors and unreadable files', async () => {
    const c = capture();
    expect(await validateCommand([broken, path.join(tmp, 'missing.xml')], c.io)).toBe(1);
    expect(c.err[0]).toMatch(new RegExp(`broken\\.xml:4:1: end tag </voe:VOEvent> does not match <Who>`));
    expect(c.err[1]).toMatch(/missing\.xml:0:0: cannot read/);
  });

  it('exits 2 on usage errors', async () => {
    expect(await validateCommand([], capture().io)).toBe(2);
    expect(await validateCommand(['--nope', good], capture().io)).toBe(2);
  });

  it('runs through bin/voxnet.js with the right exit status', () => {
    const bin = path.join(REPO_ROOT, 'bin', 'voxnet.js');
    expect(execFileSync('node', [bin, 'validate', '--quiet', good], { encoding: 'utf8' })).toBe('');
    let status = 0;
    let stderr = '';
    try {
      execFileSync('node', [bin, 'validate', good, bad], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      status = (e as { status: number }).status;
      stderr = String((e as { stderr: string }).stderr);
    }
    expect(status).toBe(1);
    expect(stderr).toContain(`${bad}:`);
  });
});

describe('voxnet show', () => {
  it('prints the summary line', async () => {
    const c = capture();
    expect(await showCommand([good], c.io)).toBe(0);
    expect(c.out).toEqual([
      "SVOM/ECLAIRs sb26051101 [observation] ivo://org.svom/fsc#sb26051101_slewing RA 197.9295 Dec -33.8525 ±2.4' at 2026-05-11T06:13:32.594000; follows up sb26051101_grm-trigger (+2 more)",
    ]);
  });

  it('prints the model as JSON with --json', async () => {
    const c = capture();
    expect(await showCommand(['--json', good], c.io)).toBe(0);
    const model = JSON.parse(c.out.join('\n'));
    expect(model.ivorn).toBe('ivo://org.svom/fsc#sb26051101_slewing');
    expect(model.whereWhen.position).toEqual({ ra: 197.9295, dec: -33.8525, error: 0.0406, name1: 'RA', name2: 'Dec' });
  });

  it('fails with file:line:col on a broken file', async () => {
    const c = capture();
    expect(await showCommand([broken], c.io)).toBe(1);
    expect(c.err[0]).toMatch(/broken\.xml:4:1: /);
  });
});
