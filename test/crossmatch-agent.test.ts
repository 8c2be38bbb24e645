/**
 * The crossmatch agent without servers: localisation extraction (VOEvent error
 * circle, VOEvent sky-map URL served by a local HTTP server, igwn.gwalert JSON
 * with a base64 map, bare or inside XEP-0335 <json>), retraction detection,
 * configuration errors, the result VOEvent and JSON, and the agent core with an
 * in-memory sink (publish, update, retraction, retried withdrawal).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Element } from '@xmpp/xml';
import { localisationToSkyMap, type CrossmatchTargets } from '../sky/index.ts';
import { parse, validate, paramValue, getParam } from '../voevent/index.ts';
import { ConfigError } from '../agents/lib/index.ts';
import {
  alertOfItem, fetchSkyMap, findLocalisation, jsonTextOfItem, skymapUrlOf, FetchError, JSON_NS, type Alert,
} from '../agents/crossmatch/alert.ts';
import { loadCrossmatchConfig, normaliseConfig, type CrossmatchConfig } from '../agents/crossmatch/config.ts';
import { CrossmatchAgent, loadTargets, type ResultSink } from '../agents/crossmatch/agent.ts';
import { Ledger } from '../agents/crossmatch/ledger.ts';
import { resultItemId } from '../agents/crossmatch/result.ts';
import { crossmatchCommand } from '../agents/crossmatch/cli.ts';
import { testCatalogCsv } from './crossmatch-helpers.ts';

const FIX = join(import.meta.dirname, 'fixtures');
const MAP_FILE = join(FIX, 'skymaps/userguide-bayestar.multiorder.fits');
const MAP_BYTES = readFileSync(MAP_FILE);
const GW_JSON = readFileSync(join(FIX, 'gcn-json/MS181101ab-preliminary.json'), 'utf8');
const GW_RETRACTION = readFileSync(join(FIX, 'gcn-json/MS181101ab-retraction.json'), 'utf8');
const voe = (name: string) => readFileSync(join(FIX, 'voevents', name), 'utf8');
const LVK_PRELIM = 'MS181101ab-2-Preliminary.xml';
const SWIFT_BAT = 'fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml';
const FERMI_FLT = 'gcn-notice-parser__fermi_gbm_flt_pos_8126__trig792135758.xml';
const FERMI_SUB = 'gwcelery-fermi_subthresh_grb_gcn.xml';
/** A90 and A50 of the userguide BAYESTAR map (healpy/ligo.skymap values in ../skymaps/SOURCES.md). */
const A90 = 30.98;
const A50 = 8.9;

/** The LVK VOEvent with its skymap_fits URL pointing somewhere else. */
function withSkymapUrl(text: string, url: string): string {
  return text.replace(/(name="skymap_fits"[^>]*value=")[^"]*(")/, `$1${url}$2`);
}

const itemOf = (text: string) => ({ xml: text });

describe('localisation extraction', () => {
  let server: http.Server;
  let base = '';
  const hits: string[] = [];
  let flaky = 0;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits.push(req.url!);
      if (req.url === '/bayestar.multiorder.fits') {
        res.writeHead(200, { 'content-type': 'application/fits', 'content-length': MAP_BYTES.length });
        res.end(MAP_BYTES);
      } else if (req.url === '/late.fits') {
        // Announced before it is uploaded: 404 twice, then the map.
        if (flaky++ < 2) {
          res.writeHead(404).end('not yet');
          return;
        }
        res.writeHead(200, { 'content-type': 'application/fits' });
        res.end(MAP_BYTES);
      } else if (req.url === '/broken.fits') {
        res.writeHead(500).end('boom');
      } else if (req.url === '/forbidden.fits') {
        res.writeHead(403).end('no');
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('VOEvent Position2D + Error2Radius → an error circle (containment from the config, per stream)', async () => {
    const alert = alertOfItem(itemOf(voe(SWIFT_BAT)));
    expect(alert.format).toBe('voevent');
    expect(alert.info).toMatchObject({ key: 'Swift:1118357', ivorn: 'ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-182', role: 'observation' });
    const found = await findLocalisation(alert, { containment: 0.9 });
    expect(found?.source).toEqual({ kind: 'circle', ra: 225.0208, dec: -69.4969, radius: 0.05, containment: 0.9, profile: 'fisher' });
    const map = localisationToSkyMap(found!.input);
    // A Fisher profile holding 90% inside r: the 90% area is the disc's area.
    const disc = Math.PI * 0.05 ** 2;
    expect(map.credibleArea(0.9)).toBeGreaterThan(disc * 0.97);
    expect(map.credibleArea(0.9)).toBeLessThan(disc * 1.03);
    const d = map.densest();
    expect(Math.abs(d.dec - -69.4969)).toBeLessThan(0.01);

    const fermi = alertOfItem(itemOf(voe(FERMI_FLT)));
    const f = await findLocalisation(fermi, { containment: 0.9, containmentByStream: { 'ivo://nasa.gsfc.gcn/fermi': 0.68 } });
    expect(f?.source).toMatchObject({ kind: 'circle', radius: 13.2667, containment: 0.68 });
    expect(await findLocalisation(fermi, { maxRadius: 10 })).toBeUndefined();
  });

  it('VOEvent skymap_fits URL → the map downloaded over HTTP (the ",0" suffix dropped)', async () => {
    const text = withSkymapUrl(voe(LVK_PRELIM), `${base}/bayestar.multiorder.fits,0`);
    const alert = alertOfItem(itemOf(text));
    expect(alert.info).toMatchObject({ key: 'LVK:MS181101ab', ivorn: 'ivo://gwnet/LVC#MS181101ab-2-Preliminary', role: 'test', alertType: 'Preliminary' });
    expect(alert.info.retraction).toBeUndefined();
    expect(skymapUrlOf((alert as Extract<Alert, { format: 'voevent' }>).voevent)).toBe(`${base}/bayestar.multiorder.fits`);
    const found = await findLocalisation(alert);
    expect(found?.source).toEqual({ kind: 'url', url: `${base}/bayestar.multiorder.fits` });
    expect(found?.input.kind).toBe('fits');
    expect(Buffer.from((found!.input as { bytes: Uint8Array }).bytes).equals(MAP_BYTES)).toBe(true);
    const map = localisationToSkyMap(found!.input);
    expect(map.credibleArea(0.9)).toBeCloseTo(A90, 1);
    expect(hits).toContain('/bayestar.multiorder.fits');
  });

  it('retries a map that is not there yet, gives up on a permanent error, refuses URLs not allowed', async () => {
    const retries: number[] = [];
    const bytes = await fetchSkyMap(`${base}/late.fits`, { retries: 3, retryDelayMs: 5, onRetry: (_u, n) => retries.push(n) });
    expect(bytes.length).toBe(MAP_BYTES.length);
    expect(retries).toEqual([1, 2]);
    await expect(fetchSkyMap(`${base}/forbidden.fits`, { retries: 3, retryDelayMs: 5 })).rejects.toThrow(/HTTP 403/);
    await expect(fetchSkyMap(`${base}/broken.fits`, { retries: 1, retryDelayMs: 5 })).rejects.toThrow(/HTTP 500/);
    await expect(fetchSkyMap(`${base}/bayestar.multiorder.fits`, { maxBytes: 10_000 })).rejects.toThrow(/more than the limit/);
    await expect(fetchSkyMap(`${base}/bayestar.multiorder.fits`, { allowUrls: ['https://gracedb.ligo.org/'] })).rejects.toBeInstanceOf(FetchError);
    await expect(fetchSkyMap(`file://${MAP_FILE}`)).rejects.toThrow(/not allowed/);
    expect((await fetchSkyMap(`file://${MAP_FILE}`, { allowUrls: ['file://'] })).length).toBe(MAP_BYTES.length);
  });

  it('a VOEvent with a sky-map URL that fails and a Position2D falls back to the error circle', async () => {
    const text = voe(FERMI_SUB).replace(/(name="HealPix_URL"\s+value=")[^"]*(")/, `$1${base}/broken.fits$2`);
    const alert = alertOfItem(itemOf(text));
    const found = await findLocalisation(alert, { retries: 0 });
    expect(found?.source).toMatchObject({ kind: 'circle', radius: 10.49 });
    expect(found?.warnings[0]).toMatch(/HTTP 500.*error circle/);
    // Without a position there is nothing to fall back to: the error is the caller's.
    const lvk = alertOfItem(itemOf(withSkymapUrl(voe(LVK_PRELIM), `${base}/broken.fits`)));
    await expect(findLocalisation(lvk, { retries: 0 })).rejects.toThrow(/HTTP 500/);
  });

  it('igwn.gwalert JSON with a base64 sky map: bare, as an XEP-0335 element, and as <json> text', async () => {
    const bare = alertOfItem(itemOf(GW_JSON));
    const el = xml('json', { xmlns: JSON_NS }, GW_JSON);
    const asElement = alertOfItem({ payload: el, xml: '' });
    const asText = alertOfItem(itemOf(el.toString()));
    for (const a of [bare, asElement, asText]) {
      expect(a.format).toBe('gwalert');
      expect(a.info).toMatchObject({ key: 'LVK:MS181101ab', eventId: 'MS181101ab', alertType: 'PRELIMINARY', role: 'test', time: '2018-11-01T22:22:46.654Z' });
      expect(a.info.links).toEqual(['https://example.org/superevents/MS181101ab/view/']);
    }
    const found = await findLocalisation(asElement);
    expect(found?.source).toEqual({ kind: 'gwalert', combined: false });
    const map = localisationToSkyMap(found!.input);
    expect(map.credibleArea(0.9)).toBeCloseTo(A90, 1);
    expect(map.credibleArea(0.5)).toBeCloseTo(A50, 1);
    expect(map.meta.object).toBe('MS181101ab');
    // The JSON text inside another element (not VOEvent, no child elements) is found too.
    expect(jsonTextOfItem({ payload: xml('alert', { xmlns: 'urn:example' }, '{"a":1}'), xml: '' })).toBe('{"a":1}');
    expect(jsonTextOfItem(itemOf(voe(SWIFT_BAT)))).toBeUndefined();
    // Entities in <json> text are decoded.
    const escaped = `<json xmlns="${JSON_NS}">${GW_RETRACTION.replace(/"/g, '&quot;').replace('RETRACTION', '&#x52;ETRACTION')}</json>`;
    expect(escaped).toContain('&quot;superevent_id&quot;');
    expect(alertOfItem(itemOf(escaped)).info).toMatchObject({ key: 'LVK:MS181101ab', alertType: 'RETRACTION' });
  });

  it('igwn.gwalert with external_coinc.combined_skymap: the combined map unless prefer_combined is off', async () => {
    const combined = readFileSync(join(FIX, 'skymaps/userguide-combined-ext.multiorder.fits')).toString('base64');
    const notice = { ...JSON.parse(GW_JSON), alert_type: 'UPDATE', external_coinc: { combined_skymap: combined } };
    const alert = alertOfItem({ payload: xml('json', { xmlns: JSON_NS }, JSON.stringify(notice)), xml: '' });
    const found = await findLocalisation(alert);
    expect(found?.source).toEqual({ kind: 'gwalert', combined: true });
    expect(localisationToSkyMap(found!.input).credibleArea(0.9)).toBeCloseTo(27.71, 1);
    const gwOnly = await findLocalisation(alert, { preferCombined: false });
    expect(gwOnly?.source).toEqual({ kind: 'gwalert', combined: false });
    expect(localisationToSkyMap(gwOnly!.input).credibleArea(0.9)).toBeCloseTo(A90, 1);
  });

  it('only Params named for a sky map are sky-map URLs (not light-curve FITS links, not images)', () => {
    const lc = alertOfItem(itemOf(voe('fink-mm__swift_voevent_number_405__BAT_Lightcurve_1118357.xml'))) as Extract<Alert, { format: 'voevent' }>;
    expect(skymapUrlOf(lc.voevent)).toBeUndefined();
    const gbm = alertOfItem(itemOf(voe(FERMI_SUB))) as Extract<Alert, { format: 'voevent' }>;
    expect(skymapUrlOf(gbm.voevent)).toBe('https://gcn.gsfc.nasa.gov/notices_gbm_sub/gbm_subthresh_578679393.215999_healpix.fits');
    // Relative paths (as in some test packets) are no URLs.
    const rel = alertOfItem(itemOf(voe('skyportal__GW190425_initial__S190425z-1-Initial.xml'))) as Extract<Alert, { format: 'voevent' }>;
    expect(skymapUrlOf(rel.voevent)).toBeUndefined();
  });

  it('the VOEvent and the JSON notice of one superevent share the event key', () => {
    expect(alertOfItem(itemOf(voe(LVK_PRELIM))).info.key).toBe(alertOfItem(itemOf(GW_JSON)).info.key);
  });

  it('retractions: JSON RETRACTION, LVK AlertType Retraction, cite="retraction" (LVK and SVOM)', async () => {
    const j = alertOfItem(itemOf(GW_RETRACTION));
    expect(j.info.retraction).toEqual({ keys: ['LVK:MS181101ab'], ivorns: [] });
    expect(await findLocalisation(j)).toBeUndefined();

    const lvkOld = alertOfItem(itemOf(voe('MS181101ab-5-Retraction.xml')));
    expect(lvkOld.info.retraction?.keys).toEqual(['LVK:MS181101ab']);
    expect(lvkOld.info.retraction?.ivorns).toContain('ivo://gwnet/LVC#MS181101ab-2-Preliminary');

    const lvkNew = alertOfItem(itemOf(voe('gcn-notice-parser__lvc_retraction_16007__MS260203s-3-Retraction.xml')));
    expect(lvkNew.info.retraction).toEqual({ keys: ['LVK:MS260203s'], ivorns: ['ivo://gwnet/LVC#MS260203s-2-Preliminary', 'ivo://gwnet/LVC#MS260203s-1-Preliminary'] });

    const svom = alertOfItem(itemOf(voe('gcn-notice-parser__svom_eclairs_304__sb26030408_retraction.xml')));
    expect(svom.info.retraction?.ivorns).toEqual(['ivo://org.svom/fsc#sb26030408_eclairs-wakeup']);

    // A followup citation is not a retraction.
    expect(alertOfItem(itemOf(voe('gcn-notice-parser__svom_eclairs_320__sb26051101_slewing.xml'))).info.retraction).toBeUndefined();
  });

  it('refuses items that are neither', () => {
    expect(() => alertOfItem(itemOf('{"hello": "world"}'))).toThrow(/not an igwn.gwalert notice/);
    expect(() => alertOfItem({ payload: xml('json', { xmlns: JSON_NS }, '{nope'), xml: '' })).toThrow(/does not parse/);
    expect(() => alertOfItem(itemOf('<entry xmlns="urn:example"><title>x</title></entry>'))).toThrow(/neither a VOEvent/);
  });
});

// ---------------------------------------------------------------------------

describe('configuration', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'voxnet-xm-config-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (name: string, text: string) => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  it('the example configuration loads, with paths resolved against its folder and defaults filled in', () => {
    const cfg = loadCrossmatchConfig(join(import.meta.dirname, '../config/crossmatch.example.yaml'));
    expect(cfg.routes).toEqual([
      { node: 'lvk/alerts', resultNode: 'lvk/alerts/crossmatch' },
      { node: 'igwn.gwalert', resultNode: 'igwn.gwalert/crossmatch' },
      { node: 'gcn/swift', resultNode: 'gcn/swift/crossmatch' },
      { node: 'gcn/fermi', resultNode: 'crossmatch/fermi' },
    ]);
    expect(cfg.catalog?.path).toBe(join(FIX, 'catalogs/skyportal-GLADE+_first100.csv'));
    expect(cfg.fields?.footprint).toEqual({ region: join(FIX, 'catalogs/skyportal-ZTF_Region.reg') });
    expect(cfg.levels).toEqual([0.5, 0.9]);
    expect(cfg.skymaps).toMatchObject({ fetchTimeoutMs: 60_000, retryDelayMs: 2000, retries: 3 });
    expect(cfg.circles.containmentByStream).toEqual({ 'ivo://nasa.gsfc.gcn/fermi': 0.68 });
  });

  it('lists every problem at once, naming the key', () => {
    const f = write('bad.yaml', [
      'author_ivorn: not-an-ivorn',
      'subscribe: { nodes: [] }',
      'top_n: 0',
      'credible_level: 1.5',
      'fields: { path: x.csv, footprint: { radius: 2, rectangle: [1, 1] } }',
      'colour: blue',
    ].join('\n'));
    let err: ConfigError | undefined;
    try {
      loadCrossmatchConfig(f);
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = err!.message;
    expect(text).toMatch(new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:1: colour: is not a known key`));
    expect(text).toContain('subscribe.nodes: must NOT have fewer than 1 items');
    expect(text).toContain('top_n: must be >= 1');
    expect(text).toContain('credible_level: must be < 1');
    expect(text).toContain('fields.footprint: must NOT have more than 1 properties');
  });

  it('checks what the schema cannot: IVORN, files, node loops', () => {
    const base = { author_ivorn: 'ivo://x.org/xm', subscribe: { nodes: ['a', 'a/crossmatch'] }, catalog: { path: 'missing.csv' } };
    expect(() => normaliseConfig(structuredClone(base), 'c.yaml', dir)).toThrow(/catalog.path: no such file: .*missing.csv/);
    expect(() => normaliseConfig(structuredClone(base), 'c.yaml', dir)).toThrow(/result node 'a\/crossmatch' of 'a' is also an alert node/);
    expect(() => normaliseConfig({ ...structuredClone(base), author_ivorn: 'ivo://x.org/xm#local' }, 'c.yaml', dir)).toThrow(/author_ivorn: .* is not an IVORN stream/);
    expect(() => normaliseConfig({ author_ivorn: 'ivo://x.org/xm', subscribe: { nodes: ['a'] } }, 'c.yaml', dir)).toThrow(/give at least one of catalog, fields, watchlist/);
    expect(() => loadCrossmatchConfig(write('notyaml.yaml', 'a: [1, 2'))).toThrow(/notyaml\.yaml:\d+:\d+: /);
  });
});

// ---------------------------------------------------------------------------

class MemorySink implements ResultSink {
  readonly nodes = new Map<string, Map<string, string>>();
  readonly retracted: { node: string; id: string }[] = [];
  failRetract = 0;
  async publishJson(node: string, id: string, payload: Element) {
    this.put(node, id, payload.toString());
  }
  async publishVOEvent(node: string, id: string, text: string) {
    this.put(node, id, text);
  }
  async retract(node: string, id: string) {
    if (this.failRetract > 0) {
      this.failRetract--;
      throw Object.assign(new Error('service-unavailable'), { transient: true });
    }
    this.retracted.push({ node, id });
    return this.nodes.get(node)?.delete(id) ?? false;
  }
  private put(node: string, id: string, text: string) {
    if (!this.nodes.has(node)) this.nodes.set(node, new Map());
    this.nodes.get(node)!.set(id, text);
  }
}

describe('crossmatch agent core (in-memory sink)', () => {
  let dir: string;
  let cfg: CrossmatchConfig;
  let targets: CrossmatchTargets;
  let server: http.Server;
  let base = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'voxnet-xm-core-'));
    writeFileSync(join(dir, 'galaxies.csv'), testCatalogCsv());
    writeFileSync(join(dir, 'watch.csv'), 'name,ra,dec\nWATCH-IN,194.40,-17.90\nWATCH-OUT,10,10\n');
    cfg = normaliseConfig(
      {
        name: 'unit',
        author_ivorn: 'ivo://voxnet.test/crossmatch',
        subscribe: { nodes: ['lvk', 'igwn.gwalert', { node: 'swift', result_node: 'grb-results' }] },
        catalog: { path: 'galaxies.csv', weight_column: 'mass' },
        watchlist: { path: 'watch.csv' },
        fields: { path: join(FIX, 'catalogs/skyportal-ZTF_Fields.csv'), footprint: { radius: 3.5 }, top_n: 5 },
        top_n: 3,
        // Never the internet from a test: only the local server.
        skymaps: { allow_urls: ['http://127.0.0.1:'], retry_delay: '10ms' },
      },
      'unit.yaml',
      dir,
    );
    targets = await loadTargets(cfg);
    server = http.createServer((req, res) => {
      if (req.url === '/map.fits') res.writeHead(200).end(MAP_BYTES);
      else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('JSON alert → JSON + VOEvent result; VOEvent update → replaced, superseding; retraction → withdrawn', async () => {
    const sink = new MemorySink();
    const ledgerFile = join(dir, 'ledger.json');
    const agent = new CrossmatchAgent({ config: cfg, targets, sink, ledger: new Ledger(ledgerFile), service: 'pubsub.svom.fr', now: () => new Date('2018-11-01T22:40:00Z') });

    const o1 = await agent.handle({ node: 'igwn.gwalert', id: 'gw-1', xml: GW_JSON });
    expect(o1.action).toBe('published');
    if (o1.action !== 'published') return;
    const vId = resultItemId('LVK:MS181101ab', 'voevent');
    const jId = resultItemId('LVK:MS181101ab', 'json');
    expect(o1.items).toEqual([{ node: 'igwn.gwalert/crossmatch', id: vId }, { node: 'igwn.gwalert/crossmatch', id: jId }]);
    const doc = o1.document;
    expect(doc.alert).toMatchObject({ node: 'igwn.gwalert', item: 'gw-1', format: 'igwn.gwalert', key: 'LVK:MS181101ab', ivorn: null, alert_type: 'PRELIMINARY' });
    expect(doc.alert.uri).toBe('xmpp:pubsub.svom.fr?pubsub;action=retrieve;node=igwn.gwalert;item=gw-1');
    expect(doc.result.map.area90).toBeCloseTo(A90, 1);
    // The host wins (right place, right distance); the one too far comes next; the decoys elsewhere on the sky are not reported.
    const top = doc.result.galaxies!.top.map((g) => g.id);
    expect(top.slice(0, 2)).toEqual(['HOST-A', 'OFF-DIST']);
    expect(top).not.toContain('DECOY-SKY');
    expect(top).not.toContain('NGC4736');
    expect(doc.result.galaxies!.top[0]!.searchedProb).toBeLessThan(0.01);
    expect(doc.result.galaxies!.rankedBy).toBe('3d');
    expect(doc.result.watchlist!.targets.map((t) => t.id)).toEqual(['WATCH-IN']);
    expect(doc.result.fields!.top).toHaveLength(5);
    expect(doc.result.fields!.top[4]!.cumulativeProb).toBeGreaterThan(0.5);
    // The JSON item is XEP-0335 and says the same.
    const jsonItem = sink.nodes.get('igwn.gwalert/crossmatch')!.get(jId)!;
    expect(jsonItem.startsWith(`<json xmlns="${JSON_NS}">`)).toBe(true);
    // The VOEvent item is valid, test role (mock superevent), no alert IVORN to cite.
    const v1 = parse(sink.nodes.get('igwn.gwalert/crossmatch')!.get(vId)!);
    expect(validate(sink.nodes.get('igwn.gwalert/crossmatch')!.get(vId)!).valid).toBe(true);
    expect(v1.role).toBe('test');
    expect(v1.citations).toBeUndefined();
    expect(Number(paramValue(v1, 'Area_90', 'Skymap_Summary'))).toBeCloseTo(A90, 1);

    // The VOEvent of the same superevent, on another node: same event, so it supersedes the first result.
    const text = withSkymapUrl(voe(LVK_PRELIM), `${base}/map.fits,0`);
    const o2 = await agent.handle({ node: 'lvk', id: 'lvk-2', xml: text });
    expect(o2.action).toBe('published');
    if (o2.action !== 'published') return;
    const v2 = parse(o2.voevent!);
    expect(v2.citations?.eventIVORNs).toEqual([
      { ivorn: 'ivo://gwnet/LVC#MS181101ab-2-Preliminary', cite: 'followup' },
      { ivorn: o1.resultIvorn, cite: 'supersedes' },
    ]);
    expect(paramValue(v2, 'Skymap_URL')).toBe(`${base}/map.fits`);
    expect(getParam(v2, 'Galaxies_In_90', 'Galaxy_Catalogue')?.value).toBe('3'); // HOST-A, OFF-DIST, DECOY-FAR
    expect(v2.what!.tables.find((t) => t.name === 'Top_Galaxies')!.rows[0]![1]).toBe('HOST-A');

    // The ledger survives a restart: a new agent with the same file withdraws both results.
    const again = new CrossmatchAgent({ config: cfg, targets, sink, ledger: new Ledger(ledgerFile) });
    const o3 = await again.handle({ node: 'igwn.gwalert', id: 'gw-retraction', xml: GW_RETRACTION });
    expect(o3).toMatchObject({ action: 'retracted', keys: ['LVK:MS181101ab'] });
    expect(sink.retracted).toEqual([
      { node: 'igwn.gwalert/crossmatch', id: vId },
      { node: 'igwn.gwalert/crossmatch', id: jId },
      { node: 'lvk/crossmatch', id: vId },
      { node: 'lvk/crossmatch', id: jId },
    ]);
    expect([...sink.nodes.values()].every((m) => m.size === 0)).toBe(true);
    // A late alert of a retracted event is not crossmatched.
    expect(await again.handle({ node: 'lvk', id: 'lvk-3', xml: text })).toMatchObject({ action: 'skipped', reason: 'event retracted' });
  });

  it('a retraction that arrives before the alert it retracts: the alert is never crossmatched', async () => {
    const sink = new MemorySink();
    const agent = new CrossmatchAgent({ config: cfg, targets, sink });
    const r = await agent.handle({ node: 'svom', id: 'r', xml: voe('gcn-notice-parser__svom_eclairs_304__sb26030408_retraction.xml') });
    expect(r).toMatchObject({ action: 'retracted', items: [] });
    const a = await agent.handle({ node: 'svom', id: 'a', xml: voe('gcn-notice-parser__svom_eclairs_303__sb26030408_eclairs-wakeup.xml') });
    expect(a).toMatchObject({ action: 'skipped', reason: 'event retracted' });
    expect([...sink.nodes.values()].every((m) => m.size === 0)).toBe(true);
  });

  it('error circles; updates of a trigger replace its result; a failed withdrawal is retried', async () => {
    const sink = new MemorySink();
    const agent = new CrossmatchAgent({ config: cfg, targets, sink });
    const o1 = await agent.handle({ node: 'swift', id: 's1', xml: voe('fink-mm__swift_voevent_number_391__BAT_QuickLook_Pos_1118357.xml') });
    const o2 = await agent.handle({ node: 'swift', id: 's2', xml: voe(SWIFT_BAT) });
    expect(o1.action).toBe('published');
    expect(o2.action).toBe('published');
    if (o2.action !== 'published' || o1.action !== 'published') return;
    expect(o2.key).toBe('Swift:1118357');
    expect(sink.nodes.get('grb-results')!.size).toBe(2); // one VOEvent + one JSON, replaced in place
    expect(o2.document.localisation).toMatchObject({ kind: 'circle', radius: 0.05 });
    expect(o2.document.result.map.area90).toBeCloseTo(Math.PI * 0.05 ** 2, 3);
    const v = parse(o2.voevent!);
    expect(v.role).toBe('utility');
    expect(paramValue(v, 'Circle_Radius')).toBe('0.05');
    // An alert without any localisation is skipped.
    expect(await agent.handle({ node: 'swift', id: 's3', xml: voe('fink-mm__swift_voevent_number_405__BAT_Lightcurve_1118357.xml') })).toMatchObject({ action: 'skipped' });

    // A retraction that cites the alert (cite="retraction"); the first retract fails, the next item retries it.
    const retraction = voe(SWIFT_BAT)
      .replace(/ivorn="[^"]+"/, 'ivorn="ivo://voxnet.test/retract#r1"')
      .replace('</voe:VOEvent>', '<Citations><EventIVORN cite="retraction">ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-182</EventIVORN></Citations></voe:VOEvent>');
    sink.failRetract = 1;
    const o3 = await agent.handle({ node: 'swift', id: 's4', xml: retraction });
    expect(o3.action).toBe('retracted');
    expect(sink.nodes.get('grb-results')!.size).toBe(1);
    expect(agent.ledger.pendingWithdrawals()).toEqual(['Swift:1118357']);
    await agent.handle({ node: 'swift', id: 's5', xml: '<entry xmlns="urn:x"><a/></entry>' });
    expect(sink.nodes.get('grb-results')!.size).toBe(0);
    expect(agent.ledger.pendingWithdrawals()).toEqual([]);
  });

  it('test_alerts: ignore skips role=test alerts; a download failure is reported, not published', async () => {
    const sink = new MemorySink();
    const agent = new CrossmatchAgent({ config: { ...cfg, testAlerts: 'ignore' }, targets, sink });
    expect(await agent.handle({ node: 'igwn.gwalert', id: 'x', xml: GW_JSON })).toMatchObject({ action: 'skipped', reason: 'test alert' });
    const agent2 = new CrossmatchAgent({ config: { ...cfg, skymaps: { ...cfg.skymaps, retries: 0 } }, targets, sink });
    const o = await agent2.handle({ node: 'lvk', id: 'y', xml: withSkymapUrl(voe(LVK_PRELIM), `${base}/missing.fits`) });
    expect(o).toMatchObject({ action: 'skipped' });
    expect(o.action === 'skipped' && o.reason).toMatch(/HTTP 404/);
    expect(sink.nodes.size).toBe(0);
  });
});

// ---------------------------------------------------------------------------

describe('voxnet agent crossmatch (command, without a server)', () => {
  let dir: string;
  let config: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'voxnet-xm-cli-'));
    writeFileSync(join(dir, 'galaxies.csv'), testCatalogCsv());
    config = join(dir, 'xm.yaml');
    writeFileSync(config, [
      'name: cli',
      'author_ivorn: ivo://voxnet.test/crossmatch',
      'subscribe: { nodes: [lvk] }',
      'catalog: { path: galaxies.csv }',
      'top_n: 2',
    ].join('\n'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = async (argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await crossmatchCommand(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  it('--dry-run prints the JSON result, or the VOEvent with --voevent', async () => {
    const gw = join(FIX, 'gcn-json/MS181101ab-preliminary.json');
    const j = await run(['--config', config, '--dry-run', gw, '--log-level', 'silent']);
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.out);
    expect(doc.alert).toMatchObject({ node: 'lvk', item: 'MS181101ab-preliminary.json', key: 'LVK:MS181101ab' });
    expect(doc.result.map.area90).toBeCloseTo(A90, 1);
    expect(doc.result.galaxies.top.map((g: { id: string }) => g.id)).toEqual(['HOST-A', 'OFF-DIST']);
    const v = await run(['--config', config, '--dry-run', join(FIX, 'voevents', SWIFT_BAT), '--voevent', '--log-level', 'silent']);
    expect(v.code).toBe(0);
    expect(validate(v.out).valid).toBe(true);
    expect(parse(v.out).citations?.eventIVORNs[0]).toEqual({ ivorn: 'ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-182', cite: 'followup' });
    const none = await run(['--config', config, '--dry-run', join(FIX, 'voevents', 'fink-mm__swift_voevent_number_405__BAT_Lightcurve_1118357.xml'), '--log-level', 'silent']);
    expect(none).toMatchObject({ code: 1 });
    expect(none.err).toMatch(/carries no localisation/);
  });

  it('a bad configuration exits 2 with every problem; usage mistakes throw UsageError', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'author_ivorn: ivo://x.org/xm\nsubscribe: { nodes: [a] }\ncatalog: { path: nope.csv }\ntop: 3\n');
    const r = await run(['--config', bad]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${bad}:4:1: top: is not a known key`);
    // Schema problems first; once the shape is right, the files are checked.
    writeFileSync(bad, 'author_ivorn: ivo://x.org/xm\nsubscribe: { nodes: [a] }\ncatalog: { path: nope.csv }\ntop_n: 3\n');
    const r2 = await run(['--config', bad]);
    expect(r2.code).toBe(2);
    expect(r2.err).toBe(`${bad}: catalog.path: no such file: ${join(dir, 'nope.csv')}`);
    await expect(run([])).rejects.toThrow(/--config FILE is required/);
    await expect(run(['--config', config, '--voevent'])).rejects.toThrow(/go with --dry-run/);
    expect((await run(['--help'])).out).toContain('usage: voxnet agent crossmatch');
  });
});
