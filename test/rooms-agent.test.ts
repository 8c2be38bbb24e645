/**
 * The rooms agent (`voxnet agent rooms`) against a real Prosody with its MUC
 * component and the broker enforcing an access policy; slixmpp (xep_0045) is the
 * occupant. A member (by domain, and by JID) enters the level's members-only room
 * and sees each alert as one groupchat message with its summary and web link; a
 * non-member is refused; when the policy file changes, members who lost the level
 * are removed from the room, members who gained it may enter.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { serverAvailable } from '../broker-component/servers/index.ts';
import { agentEnv, voxnet, type Proc } from './helpers/agents.ts';
import { runJsonLines, slixmppVersion, type JsonLinesProc } from './helpers/slixmpp.ts';
import { connectAgent, publishVOEvent, type Agent } from '../agents/lib/index.ts';
import { compile } from '../access-policy/compile.ts';
import { parsePolicy } from '../access-policy/load.ts';
import { admits, affiliationChanges, planRooms, roomName } from '../agents/rooms/plan.ts';

const WAKEUP = readFileSync(new URL('./fixtures/voevents/gcn-notice-parser__svom_eclairs_303__sb26030408_eclairs-wakeup.xml', import.meta.url), 'utf8');
const OCCUPANT = fileURLToPath(new URL('./interop/slixmpp_muc_occupant.py', import.meta.url));
const MUC = 'conference.svom.fr';

const P1 = `
version: 1
mission: SVOM
node_prefix: svom/
levels:
  - id: pi
    members: { jids: [pi@svom.fr] }
  - id: collaboration
    members: { domains: [svom.cn], jids: [eve@svom.fr] }
  - id: public
    public: true
products:
  - id: eclairs
    title: ECLAIRs
    publishers: [alice@svom.fr]
    levels:
      pi: {}
      collaboration: {}
      public: { embargo: 1h }
`;
// svom.cn and eve leave the collaboration; zed joins it.
const P2 = P1.replace('members: { domains: [svom.cn], jids: [eve@svom.fr] }', 'members: { jids: [zed@svom.fr] }');

describe('rooms plan (pure)', () => {
  const state = compile(parsePolicy(P1), { service: PUBSUB });
  const plans = planRooms(state, MUC);
  it('one room per product and level; members are who may subscribe to the level node', () => {
    expect(plans.map((p) => p.jid)).toEqual([
      'svom-eclairs-pi@conference.svom.fr', 'svom-eclairs-collaboration@conference.svom.fr', 'svom-eclairs-public@conference.svom.fr',
    ]);
    const byLevel = Object.fromEntries(plans.map((p) => [p.level, p]));
    expect(byLevel.pi!.members).toEqual(['alice@svom.fr', 'pi@svom.fr']);
    expect(byLevel.collaboration!.members).toEqual(['alice@svom.fr', 'eve@svom.fr', 'pi@svom.fr', 'svom.cn']);
    expect(byLevel.public!.open).toBe(true);
    expect(byLevel.public!.members).toEqual([]);
    expect(roomName('svom/ground-follow-up/PI')).toBe('svom-ground-follow-up-pi');
    expect(admits(byLevel.collaboration!, 'bob@svom.cn')).toBe(true); // by domain
    expect(admits(byLevel.collaboration!, 'zed@svom.fr')).toBe(false);
    expect(admits(byLevel.public!, 'anyone@example.org')).toBe(true);
  });
  it('a policy change becomes the affiliation changes that remove who lost the level', () => {
    const next = planRooms(compile(parsePolicy(P2), { service: PUBSUB }), MUC).find((p) => p.level === 'collaboration')!;
    const current = { members: plans.find((p) => p.level === 'collaboration')!.members, outcasts: [] };
    const changes = affiliationChanges(next, current, 'rooms@svom.fr');
    expect(changes.map((c) => `${c.jid}:${c.affiliation}`).sort()).toEqual(['eve@svom.fr:none', 'svom.cn:none', 'zed@svom.fr:member']);
  });
});

const version = slixmppVersion();
if (!version) console.warn('rooms-agent: slixmpp tests skipped — /usr/bin/python3 cannot import slixmpp (apt-get install -y python3-slixmpp)');
const haveEjabberd = serverAvailable('ejabberd');
if (!haveEjabberd) console.warn('rooms-agent: the ejabberd run is skipped — no ejabberd installed (apt-get install -y ejabberd)');

for (const kind of ['prosody', 'ejabberd'] as const)
describe.skipIf(!version || (kind === 'ejabberd' && !haveEjabberd))(`rooms agent on ${kind === 'prosody' ? 'Prosody MUC' : 'ejabberd mod_muc'}, slixmpp ${version ?? ''} as occupant`, () => {
  let env: BrokerEnv;
  let dir: string;
  let policyFile: string;
  let rooms: Proc;
  let alice: Agent;
  let ca: string;
  const occupants: JsonLinesProc[] = [];
  const room = `svom-eclairs-collaboration@${MUC}`;

  const occupant = async (jid: string, r = room) => {
    const [user, host] = jid.split('@') as [string, string];
    await env.prosody.addUser(user, host, user);
    const o = runJsonLines(OCCUPANT, ['--jid', jid, '--password', user, '--host', '127.0.0.1', '--port', String(env.prosody.c2sPort), '--room', r, '--ca', ca]);
    occupants.push(o);
    return o;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'voxnet-rooms-'));
    policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, P1);
    env = await startBrokerEnv({ policy_file: policyFile, admins: ['rooms@svom.fr'] }, kind, { muc: MUC });
    ca = join(dir, 'ca.pem');
    writeFileSync(ca, env.prosody.certFiles.map((f) => readFileSync(f, 'utf8')).join('\n'));
    await env.prosody.addUser('alice', 'svom.fr', 'alice');
    await env.prosody.addUser('rooms', 'svom.fr', 'rooms');
    alice = await connectAgent({ jid: 'alice@svom.fr', password: 'alice', server: env.prosody.c2sUrl, service: PUBSUB, trust: env.prosody.certFiles, name: 'alice' });
    rooms = voxnet(['agent', 'rooms', '--policy', policyFile, '--muc', MUC, '--web-url', 'https://alerts.example.org/voxnet/'],
      agentEnv(env, 'rooms', { VOXNET_STATE_DIR: join(dir, 'state'), VOXNET_LOG_LEVEL: 'info', VOXNET_LOG_FORMAT: 'json' }));
    // The agent logs once every room is set up.
    await waitStderr(rooms, /rooms agent running/, 60_000);
  }, 120_000);

  afterAll(async () => {
    for (const o of occupants) o.stop();
    rooms?.child.kill('SIGTERM');
    await rooms?.exited;
    await alice?.stop();
    await env?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a member by domain and a member by JID enter; a non-member is refused', async () => {
    const bob = await occupant('bob@svom.cn');
    const eve = await occupant('eve@svom.fr');
    const zed = await occupant('zed@svom.fr');
    await bob.wait((e) => e.event === 'joined', 30_000, 'bob joined');
    await eve.wait((e) => e.event === 'joined', 30_000, 'eve joined');
    const refused = await zed.wait((e) => e.event === 'join-error', 30_000, 'zed refused');
    expect(refused.condition).toBe('registration-required');
    // The pi room is not the collaboration's: bob may not enter it.
    const bobPi = await occupant('bob@svom.cn', `svom-eclairs-pi@${MUC}`);
    expect((await bobPi.wait((e) => e.event === 'join-error', 30_000, 'bob refused from pi')).condition).toBe('registration-required');
  }, 90_000);

  it('each alert released to the level is one groupchat message with its summary and link', async () => {
    const bob = occupants[0]!;
    const { id } = await publishVOEvent(alice, 'svom/eclairs/source', WAKEUP);
    const msg = await bob.wait((e) => e.event === 'message' && String(e.body).includes('sb26030408'), 30_000, 'the alert in the room');
    const [summaryLine, link] = String(msg.body).split('\n');
    expect(summaryLine).toContain('SVOM/ECLAIRs');
    expect(summaryLine).toContain('ivo://org.svom/fsc#sb26030408_eclairs-wakeup');
    expect(link).toBe(`https://alerts.example.org/voxnet/#/alert/${encodeURIComponent('svom/eclairs/collaboration')}/${encodeURIComponent(id)}`);
    expect(msg.from).toBe(`${room}/VOXnet`);
    // Exactly one message for the one alert (eve sees the same one).
    await occupants[1]!.wait((e) => e.event === 'message' && String(e.body).includes('sb26030408'), 30_000, 'eve sees it');
    expect(bob.events.filter((e) => e.event === 'message' && String(e.body).includes('sb26030408'))).toHaveLength(1);
  }, 60_000);

  it('a policy change removes who lost the level (by JID and by domain) and admits who gained it', async () => {
    const [bob, eve] = occupants;
    const tmp = `${policyFile}.new`;
    writeFileSync(tmp, P2);
    renameSync(tmp, policyFile);
    const bobGone = await bob!.wait((e) => e.event === 'removed', 30_000, 'bob removed');
    const eveGone = await eve!.wait((e) => e.event === 'removed', 30_000, 'eve removed');
    // Removed by the room: kicked (307) or for the affiliation change (321).
    expect(bobGone.codes).toEqual(expect.arrayContaining([expect.stringMatching(/^(307|321)$/)]));
    expect(eveGone.codes).toEqual(expect.arrayContaining([expect.stringMatching(/^(307|321)$/)]));
    // Entering again is refused now; zed, newly a member, gets in.
    const bobAgain = await occupant('bob@svom.cn');
    expect((await bobAgain.wait((e) => e.event === 'join-error', 30_000, 'bob refused')).condition).toBe('registration-required');
    const zed = await occupant('zed@svom.fr');
    await zed.wait((e) => e.event === 'joined', 30_000, 'zed joined');
  }, 90_000);
});

function waitStderr(p: Proc, re: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setInterval(() => {
      if (re.test(p.stderr())) {
        clearInterval(t);
        clearTimeout(d);
        resolve();
      }
    }, 100);
    const d = setTimeout(() => {
      clearInterval(t);
      reject(new Error(`timed out waiting for ${re} in stderr:\n${p.stderr()}`));
    }, timeoutMs);
  });
}
