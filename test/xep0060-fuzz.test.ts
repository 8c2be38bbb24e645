/**
 * XEP-0060 stanza handling under random and mutated requests (issue 20 §1), sent by a
 * real client through a real Prosody: wrong types, unknown children, huge and hostile
 * attributes, invalid JIDs, forms with a wrong FORM_TYPE or wrong values, RSM edge
 * cases. Every IQ gets a result or an XMPP error, the broker keeps running (same
 * process, still serving), and afterwards the invariants hold: items per node ≤
 * max_items, no subscription without its node, every item published before the run
 * still retrievable. VOXNET_FUZZ_RUNS raises the number of requests (CI: 300).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { xml, type Element } from '@xmpp/xml';
import { startBrokerEnv, PUBSUB, type BrokerEnv } from './helpers/broker-env.ts';
import { NS, ps, owner, entry, form, errorOf } from './helpers/pubsub.ts';
import type { TestClient } from './helpers/xmpp.ts';

const RUNS = Number(process.env.VOXNET_FUZZ_RUNS ?? 300);
const PROTECTED = ['keep-a', 'keep-b']; // alice's nodes with items published before the run
const SCRATCH = ['scratch-1', 'scratch-2', 'scratch-3']; // what alice's fuzzed owner requests may touch

let env: BrokerEnv;
let alice: TestClient; // owner: fuzzes only the scratch nodes
let bob: TestClient; // another domain, no affiliation: fuzzes everything
const before = new Map<string, string[]>();

const hostile = fc.oneof(
  fc.constantFrom('', ' ', 'x'.repeat(3000), '\u0085bad', 'a\u007fb', '../../etc', '@@', 'node/with/slashes', 'ü∂∆', '<tag>', '&amp;'),
  fc.string({ maxLength: 40 }),
);
const jid = fc.oneof(fc.constantFrom('bob@svom.cn', 'alice@svom.fr', '@@', '', 'x@', 'svom.fr', 'a'.repeat(1100) + '@svom.fr', 'carol@example.org/res'), hostile);
const fieldValue = fc.oneof(fc.constantFrom('1', '0', 'true', 'max', '-1', '1e9', 'abc', '', 'open', 'whitelist', 'presence', 'leaf', 'collection'), hostile);
const fieldVar = fc.constantFrom(
  'pubsub#max_items', 'pubsub#persist_items', 'pubsub#deliver_payloads', 'pubsub#access_model', 'pubsub#publish_model', 'pubsub#node_type',
  'pubsub#collection', 'pubsub#children', 'pubsub#max_payload_size', 'pubsub#deliver', 'pubsub#expire', 'pubsub#subscription_type', 'voxnet#filter', 'unknown#field',
);
const formEl = fc.record({
  formType: fc.constantFrom('http://jabber.org/protocol/pubsub#node_config', 'http://jabber.org/protocol/pubsub#subscribe_options', 'http://jabber.org/protocol/pubsub#publish-options', 'urn:wrong', ''),
  type: fc.constantFrom('submit', 'form', 'result', 'cancel', 'bogus'),
  fields: fc.dictionary(fieldVar, fieldValue, { maxKeys: 4 }),
}).map((f) => form(f.formType, f.fields, f.type));
const rsm = fc.record({ max: fc.oneof(fc.constantFrom('-1', 'x', '0', '99999999999', ''), fc.nat({ max: 50 }).map(String)), after: fc.option(hostile, { nil: undefined }), before: fc.option(fc.oneof(fc.constant(''), hostile), { nil: undefined }), index: fc.option(fc.constantFrom('-5', '3', 'x'), { nil: undefined }) }).map((r) =>
  xml('set', { xmlns: NS.RSM }, xml('max', {}, r.max), r.after !== undefined ? xml('after', {}, r.after) : '', r.before !== undefined ? xml('before', {}, r.before) : '', r.index !== undefined ? xml('index', {}, r.index) : ''),
);
const item = fc.record({ id: fc.option(hostile, { nil: undefined }), payload: fc.constantFrom('entry', 'none', 'two', 'text') }).map((i) => {
  const attrs = i.id === undefined ? {} : { id: i.id };
  if (i.payload === 'none') return xml('item', attrs);
  if (i.payload === 'two') return xml('item', attrs, entry('a'), entry('b'));
  if (i.payload === 'text') return xml('item', attrs, 'just text');
  return xml('item', attrs, entry('fuzz'));
});

/** One request: what it asks, on which node, with which extras. */
function request(nodes: fc.Arbitrary<string>): fc.Arbitrary<{ type: string; child: Element }> {
  const node = fc.option(nodes, { nil: undefined });
  const n = (k: string | undefined) => (k === undefined ? {} : { node: k });
  const op = fc.oneof(
    fc.tuple(node, fc.option(formEl, { nil: undefined })).map(([k, f]) => ps(xml('create', n(k)), ...(f ? [xml('configure', {}, f)] : []))),
    fc.tuple(node, jid, fc.option(formEl, { nil: undefined })).map(([k, j, f]) => ps(xml('subscribe', { ...n(k), jid: j }), ...(f ? [xml('options', {}, f)] : []))),
    fc.tuple(node, jid, fc.option(hostile, { nil: undefined })).map(([k, j, s]) => ps(xml('unsubscribe', { ...n(k), jid: j, ...(s ? { subid: s } : {}) }))),
    fc.tuple(node, jid, fc.option(formEl, { nil: undefined })).map(([k, j, f]) => ps(xml('options', { ...n(k), jid: j }, ...(f ? [f] : [])))),
    fc.tuple(node, fc.option(rsm, { nil: undefined }), fc.option(fc.constantFrom('-1', '0', '3', 'x', '9999999999'), { nil: undefined })).map(([k, r, m]) =>
      ps(xml('items', { ...n(k), ...(m ? { max_items: m } : {}) }), ...(r ? [r] : [])),
    ),
    fc.tuple(node, fc.array(item, { maxLength: 3 }), fc.option(formEl, { nil: undefined })).map(([k, its, f]) => ps(xml('publish', n(k), ...its), ...(f ? [xml('publish-options', {}, f)] : []))),
    fc.tuple(node, fc.array(hostile, { maxLength: 3 })).map(([k, ids]) => ps(xml('retract', n(k), ...ids.map((id) => xml('item', { id }))))),
    fc.tuple(node, fc.option(formEl, { nil: undefined })).map(([k, f]) => owner(xml('configure', n(k), ...(f ? [f] : [])))),
    node.map((k) => owner(xml('purge', n(k)))),
    node.map((k) => owner(xml('delete', n(k)))),
    fc.tuple(node, jid, fc.constantFrom('owner', 'publisher', 'member', 'none', 'outcast', 'god')).map(([k, j, a]) => owner(xml('affiliations', n(k), xml('affiliation', { jid: j, affiliation: a })))),
    fc.tuple(node, jid, fc.constantFrom('subscribed', 'none', 'pending', 'weird')).map(([k, j, s]) => owner(xml('subscriptions', n(k), xml('subscription', { jid: j, subscription: s })))),
    node.map((k) => owner(xml('default', n(k)))),
    fc.tuple(node, hostile).map(([k, name]) => ps(xml(/^[A-Za-z_][\w.-]{0,30}$/.test(name) ? name : 'mystery', n(k)))),
    fc.constant(xml('pubsub', { xmlns: 'urn:not:pubsub' }, xml('items', { node: 'keep-a' }))),
    fc.constant(ps()),
    fc.constant(ps(xml('items', { node: 'keep-a' }), xml('items', { node: 'keep-b' }))),
  );
  return fc.tuple(fc.constantFrom('get', 'set'), op).map(([type, child]) => ({ type, child }));
}

async function itemIds(c: TestClient, node: string): Promise<string[]> {
  const r = await c.iq('get', PUBSUB, ps(xml('items', { node })));
  expect(errorOf(r), r.toString()).toBeUndefined();
  return r.getChild('pubsub')!.getChild('items')!.getChildren('item').map((i) => i.attrs.id!);
}

beforeAll(async () => {
  env = await startBrokerEnv({}, 'prosody');
  alice = await env.client('alice');
  bob = await env.client('bob', 'svom.cn');
  for (const node of [...PROTECTED, ...SCRATCH]) {
    const r = await alice.iq('set', PUBSUB, ps(xml('create', { node }), xml('configure', {}, form('http://jabber.org/protocol/pubsub#node_config', { 'pubsub#max_items': node.startsWith('keep') ? '100' : '5', 'pubsub#access_model': 'open' }))));
    expect(errorOf(r), r.toString()).toBeUndefined();
  }
  for (const node of PROTECTED) {
    for (let i = 0; i < 4; i++) await alice.iq('set', PUBSUB, ps(xml('publish', { node }, xml('item', { id: `${node}-${i}` }, entry(`${node} ${i}`)))));
    before.set(node, await itemIds(alice, node));
  }
}, 60_000);
afterAll(async () => env?.stop());

describe('XEP-0060 requests fuzzed through Prosody', () => {
  it('every request gets a result or an XMPP error; the broker keeps serving; the invariants hold', async () => {
    const brokerBefore = env.broker;
    const replies = { result: 0, error: 0 };
    const conditions = new Map<string, number>();
    const anyNode = fc.oneof(fc.constantFrom(...PROTECTED, ...SCRATCH, 'missing'), hostile);
    await fc.assert(
      fc.asyncProperty(fc.boolean(), request(anyNode), request(fc.constantFrom(...SCRATCH)), async (asAlice, fromBob, fromAlice) => {
        const [c, req] = asAlice ? [alice, fromAlice] : [bob, fromBob];
        const reply = await c.iq(req.type as 'get' | 'set', PUBSUB, req.child, 20_000);
        expect(['result', 'error']).toContain(reply.attrs.type);
        if (reply.attrs.type === 'error') {
          const e = errorOf(reply)!;
          expect(e.condition, reply.toString()).toBeTruthy();
          expect(['cancel', 'modify', 'auth', 'wait']).toContain(e.type);
          // A refusal never leaks an internal error to a client that merely sent a bad request.
          expect(e.condition).not.toBe('internal-server-error');
          conditions.set(e.condition!, (conditions.get(e.condition!) ?? 0) + 1);
          replies.error++;
        } else replies.result++;
      }),
      { numRuns: RUNS, seed: Number(process.env.VOXNET_FUZZ_SEED ?? 4242) },
    );
    console.log(`xep0060 fuzz: ${RUNS} requests, ${replies.result} results, ${replies.error} errors: ${[...conditions].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    expect(replies.result).toBeGreaterThan(0);
    expect(conditions.size).toBeGreaterThan(3);

    // The same broker, still serving.
    expect(env.broker).toBe(brokerBefore);
    expect(env.broker.link.isOnline()).toBe(true);
    expect((await bob.iq('get', PUBSUB, xml('ping', { xmlns: 'urn:xmpp:ping' }))).attrs.type).toBe('result');

    // Every item published before the run is still there.
    for (const node of PROTECTED) expect(await itemIds(alice, node)).toEqual(expect.arrayContaining(before.get(node)!));

    // Store invariants, read from the database itself.
    const db = new Database(join(env.dataDir, 'voxnet.sqlite'), { readonly: true });
    try {
      const orphans = db.prepare('SELECT count(*) AS n FROM subscriptions WHERE node NOT IN (SELECT id FROM nodes)').get() as { n: number };
      expect(orphans.n).toBe(0);
      for (const { id, config } of db.prepare('SELECT id, config FROM nodes').all() as { id: string; config: string }[]) {
        const max = (JSON.parse(config) as { max_items: number }).max_items;
        const { n } = db.prepare('SELECT count(*) AS n FROM items WHERE node = ?').get(id) as { n: number };
        expect(n, `items in ${id}`).toBeLessThanOrEqual(max);
      }
    } finally {
      db.close();
    }
  }, 600_000);
});
