/**
 * The crossmatch agent end to end: real Prosody + the VOXnet broker, a science
 * centre publishing LVK alerts (the igwn.gwalert JSON notice with the base64 of
 * the userguide BAYESTAR map inside XEP-0335 <json>, and the LVK VOEvent whose
 * skymap_fits URL points at a local HTTP server) and a Swift error circle, the
 * agent publishing its results on the derived nodes, a watcher following them,
 * and the three kinds of retraction withdrawing the results (also after the
 * agent restarted).
 *
 * igwn.gwalert notices are ~1 MB, more than Prosody's default stanza limits
 * (256 KiB from clients, 512 KiB from components) and the broker's default
 * max_payload_size (256 KiB): this server and broker are started with room for
 * them, as a deployment carrying JSON notices must be.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml } from '@xmpp/xml';
import { connectAgent, createLogger, publishVOEvent, type Agent, type FollowedItem } from '../agents/lib/index.ts';
import { build, parse, paramValue, validate, type VOEvent } from '../voevent/index.ts';
import { JSON_NS } from '../agents/crossmatch/alert.ts';
import { normaliseConfig, type CrossmatchConfig } from '../agents/crossmatch/config.ts';
import { loadTargets, type Outcome } from '../agents/crossmatch/agent.ts';
import { runCrossmatch, type RunningCrossmatch } from '../agents/crossmatch/run.ts';
import type { ResultDocument } from '../agents/crossmatch/result.ts';
import type { CrossmatchTargets } from '../sky/index.ts';
import { testCatalogCsv } from './crossmatch-helpers.ts';
import { agentEnv, voxnet } from './helpers/agents.ts';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { until } from './helpers/until.ts';

const FIX = join(import.meta.dirname, 'fixtures');
const MAP_BYTES = readFileSync(join(FIX, 'skymaps/userguide-bayestar.multiorder.fits'));
const GW_JSON = readFileSync(join(FIX, 'gcn-json/MS181101ab-preliminary.json'), 'utf8');
const GW_RETRACTION = readFileSync(join(FIX, 'gcn-json/MS181101ab-retraction.json'), 'utf8');
const voe = (name: string) => readFileSync(join(FIX, 'voevents', name), 'utf8');
const A90 = 30.98;
const MB = 1024 * 1024;

type Seen = { node: string; item: FollowedItem };

describe('crossmatch agent through Prosody and the broker', () => {
  let env: BrokerEnv;
  let stateDir: string;
  let workDir: string;
  let http404 = 0;
  const mapHits: string[] = [];
  let mapServer: http.Server;
  let base = '';
  let gcn: Agent;
  let watcher: Agent;
  let cfg: CrossmatchConfig;
  let targets: CrossmatchTargets;
  let running: RunningCrossmatch | undefined;
  const outcomes: Outcome[] = [];
  const seen: Seen[] = [];
  const retracted: { node: string; id: string }[] = [];
  const RESULT_NODES = ['igwn.gwalert/crossmatch', 'lvk/crossmatch', 'swift/crossmatch'];

  function connection(user: string) {
    env.prosody.addUser(user, 'svom.fr', user);
    return { jid: `${user}@svom.fr`, password: user, server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles };
  }

  async function startAgent(): Promise<RunningCrossmatch> {
    running = await runCrossmatch({
      config: cfg,
      targets,
      connection: connection('crossmatch'),
      stateDir,
      onOutcome: (o) => outcomes.push(o),
      ...(process.env.VOXNET_TEST_LOG ? { log: createLogger('crossmatch', 'debug') } : {}),
    });
    return running;
  }

  const resultsOn = (node: string) => seen.filter((s) => s.node === node).map((s) => s.item);
  const jsonOf = (it: FollowedItem): ResultDocument => {
    expect(it.payload?.name).toBe('json');
    expect(it.payload?.attrs.xmlns).toBe(JSON_NS);
    return JSON.parse(it.payload!.text()) as ResultDocument;
  };

  beforeAll(async () => {
    env = await startBrokerEnv({ default_node_config: { max_payload_size: 4 * MB } }, 'prosody', {
      // Room for ~1 MB igwn.gwalert notices (base64 sky maps) in stanzas from clients and from the broker.
      prosodyExtra: [`c2s_stanza_size_limit = ${8 * MB}`, `component_stanza_size_limit = ${8 * MB}`].join('\n'),
    });

    mapServer = http.createServer((req, res) => {
      mapHits.push(req.url!);
      if (req.url === '/superevents/MS181101ab/files/bayestar.multiorder.fits') {
        // The first request comes before the upload finished (as happens with GraceDB).
        if (http404++ === 0) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/fits', 'content-length': MAP_BYTES.length });
        res.end(MAP_BYTES);
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => mapServer.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(mapServer.address() as AddressInfo).port}`;

    workDir = mkdtempSync(join(tmpdir(), 'voxnet-xm-e2e-'));
    stateDir = join(workDir, 'state');
    writeFileSync(join(workDir, 'galaxies.csv'), testCatalogCsv());
    cfg = normaliseConfig(
      {
        name: 'e2e',
        author_ivorn: 'ivo://voxnet.test/crossmatch',
        short_name: 'VOXnet crossmatch test',
        subscribe: { nodes: ['igwn.gwalert', 'lvk', 'swift'] },
        results: { node: '{node}/crossmatch' },
        catalog: { path: 'galaxies.csv' },
        fields: { path: join(FIX, 'catalogs/skyportal-ZTF_Fields.csv'), footprint: { radius: 3.5 }, top_n: 6 },
        top_n: 5,
        skymaps: { allow_urls: [`${base}/`], retries: 3, retry_delay: '50ms' },
      },
      'e2e.yaml',
      workDir,
    );
    targets = await loadTargets(cfg);

    // The science centre's nodes exist before the agent follows them.
    gcn = await connectAgent({ ...connection('gcn'), name: 'gcn' });
    for (const node of ['igwn.gwalert', 'lvk', 'swift']) {
      await gcn.iq('set', xml('pubsub', { xmlns: 'http://jabber.org/protocol/pubsub' }, xml('create', { node })));
    }
    await startAgent();
    watcher = await connectAgent({ ...connection('watcher'), name: 'watcher' });
    for (const node of RESULT_NODES) {
      const f = await watcher.follow(node, (item) => void seen.push({ node, item }), { since: 'beginning' });
      f.on('retract', (ids: string[]) => retracted.push(...ids.map((id) => ({ node, id }))));
    }
  }, 120_000);

  afterAll(async () => {
    await running?.stop();
    await gcn?.stop();
    await watcher?.stop();
    await env?.stop();
    await new Promise<void>((r) => (mapServer ? mapServer.close(() => r()) : r()));
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  let jsonResultIvorn = '';

  it('igwn.gwalert JSON (XEP-0335, base64 BAYESTAR map, ~1 MB) → JSON and VOEvent results on igwn.gwalert/crossmatch', async () => {
    await gcn.publish('igwn.gwalert', xml('json', { xmlns: JSON_NS }, GW_JSON), { id: 'MS181101ab-preliminary' });
    await until(() => resultsOn('igwn.gwalert/crossmatch').length >= 2, 60_000, 'the two results of the JSON alert');
    const items = resultsOn('igwn.gwalert/crossmatch');
    const jsonItem = items.find((i) => i.payload?.name === 'json')!;
    const voItem = items.find((i) => i.ivorn)!;
    const doc = jsonOf(jsonItem);
    expect(doc.alert).toMatchObject({ node: 'igwn.gwalert', item: 'MS181101ab-preliminary', format: 'igwn.gwalert', key: 'LVK:MS181101ab', alert_type: 'PRELIMINARY' });
    expect(doc.alert.uri).toBe(`xmpp:${PUBSUB}?pubsub;action=retrieve;node=igwn.gwalert;item=MS181101ab-preliminary`);
    expect(doc.localisation).toEqual({ kind: 'gwalert', combined: false });
    // 90% area of the userguide map: 30.98 deg² (healpy / ligo.skymap).
    expect(Math.abs(doc.result.map.area90 - A90) / A90).toBeLessThan(0.01);
    // The top galaxy is plausible: inside the 90% region, at a distance within 2σ of the map's.
    const top = doc.result.galaxies!.top[0]!;
    const dist = doc.result.map.distance!;
    expect(top.id).toBe('HOST-A');
    expect(top.searchedProb!).toBeLessThan(0.9);
    expect(Math.abs(top.distance! - dist.mean)).toBeLessThan(2 * dist.std);
    expect(doc.result.galaxies!.top.map((g) => g.id)).not.toContain('DECOY-SKY');
    // Field coverage: the six best ZTF fields hold most of the probability.
    expect(doc.result.fields!.top).toHaveLength(6);
    expect(doc.result.fields!.top.at(-1)!.cumulativeProb!).toBeGreaterThan(0.5);

    const check = validate(voItem.xml);
    expect(check.errors).toEqual([]);
    expect(check.valid).toBe(true);
    const ev = parse(voItem.xml);
    expect(ev.ivorn).toBe(doc.result_ivorn);
    expect(ev.role).toBe('test'); // MS... is a mock superevent
    expect(Number(paramValue(ev, 'Area_90', 'Skymap_Summary'))).toBeCloseTo(doc.result.map.area90, 3);
    expect(ev.what!.tables.find((t) => t.name === 'Top_Galaxies')!.rows[0]![1]).toBe('HOST-A');
    jsonResultIvorn = ev.ivorn;
  });

  it('LVK VOEvent with a skymap_fits URL (served locally, 404 at first) → results citing the alert, superseding the first', async () => {
    const text = voe('MS181101ab-2-Preliminary.xml').replace(
      /(name="skymap_fits"[^>]*value=")[^"]*(")/,
      `$1${base}/superevents/MS181101ab/files/bayestar.multiorder.fits,0$2`,
    );
    await publishVOEvent(gcn, 'lvk', text);
    await until(() => resultsOn('lvk/crossmatch').length >= 2, 60_000, 'the two results of the VOEvent alert');
    expect(mapHits.filter((u) => u.includes('MS181101ab')).length).toBe(2); // 404, then the map
    const items = resultsOn('lvk/crossmatch');
    const voItem = items.find((i) => i.ivorn)!;
    const doc = jsonOf(items.find((i) => i.payload?.name === 'json')!);
    expect(doc.localisation).toEqual({ kind: 'url', url: `${base}/superevents/MS181101ab/files/bayestar.multiorder.fits` });
    expect(Math.abs(doc.result.map.area90 - A90) / A90).toBeLessThan(0.01);
    expect(doc.result.galaxies!.top[0]!.id).toBe('HOST-A');
    expect(validate(voItem.xml).valid).toBe(true);
    const ev = parse(voItem.xml);
    expect(ev.citations!.eventIVORNs).toEqual([
      { ivorn: 'ivo://gwnet/LVC#MS181101ab-2-Preliminary', cite: 'followup' },
      { ivorn: jsonResultIvorn, cite: 'supersedes' },
    ]);
    expect(paramValue(ev, 'Alert_IVORN')).toBe('ivo://gwnet/LVC#MS181101ab-2-Preliminary');
  });

  it('Swift BAT error circle → results on swift/crossmatch', async () => {
    await publishVOEvent(gcn, 'swift', voe('fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml'));
    await until(() => resultsOn('swift/crossmatch').length >= 2, 30_000, 'the Swift results');
    const doc = jsonOf(resultsOn('swift/crossmatch').find((i) => i.payload?.name === 'json')!);
    expect(doc.localisation).toMatchObject({ kind: 'circle', ra: 225.0208, dec: -69.4969, radius: 0.05 });
    expect(doc.result.map.area90).toBeCloseTo(Math.PI * 0.05 ** 2, 3);
    const ev = parse(resultsOn('swift/crossmatch').find((i) => i.ivorn)!.xml);
    expect(ev.role).toBe('utility');
    expect(ev.citations!.eventIVORNs).toEqual([{ ivorn: 'ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-182', cite: 'followup' }]);
  });

  it('after a restart, the LVK retraction VOEvent withdraws both LVK results (retracted, with notification)', async () => {
    await running!.stop();
    await startAgent();
    const lvkIds = [...resultsOn('igwn.gwalert/crossmatch'), ...resultsOn('lvk/crossmatch')].map((i) => i.id);
    await publishVOEvent(gcn, 'lvk', voe('MS181101ab-5-Retraction.xml'));
    await until(() => retracted.length >= 4, 30_000, 'four retract notifications');
    expect(retracted.map((r) => `${r.node} ${r.id}`).sort()).toEqual(
      [...resultsOn('igwn.gwalert/crossmatch').map((i) => `igwn.gwalert/crossmatch ${i.id}`), ...resultsOn('lvk/crossmatch').map((i) => `lvk/crossmatch ${i.id}`)].sort(),
    );
    expect(new Set(retracted.map((r) => r.id))).toEqual(new Set(lvkIds));
    for (const node of ['igwn.gwalert/crossmatch', 'lvk/crossmatch']) expect((await watcher.getItems(node)).items).toEqual([]);
    // The Swift result stays.
    expect((await watcher.getItems('swift/crossmatch')).items).toHaveLength(2);
    // A late update of the retracted superevent is not crossmatched again.
    const before = seen.length;
    await gcn.publish('igwn.gwalert', xml('json', { xmlns: JSON_NS }, GW_JSON.replace('"PRELIMINARY"', '"INITIAL"')), { id: 'MS181101ab-initial' });
    await until(() => outcomes.some((o) => o.action === 'skipped' && o.reason === 'event retracted'), 30_000, 'the late alert to be skipped');
    expect(seen.length).toBe(before);
  });

  it('a VOEvent citing the alert with cite="retraction" withdraws the Swift results', async () => {
    const swift = parse(voe('fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml'));
    const retraction: VOEvent = {
      ...swift,
      ivorn: 'ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-183-retraction',
      citations: { eventIVORNs: [{ ivorn: swift.ivorn, cite: 'retraction' }], description: 'not a GRB' },
    };
    const ids = resultsOn('swift/crossmatch').map((i) => i.id);
    const n = retracted.length;
    await publishVOEvent(gcn, 'swift', build(retraction));
    await until(() => retracted.length >= n + 2, 30_000, 'the Swift retract notifications');
    expect(retracted.slice(n).map((r) => r.id).sort()).toEqual([...ids].sort());
    expect((await watcher.getItems('swift/crossmatch')).items).toEqual([]);
  });

  it('a JSON RETRACTION notice withdraws the results of its superevent', async () => {
    // Another mock superevent: the same notice under a new id.
    const notice = GW_JSON.replace(/MS181101ab/g, 'MS181101xy');
    await gcn.publish('igwn.gwalert', xml('json', { xmlns: JSON_NS }, notice), { id: 'MS181101xy-preliminary' });
    await until(() => resultsOn('igwn.gwalert/crossmatch').filter((i) => i.id.includes('MS181101xy')).length >= 2, 60_000, 'the results of MS181101xy');
    const n = retracted.length;
    await gcn.publish('igwn.gwalert', xml('json', { xmlns: JSON_NS }, GW_RETRACTION.replace(/MS181101ab/g, 'MS181101xy')), { id: 'MS181101xy-retraction' });
    await until(() => retracted.length >= n + 2, 30_000, 'the MS181101xy retract notifications');
    expect(retracted.slice(n).every((r) => r.node === 'igwn.gwalert/crossmatch' && r.id.includes('MS181101xy'))).toBe(true);
    expect((await watcher.getItems('igwn.gwalert/crossmatch')).items).toEqual([]);
  });
  it('the voxnet agent crossmatch process itself: --config, result on the derived node, SIGTERM', async () => {
    const dir = join(workDir, 'cli');
    const config = join(workDir, 'cli.yaml');
    writeFileSync(config, [
      'name: cli',
      'author_ivorn: ivo://voxnet.test/crossmatch-cli',
      'subscribe: { nodes: [swift-cli] }',
      'results: { node: "{node}/galaxies", formats: [voevent, json] }',
      'catalog: { path: galaxies.csv }',
    ].join('\n'));
    await gcn.iq('set', xml('pubsub', { xmlns: 'http://jabber.org/protocol/pubsub' }, xml('create', { node: 'swift-cli' })));
    const cliEnv = agentEnv(env, 'crossmatch-cli', { VOXNET_STATE_DIR: dir, VOXNET_LOG_LEVEL: 'info' });
    const p = voxnet(['agent', 'crossmatch', '--config', config], cliEnv);
    try {
      await until(() => p.stderr().includes('crossmatch agent running'), 60_000, 'the agent to start');
      const items: FollowedItem[] = [];
      const f = await watcher.follow('swift-cli/galaxies', (it) => void items.push(it), { since: 'beginning' });
      await publishVOEvent(gcn, 'swift-cli', voe('fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml'));
      await until(() => items.length >= 2, 30_000, 'the results of the CLI agent');
      const ev = parse(items.find((i) => i.ivorn)!.xml);
      expect(ev.ivorn.startsWith('ivo://voxnet.test/crossmatch-cli#crossmatch_Swift:1118357_')).toBe(true);
      expect(jsonOf(items.find((i) => !i.ivorn)!).alert.node).toBe('swift-cli');
      await f.stop();
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
      expect(readFileSync(join(dir, 'crossmatch-cli-results.json'), 'utf8')).toContain('Swift:1118357');
    } finally {
      if (p.child.exitCode === null) p.child.kill('SIGKILL');
    }
  });
});
