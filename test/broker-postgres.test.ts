/**
 * The broker on PostgreSQL, as people run it (`voxnet broker` configured through
 * VOXNET_STORAGE_DRIVER / VOXNET_STORAGE_URL), on a real Prosody and a real
 * PostgreSQL: a publish stream with a subscriber, the broker SIGKILLed twice in the
 * middle of it, then PostgreSQL itself crashed and restarted under the running
 * broker. Nothing acknowledged is lost, the subscription survives, publishes during
 * the database outage are refused with a `wait` error (never acknowledged), the
 * broker carries on by itself when the database returns, nothing is written in
 * data_dir, and the broker's output never shows the database password. Then the
 * access policy's release queue, kept in the same database: an embargo that ends
 * while PostgreSQL is down is released once it is back, exactly once.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xml, type Element } from '@xmpp/xml';
import { startProsody, type ProsodyServer } from '../broker-component/servers/prosody.ts';
import { STORAGE_UNAVAILABLE_TEXT } from '../broker-component/xep0060/handler.ts';
import { connectClient, type TestClient } from './helpers/xmpp.ts';
import { NS, ps, entry, errorOf } from './helpers/pubsub.ts';
import { spawnBroker, waitServing } from './helpers/broker-process.ts';
import { startPostgres, postgresAvailable, POSTGRES_MISSING, type Postgres } from './helpers/postgres.ts';
import { until, untilValue } from './helpers/until.ts';
import { startBrokerEnv, type BrokerEnv } from './helpers/broker-env.ts';
import { mxtPolicy } from './helpers/policies.ts';
import { parseXml } from './helpers/pubsub.ts';

const PUBSUB = 'pubsub.svom.fr';
const SECRET = 'pg-durable-secret';

describe.skipIf(!postgresAvailable())(`broker on PostgreSQL${postgresAvailable() ? '' : ` (skipped: ${POSTGRES_MISSING})`}`, () => {
  let prosody: ProsodyServer;
  let pg: Postgres;
  let url: string;
  let alice: TestClient;
  let bob: TestClient;
  let broker: ChildProcess | undefined;
  let output = '';
  // Never created: with the postgres driver the broker keeps nothing on its own disk.
  const dataDir = join(tmpdir(), `voxnet-pg-broker-unused-${process.pid}`);
  const startBroker = () =>
    spawnBroker({
      componentUrl: prosody.componentUrl,
      domain: PUBSUB,
      secret: SECRET,
      dataDir,
      env: { VOXNET_STORAGE_DRIVER: 'postgres', VOXNET_STORAGE_URL: url, VOXNET_LOG_LEVEL: 'info' },
      onOutput: (t) => (output += t),
    });
  const brokerServing = (timeoutMs?: number) =>
    waitServing(() => alice.iq('get', PUBSUB, xml('ping', { xmlns: 'urn:xmpp:ping' })).then((r) => r.attrs.type === 'result', () => false), timeoutMs);
  const publish = (id: string, timeoutMs = 3000) => alice.iq('set', PUBSUB, ps(xml('publish', { node: 'alerts' }, xml('item', { id }, entry(id)))), timeoutMs);

  beforeAll(async () => {
    [prosody, pg] = await Promise.all([startProsody({ components: [{ domain: PUBSUB, secret: SECRET }] }), startPostgres()]);
    url = pg.url;
    prosody.addUser('alice', 'svom.fr', 'alice');
    prosody.addUser('bob', 'svom.fr', 'bob');
    alice = await connectClient({ service: prosody.c2sUrl, domain: 'svom.fr', username: 'alice', password: 'alice', trust: prosody.certFiles });
    bob = await connectClient({ service: prosody.c2sUrl, domain: 'svom.fr', username: 'bob', password: 'bob', trust: prosody.certFiles });
  });
  afterAll(async () => {
    broker?.kill('SIGKILL');
    await alice?.stop();
    await bob?.stop();
    await prosody?.stop();
    await pg?.close();
  });

  it('loses no acknowledged item through broker SIGKILLs and a PostgreSQL crash; the subscriber gets every item live or by catching up', async () => {
    broker = startBroker();
    await brokerServing(60_000);
    const create = await alice.iq('set', PUBSUB, ps(xml('create', { node: 'alerts' }), xml('configure', {},
      xml('x', { xmlns: NS.DATA, type: 'submit' },
        xml('field', { var: 'FORM_TYPE' }, xml('value', {}, 'http://jabber.org/protocol/pubsub#node_config')),
        xml('field', { var: 'pubsub#max_items' }, xml('value', {}, 'max'))))));
    expect(errorOf(create)).toBeUndefined();
    const sub = await bob.iq('set', PUBSUB, ps(xml('subscribe', { node: 'alerts', jid: bob.jid })));
    expect(errorOf(sub)).toBeUndefined();

    const acked: string[] = [];
    // Two rounds: publish with 4 requests in flight, SIGKILL the broker, start it again.
    for (let round = 0; round < 2; round++) {
      let n = 0;
      let stop = false;
      const worker = async () => {
        while (!stop) {
          const id = `r${round}-${n++}`;
          const r = await publish(id).catch(() => undefined);
          if (r?.attrs.type === 'result') acked.push(id);
          else return;
        }
      };
      const workers = [worker(), worker(), worker(), worker()];
      await new Promise((r) => setTimeout(r, 400 + Math.random() * 400));
      broker.kill('SIGKILL');
      await new Promise((r) => broker!.once('exit', r));
      stop = true;
      await Promise.all(workers);
      broker = startBroker();
      // Prosody lets the component's JID go some seconds after a SIGKILL.
      await brokerServing(60_000);
    }
    expect(acked.length).toBeGreaterThan(10);

    // PostgreSQL crashes under the running broker: publishes are refused (wait), never acknowledged.
    await pg.kill();
    const during = await publish('during-outage');
    expect(errorOf(during)).toMatchObject({ type: 'wait', condition: 'internal-server-error' });
    expect(during.getChild('error')?.getChildText('text', NS.STANZAS)).toBe(STORAGE_UNAVAILABLE_TEXT);
    await pg.start();
    // The broker connects again by itself (at most once a second): a retried publish goes through.
    await untilValue(async () => (await publish('after-outage')).attrs.type === 'result', 60_000, 'a publish after PostgreSQL came back', 250);
    acked.push('after-outage');
    expect(broker.exitCode).toBeNull();

    // Every acknowledged item is stored (max_items is unlimited; a fast machine acknowledges
    // more than one page of them, so every page is read).
    const allItems = async (who: typeof alice): Promise<string[]> => {
      const ids: string[] = [];
      for (let after: string | undefined; ; ) {
        const set = xml('set', { xmlns: NS.RSM }, xml('max', {}, '500'), after ? xml('after', {}, after) : xml('index', {}, '0'));
        const r = await who.iq('get', PUBSUB, ps(xml('items', { node: 'alerts' }), set));
        const page = r.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id as string);
        ids.push(...page);
        const last = r.getChild('pubsub')!.getChild('set', NS.RSM)?.getChildText('last');
        if (page.length < 500 || !last) return ids;
        after = last;
      }
    };
    const stored = await allItems(alice);
    const lost = acked.filter((id) => !stored.includes(id));
    expect(lost, `acknowledged but lost: ${lost.join(', ')}`).toEqual([]);
    expect(stored).not.toContain('during-outage');

    // The subscription outlived both broker processes: a last item reaches bob live.
    expect(errorOf(await publish('last'))).toBeUndefined();
    const notified = (m: Element) => m.getChild('event', NS.EVENT)?.getChild('items')?.getChildren('item').map((i) => i.attrs.id as string) ?? [];
    await bob.waitMessage((m) => notified(m).includes('last'), 30_000);
    // What bob missed while a broker was down he catches up from the node: live + fetched = every acknowledged item, none twice live.
    const live = bob.messages.flatMap(notified);
    expect(new Set(live).size).toBe(live.length);
    const fetched = await allItems(bob);
    const missing = acked.filter((id) => !live.includes(id) && !fetched.includes(id));
    expect(missing).toEqual([]);

    // All of it lives in PostgreSQL: nothing in data_dir, and the password never in the output.
    expect(existsSync(dataDir)).toBe(false);
    expect(output).toMatch(/store open/);
    expect(output).toContain('postgres://voxnet:***@127.0.0.1');
    expect(output).not.toContain(pg.password);
  }, 240_000);

  it("keeps the policy's release jobs in PostgreSQL: an embargo ending while the database is down is released once it returns, once", async () => {
    const MXT = readFileSync(new URL('./fixtures/voevents/gcn-notice-parser__svom_mxt_52__sb26051101_mxt-initial_qf4.xml', import.meta.url), 'utf8');
    const EMBARGO_S = 4;
    const policyDir = mkdtempSync(join(tmpdir(), 'voxnet-pg-policy-'));
    writeFileSync(join(policyDir, 'policy.yaml'), mxtPolicy(`{ embargo: ${EMBARGO_S} }`));
    const db = await pg.createDatabase();
    const database = db.slice(db.lastIndexOf('/') + 1);
    const jobs = () => Number(pg.psql('SELECT count(*) FROM policy_releases', database).trim());
    let env: BrokerEnv | undefined;
    try {
      env = await startBrokerEnv({ storage: { driver: 'postgres', url: db, synchronous: 'full' }, policy_file: join(policyDir, 'policy.yaml') });
      const [fsc, col, pub] = await Promise.all([env.client('fsc'), env.client('col'), env.client('pub', 'svom.cn')]);
      const notified = (c: TestClient, node: string, id: string) =>
        c.messages.filter((m) => {
          const items = m.getChild('event', NS.EVENT)?.getChild('items');
          return items?.attrs.node === node && items.getChildren('item').some((i) => i.attrs.id === id);
        }).length;
      expect(errorOf(await col.iq('set', PUBSUB, ps(xml('subscribe', { node: 'mxt/collaboration', jid: col.jid }))))).toBeUndefined();
      expect(errorOf(await pub.iq('set', PUBSUB, ps(xml('subscribe', { node: 'mxt/public', jid: pub.jid }))))).toBeUndefined();
      const t0 = Date.now();
      const r = await fsc.iq('set', PUBSUB, ps(xml('publish', { node: 'mxt/source' }, xml('item', { id: 'p1' }, await parseXml(MXT)))));
      expect(errorOf(r)).toBeUndefined();
      await until(() => notified(col, 'mxt/collaboration', 'p1') === 1, 10_000, 'p1 on the collaboration level');
      expect(jobs()).toBe(1); // the public release waits in the database

      await pg.kill();
      await new Promise((res) => setTimeout(res, Math.max(0, EMBARGO_S * 1000 + 2500 - (Date.now() - t0))));
      expect(notified(pub, 'mxt/public', 'p1')).toBe(0); // due, but nothing can be stored
      await pg.start();
      await until(() => notified(pub, 'mxt/public', 'p1') === 1, 30_000, 'p1 released to the public level');
      await until(() => jobs() === 0, 10_000, 'the release job done');
      // A broker restart finds nothing left to release: never twice.
      await env.restartBroker();
      await new Promise((res) => setTimeout(res, 2000));
      expect(notified(pub, 'mxt/public', 'p1')).toBe(1);
    } finally {
      await env?.stop();
      rmSync(policyDir, { recursive: true, force: true });
    }
  }, 180_000);
});
