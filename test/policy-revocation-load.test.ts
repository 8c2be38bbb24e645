/**
 * Revocation under load (issue 20 §5), on the wire: while a stream of alerts reaches
 * hundreds of subscribers of a level node (raw sockets, as the fan-out bench uses), a
 * policy change revokes one domain's membership. From the instant the reload returns,
 * no revoked JID receives an item stored after it; members who keep the level receive
 * every item exactly once. CI runs 300 revoked + 20 kept subscribers
 * (VOXNET_REVOKE_SUBSCRIBERS raises it: the bench-length run uses 1,000).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xml } from '@xmpp/xml';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { ps, errorOf, parseXml } from './helpers/pubsub.ts';
import type { TestClient } from './helpers/xmpp.ts';
import { RawClient, MarkerScanner } from '../bench/lib/raw-xmpp.ts';
import { until } from './helpers/until.ts';

const MXT = readFileSync(new URL('./fixtures/voevents/gcn-notice-parser__svom_mxt_52__sb26051101_mxt-initial_qf4.xml', import.meta.url), 'utf8');
const REVOKED = Number(process.env.VOXNET_REVOKE_SUBSCRIBERS ?? 300);
const KEPT = 20;
const BEFORE = 30; // items published before the policy change
const AFTER = 30; // and after

const policy = (domains: string[]) => `
version: 1
mission: SVOM
levels:
  - id: collaboration
    members: { domains: [${domains.join(', ')}] }
  - id: public
    public: true
products:
  - id: mxt
    title: MXT
    publishers: [fsc@svom.fr]
    levels:
      collaboration: {}
`;

// Item ids carry a marker the raw clients find in the bytes: rv-<index>~0~0~
const itemId = (i: number) => `rv-${i}~0~0~`;

type Sub = { client: RawClient; got: number[] };

let env: BrokerEnv;
let dir: string;
let file: string;
let fsc: TestClient;
const revoked: Sub[] = [];
const kept: Sub[] = [];

async function subscriber(user: string, domain: string): Promise<Sub> {
  await env.prosody.addUser(user, domain, user);
  const [host, port] = env.prosody.c2sUrl.replace('xmpp://', '').split(':');
  const client = await RawClient.login({ host: host!, port: Number(port), user, domain, password: user, resource: 'r' });
  const sub: Sub = { client, got: [] };
  const r = await client.iq(`<iq type='set' id='ID' to='${PUBSUB}'><pubsub xmlns='http://jabber.org/protocol/pubsub'><subscribe node='mxt/collaboration' jid='${client.jid}'/></pubsub></iq>`);
  if (r.type !== 'result') throw new Error(`subscribe of ${user}@${domain} refused: ${r.xml}`);
  client.textMode = false;
  const scan = new MarkerScanner('rv-', (i) => sub.got.push(i));
  client.onRaw((chunk) => scan.push(chunk));
  return sub;
}

async function publish(i: number): Promise<void> {
  const r = await fsc.iq('set', PUBSUB, ps(xml('publish', { node: 'mxt/source' }, xml('item', { id: itemId(i) }, await parseXml(MXT)))), 60_000);
  expect(errorOf(r), r.toString()).toBeUndefined();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'voxnet-revoke-'));
  file = join(dir, 'policy.yaml');
  writeFileSync(file, policy(['svom.fr', 'svom.cn']));
  env = await startBrokerEnv({ policy_file: file }, 'prosody', { multicast: true });
  fsc = await env.client('fsc');
  for (let i = 0; i < REVOKED; i += 50) revoked.push(...(await Promise.all(Array.from({ length: Math.min(50, REVOKED - i) }, (_, k) => subscriber(`cn${i + k}`, 'svom.cn')))));
  kept.push(...(await Promise.all(Array.from({ length: KEPT }, (_, k) => subscriber(`fr${k}`, 'svom.fr')))));
}, 180_000);

afterAll(async () => {
  for (const s of [...revoked, ...kept]) s.client.close();
  await env?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('revocation under load', () => {
  it('no revoked JID receives an item stored after the reload; the others get every item once', async () => {
    // A stream with 4 publishes in flight; the policy changes in the middle of it.
    let next = 0;
    let boundary = -1;
    const stream = async (end: number) => {
      const workers = Array.from({ length: 4 }, async () => {
        for (let i = next++; i < end; i = next++) await publish(i);
      });
      await Promise.all(workers);
    };
    const first = stream(BEFORE);
    // Revoke while publishes are in flight: once revoked subscribers have started receiving.
    await until(() => revoked.some((s) => s.got.length >= 5), 60_000, 'the stream to reach the subscribers');
    writeFileSync(file, policy(['svom.fr']));
    const result = env.broker.policy!.reload();
    expect(result.ok).toBe(true);
    // The broker runs in this process: what the source node holds now is everything stored before the reload returned.
    const admin = { jid: PUBSUB, bare: PUBSUB };
    const stored = env.broker.service.getItems(admin, 'mxt/source', { max: 10_000 }).items.map((it) => Number(/^rv-(\d+)~/.exec(it.id)![1]));
    boundary = Math.max(...stored);
    await first;
    next = BEFORE; // the workers stopped at the first index >= BEFORE, unpublished
    await stream(BEFORE + AFTER);

    // Every kept member receives every item exactly once.
    await until(() => kept.every((s) => s.got.length >= BEFORE + AFTER), 120_000, 'the kept members to receive everything');
    await new Promise((r) => setTimeout(r, 1000)); // anything late would show up now
    for (const s of kept) expect([...s.got].sort((a, b) => a - b)).toEqual(Array.from({ length: BEFORE + AFTER }, (_, i) => i));

    // The revoked ones received items before, and nothing stored after the reload.
    const late = revoked.flatMap((s) => s.got.filter((i) => i > boundary).map((i) => `${s.client.jid}: rv-${i}`));
    expect(late).toEqual([]);
    expect(revoked.filter((s) => s.got.length > 0).length).toBeGreaterThan(REVOKED / 2);
    expect(boundary).toBeLessThan(BEFORE + AFTER - 1);
    for (const s of revoked) expect(new Set(s.got).size).toBe(s.got.length);
  }, 300_000);
});
