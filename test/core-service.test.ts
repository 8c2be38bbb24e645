/**
 * PubsubService in memory (no servers), with the SQLite store in a temporary
 * folder: domain events always, notifications as the node's configuration says;
 * typed configuration; refusals that leave nothing half-done; reconcile.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PubsubService, type DomainEvent, type ServiceEvent } from '../broker-component/core/service.ts';
import { SqliteStore } from '../broker-component/store/sqlite.ts';
import { isEmptyReport, reconcile } from '../broker-component/policy/reconcile.ts';
import { compile } from '../access-policy/compile.ts';
import { parsePolicy } from '../access-policy/load.ts';
import { PubsubError } from '../pubsub/errors.ts';
import type { RequestTrace } from '../pubsub/types.ts';
import { mxtPolicy } from './helpers/policies.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'voxnet-core-'));
  dirs.push(dir);
  const store = new SqliteStore(dir);
  const domain: DomainEvent[] = [];
  const notes: ServiceEvent[] = [];
  const service = new PubsubService(store, {
    admins: ['pubsub.svom.fr'],
    canCreate: (bare) => bare.endsWith('@svom.fr'),
    onDomainEvent: (ev) => domain.push(ev),
    onEvent: (ev) => {
      notes.push(ev);
      return Promise.resolve();
    },
  });
  return { store, service, domain, notes, kinds: () => [domain.map((e) => e.kind), notes.map((e) => e.kind)] };
}

const alice = { jid: 'alice@svom.fr/a', bare: 'alice@svom.fr' };
const bob = { jid: 'bob@svom.fr/b', bare: 'bob@svom.fr' };
const eve = { jid: 'eve@evil.example/e', bare: 'eve@evil.example' };

describe('PubsubService: domain events apart from notifications', () => {
  it('a node with notifications on: both', () => {
    const t = setup();
    t.service.createNode(alice, 'n', { notify_retract: true });
    t.service.subscribe(bob, 'n', bob.jid);
    t.domain.length = 0;
    t.notes.length = 0;
    t.service.publish(alice, 'n', [{ id: '1', payload: '<x xmlns="urn:x"/>' }]);
    t.service.retract(alice, 'n', ['1'], false);
    t.service.purge(alice, 'n');
    t.service.deleteNode(alice, 'n');
    expect(t.kinds()).toEqual([
      ['items-published', 'items-retracted', 'node-purged', 'node-deleted'],
      ['items', 'retract', 'purge', 'delete'],
    ]);
  });

  it('a quiet node (deliver_notifications off, notify_delete off): domain events only', () => {
    const t = setup();
    t.service.createNode(alice, 'q', { deliver_notifications: false, notify_delete: false });
    t.service.subscribe(bob, 'q', bob.jid);
    t.notes.length = 0;
    t.service.publish(alice, 'q', [{ id: '1', payload: '<x xmlns="urn:x"/>' }]);
    t.service.retract(alice, 'q', ['1'], true);
    t.service.deleteNode(alice, 'q');
    expect(t.kinds()).toEqual([['node-created', 'items-published', 'items-retracted', 'node-deleted'], []]);
    expect(t.domain[1]).toMatchObject({ node: 'q', items: [{ id: '1', publisher: 'alice@svom.fr' }] });
  });

  it("a traced request collects the dispatch of the notifications its call caused", async () => {
    const t = setup();
    t.service.createNode(alice, 'n');
    t.service.subscribe(bob, 'n', bob.jid);
    const request: RequestTrace = { dispatched: [] };
    t.service.publish({ ...alice, request }, 'n', [{ payload: '<x xmlns="urn:x"/>' }]);
    expect(request.dispatched).toHaveLength(1);
    await Promise.all(request.dispatched);
  });

  it('takes typed configuration and refuses values outside a field', () => {
    const t = setup();
    t.service.createNode(alice, 'n', { max_items: Infinity, access_model: 'whitelist', title: 'GRBs' });
    expect(t.service.getConfig(alice, 'n')).toMatchObject({ max_items: Infinity, access_model: 'whitelist', title: 'GRBs' });
    const refusal = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(PubsubError);
        return { condition: (e as PubsubError).condition, pubsub: (e as PubsubError).pubsub };
      }
      throw new Error('not refused');
    };
    expect(refusal(() => t.service.configure(alice, 'n', { max_items: -1 }))).toEqual({ condition: 'not-acceptable', pubsub: 'invalid-options' });
    expect(refusal(() => t.service.configure(alice, 'n', { access_model: 'presence' }))).toEqual({ condition: 'not-acceptable', pubsub: 'unsupported-access-model' });
    expect(refusal(() => t.service.configure(alice, 'n', { publish_model: 'anyone-at-all' as never }))).toEqual({ condition: 'not-acceptable', pubsub: 'invalid-options' });
    // Publish-options are preconditions on an existing node.
    expect(refusal(() => t.service.publish(alice, 'n', [{ payload: '<x xmlns="urn:x"/>' }], { access_model: 'open' }))).toEqual({ condition: 'conflict', pubsub: 'precondition-not-met' });
    t.service.publish(alice, 'n', [{ id: 'ok', payload: '<x xmlns="urn:x"/>' }], { access_model: 'whitelist' });
    expect(t.store.getItem('n', 'ok')).toBeDefined();
  });

  it('a refused call changes nothing and tells nothing', () => {
    const t = setup();
    t.service.createNode(alice, 'n');
    const before = t.kinds();
    expect(() => t.service.publish(eve, 'n', [{ id: 'x', payload: '<x xmlns="urn:x"/>' }])).toThrow(PubsubError);
    expect(() => t.service.createNode(eve, 'm')).toThrow(PubsubError);
    expect(t.store.getItem('n', 'x')).toBeUndefined();
    expect(t.service.hasNode('m')).toBe(false);
    expect(t.kinds()).toEqual(before);
  });
});

describe('reconcile (in memory)', () => {
  const POLICY = mxtPolicy('{ embargo: 1h }');
  it('creates the nodes and affiliations once; a second run changes nothing; a dropped node is retired', () => {
    const t = setup();
    const admin = { jid: 'pubsub.svom.fr', bare: 'pubsub.svom.fr' };
    const state = compile(parsePolicy(POLICY, 'p.yaml'), { service: admin.bare });
    const first = reconcile(t.service, admin, state);
    expect(first.created.sort()).toEqual(['mxt/collaboration', 'mxt/public', 'mxt/source']);
    expect(t.service.getAffiliationsOfNode(admin, 'mxt/source')).toEqual(expect.arrayContaining([{ jid: 'fsc@svom.fr', affiliation: 'publisher' }]));
    expect(isEmptyReport(reconcile(t.service, admin, state, state.nodes.map((n) => n.id)))).toBe(true);
    // Someone changed a node by hand: reconcile puts the policy's values back, typed.
    t.service.configure(admin, 'mxt/public', { max_items: 3 });
    const again = reconcile(t.service, admin, state, state.nodes.map((n) => n.id));
    expect(again.configured).toEqual([{ node: 'mxt/public', fields: ['pubsub#max_items'] }]);
    // The public level leaves the policy: its node is closed, not deleted.
    const smaller = compile(parsePolicy(POLICY.replace(/^ +public: \{ embargo: 1h \}\n/m, ''), 'p.yaml'), { service: admin.bare });
    const retired = reconcile(t.service, admin, smaller, state.nodes.map((n) => n.id));
    expect(retired.retired).toEqual(['mxt/public']);
    expect(t.service.nodeConfig('mxt/public')?.access_model).toBe('whitelist');
  });
});
