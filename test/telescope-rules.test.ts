/** Telescope rules: the YAML format, its validation and clear errors. */
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { altitudeForAirmass, loadRules, matchStream, parseRules } from '../agents/telescope/rules.ts';
import { ConfigError } from '../common/config.ts';
import { parseDuration } from '../common/duration.ts';
import { REPO_ROOT, rulesDoc } from './telescope-helpers.ts';

const yaml = (o: unknown) => YAML.stringify(o);
function errorOf(text: string): string {
  try {
    parseRules(text, 'rules.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('no error');
}

describe('telescope rules', () => {
  it('loads the example configuration and normalises it', () => {
    const r = loadRules(path.join(REPO_ROOT, 'config', 'telescope.example.yaml'));
    expect(r.telescope).toMatchObject({ name: 'KP-1m', authorIvorn: 'ivo://voxnet.example/telescope/KP-1m' });
    expect(r.site).toEqual({ name: 'Kitt Peak', latitude: 31.9583, longitude: -111.5967, elevation: 2096 });
    expect(r.observability.windowStart).toBe(0);
    expect(r.observability.windowEnd).toBe(12 * 3600_000);
    expect(r.observability.step).toBe(300_000);
    expect(r.observability.minDuration).toBe(600_000);
    // max_airmass 2 ⇒ altitude 30° (sec z = 2).
    expect(r.observability.minAltitude).toBeCloseTo(30, 10);
    expect(r.streams.find((s) => s.stream === 'ivo://nasa.gsfc.gcn/Fermi')?.maxErrorRadius).toBe(5);
    expect(r.streams.find((s) => s.stream === 'ivo://gwnet/LVC')).toEqual({ stream: 'ivo://gwnet/LVC' });
    expect(r.action).toMatchObject({ type: 'http', tokenEnv: 'VOXNET_TELESCOPE_TOKEN', timeout: 10_000, retry: { attempts: 5, initial: 500, max: 30_000, factor: 2 } });
    expect(r.stateFile).toBe(path.join(REPO_ROOT, 'config', 'telescope-state.json'));
    expect(r.roles).toEqual(['observation']);
    expect(r.drill).toBe(false);
  });

  it('takes the stricter of min_altitude and max_airmass', () => {
    expect(parseRules(yaml(rulesDoc({ observability: { min_altitude: 40, max_airmass: 2 } }))).observability.minAltitude).toBe(40);
    expect(parseRules(yaml(rulesDoc({ observability: { min_altitude: 20, max_airmass: 2, window: { end: '1h' } } }))).observability.minAltitude).toBeCloseTo(30, 10);
    expect(altitudeForAirmass(1)).toBeCloseTo(90, 10);
    expect(altitudeForAirmass(1 / Math.sin(Math.PI / 4))).toBeCloseTo(45, 10);
  });

  it('parses durations', () => {
    expect(parseDuration(90)).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(() => parseDuration('soon')).toThrow(/'soon' is not a duration/);
    // A window may open before the event; a timeout may not be negative.
    expect(parseDuration('-1h', { negative: true })).toBe(-3_600_000);
    expect(() => parseDuration('-1h')).toThrow(/must not be negative/);
  });

  it('reports unknown and missing keys with their line and column', () => {
    const doc = rulesDoc();
    doc.observability = { ...doc.observability, max_sun_alt: -12 };
    const text = yaml(doc);
    const msg = errorOf(text);
    const line = text.split('\n').findIndex((l) => l.includes('max_sun_alt:')) + 1;
    // The position is that of the unknown key itself.
    expect(msg).toBe(`rules.yaml:${line}:3: observability.max_sun_alt: is not a known key`);

    const noSite = rulesDoc();
    delete noSite.site;
    expect(errorOf(yaml(noSite))).toBe('rules.yaml:1:1: site: is required');
  });

  it('says what a duration must look like', () => {
    const msg = errorOf(yaml(rulesDoc({ observability: { window: { end: 'twelve hours' } } })));
    expect(msg).toMatch(/observability\.window\.end: must be a duration such as 500ms, 90s, 5m, 12h, 1d \(or a number of seconds\)/);
    expect(msg.split('\n')).toHaveLength(1);
  });

  it('needs min_altitude or max_airmass, and a window that ends after it starts', () => {
    const d = rulesDoc();
    delete d.observability.max_airmass;
    expect(errorOf(yaml(d))).toMatch(/observability: needs min_altitude or max_airmass/);
    expect(errorOf(yaml(rulesDoc({ observability: { window: { start: '2h', end: '1h' } } })))).toMatch(/window\.end: must be after observability\.window\.start/);
  });

  it('checks ranges: latitude, error radius, importance', () => {
    expect(errorOf(yaml(rulesDoc({ site: { latitude: 95 } })))).toMatch(/site\.latitude: must be <= 90/);
    expect(errorOf(yaml(rulesDoc({ accept: { max_error_radius: -1 } })))).toMatch(/accept\.max_error_radius: must be >= 0/);
    expect(errorOf(yaml(rulesDoc({ accept: { min_importance: 2 } })))).toMatch(/accept\.min_importance: must be <= 1/);
  });

  it('reports errors of the declared action type only', () => {
    const msg = errorOf(yaml(rulesDoc({ action: { type: 'command', url: 'http://x/' } })));
    expect(msg).toMatch(/action\.command: is required/);
    expect(msg).toMatch(/action\.url: is not a known key/);
    expect(msg).not.toMatch(/token_env|cancel_url/);
    expect(errorOf(yaml(rulesDoc({ action: { type: 'fax' } })))).toMatch(/action\.type: must be one of "http", "command"/);
  });

  it('rejects a stream entry that is neither an IVORN nor a stream rule', () => {
    expect(errorOf(yaml(rulesDoc({ accept: { streams: ['nasa'] } })))).toMatch(/accept\.streams\[0\]: must be a stream IVORN/);
    expect(errorOf(yaml(rulesDoc({ accept: { streams: [{ stream: 'ivo://x.y/z', packet_type: [1] }] } })))).toMatch(/accept\.streams\[0\]\.packet_type: is not a known key/);
  });

  it('reports YAML syntax errors with a position', () => {
    expect(errorOf('telescope:\n  name: [T1\nsite: {}\n')).toMatch(/^rules\.yaml:\d+:\d+: /);
  });

  it('resolves state_file and ./command against the rules file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'voxnet-rules-'));
    const file = path.join(dir, 'tel.yaml');
    fs.writeFileSync(file, yaml(rulesDoc({ action: { type: 'command', command: ['./trigger.sh', '--now'] }, state_file: 'state/t.json' })));
    const r = loadRules(file);
    expect(r.stateFile).toBe(path.join(dir, 'state', 't.json'));
    expect(r.action).toMatchObject({ type: 'command', command: [path.join(dir, 'trigger.sh'), '--now'] });
  });

  it('matches streams by the longest prefix, case-insensitively', () => {
    const r = parseRules(yaml(rulesDoc({ accept: { streams: ['ivo://nasa.gsfc.gcn', { stream: 'ivo://nasa.gsfc.gcn/SWIFT', packet_types: [61] }] } })));
    expect(matchStream(r, 'ivo://nasa.gsfc.gcn/SWIFT')?.packetTypes).toEqual([61]);
    expect(matchStream(r, 'ivo://nasa.gsfc.gcn/swift')?.packetTypes).toEqual([61]);
    expect(matchStream(r, 'ivo://nasa.gsfc.gcn/Fermi')?.stream).toBe('ivo://nasa.gsfc.gcn');
    expect(matchStream(r, 'ivo://nasa.gsfc.gcnx/Fermi')).toBeUndefined();
    expect(matchStream(r, 'ivo://org.svom/fsc')).toBeUndefined();
  });
});
