/**
 * The agent library against a real Prosody + broker: publish, follow with
 * catch-up and dedupe across disconnections and restarts, silence alarms.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { connectAgent, publishVOEvent, prepareVOEvent, itemIdFor, type Agent, type FollowedItem, type AgentOptions } from '../agents/lib/index.ts';

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

async function until(pred: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
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
});
