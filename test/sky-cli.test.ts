/** `voxnet skymap` and `voxnet skymap-crossmatch`: output, JSON, exit codes (in-process), plus one real process run. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { crossmatchCommand, fmtDec, fmtRa, skymapCommand } from '../sky/cli.ts';
import { CATALOGS, REPO, SKYMAPS } from './sky-helpers.ts';

const BAYESTAR = join(SKYMAPS, 'userguide-bayestar.multiorder.fits');
const GLADE = join(CATALOGS, 'skyportal-GLADE+_first100.csv');
const tmp = mkdtempSync(join(tmpdir(), 'voxnet-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function run(cmd: (argv: string[], out: { log: (s: string) => void; error: (s: string) => void }) => Promise<number>, argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await cmd(argv, { log: (s) => out.push(s), error: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('voxnet skymap', () => {
  it('prints the summary ligo-skymap-stats users expect', async () => {
    const r = await run(skymapCommand, [BAYESTAR]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^object\s+MS181101ab$/m);
    expect(r.out).toMatch(/^area\(50\)\s+8\.90 deg²$/m);
    expect(r.out).toMatch(/^area\(90\)\s+30\.98 deg²$/m);
    expect(r.out).toMatch(/^max prob\s+RA 194\.3042°  Dec -17\.8569°/m);
    expect(r.out).toMatch(/^distmean\s+39\.77 Mpc$/m);
    expect(r.out).toMatch(/^diststd\s+8\.31 Mpc$/m);
    expect(r.out).toMatch(/NUNIQ: 19200 tiles, orders 4\.\.11/);
  });

  it('--json, --levels and --moc', async () => {
    const r = await run(skymapCommand, [BAYESTAR, '--json', '--levels', '50,90,99', '--moc', '90']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.file).toBe(BAYESTAR);
    expect(j.area90.toFixed(2)).toBe('30.98');
    expect(j.areas.map((a: { level: number }) => a.level)).toEqual([0.5, 0.9, 0.99]);
    expect(j.densest.ra.toFixed(4)).toBe('194.3042');
    expect(j.distance.mean).toBeCloseTo(39.77, 2);
    expect(j.moc.level).toBe(0.9);
    expect(j.moc.ascii).toMatch(/^\d+\/\d/);
  });

  it('exit codes and messages for bad input', async () => {
    const missing = await run(skymapCommand, [join(tmp, 'nope.fits')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/voxnet skymap: .*nope\.fits/);
    writeFileSync(join(tmp, 'junk.fits'), 'this is not a sky map');
    const junk = await run(skymapCommand, [join(tmp, 'junk.fits')]);
    expect(junk.code).toBe(1);
    expect(junk.err).toMatch(/junk\.fits: not a FITS file or an igwn\.gwalert JSON alert/);
    expect((await run(skymapCommand, [])).code).toBe(2);
    expect((await run(skymapCommand, [BAYESTAR, '--bogus'])).code).toBe(2);
    expect((await run(skymapCommand, [BAYESTAR, '--levels', '150'])).code).toBe(2);
    const help = await run(skymapCommand, ['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/usage: voxnet skymap FILE/);
  });

  it('reads igwn.gwalert JSON files', async () => {
    const { readFileSync } = await import('node:fs');
    const alert = { superevent_id: 'MS181101ab', alert_type: 'PRELIMINARY', event: { skymap: readFileSync(BAYESTAR).toString('base64') } };
    writeFileSync(join(tmp, 'alert.json'), JSON.stringify(alert));
    const r = await run(skymapCommand, [join(tmp, 'alert.json')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/area\(90\)\s+30\.98/);
  });
});

describe('voxnet skymap-crossmatch', () => {
  it('prints ranked galaxies with ligo-skymap-stats column names', async () => {
    const r = await run(crossmatchCommand, [BAYESTAR, '--catalog', GLADE, '--weight-mag', 'B_Abs', '--top', '5']);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    const h = lines.findIndex((l) => l.startsWith('rank'));
    expect(lines[h]!.split(/\s+/)).toEqual(['rank', 'id', 'ra', 'dec', 'distance', 'searched_prob', 'searched_area', 'offset', 'probdensity', 'probdensity_vol', 'weight', 'prob']);
    expect(lines.slice(h + 1, h + 6).map((l) => l.trim().split(/\s+/)[0])).toEqual(['1', '2', '3', '4', '5']);
    expect(r.out).toMatch(/ranked by dP\/dV × 10\^\(-0\.4 B_Abs\)/);
  });

  it('--tsv and --json', async () => {
    const t = await run(crossmatchCommand, [BAYESTAR, '--catalog', GLADE, '--top', '3', '--tsv']);
    const rows = t.out.split('\n').filter((l) => !l.startsWith('#') && l.includes('\t'));
    expect(rows[0]!.split('\t')[0]).toBe('rank');
    expect(rows).toHaveLength(4);
    const j = await run(crossmatchCommand, [BAYESTAR, '--catalog', GLADE, '--top', '3', '--json', '--rank', '2d']);
    const res = JSON.parse(j.out);
    expect(res.galaxies.top).toHaveLength(3);
    expect(res.galaxies.rankedBy).toBe('2d');
    expect(res.map.area90.toFixed(2)).toBe('30.98');
  });

  it('fields with a footprint, a circle localisation, a watch-list', async () => {
    const f = await run(crossmatchCommand, [BAYESTAR, '--fields', join(CATALOGS, 'skyportal-ZTF_Fields.csv'), '--footprint', join(CATALOGS, 'skyportal-ZTF_Region.reg'), '--fields-top', '2', '--json']);
    expect(f.code).toBe(0);
    const fr = JSON.parse(f.out);
    expect(fr.fields.top[0].id).toBe('321.0');
    expect(fr.fields.top[0].prob).toBeGreaterThan(0.45);
    writeFileSync(join(tmp, 'watch.csv'), 'name,ra,dec\nat-peak,194.3042,-17.8569\nfar,10,10\n');
    const c = await run(crossmatchCommand, ['--circle', '194.3,-17.85,2', '--watchlist', join(tmp, 'watch.csv')]);
    expect(c.code).toBe(0);
    expect(c.out).toMatch(/watch-list .*watch\.csv: 2 targets/);
    expect(c.out).toMatch(/at-peak/);
    const v = await run(crossmatchCommand, ['--circle', '194.3,-17.85,2', '--fields', join(CATALOGS, 'skyportal-ZTF_Fields.csv'), '--fov-radius', '3.9', '--json']);
    expect(JSON.parse(v.out).fields.top).toHaveLength(10);
  });

  it('usage errors exit 2, runtime errors exit 1', async () => {
    expect((await run(crossmatchCommand, [BAYESTAR])).err).toMatch(/nothing to crossmatch/);
    expect((await run(crossmatchCommand, [])).code).toBe(2);
    expect((await run(crossmatchCommand, [BAYESTAR, '--catalog', GLADE, '--rank', '4d'])).code).toBe(2);
    expect((await run(crossmatchCommand, [BAYESTAR, '--fields', GLADE])).err).toMatch(/exactly one of --footprint/);
    expect((await run(crossmatchCommand, ['--circle', '1,2', '--catalog', GLADE])).err).toMatch(/RA,DEC,RADIUS/);
    expect((await run(crossmatchCommand, [BAYESTAR, '--catalog', GLADE, '--weight', 'a', '--weight-mag', 'b'])).code).toBe(2);
    const bad = await run(crossmatchCommand, [BAYESTAR, '--catalog', join(tmp, 'missing.csv')]);
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/missing\.csv/);
    const col = await run(crossmatchCommand, [BAYESTAR, '--catalog', GLADE, '--weight', 'nonexistent']);
    expect(col.code).toBe(1);
    expect(col.err).toMatch(/no column 'nonexistent' for weight/);
  });

  it('formats sexagesimal coordinates', () => {
    expect(fmtRa(194.3042)).toBe('12h57m13.01s'); // 194.3042° / 15 = 12.9536133 h
    expect(fmtDec(-17.8569)).toBe('-17°51′24.8″');
    expect(fmtRa(359.99999999)).toBe('00h00m00.00s');
    expect(fmtDec(0.5)).toBe('+00°30′00.0″');
  });
});

describe('node bin/voxnet.js', () => {
  it('dispatches skymap and crossmatch (real process)', () => {
    const out = execFileSync(process.execPath, [join(REPO, 'bin/voxnet.js'), 'skymap', BAYESTAR, '--json'], { encoding: 'utf8' });
    expect(JSON.parse(out).area90.toFixed(2)).toBe('30.98');
    const p = spawnSync(process.execPath, [join(REPO, 'bin/voxnet.js'), 'crossmatch', BAYESTAR], { encoding: 'utf8' });
    expect(p.status).toBe(2);
    const help = execFileSync(process.execPath, [join(REPO, 'bin/voxnet.js'), 'help'], { encoding: 'utf8' });
    expect(help).toMatch(/skymap/);
    expect(help).toMatch(/crossmatch/);
  });
});
