/**
 * The agent library against a real Prosody + broker: publish, follow with
 * catch-up and dedupe across disconnections and restarts, silence alarms.
 */
import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { connectAgent, publishVOEvent, prepareVOEvent, itemIdFor, Follower, type Agent, type FollowedItem, type AgentOptions } from '../agents/lib/index.ts';
import { until } from './helpers/until.ts';

const FIX = join(import.meta.dirname, 'fixtures/voevents');
const packet = (f: string) => readFileSync(join(FIX, f));
const SWIFT = [
  'fink-mm__swift_voevent_number_391__BAT_QuickLook_Pos_1118357.xml',
  'fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml',
  'fink-mm__swift_voevent_number_393__FOM_Obs_1118357.xml',
  'fink-mm__swift_voevent_number_405__BAT_Lightcurve_1118357.xml',
];

/** A small VOEvent with a given IVORN (built from a real packet by changing its IVORN). */
function variant(n: number, tag = 'v'): string {
  const xml = packet(SWIFT[1]!).toString('utf8');
  return xml.replace(/ivorn="[^"]+"/, `ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-${tag}${n}"`);
}

describe('agent library', () => {
  let env: BrokerEnv;
  let stateRoot: string;
  const agents: Agent[] = [];
  let n = 0;

  async function agent(user: string, extra: Partial<AgentOptions> = {}): Promise<Agent> {
    env.prosody.addUser(user, 'svom.fr', user);
    const a = await connectAgent({
      jid: `${user}@svom.fr`, password: user, server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles,
      name: `t${++n}`, backoff: { initialMs: 100, maxMs: 1000 }, ...extra,
    });
    agents.push(a);
    return a;
  }

  beforeAll(async () => {
    env = await startBrokerEnv();
    stateRoot = mkdtempSync(join(tmpdir(), 'voxnet-agents-'));
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await env?.stop();
    rmSync(stateRoot, { recursive: true, force: true });
  });

  it('publisher → broker → follower, in order, each item once (same id or same IVORN again is skipped)', async () => {
    const pub = await agent('fsc');
    const sub = await agent('obs1');
    await publishVOEvent(pub, 'grb', packet(SWIFT[0]!)); // creates the node
    const got: FollowedItem[] = [];
    await sub.follow('grb', (it) => void got.push(it));
    const ids: string[] = [];
    for (const f of SWIFT.slice(1)) ids.push((await publishVOEvent(pub, 'grb', packet(f), { source: f })).id);
    await until(() => got.length >= 3, 10_000, 'three items');
    expect(got.map((g) => g.id)).toEqual(ids);
    expect(got.every((g) => g.live)).toBe(true);
    expect(got[0]!.ivorn).toBe('ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-182');
    expect(got[0]!.xml).toContain('BAT_GRB_Pos_1118357-182');
    expect(prepareVOEvent(got[0]!.xml).ivorn).toBe(got[0]!.ivorn);
    // Same packet again (same id: the broker replaces it) and same IVORN under another id.
    await publishVOEvent(pub, 'grb', packet(SWIFT[1]!));
    await pub.publish('grb', prepareVOEvent(packet(SWIFT[2]!)).xml, { id: 'another-id' });
    const marker = await publishVOEvent(pub, 'grb', variant(1));
    await until(() => got.some((g) => g.id === marker.id), 10_000, 'the marker');
    expect(got.map((g) => g.id)).toEqual([...ids, marker.id]);
  });

  it('catches up across pages the service cuts short at its stanza size limit', async () => {
    const pub = await agent('fscbig');
    const sub = await agent('obsbig');
    // Big items (a long Description): the broker fits only a few in one reply of 400 KB.
    const big = (i: number) => variant(i, 'big').replace('<Description>', `<Description>${'x'.repeat(120_000)} `);
    await pub.publish('bigitems', prepareVOEvent(variant(0, 'big')).xml, { id: 'big-first' });
    const ids: string[] = [];
    for (let i = 1; i <= 9; i++) ids.push((await pub.publish('bigitems', prepareVOEvent(big(i)).xml, { id: `big${i}` })));
    const page = await sub.getItems('bigitems', { index: 0, max: 20 });
    expect(page.items.length).toBeLessThan(10); // the reply was cut...
    expect(page.count).toBe(10); // ...and RSM says so
    const got: FollowedItem[] = [];
    await sub.follow('bigitems', (it) => void got.push(it), { since: 'beginning', pageSize: 20 });
    expect(got.map((g) => g.id)).toEqual(['big-first', ...ids]);
  });

  it('catches up exactly the items published while the connection was down', async () => {
    const pub = await agent('fsc2');
    // Reconnects only after a second or two: everything below is published while it is away.
    const sub = await agent('obs2', { servicePingMs: 0, resyncMs: 0, backoff: { initialMs: 2000, maxMs: 2000 } });
    await publishVOEvent(pub, 'drop', variant(0, 'drop'));
    const got: FollowedItem[] = [];
    await sub.follow('drop', (it) => void got.push(it));
    const first = await publishVOEvent(pub, 'drop', variant(1, 'drop'));
    await until(() => got.length === 1, 10_000, 'the first live item');
    expect(got[0]!.id).toBe(first.id);
    const offline = new Promise((r) => sub.once('offline', r));
    await sub.dropConnection();
    await offline;
    const missed: string[] = [];
    for (let i = 2; i <= 6; i++) missed.push((await publishVOEvent(pub, 'drop', variant(i, 'drop'))).id);
    expect(sub.isOnline()).toBe(false);
    await until(() => got.length === 6, 15_000, 'the missed items');
    expect(got.map((g) => g.id)).toEqual([first.id, ...missed]);
    expect(got.slice(1).every((g) => !g.live)).toBe(true);
    // And live again afterwards.
    const after = await publishVOEvent(pub, 'drop', variant(7, 'drop'));
    await until(() => got.length === 7, 10_000, 'a live item after reconnecting');
    expect(got[6]!.id).toBe(after.id);
  });

  it('a restarted agent with its state file handles exactly what it missed', async () => {
    const pub = await agent('fsc3');
    const stateDir = join(stateRoot, 'restart');
    await publishVOEvent(pub, 'restart', variant(0, 'rs'));
    const got1: string[] = [];
    let sub = await agent('obs3', { stateDir, name: 'obs' });
    await sub.follow('restart', (it) => void got1.push(it.id));
    const a = await publishVOEvent(pub, 'restart', variant(1, 'rs'));
    await until(() => got1.length === 1, 10_000, 'first item');
    // A second process on the same state is refused.
    await expect(agent('obs3', { stateDir, name: 'obs' })).rejects.toThrow(/in use by process/);
    await sub.stop();
    const missed: string[] = [];
    for (let i = 2; i <= 4; i++) missed.push((await publishVOEvent(pub, 'restart', variant(i, 'rs'))).id);
    const got2: string[] = [];
    sub = await agent('obs3', { stateDir, name: 'obs' });
    await sub.follow('restart', (it) => void got2.push(it.id));
    // follow() resolves after the first catch-up: the missed items are already handled.
    expect(got1).toEqual([a.id]);
    expect(got2).toEqual(missed);
    const state = JSON.parse(readFileSync(join(stateDir, 'obs-obs3@svom.fr.json'), 'utf8'));
    expect(state.nodes.restart.cursor).toBe(missed.at(-1));
  });

  it('since: "beginning" and an item id; a missing id is a clear error', async () => {
    const pub = await agent('fsc4');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await publishVOEvent(pub, 'since', variant(i, 'since'))).id);
    const all: string[] = [];
    const s1 = await agent('obs4');
    await s1.follow('since', (it) => void all.push(it.id), { since: 'beginning', pageSize: 2 });
    expect(all).toEqual(ids);
    const after: string[] = [];
    const s2 = await agent('obs5');
    await s2.follow('since', (it) => void after.push(it.id), { since: ids[2] });
    expect(after).toEqual(ids.slice(3));
    const s3 = await agent('obs6');
    await expect(s3.follow('since', () => {}, { since: 'no-such-item' })).rejects.toThrow(/no item 'no-such-item'/);
    await expect(s3.follow('no-such-node', () => {})).rejects.toThrow(/item-not-found/);
  });

  it('when the cursor item was trimmed away, recovers from the newest item it remembers', async () => {
    const pub = await agent('fsc5');
    // A node that keeps only 4 items.
    await pub.publish('trim', prepareVOEvent(variant(0, 'tr')).xml, { id: itemIdFor('x0'), publishOptions: { 'pubsub#max_items': '4' } });
    const got: string[] = [];
    const sub = await agent('obs7', { servicePingMs: 0, resyncMs: 0, backoff: { initialMs: 2000, maxMs: 2000 } });
    await sub.follow('trim', (it) => void got.push(it.id), { pageSize: 2 });
    const live = await publishVOEvent(pub, 'trim', variant(1, 'tr'));
    await until(() => got.length === 1, 10_000, 'live item');
    // The cursor is x0 (the newest item when following began): three more items push it out of the node.
    const offline = new Promise((r) => sub.once('offline', r));
    await sub.dropConnection();
    await offline;
    const later: string[] = [];
    for (let i = 2; i <= 4; i++) later.push((await publishVOEvent(pub, 'trim', variant(i, 'tr'))).id);
    expect(sub.isOnline()).toBe(false);
    const recover = vi.spyOn(Follower.prototype as unknown as { recover(lost: string): Promise<void> }, 'recover');
    await until(() => got.length === 4, 15_000, 'recovered items');
    expect(got).toEqual([live.id, ...later]);
    expect(recover).toHaveBeenCalledTimes(1);
    recover.mockRestore();
  });

  it('raises a silence alarm when a node goes quiet and clears it when items come back', async () => {
    const pub = await agent('fsc6');
    await publishVOEvent(pub, 'hb', variant(0, 'hb'));
    const sub = await agent('obs8');
    const events: string[] = [];
    const f = await sub.follow('hb', () => {}, { silenceMs: 400 });
    f.on('alarm', (a) => events.push(`alarm ${a.node}`));
    f.on('recovered', () => events.push('recovered'));
    for (let i = 1; i <= 4; i++) {
      await publishVOEvent(pub, 'hb', variant(i, 'hb'));
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(events).toEqual([]);
    await until(() => events.length === 1, 3000, 'alarm');
    expect(events).toEqual(['alarm hb']);
    await publishVOEvent(pub, 'hb', variant(9, 'hb'));
    await until(() => events.length === 2, 3000, 'recovery');
    expect(events[1]).toBe('recovered');
  });

  it('items whose notifications died with the broker are fetched when the service answers again', async () => {
    const pub = await agent('fsc7', { iqTimeoutMs: 3000 });
    const sub = await agent('obs9', { servicePingMs: 150, resyncMs: 0 });
    const marker = await publishVOEvent(pub, 'lost', variant(0, 'lost'));
    const got: string[] = [];
    await sub.follow('lost', (it) => void got.push(it.id), { since: marker.id });
    // The broker stores and acknowledges these, then stops before notifying anyone
    // (what a crash between the store and the fan-out does).
    const notifier = env.broker.notifier;
    const handle = notifier.handle;
    notifier.handle = async () => {};
    const silent: string[] = [];
    for (let i = 1; i <= 3; i++) silent.push((await publishVOEvent(pub, 'lost', variant(i, 'lost'))).id);
    notifier.handle = handle;
    // The broker is down long enough for the agent's ping to notice, then comes back.
    const down = new Promise((r) => sub.once('service-down', r));
    await env.broker.stop();
    await down;
    await env.restartBroker();
    let after: string | undefined;
    while (!after) after = await publishVOEvent(pub, 'lost', variant(4, 'lost')).then((r) => r.id, () => new Promise<undefined>((r) => setTimeout(r, 100)));
    await until(() => got.length === 4, 15_000, 'the silent items and the next one');
    await new Promise((r) => setTimeout(r, 300));
    expect([...got].sort()).toEqual([...silent, after].sort());
  });

  it('the periodic resync fetches items whose notifications never came (no disconnection at all)', async () => {
    const pub = await agent('fsc8');
    const sub = await agent('obs10', { servicePingMs: 0, resyncMs: 300 });
    const marker = await publishVOEvent(pub, 'resync', variant(0, 'resync'));
    const got: string[] = [];
    await sub.follow('resync', (it) => void got.push(it.id), { since: marker.id });
    const notifier = env.broker.notifier;
    const handle = notifier.handle;
    notifier.handle = async () => {};
    const silent = [(await publishVOEvent(pub, 'resync', variant(1, 'resync'))).id, (await publishVOEvent(pub, 'resync', variant(2, 'resync'))).id];
    notifier.handle = handle;
    expect(got).toEqual([]);
    await until(() => got.length === 2, 5000, 'the resync');
    expect(got).toEqual(silent);
  });
  it('followBatch: the items ready at once come in one call (one multi-item publish; the items that came while the last call ran), in order, each once; a restart catches up in calls of at most batchSize', async () => {
    const pub = await agent('fsc9');
    const stateDir = join(stateRoot, 'batch');
    await publishVOEvent(pub, 'batch', variant(0, 'b'));
    const batches: string[][] = [];
    let gate: Promise<void> | undefined;
    let release = () => {};
    let sub = await agent('obs11', { stateDir, name: 'obs' });
    let f = await sub.followBatch('batch', async (items) => {
      batches.push(items.map((i) => i.id));
      await gate;
    }, { batchSize: 3 });
    // One request with two items: one call with both, in order.
    const two = [prepareVOEvent(variant(1, 'b')), prepareVOEvent(variant(2, 'b'))];
    expect(await pub.publishItems('batch', two.map((p) => ({ id: p.id, payload: p.xml })))).toEqual(two.map((p) => p.id));
    await until(() => batches.length === 1, 10_000, 'the first batch');
    expect(batches[0]).toEqual(two.map((p) => p.id));
    // The handler is held: what arrives meanwhile comes in the next calls, at most 3 at a time.
    gate = new Promise((r) => (release = r));
    const held = (await publishVOEvent(pub, 'batch', variant(3, 'b'))).id;
    await until(() => batches.length === 2, 10_000, 'the held batch');
    const more: string[] = [];
    for (let i = 4; i <= 8; i++) more.push((await publishVOEvent(pub, 'batch', variant(i, 'b'))).id);
    await until(() => f.waiting === 5, 10_000, 'the five notifications to arrive');
    gate = undefined;
    release();
    await until(() => batches.flat().length === 8, 10_000, 'every item');
    expect(batches.slice(1)).toEqual([[held], more.slice(0, 3), more.slice(3)]);
    // Stopped; four items published meanwhile come at the restart, in calls of at most 3.
    await f.stop();
    await sub.stop();
    const missed: string[] = [];
    for (let i = 9; i <= 12; i++) missed.push((await publishVOEvent(pub, 'batch', variant(i, 'b'))).id);
    batches.length = 0;
    sub = await agent('obs11', { stateDir, name: 'obs' });
    f = await sub.followBatch('batch', (items) => void batches.push(items.map((i) => i.id)), { batchSize: 3 });
    expect(batches.flat()).toEqual(missed);
    expect(batches.every((b) => b.length <= 3)).toBe(true);
    const state = JSON.parse(readFileSync(join(stateDir, 'obs-obs11@svom.fr.json'), 'utf8'));
    expect(state.nodes.batch.cursor).toBe(missed.at(-1));
  });
});
