/**
 * A full disk, with a real Prosody and broker: the broker's data directory and the
 * publisher agent's inbox each on a small tmpfs that the test fills with a ballast
 * file. A publish is refused with resource-constraint (type wait) and nothing is
 * half-written; reads and notifications go on; publishing resumes as soon as the
 * ballast is deleted, without a restart; the policy's release jobs wait rather
 * than vanish; the publisher agent keeps its packet until it is both published
 * and recorded in done/.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { xml, type Element } from '@xmpp/xml';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { NS, ps, entry, errorOf, nodeConfig, parseXml } from './helpers/pubsub.ts';
import type { TestClient } from './helpers/xmpp.ts';
import { mountSmallFs, type SmallFs } from './helpers/small-fs.ts';
import { mxtPolicy } from './helpers/policies.ts';
import { until } from './helpers/until.ts';
import { connectAgent, itemIdFor, type Agent } from '../agents/lib/index.ts';
import { Publisher, type PublisherConfig } from '../agents/publisher/publisher.ts';
import { writeFileAtomic } from '../agents/lib/state.ts';
import { STORAGE_FULL_TEXT } from '../broker-component/xep0060/handler.ts';
import { SqliteStore } from '../broker-component/store/sqlite.ts';

const MXT = readFileSync(new URL('./fixtures/voevents/gcn-notice-parser__svom_mxt_52__sb26051101_mxt-initial_qf4.xml', import.meta.url), 'utf8');
const SWIFT = readFileSync(new URL('./fixtures/voevents/fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml', import.meta.url), 'utf8');
const EMBARGO_S = 4;

const brokerFs = mountSmallFs(8);
const inboxFs = mountSmallFs(1);
const skip = 'skip' in brokerFs ? brokerFs.skip : 'skip' in inboxFs ? inboxFs.skip : undefined;

const items = (m: Element) => m.getChild('event', NS.EVENT)?.getChild('items');
const itemIds = (m: Element) => items(m)?.getChildren('item').map((i) => i.attrs.id!) ?? [];
/** How many notifications of item `id` on `node` the client received. */
const notifiedCount = (c: TestClient, node: string, id: string) => c.messages.filter((m) => items(m)?.attrs.node === node && itemIds(m).includes(id)).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Every file below `dir` (relative paths). */
const tree = (dir: string): string[] => (readdirSync(dir, { recursive: true, withFileTypes: true }) as { name: string; parentPath: string; isFile(): boolean }[])
  .filter((d) => d.isFile())
  .map((d) => join(d.parentPath, d.name).slice(dir.length + 1))
  .sort();

describe.skipIf(skip)(`a full disk${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const data = brokerFs as SmallFs;
  const inboxDisk = inboxFs as SmallFs;
  let env: BrokerEnv;
  let alice: TestClient, bob: TestClient, fsc: TestClient, col: TestClient, pub: TestClient;
  const warnings: Record<string, unknown>[] = [];
  let policyDir: string | undefined;

  const publish = (c: TestClient, node: string, id: string, payload: Element) => c.iq('set', PUBSUB, ps(xml('publish', { node }, xml('item', { id }, payload))));
  const storedIds = async (node: string): Promise<string[]> => {
    const r = await alice.iq('get', PUBSUB, ps(xml('items', { node })));
    expect(errorOf(r), r.toString()).toBeUndefined();
    return r.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id!);
  };
  /** Whether the broker holds the item (read as the service itself, past the access policy). */
  const holds = (node: string, id: string) => {
    try {
      return env.broker.service.getItems({ jid: PUBSUB, bare: PUBSUB }, node, { ids: [id] }).items.length === 1;
    } catch {
      return false;
    }
  };
  const expectFullRefusal = (r: Element) => {
    expect(errorOf(r)).toEqual({ type: 'wait', condition: 'resource-constraint', pubsub: undefined, feature: undefined });
    expect(r.getChild('error')!.getChildText('text')).toBe(STORAGE_FULL_TEXT);
  };

  beforeAll(async () => {
    policyDir = mkdtempSync(join(tmpdir(), 'voxnet-fulldisk-policy-'));
    writeFileSync(join(policyDir, 'policy.yaml'), mxtPolicy(`{ embargo: ${EMBARGO_S} }`));
    env = await startBrokerEnv({ data_dir: join(data.dir, 'db'), policy_file: join(policyDir, 'policy.yaml') });
    // The broker's warnings (the same logger across restarts).
    const log = env.broker.log as unknown as { warn: (...a: unknown[]) => void };
    const warn = log.warn.bind(log);
    log.warn = (obj: unknown, ...rest: unknown[]) => {
      if (obj && typeof obj === 'object') warnings.push({ ...(obj as Record<string, unknown>), msg: rest[0] });
      warn(obj, ...rest);
    };
    [alice, bob, fsc, col, pub] = await Promise.all([env.client('alice'), env.client('bob'), env.client('fsc'), env.client('col'), env.client('pub', 'svom.cn')]);
  }, 120_000);
  afterAll(async () => {
    await env?.stop();
    if (policyDir) rmSync(policyDir, { recursive: true, force: true });
    if (!skip) {
      data.unmount();
      inboxDisk.unmount();
    }
  });

  it('a publish is refused with resource-constraint (wait), stores nothing, and works again once space returns; reads and notifications go on', async () => {
    for (const [node, fields] of [['alerts', { 'pubsub#max_items': 'max' }], ['beats', { 'pubsub#persist_items': '0', 'pubsub#deliver_payloads': '1' }]] as const) {
      const r = await alice.iq('set', PUBSUB, ps(xml('create', { node }), xml('configure', {}, nodeConfig(fields))));
      expect(errorOf(r), r.toString()).toBeUndefined();
      expect(errorOf(await bob.iq('set', PUBSUB, ps(xml('subscribe', { node, jid: bob.jid }))))).toBeUndefined();
    }
    const acked = ['a1', 'a2', 'a3'];
    for (const id of acked) expect(errorOf(await publish(alice, 'alerts', id, entry(`${id} `.repeat(500))))).toBeUndefined();
    await until(() => acked.every((id) => notifiedCount(bob, 'alerts', id) === 1), 10_000, 'notifications of a1..a3');

    data.fill();
    // A large item cannot fit in what is left of the write-ahead log: refused, nothing stored.
    const big = entry('x'.repeat(64 * 1024));
    const refused = await publish(alice, 'alerts', 'big-1', big);
    expectFullRefusal(refused);
    expectFullRefusal(await publish(alice, 'alerts', 'big-2', big));
    // Other writes are refused the same way (a new subscription needs a row).
    const carol = await env.client('carol');
    expectFullRefusal(await carol.iq('set', PUBSUB, ps(xml('subscribe', { node: 'alerts', jid: carol.jid }))));
    // The operator is told once, with the directory.
    expect(warnings.filter((w) => w.data_dir === env.config.data_dir)).toHaveLength(1);
    expect(String(warnings.find((w) => w.data_dir)!.msg)).toContain(`the data directory ${env.config.data_dir} is full`);

    // Reads go on: every acknowledged item is there, the refused ones are not.
    expect(await storedIds('alerts')).toEqual(acked);
    const one = await alice.iq('get', PUBSUB, ps(xml('items', { node: 'alerts' }, xml('item', { id: 'big-1' }))));
    expect(errorOf(one)?.condition).toBe('item-not-found');
    const disco = await bob.iq('get', PUBSUB, xml('query', { xmlns: NS.DISCO_ITEMS }));
    expect(disco.getChild('query')!.getChildren('item').map((i) => i.attrs.node)).toContain('alerts');
    // Notifications go on where nothing is stored (a transient node: heartbeats)...
    expect(errorOf(await publish(alice, 'beats', 'hb-1', entry('beat')))).toBeUndefined();
    await until(() => notifiedCount(bob, 'beats', 'hb-1') === 1, 10_000, 'the heartbeat notification');
    // ...and a refused item was never notified.
    expect(notifiedCount(bob, 'alerts', 'big-1') + notifiedCount(bob, 'alerts', 'big-2')).toBe(0);

    // Space returns: the same broker (no restart) takes the publish at once.
    data.free();
    expect(errorOf(await publish(alice, 'alerts', 'big-1', big))).toBeUndefined();
    acked.push('big-1');
    await until(() => notifiedCount(bob, 'alerts', 'big-1') === 1, 10_000, 'the notification of big-1');
    expect(errorOf(await carol.iq('set', PUBSUB, ps(xml('subscribe', { node: 'alerts', jid: carol.jid }))))).toBeUndefined();
    expect(errorOf(await publish(alice, 'alerts', 'a4', entry('after')))).toBeUndefined();
    acked.push('a4');
    expect(await storedIds('alerts')).toEqual(acked);

    // After a restart: the same items, and a sound database.
    await env.restartBroker();
    expect(await storedIds('alerts')).toEqual(acked);
    const db = new Database(join(env.config.data_dir!, 'voxnet.sqlite'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  });

  it("the policy's release queue: a refused source publish writes no job; a release due on a full disk waits and is published once space returns", async () => {
    expect(errorOf(await col.iq('set', PUBSUB, ps(xml('subscribe', { node: 'mxt/collaboration', jid: col.jid }))))).toBeUndefined();
    expect(errorOf(await pub.iq('set', PUBSUB, ps(xml('subscribe', { node: 'mxt/public', jid: pub.jid }))))).toBeUndefined();
    const queued = () => env.broker.policy!.queue.all().map((j) => `${j.itemId} → ${j.target}`);

    const t0 = Date.now();
    expect(errorOf(await publish(fsc, 'mxt/source', 'p1', await parseXml(MXT)))).toBeUndefined();
    await until(() => notifiedCount(col, 'mxt/collaboration', 'p1') === 1, 10_000, 'p1 on the collaboration level');
    expect(queued()).toEqual(['p1 → mxt/public']);

    data.fill();
    // The source item and its release jobs are one transaction: refused together.
    expectFullRefusal(await publish(fsc, 'mxt/source', 'p2', await parseXml(MXT)));
    expect(holds('mxt/source', 'p2')).toBe(false);
    expect(queued()).toEqual(['p1 → mxt/public']);

    // p1's embargo ends while the disk is full: the release cannot be stored, the job stays.
    await sleep(Math.max(0, EMBARGO_S * 1000 + 3000 - (Date.now() - t0)));
    expect(notifiedCount(pub, 'mxt/public', 'p1')).toBe(0);
    expect(queued()).toEqual(['p1 → mxt/public']);
    expect(warnings.some((w) => w.item === 'p1' && String(w.msg).includes('the data directory is full'))).toBe(true);

    data.free();
    await until(() => notifiedCount(pub, 'mxt/public', 'p1') === 1, 20_000, 'p1 released to the public level');
    expect(queued()).toEqual([]);
    expect(errorOf(await publish(fsc, 'mxt/source', 'p2', await parseXml(MXT)))).toBeUndefined();
    await until(() => notifiedCount(col, 'mxt/collaboration', 'p2') === 1, 10_000, 'p2 on the collaboration level');
    await sleep(1000);
    expect(notifiedCount(pub, 'mxt/public', 'p1')).toBe(1);
    expect(holds('mxt/public', 'p1')).toBe(true);
  });

  it('at no level of free space is a source item stored without its release jobs (space given back page by page)', async () => {
    const queuedFor = (id: string) => env.broker.policy!.queue.all().filter((j) => j.itemId === id).map((j) => j.target);
    const [col, pub] = await Promise.all([env.client('col2'), env.client('pub2', 'svom.cn')]);
    expect(errorOf(await col.iq('set', PUBSUB, ps(xml('subscribe', { node: 'mxt/collaboration', jid: col.jid }))))).toBeUndefined();
    expect(errorOf(await pub.iq('set', PUBSUB, ps(xml('subscribe', { node: 'mxt/public', jid: pub.jid }))))).toBeUndefined();
    const levels = ['mxt/collaboration', 'mxt/public'];
    const acked: string[] = [];
    const refused: string[] = [];
    const payload = await parseXml(MXT);
    data.fill();
    try {
      for (let k = 1; acked.length < 3 && k <= 200; k++) {
        data.give(4096);
        const id = `s${k}`;
        const r = await publish(fsc, 'mxt/source', id, payload);
        if (errorOf(r)) {
          expectFullRefusal(r);
          refused.push(id);
          expect(holds('mxt/source', id), `${id} refused but stored`).toBe(false);
          expect(queuedFor(id), `${id} refused but has release jobs`).toEqual([]);
        } else {
          acked.push(id);
          expect(holds('mxt/source', id)).toBe(true);
          // Each level: its job still queued, or already released.
          for (const level of levels) expect(queuedFor(id).includes(level) || holds(level, id), `${id} → ${level}`).toBe(true);
        }
      }
    } finally {
      data.free();
    }
    expect(refused.length).toBeGreaterThan(0);
    expect(acked).toHaveLength(3);
    // Space is back: every acknowledged item reaches both levels, once; no refused one ever does.
    await until(() => acked.every((id) => notifiedCount(col, 'mxt/collaboration', id) === 1 && notifiedCount(pub, 'mxt/public', id) === 1), (EMBARGO_S + 20) * 1000, 'the releases of the acknowledged items');
    await sleep(1000);
    for (const id of acked) expect([notifiedCount(col, 'mxt/collaboration', id), notifiedCount(pub, 'mxt/public', id)], id).toEqual([1, 1]);
    for (const id of refused) for (const level of levels) expect(holds(level, id), `${id} on ${level}`).toBe(false);
    expect(env.broker.policy!.queue.all()).toEqual([]);
  }, 60_000);

  it('a policy reload on a full disk is not half-kept: it is reconciled again by itself once space returns', async () => {
    const aff = () => Object.fromEntries(env.broker.service.getAffiliationsOfNode({ jid: PUBSUB, bare: PUBSUB }, 'mxt/collaboration').map((a) => [a.jid, a.affiliation]));
    expect(aff()['newbie@svom.cn']).toBeUndefined();
    // No slack left in the write-ahead log (failed commits of earlier tests grew it): any write needs new pages.
    const db = new Database(join(env.config.data_dir!, 'voxnet.sqlite'));
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    data.fill();
    try {
      writeFileSync(env.config.policy_file!, mxtPolicy(`{ embargo: ${EMBARGO_S} }`).replace('members: { domains: [svom.fr] }', 'members: { domains: [svom.fr], jids: [newbie@svom.cn] }'));
      const r = env.broker.policy!.reload();
      expect(r).toMatchObject({ ok: false, error: expect.stringMatching(/full/) });
      expect(aff()['newbie@svom.cn']).toBeUndefined();
    } finally {
      data.free();
    }
    await until(() => aff()['newbie@svom.cn'] === 'member', 20_000, 'the policy reconciled again');
  });

  it('a broker database opened on a full disk is refused with a clear message, and opens once space returns', () => {
    const dir = join(data.dir, 'second');
    new SqliteStore(dir).close();
    data.fill();
    try {
      expect(() => new SqliteStore(dir)).toThrow(`the data directory ${dir} is full: cannot open its database`);
    } finally {
      data.free();
    }
    const store = new SqliteStore(dir);
    expect(store.load().nodes).toEqual([]);
    store.close();
  });

  it("an agent's atomic file write on a nearly full disk is all or nothing (a short write is not taken for the whole)", () => {
    const file = join(inboxDisk.dir, 'state.json');
    writeFileAtomic(file, 'old');
    inboxDisk.fill();
    try {
      inboxDisk.give(4096); // room for one page of the 64 KiB below
      expect(() => writeFileAtomic(file, 'x'.repeat(64 * 1024))).toThrow(/ENOSPC/);
      expect(readFileSync(file, 'utf8')).toBe('old');
      expect(readdirSync(inboxDisk.dir).sort()).toEqual(['ballast', 'state.json']);
    } finally {
      inboxDisk.free();
      rmSync(file);
    }
  });

  it('the publisher agent loses no packet and records none as done or failed before it is published and recorded', async () => {
    env.prosody.addUser('sc', 'svom.fr', 'sc');
    const agent: Agent = await connectAgent({ jid: 'sc@svom.fr', password: 'sc', server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles, name: 'publisher' });
    try {
      const inbox = join(inboxDisk.dir, 'inbox');
      mkdirSync(inbox);
      const cfg: PublisherConfig = { node: 'svom.fr/products', inbox, burst: { ivorn_base: 'ivo://org.svom/fsc' } };
      const publisher = new Publisher(agent, cfg);
      writeFileSync(join(inbox, 'burst.json'), JSON.stringify({ id: 'sb26120601_eclairs-wakeup', trigger_time: '2026-12-06T05:00:00.000', ra: 10, dec: 20, error_radius: 0.1, instrument: 'ECLAIRs' }));
      await sleep(20); // distinct times: burst.json is the older file
      writeFileSync(join(inbox, 'bad.json'), JSON.stringify({ id: 'x', trigger_time: '2026-12-06T05:00:00', ra: 400, dec: 0, error_radius: 1 }));
      const burstId = itemIdFor('ivo://org.svom/fsc#sb26120601_eclairs-wakeup');

      // The inbox's file system is full: published, but done/ cannot take the built VOEvent.
      inboxDisk.fill();
      for (let pass = 0; pass < 2; pass++) {
        const out = await publisher.scanOnce();
        expect(out.map((o) => `${o.file} ${o.status}`)).toEqual(['burst.json retry']);
        expect(out[0]).toMatchObject({ reason: expect.stringContaining(`the file system of ${inbox} is full`) });
      }
      // Nothing marked done or failed, nothing half-written (no temporary file left behind).
      expect(tree(inboxDisk.dir)).toEqual(['ballast', 'inbox/bad.json', 'inbox/burst.json']);
      expect(await agent.getItem('svom.fr/products', burstId)).toBeDefined();

      inboxDisk.free();
      const out = await publisher.scanOnce();
      expect(out.map((o) => `${o.file} ${o.status}`)).toEqual(['burst.json published', 'bad.json failed']);
      expect(out[0]).toMatchObject({ alreadyPresent: true });
      expect(tree(inboxDisk.dir)).toEqual(['inbox/done/burst.json', 'inbox/done/burst.json.voevent.xml', 'inbox/failed/bad.json', 'inbox/failed/bad.json.reason.txt']);
      // Published once: the retries found the item on the node.
      const all = await alice.iq('get', PUBSUB, ps(xml('items', { node: 'svom.fr/products' })));
      expect(all.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id)).toEqual([burstId]);

      // The broker's disk is full: refused with resource-constraint (wait), the packet stays in the inbox.
      writeFileSync(join(inbox, 'swift.xml'), SWIFT);
      data.fill();
      const refused = await publisher.scanOnce();
      expect(refused.map((o) => `${o.file} ${o.status}`)).toEqual(['swift.xml retry']);
      expect(refused[0]).toMatchObject({ reason: expect.stringContaining('resource-constraint') });
      expect(readdirSync(inbox).sort()).toEqual(['done', 'failed', 'swift.xml']);
      data.free();
      expect((await publisher.scanOnce()).map((o) => `${o.file} ${o.status}`)).toEqual(['swift.xml published']);
      expect(readdirSync(join(inbox, 'done')).sort()).toEqual(['burst.json', 'burst.json.voevent.xml', 'swift.xml']);
    } finally {
      await agent.stop();
    }
  });

  it('a subscriber agent whose state directory is full handles every item at once, and records them when space returns', async () => {
    env.prosody.addUser('follower', 'svom.fr', 'follower');
    const stateDir = join(inboxDisk.dir, 'state');
    const connect = () => connectAgent({ jid: 'follower@svom.fr', password: 'follower', server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles, name: 'follower', stateDir });
    const stateIds = () => (JSON.parse(readFileSync(join(stateDir, readdirSync(stateDir).find((f) => f.endsWith('.json'))!), 'utf8')) as { nodes: Record<string, { ids: string[] }> }).nodes.alerts?.ids ?? [];
    const got: string[] = [];
    let agent = await connect();
    try {
      await agent.follow('alerts', (it) => void got.push(it.id));
      inboxDisk.fill();
      for (const id of ['f1', 'f2']) expect(errorOf(await publish(alice, 'alerts', id, entry(id)))).toBeUndefined();
      // Handled at once, though the state cannot be written.
      await until(() => got.includes('f2'), 10_000, 'f1 and f2 handled');
      expect(stateIds()).not.toContain('f1');
      inboxDisk.free();
      expect(errorOf(await publish(alice, 'alerts', 'f3', entry('f3')))).toBeUndefined();
      await until(() => got.includes('f3'), 10_000, 'f3 handled');
      expect(got).toEqual(['f1', 'f2', 'f3']);
      expect(stateIds()).toEqual(expect.arrayContaining(['f1', 'f2', 'f3']));
      // Stopping on a full disk does not fail (the state was already written).
      inboxDisk.fill();
      await agent.stop();
    } finally {
      inboxDisk.free();
    }
    // Restarted: nothing handled again.
    agent = await connect();
    try {
      const again: string[] = [];
      await agent.follow('alerts', (it) => void again.push(it.id));
      await sleep(500);
      expect(again).toEqual([]);
    } finally {
      await agent.stop();
    }
  });
});
