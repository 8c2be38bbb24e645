/**
 * The web page's pure parts, in Node: reading items into alerts, citation
 * threads, node grouping, the projections, the sky drawing's geometry (the
 * Mollweide is equal-area: coloured pixels add up to the credible area),
 * refusal and login messages, and `voxnet web`'s static server.
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml } from '@xmpp/xml';
import { readAlert, Threads, JSON_NS } from '../web/src/alert.ts';
import { groupNodes } from '../web/src/nodes.ts';
import { COLOURS, Gnomonic, Mollweide, drawMollweide, drawSky, loadSkyMap, localisationOf, localisationsOf, zoomOn } from '../web/src/sky.ts';
import { refusal } from '../web/src/messages.ts';
import { XmppIqError } from '../common/xmpp/iq-errors.ts';
import { loginProblem } from '../web/src/session.ts';
import { startWeb, type WebServer } from '../web/server.ts';
import { readSkyMapFileSync } from '../sky/readers.ts';
import { parseXml } from './helpers/pubsub.ts';

const FIX = join(import.meta.dirname, 'fixtures');
const voe = async (name: string) => parseXml(readFileSync(join(FIX, 'voevents', name), 'utf8'));
const json = (name: string) => xml('json', { xmlns: JSON_NS }, readFileSync(join(FIX, 'gcn-json', name), 'utf8'));
const SKY_DEG2 = 4 * Math.PI * (180 / Math.PI) ** 2;

describe('items as alerts', () => {
  it('reads a VOEvent: summary, role, time, mission, citations, retraction', async () => {
    const a = readAlert('svom/eclairs/public', 'w', await voe('gcn-notice-parser__svom_eclairs_303__sb26030408_eclairs-wakeup.xml'));
    expect(a).toMatchObject({ kind: 'voevent', role: 'observation', mission: 'SVOM', retraction: false, ivorn: 'ivo://org.svom/fsc#sb26030408_eclairs-wakeup' });
    expect(a.time).toMatch(/^2026-03-04T09:39:26/);
    expect(a.summary).toContain('RA 47.0752 Dec 40.9505');
    const r = readAlert('svom/eclairs/public', 'r', await voe('gcn-notice-parser__svom_eclairs_304__sb26030408_retraction.xml'));
    expect(r.retraction).toBe(true);
    expect(r.citations).toContainEqual({ ivorn: 'ivo://org.svom/fsc#sb26030408_eclairs-wakeup', cite: 'retraction' });
    // LVK: AlertType=Retraction, citing with "supersedes" — the broker's thread rules make it a retraction
    const lvk = readAlert('gw', 'x', await voe('MS181101ab-5-Retraction.xml'));
    expect(lvk.retraction).toBe(true);
    expect(lvk.citations).toContainEqual({ ivorn: 'ivo://gwnet/LVC#MS181101ab-1-EarlyWarning', cite: 'retraction' });
    const upd = readAlert('gw', 'u', await voe('MS181101ab-4-Update.xml'));
    expect(upd.retraction).toBe(false);
  });

  it('reads igwn.gwalert JSON (XEP-0335): summary, test role of a mock event, retraction', () => {
    const p = readAlert('gw', 'p', json('MS181101ab-preliminary.json'));
    expect(p).toMatchObject({ kind: 'json', role: 'test', mission: 'LVK', eventKey: 'LVK:MS181101ab', retraction: false });
    expect(p.summary).toMatch(/^LVK MS181101ab PRELIMINARY H1,L1,V1 sky map at 2018-11-01T22:22:46.654Z; FAR 9.11e-14 Hz$/);
    expect(readAlert('gw', 'r', json('MS181101ab-retraction.json')).retraction).toBe(true);
  });

  it('reads GCN JSON notices (gcn.nasa.gov schema): mission, id, tense, retraction, localisations', () => {
    const ex = (path: string) => xml('json', { xmlns: JSON_NS }, readFileSync(join(import.meta.dirname, '../node_modules/@nasa-gcn/schema/gcn/notices', path), 'utf8'));
    const ic = readAlert('icecube', 'a', ex('icecube/single_neutrino_alerts.gold_bronze_track_alerts.example.json'));
    expect(ic).toMatchObject({ kind: 'json', mission: 'IceCube', role: 'observation', eventKey: 'IceCube:IceCube-230416A', retraction: false, time: '2023-04-16T05:22:26.150574Z' });
    expect(ic.summary).toBe('IceCube/IC86 IceCube-230416A initial RA 345.82 Dec 9.01 ±0.5° at 2023-04-16T05:22:26.150574Z');
    expect(localisationsOf(ic).map((l) => l.kind)).toEqual(['url', 'circle']);
    expect(localisationsOf(ic)[1]).toEqual({ kind: 'circle', ra: 345.82, dec: 9.01, radius: 0.5, containment: 0.9 });
    const sv = readAlert('svom', 'b', ex('svom/eclairs/trigger.slewing.example.json'));
    expect(sv).toMatchObject({ mission: 'SVOM', role: 'test', eventKey: 'SVOM:sb24022203' });
    const frb = readAlert('dsa', 'c', ex('dsa110/frb.retraction.example.json'));
    expect(frb).toMatchObject({ mission: 'DSA110', retraction: true, eventKey: 'DSA110:240918aaaa' });
  });

  it('never throws on a bad payload: the problem is shown instead', () => {
    const a = readAlert('n', 'x', xml('json', { xmlns: JSON_NS }, '{not json'));
    expect(a.kind).toBe('other');
    expect(a.problem).toMatch(/JSON/);
    expect(readAlert('n', 'y', xml('entry', { xmlns: 'urn:example' })).summary).toBe('<entry> item');
    expect(readAlert('n', 'z', undefined).summary).toBe('(empty item)');
  });

  it('threads retractions and updates onto the alert they cite, in whichever order they arrive', async () => {
    const wake = await voe('gcn-notice-parser__svom_eclairs_303__sb26030408_eclairs-wakeup.xml');
    const retr = await voe('gcn-notice-parser__svom_eclairs_304__sb26030408_retraction.xml');
    for (const order of [[wake, retr], [retr, wake]]) {
      const t = new Threads();
      const alerts = order.map((el, i) => readAlert('n', `i${i}`, el));
      for (const a of alerts) t.add(a);
      const w = alerts.find((a) => !a.retraction)!;
      expect(t.of(w).map((r) => [r.cite, r.by.retraction])).toEqual([['retraction', true]]);
      expect(t.cited(alerts.find((a) => a.retraction)!).map((c) => c.alert)).toEqual([w]);
    }
    const t = new Threads();
    const pre = readAlert('gw', 'p', json('MS181101ab-preliminary.json'));
    const ret = readAlert('gw', 'r', json('MS181101ab-retraction.json'));
    t.add(ret);
    t.add(pre);
    expect(t.of(pre).map((r) => r.cite)).toEqual(['retraction']);
    expect(t.of(ret)).toEqual([]);
  });
});

describe('nodes', () => {
  it('groups by mission/product with the level as entry; crossmatch results under their alert node', () => {
    const g = groupNodes([{ node: 'svom/eclairs/pi' }, { node: 'svom/eclairs/collaboration' }, { node: 'svom/heartbeat' }, { node: 'gw/lvk/public/crossmatch' }, { node: 'gw/lvk/public' }, { node: 'solo' }]);
    expect(g.map((x) => [x.group, x.entries.map((e) => e.level)])).toEqual([
      ['gw/lvk', ['public', 'public/crossmatch']],
      ['solo', ['']],
      ['svom', ['heartbeat']],
      ['svom/eclairs', ['collaboration', 'pi']],
    ]);
  });
});

describe('projections and the sky drawing', () => {
  it('Mollweide and gnomonic projections invert each other', () => {
    const m = new Mollweide(1024, 512);
    const z = new Gnomonic(512, 512, 194.3, -17.9, 20);
    for (let i = 0; i < 200; i++) {
      const ra = (i * 137.508) % 360;
      const dec = -85 + ((i * 61.8) % 170);
      const p = m.project(ra, dec);
      const back = m.unproject(p.x, p.y)!;
      expect(Math.abs(((back.ra - ra + 540) % 360) - 180) * Math.cos((dec * Math.PI) / 180)).toBeLessThan(0.5);
      expect(Math.abs(back.dec - dec)).toBeLessThan(0.5);
      const zra = 194.3 + ((i % 20) - 10) * 0.8;
      const zdec = -17.9 + ((i % 13) - 6) * 1.2;
      const q = z.unproject(z.project(zra, zdec).x, z.project(zra, zdec).y);
      expect(q.ra).toBeCloseTo(zra, 6);
      expect(q.dec).toBeCloseTo(zdec, 6);
    }
    // RA 180 at the centre, RA increasing to the left, north up
    expect(m.project(180, 0)).toEqual({ x: 511.5, y: 255.5 });
    expect(m.project(90, 0).x).toBeGreaterThan(m.project(270, 0).x);
    expect(m.project(0, 60).y).toBeLessThan(m.project(0, -60).y);
  });

  it('finds the localisation: base64 map, sky-map URL, error circle', async () => {
    expect(localisationOf(readAlert('g', 'p', json('MS181101ab-preliminary.json')))?.kind).toBe('base64');
    expect(localisationOf(readAlert('g', 'v', await voe('MS181101ab-2-Preliminary.xml')))).toEqual({ kind: 'url', url: 'https://emfollow.docs.ligo.org/userguide/_static/bayestar.multiorder.fits' });
    expect(localisationOf(readAlert('s', 'w', await voe('gcn-notice-parser__svom_eclairs_303__sb26030408_eclairs-wakeup.xml')))).toEqual({ kind: 'circle', ra: 47.0752, dec: 40.9505, radius: 0.1515 });
    expect(localisationOf(readAlert('g', 'r', json('MS181101ab-retraction.json')))).toBeUndefined();
  });

  it('draws the 90 % region with its area on the equal-area Mollweide, at any size', async () => {
    const map = await loadSkyMap(localisationOf(readAlert('g', 'p', json('MS181101ab-preliminary.json')))!);
    expect(map.credibleArea(0.9)).toBeCloseTo(30.98, 1);
    for (const [w, h] of [[1024, 512], [2048, 1024]] as const) {
      const d = drawMollweide(w, h, map);
      let ellipse = 0;
      let region = 0;
      for (let i = 0; i < d.level.length; i++) {
        if (d.rgba[i * 4 + 3] === 0) continue;
        ellipse++;
        if (d.level[i]! <= 0.9) region++;
      }
      expect(ellipse / (w * h)).toBeCloseTo(Math.PI / 4, 2);
      expect(Math.abs((region / ellipse) * SKY_DEG2 - 30.98) / 30.98).toBeLessThan(0.1);
    }
  });

  it('a gzipped flat map reads the same in the page as in sky/ (gunzip by the browser API)', async () => {
    const file = join(FIX, 'skymaps/skyportal-G330561-GW190425-bayestar.flat-nside256.fits.gz');
    const b64 = readFileSync(file).toString('base64');
    const page = await loadSkyMap({ kind: 'base64', data: b64 });
    const node = readSkyMapFileSync(file);
    expect(page.credibleArea(0.9)).toBeCloseTo(node.credibleArea(0.9), 6);
  });

  it('zooms on the region: contours closed around the peak, markers drawn', async () => {
    const map = await loadSkyMap({ kind: 'circle', ra: 47.0752, dec: 40.9505, radius: 0.1515 });
    const z = zoomOn(map, 256, 256);
    expect(z.fov).toBeGreaterThan(0.3);
    expect(z.fov).toBeLessThan(0.5);
    const d = drawSky(z, map, [{ ra: 47.0752, dec: 40.9505, kind: 'position' }]);
    const colour = (x: number, y: number) => Array.from(d.rgba.subarray((y * 256 + x) * 4, (y * 256 + x) * 4 + 4));
    expect(colour(0, 0)).not.toEqual([...COLOURS.contour90]);
    const row = Array.from({ length: 256 }, (_, x) => colour(x, 128).join());
    expect(row.filter((c) => c === COLOURS.contour90.join()).length).toBeGreaterThanOrEqual(2); // the 90 % ring, left and right
    expect(row.filter((c) => c === COLOURS.position.join()).length).toBeGreaterThanOrEqual(2);
  });
});

describe('messages', () => {
  it('says why a node is refused, with the service\'s text', () => {
    expect(refusal('svom/eclairs/pi', new XmppIqError('not-allowed', 'cancel', undefined, 'closed-node'), 'subscribe to')).toBe('Refused: svom/eclairs/pi is open only to its members (closed-node).');
    expect(refusal('n', new XmppIqError('forbidden', 'auth', 'this node keeps no history'), 'read the history of')).toBe('Refused: this account may not read the history of n (forbidden) — this node keeps no history.');
    expect(refusal('n', new XmppIqError('item-not-found', 'cancel', undefined), 'see')).toBe('n does not exist or is hidden from this account.');
    expect(refusal('pubsub.svom.fr', new XmppIqError('remote-server-not-found', 'cancel', undefined), 'list the nodes of')).toBe('The alert service is not reachable right now (remote-server-not-found).');
  });

  it('says "wrong password" for SASL not-authorized and names the server when it cannot be reached', () => {
    expect(loginProblem(Object.assign(new Error('not-authorized'), { name: 'SASLError', condition: 'not-authorized' }), 'ws://x')).toBe('Wrong user name or password.');
    expect(loginProblem(new Error('WebSocket ECONNERROR ws://127.0.0.1:1/xmpp-websocket'), 'ws://127.0.0.1:1/xmpp-websocket')).toMatch(/^Cannot reach the XMPP server at ws:\/\/127\.0\.0\.1:1\/xmpp-websocket/);
  });
});

describe('voxnet web (static server)', () => {
  let web: WebServer;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'voxnet-web-'));
    web = await startWeb({ websocket: 'ws://127.0.0.1:5280/xmpp-websocket', pubsub: 'pubsub.svom.fr', outDir: dir });
  }, 60_000);
  afterAll(async () => {
    await web?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page, the bundle and config.json with a strict CSP; nothing else', async () => {
    const index = await fetch(web.url);
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    expect(index.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(index.headers.get('content-security-policy')).toContain('connect-src \'self\' ws://127.0.0.1:5280');
    expect(await index.text()).toContain('<script type="module" src="app.js">');
    const app = await fetch(`${web.url}app.js`);
    expect(app.status).toBe(200);
    expect((await app.text()).length).toBeGreaterThan(10_000);
    expect(await (await fetch(`${web.url}config.json`)).json()).toEqual({ websocket: 'ws://127.0.0.1:5280/xmpp-websocket', pubsub: 'pubsub.svom.fr' });
    for (const p of ['../package.json', '%2e%2e/package.json', 'build.ts', 'src/app.ts']) expect((await fetch(`${web.url}${p}`)).status).toBe(404);
    expect((await fetch(web.url, { method: 'POST' })).status).toBe(405);
  });

  it('the command refuses a missing or wrong --websocket with a clear message', () => {
    const run = (args: string[]) => spawnSync(process.execPath, [join(import.meta.dirname, '../bin/voxnet.js'), 'web', ...args], { encoding: 'utf8', env: { ...process.env, VOXNET_WEB_WEBSOCKET: '' } });
    const none = run([]);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('usage: voxnet web --websocket');
    const bad = run(['--websocket', 'http://x', '--port', '0']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("--websocket must be a ws:// or wss:// URL, got 'http://x'");
  });
});
