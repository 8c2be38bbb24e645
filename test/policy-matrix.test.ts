/**
 * The access policy as a full matrix, on a real Prosody with real accounts on
 * svom.fr and svom.cn: every level (plus the publisher and an outcast) × every
 * operation × every node of a product, against a readable expected table. Every
 * cell must match what the broker answers over XMPP — with the right XEP-0060
 * error for every refusal — and what `voxnet policy who` computes from the
 * compiled policy (the same decide(), so the two can never drift apart).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xml, type Element } from '@xmpp/xml';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { ps, owner, errorOf, nodeConfig, parseXml } from './helpers/pubsub.ts';
import type { TestClient } from './helpers/xmpp.ts';
import { parsePolicy } from '../access-policy/load.ts';
import { compile } from '../access-policy/compile.ts';
import { who, type WhoDecision, type WhoReport } from '../access-policy/who.ts';

const POLICY = `
version: 1
mission: SVOM
groups:
  pis: [pi@svom.fr]
levels:
  - id: burst-advocates
    members: { jids: [ba@svom.fr] }
  - id: pi
    members: { groups: [pis] }
  - id: collaboration
    members: { domains: [svom.fr], jids: [wei@svom.cn] }
  - id: associates
    members: { jids: [assoc@svom.cn] }
  - id: community
    members: { jids: [comm@svom.cn] }
  - id: public
    public: true
outcasts:
  jids: [banned@svom.cn]
products:
  - id: eclairs
    publishers: [fsc@svom.fr]
    levels:
      burst-advocates: {}
      pi: {}
      collaboration: {}
      associates: {}
      community: { history: false }
      public: { history: false }
`;

const NODES = ['source', 'burst-advocates', 'pi', 'collaboration', 'associates', 'community', 'public'] as const;
const OPS = ['subscribe', 'retrieve', 'publish', 'retract', 'configure', 'affiliations', 'purge', 'delete'] as const;
type Op = (typeof OPS)[number];

// Cells, one per operation in the order above:
//   subscribe retrieve publish retract configure affiliations purge delete
// Y allowed · F forbidden (auth) · C not-allowed + closed-node (cancel) · H forbidden: the node keeps no history
// prettier-ignore
const EXPECTED: Record<string, Record<(typeof NODES)[number], string>> = {
  //                   source             burst-advocates    pi                 collaboration      associates         community          public
  'fsc@svom.fr':    { source: 'Y Y Y Y F F Y F', 'burst-advocates': 'Y Y F F F F F F', pi: 'Y Y F F F F F F', collaboration: 'Y Y F F F F F F', associates: 'Y Y F F F F F F', community: 'Y H F F F F F F', public: 'Y H F F F F F F' }, // publisher
  'ba@svom.fr':     { source: 'C C F F F F F F', 'burst-advocates': 'Y Y F F F F F F', pi: 'Y Y F F F F F F', collaboration: 'Y Y F F F F F F', associates: 'Y Y F F F F F F', community: 'Y H F F F F F F', public: 'Y H F F F F F F' }, // burst advocate (JID)
  'pi@svom.fr':     { source: 'C C F F F F F F', 'burst-advocates': 'C C F F F F F F', pi: 'Y Y F F F F F F', collaboration: 'Y Y F F F F F F', associates: 'Y Y F F F F F F', community: 'Y H F F F F F F', public: 'Y H F F F F F F' }, // PI (group)
  'member@svom.fr': { source: 'C C F F F F F F', 'burst-advocates': 'C C F F F F F F', pi: 'C C F F F F F F', collaboration: 'Y Y F F F F F F', associates: 'Y Y F F F F F F', community: 'Y H F F F F F F', public: 'Y H F F F F F F' }, // collaboration (domain svom.fr)
  'wei@svom.cn':    { source: 'C C F F F F F F', 'burst-advocates': 'C C F F F F F F', pi: 'C C F F F F F F', collaboration: 'Y Y F F F F F F', associates: 'Y Y F F F F F F', community: 'Y H F F F F F F', public: 'Y H F F F F F F' }, // collaboration (JID on svom.cn)
  'assoc@svom.cn':  { source: 'C C F F F F F F', 'burst-advocates': 'C C F F F F F F', pi: 'C C F F F F F F', collaboration: 'C C F F F F F F', associates: 'Y Y F F F F F F', community: 'Y H F F F F F F', public: 'Y H F F F F F F' }, // associate
  'comm@svom.cn':   { source: 'C C F F F F F F', 'burst-advocates': 'C C F F F F F F', pi: 'C C F F F F F F', collaboration: 'C C F F F F F F', associates: 'C C F F F F F F', community: 'Y H F F F F F F', public: 'Y H F F F F F F' }, // community
  'anyone@svom.cn': { source: 'C C F F F F F F', 'burst-advocates': 'C C F F F F F F', pi: 'C C F F F F F F', collaboration: 'C C F F F F F F', associates: 'C C F F F F F F', community: 'C C F F F F F F', public: 'Y H F F F F F F' }, // public only
  'banned@svom.cn': { source: 'F F F F F F F F', 'burst-advocates': 'F F F F F F F F', pi: 'F F F F F F F F', collaboration: 'F F F F F F F F', associates: 'F F F F F F F F', community: 'F F F F F F F F', public: 'F F F F F F F F' }, // outcast
};

const nodeOf = (n: string) => `eclairs/${n}`;
const MXT = readFileSync(new URL('./fixtures/voevents/gcn-notice-parser__svom_mxt_52__sb26051101_mxt-initial_qf4.xml', import.meta.url), 'utf8');

let env: BrokerEnv;
let dir: string;
const clients = new Map<string, TestClient>();
const admin = { jid: PUBSUB, bare: PUBSUB };

/** A reply as a cell code, checking the error type the specification gives each condition. */
function replyCode(r: Element): string {
  const e = errorOf(r);
  if (!e) return 'Y';
  const text = r.getChild('error')?.getChildText('text') ?? '';
  if (e.condition === 'forbidden' && e.type === 'auth' && !e.pubsub) return /history/.test(text) ? 'H' : 'F';
  if (e.condition === 'not-allowed' && e.pubsub === 'closed-node' && e.type === 'cancel') return 'C';
  return `?${e.type}/${e.condition}/${e.pubsub ?? ''}`;
}

function decisionCode(d: WhoDecision): string {
  if (d.allow) return 'Y';
  if (d.condition === 'forbidden') return d.reason === 'history off' ? 'H' : 'F';
  if (d.condition === 'not-allowed' && d.pubsub === 'closed-node') return 'C';
  return `?${d.condition}/${d.pubsub ?? ''}`;
}

/** What `who` says for one operation of the table. */
function whoCode(r: WhoReport, node: string, op: Op): string {
  const n = r.nodes.find((x) => x.node === node)!;
  switch (op) {
    case 'subscribe': return decisionCode(n.may.subscribe);
    case 'retrieve': return decisionCode(n.may['retrieve-items']);
    case 'publish': return decisionCode(n.may.publish);
    // the item to retract was published by someone else: retract-any, or the refusal of retract-own
    case 'retract': return n.may['retract-any'].allow ? 'Y' : n.may['retract-own'].allow ? 'F' : decisionCode(n.may['retract-own']);
    case 'configure': return decisionCode(n.may.configure);
    case 'affiliations': return decisionCode(n.may['modify-affiliations']);
    case 'purge': return decisionCode(n.may.purge);
    case 'delete': return decisionCode(n.may['delete-node']);
  }
}

async function attempt(c: TestClient, node: string, op: Op, actor: string): Promise<Element> {
  switch (op) {
    case 'subscribe': return c.iq('set', PUBSUB, ps(xml('subscribe', { node, jid: c.jid })));
    case 'retrieve': return c.iq('get', PUBSUB, ps(xml('items', { node })));
    case 'publish': return c.iq('set', PUBSUB, ps(xml('publish', { node }, xml('item', { id: `by-${actor}` }, await parseXml(MXT)))));
    case 'retract': return c.iq('set', PUBSUB, ps(xml('retract', { node }, xml('item', { id: 'seed' }))));
    case 'configure': return c.iq('set', PUBSUB, owner(xml('configure', { node }, nodeConfig({ 'pubsub#title': 'taken over' }))));
    case 'affiliations': return c.iq('set', PUBSUB, owner(xml('affiliations', { node }, xml('affiliation', { jid: 'friend@svom.cn', affiliation: 'member' }))));
    case 'purge': return c.iq('set', PUBSUB, owner(xml('purge', { node })));
    case 'delete': return c.iq('set', PUBSUB, owner(xml('delete', { node })));
  }
}

async function until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'voxnet-matrix-'));
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, POLICY);
  env = await startBrokerEnv({ policy_file: file });
  for (const jid of Object.keys(EXPECTED)) {
    const [user, host] = jid.split('@') as [string, string];
    clients.set(jid, await env.client(user, host));
  }
  // Every node holds an item 'seed' that the actors did not publish (the publisher's, derived to each level).
  const r = await clients.get('fsc@svom.fr')!.iq('set', PUBSUB, ps(xml('publish', { node: nodeOf('source') }, xml('item', { id: 'seed' }, await parseXml(MXT)))));
  expect(errorOf(r)).toBeUndefined();
  await until(
    () => NODES.every((n) => env.broker.service.getItems(admin, nodeOf(n), { ids: ['seed'] }).items.length === 1),
    'seed item on every level node',
  );
});
afterAll(async () => {
  await env?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('access policy matrix: level × operation × node, real Prosody, svom.fr + svom.cn', () => {
  const state = compile(parsePolicy(POLICY, 'matrix'), { service: PUBSUB });

  it('the expected table agrees with `who` (the compiled policy through core decide)', () => {
    for (const [jid, row] of Object.entries(EXPECTED)) {
      const r = who(state, jid);
      for (const n of NODES) expect(OPS.map((op) => whoCode(r, nodeOf(n), op)).join(' '), `${jid} on ${nodeOf(n)}`).toBe(row[n]);
    }
  });

  // The publisher first: its retract and purge of the source are the only destructive successes in the table.
  for (const [jid, row] of Object.entries(EXPECTED)) {
    it(`${jid}: every operation on every node`, async () => {
      const c = clients.get(jid)!;
      const got: Record<string, string> = {};
      for (const n of NODES) {
        const cells: string[] = [];
        for (const op of OPS) cells.push(replyCode(await attempt(c, nodeOf(n), op, jid.split('@')[0]!)));
        got[n] = cells.join(' ');
      }
      expect(got).toEqual(row);
    });
  }

  it('nothing was taken over: configurations and affiliations are still the policy\'s', () => {
    for (const n of state.nodes) {
      expect(env.broker.service.nodeConfig(n.id)?.title, n.id).toBe(n.config.title);
      const affs = Object.fromEntries(env.broker.service.getAffiliationsOfNode(admin, n.id).map((a) => [a.jid, a.affiliation]));
      expect(affs, n.id).toEqual(n.affiliations);
    }
  });
});
