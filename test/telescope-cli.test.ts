/** voxnet agent telescope --explain: the decision and every rule's verdict, without connecting. */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { telescopeCommand } from '../agents/telescope/cli.ts';
import { FIXTURES, PACKETS, REPO_ROOT, SITES, rulesDoc } from './telescope-helpers.ts';

const run = promisify(execFile);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voxnet-telcli-'));
function config(over: Record<string, any> = {}): string {
  const file = path.join(dir, `t${Math.random().toString(36).slice(2)}.yaml`);
  fs.writeFileSync(file, YAML.stringify(rulesDoc(over)));
  return file;
}
function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

describe('voxnet agent telescope --explain', () => {
  it('through the voxnet command: SVOM wake-up at La Silla at 06:14:20 UTC → TRIGGER, every rule listed', async () => {
    const cfg = config({ site: SITES.laSilla });
    const { stdout } = await run(process.execPath, [path.join(REPO_ROOT, 'bin', 'voxnet.js'), 'agent', 'telescope', '--config', cfg, '--explain', path.join(FIXTURES, PACKETS.svomWakeup), '--at', '2026-05-11T06:14:20Z'], { cwd: REPO_ROOT });
    for (const rule of ['role', 'stream', 'packet_type', 'position', 'error_radius', 'importance', 'probability', 'declination', 'window', 'altitude', 'sun', 'moon', 'visibility']) {
      expect(stdout).toMatch(new RegExp(`\\[(ok  |FAIL|LATE| -  )\\] ${rule}\\b`));
    }
    expect(stdout).toMatch(/^decision TRIGGER: observable now/m);
    expect(stdout).toMatch(/"observation_type": "RAPID_RESPONSE"/);
    expect(stdout).toMatch(/request group \(POST http:\/\/127\.0\.0\.1:9\/api\/requestgroups\/\)/);
  }, 30_000);

  it('defaults --at to the packet date; --json gives the decision', async () => {
    const c = capture();
    expect(await telescopeCommand(['--config', config({ site: SITES.kittPeak }), '--explain', path.join(FIXTURES, PACKETS.swiftBat), '--json'], c.io)).toBe(0);
    const j = JSON.parse(c.out.join('\n'));
    expect(j.decision.at).toBe('2022-09-30T11:12:15.000Z'); // Who/Date of the packet
    expect(j.decision.action).toBe('trigger');
    expect(j.request_group.requests[0].configurations[0].target).toMatchObject({ type: 'ICRS', ra: 64.7373 });
  });

  it('a role=test packet: ignored, unless --drill', async () => {
    const cfg = config({ accept: { streams: [] } });
    const lvk = path.join(FIXTURES, PACKETS.lvkPrelim);
    const a = capture();
    await telescopeCommand(['--config', cfg, '--explain', lvk], a.io);
    expect(a.out.join('\n')).toMatch(/^decision IGNORE: role=test ignored outside drill mode/m);
    const b = capture();
    await telescopeCommand(['--config', cfg, '--explain', lvk, '--drill'], b.io);
    expect(b.out.join('\n')).toMatch(/^decision REJECT: position: no position, only a sky map/m);
  });

  it('shows what a retraction would do to a remembered request (read-only state)', async () => {
    const state = path.join(dir, 'state.json');
    const cfg = config({ site: SITES.xinglong, state_file: state });
    // Build the state the running agent would have after the wake-up: via the library.
    const { Tracker } = await import('../agents/telescope/tracker.ts');
    const { decide } = await import('../agents/telescope/decide.ts');
    const { loadRules } = await import('../agents/telescope/rules.ts');
    const { packet } = await import('./telescope-helpers.ts');
    const wake = packet(PACKETS.svomWakeupRetracted);
    new Tracker({ file: state }).record(wake, decide(wake, loadRules(cfg), new Date('2026-03-04T10:04:01Z')), { requestId: '77' });
    const before = fs.readFileSync(state, 'utf8');
    const c = capture();
    await telescopeCommand(['--config', cfg, '--explain', path.join(FIXTURES, PACKETS.svomRetraction), '--at', '2026-03-04T10:04:02Z'], c.io);
    expect(c.out.join('\n')).toMatch(/thread +retraction of ivo:\/\/org\.svom\/fsc#sb26030408_eclairs-wakeup, request 77 active/);
    expect(c.out.join('\n')).toMatch(/^decision CANCEL: retracted by ivo:\/\/org\.svom\/fsc#sb26030408_retraction/m);
    expect(fs.readFileSync(state, 'utf8')).toBe(before);
    const d = capture();
    await telescopeCommand(['--config', cfg, '--explain', path.join(FIXTURES, PACKETS.svomRetraction), '--no-state'], d.io);
    expect(d.out.join('\n')).toMatch(/^decision IGNORE: retraction of an event without an active request/m);
  });

  it('usage errors exit 2 with a message', async () => {
    const r = await run(process.execPath, [path.join(REPO_ROOT, 'bin', 'voxnet.js'), 'agent', 'telescope', '--explain', 'x.xml'], { cwd: REPO_ROOT }).catch((e) => e);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--config FILE is required/);
    const bad = path.join(dir, 'bad.yaml');
    fs.writeFileSync(bad, 'telescope: {name: T1}\n');
    const r2 = await run(process.execPath, [path.join(REPO_ROOT, 'bin', 'voxnet.js'), 'agent', 'telescope', '--config', bad, '--explain', 'x.xml'], { cwd: REPO_ROOT }).catch((e) => e);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/bad\.yaml:1:1: site: is required/);
    await expect(telescopeCommand(['--config', config(), '--explain', path.join(FIXTURES, PACKETS.swiftBat), '--at', 'noon'], capture().io)).rejects.toThrow(/--at 'noon' is not an ISO time/);
  }, 30_000);
});
