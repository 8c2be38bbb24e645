/**
 * A broker killed with SIGKILL in the middle of a publication stream and started
 * again: a following agent ends up with every stored item exactly once (the
 * notifications lost with the broker are fetched when the service answers again).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProsody, type ProsodyServer } from '../broker-component/servers/prosody.ts';
import { connectAgent, publishVOEvent, prepareVOEvent, type Agent } from '../agents/lib/index.ts';
import { spawnBroker, waitServing } from './helpers/broker-process.ts';
import { until } from './helpers/until.ts';

const PUBSUB = 'pubsub.svom.fr';
const SECRET = 'restart-secret';
const SWIFT_GRB = join(import.meta.dirname, 'fixtures/voevents/fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml');

function variant(n: number): string {
  return readFileSync(SWIFT_GRB, 'utf8').replace(/ivorn="[^"]+"/, `ivorn="ivo://nasa.gsfc.gcn/SWIFT#BAT_GRB_Pos_1118357-r${n}"`);
}

describe('broker restart', () => {
  let prosody: ProsodyServer;
  let dataDir: string;
  let broker: ChildProcess | undefined;
  const agents: Agent[] = [];

  async function agent(user: string, extra: Record<string, unknown> = {}): Promise<Agent> {
    prosody.addUser(user, 'svom.fr', user);
    const a = await connectAgent({ jid: `${user}@svom.fr`, password: user, server: prosody.c2sUrl, service: PUBSUB, trust: prosody.certFiles, name: user, ...extra });
    agents.push(a);
    return a;
  }

  const startBroker = () => spawnBroker({ componentUrl: prosody.componentUrl, domain: PUBSUB, secret: SECRET, dataDir });
  /** Serving: an items request for a node that does not exist gets item-not-found. */
  const brokerServing = (a: Agent) => waitServing(() => a.getItems('nothing-here').then(() => true, (e) => e.condition === 'item-not-found'));

  beforeAll(async () => {
    prosody = await startProsody({ components: [{ domain: PUBSUB, secret: SECRET }] });
    dataDir = mkdtempSync(join(tmpdir(), 'voxnet-restart-'));
  });
  afterAll(async () => {
    broker?.kill('SIGKILL');
    await Promise.all(agents.map((a) => a.stop()));
    await prosody?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a follower gets every stored item exactly once across a SIGKILL of the broker', async () => {
    broker = startBroker();
    const pub = await agent('fsc', { iqTimeoutMs: 2000 });
    await brokerServing(pub);
    const marker = await publishVOEvent(pub, 'alerts', variant(0));
    const follower = await agent('observer', { servicePingMs: 300, resyncMs: 2000 });
    const got: string[] = [];
    await follower.follow('alerts', (it) => void got.push(it.id), { since: marker.id });

    // Publish continuously from three workers; an unacknowledged publication is retried with the same item id.
    const acked: string[] = [];
    let stop = false;
    let n = 0;
    const worker = async () => {
      while (!stop) {
        const p = prepareVOEvent(variant(++n));
        for (;;) {
          try {
            await publishVOEvent(pub, 'alerts', p);
            acked.push(p.id);
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const publisher = Promise.all([worker(), worker(), worker()]);
    await until(() => acked.length >= 25, 20_000, '25 publications');
    broker.kill('SIGKILL');
    await new Promise((r) => broker!.once('exit', r));
    await new Promise((r) => setTimeout(r, 500));
    broker = startBroker();
    const before = acked.length;
    await until(() => acked.length >= before + 25, 30_000, '25 publications after the restart');
    stop = true;
    await publisher;

    // All stored ids, 20 at a time (a page of ~100 of these 7.7 KB packets would pass Prosody's 512 KB component limit).
    const stored: string[] = [];
    for (let page = await pub.getItems('alerts', { max: 20, index: 0 }); page.items.length; page = await pub.getItems('alerts', { max: 20, after: page.items.at(-1)!.id })) {
      stored.push(...page.items.map((i) => i.id).filter((id) => id !== marker.id));
    }
    await until(() => got.length >= stored.length, 20_000, `the follower to get all ${stored.length} stored items (has ${got.length})`);
    await new Promise((r) => setTimeout(r, 500));
    expect(new Set(got).size, 'no item handled twice').toBe(got.length);
    expect([...got].sort()).toEqual([...stored].sort());
    // Every acknowledged publication is among them.
    expect(acked.filter((id) => !got.includes(id))).toEqual([]);
  });

  it('agents reconnect with backoff after the XMPP server restarts; the follower catches up what it missed', async () => {
    if (!broker || broker.exitCode !== null || broker.signalCode !== null) broker = startBroker();
    const pub = await agent('fsc2', { backoff: { initialMs: 100, maxMs: 1000 }, iqTimeoutMs: 3000 });
    await brokerServing(pub);
    const marker = await publishVOEvent(pub, 'after-restart', variant(1000));
    // The follower waits longer before reconnecting: items are published while it is away.
    const follower = await agent('observer2', { backoff: { initialMs: 5000, maxMs: 8000 }, servicePingMs: 300 });
    const got: { id: string; live: boolean }[] = [];
    await follower.follow('after-restart', (it) => void got.push({ id: it.id, live: it.live }), { since: marker.id });
    const events: string[] = [];
    follower.on('offline', () => events.push('offline'));
    follower.on('online', () => events.push('online'));
    await prosody.restart();
    await pub.whenOnline(30_000);
    await brokerServing(pub);
    const ids: string[] = [];
    let followerWasAway = true;
    for (let i = 1; i <= 5; i++) {
      const p = prepareVOEvent(variant(1000 + i));
      for (;;) {
        try {
          await publishVOEvent(pub, 'after-restart', p);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      ids.push(p.id);
      followerWasAway &&= !follower.isOnline();
    }
    await until(() => got.length >= 5, 30_000, 'the follower to catch up');
    await new Promise((r) => setTimeout(r, 300));
    expect(got.map((g) => g.id)).toEqual(ids);
    expect(events).toEqual(['offline', 'online']);
    // All of them came through catch-up: the follower was still away when they were published.
    expect(followerWasAway).toBe(true);
    expect(got.every((g) => !g.live)).toBe(true);
  });
});
