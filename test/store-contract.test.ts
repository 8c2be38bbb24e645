/**
 * The Store contract, run against both drivers (SQLite in a temporary folder,
 * PostgreSQL in a fresh database of a real server): nodes, items, paging, release
 * jobs, reopening (what a restart sees) and the migration of a schema-1 database.
 */
import { describe, expect, it } from 'vitest';
import type { ReleaseJob, Store } from '../broker-component/store/store.ts';
import { DEFAULT_NODE_CONFIG } from '../pubsub/node-config.ts';
import { DEFAULT_SUBSCRIPTION_OPTIONS } from '../pubsub/subscription-options.ts';
import { storeDrivers } from './helpers/stores.ts';

const drivers = storeDrivers();

const node = (id: string) => ({ id, config: { ...DEFAULT_NODE_CONFIG }, created: 1, creator: 'o@x' });
const item = (id: string, published = 1) => ({ id, payload: `<p>${id}</p>`, publisher: 'p@x', published });

for (const d of drivers) {
  describe.skipIf(!!d.skip)(`${d.name} store${d.skip ? ` (skipped: ${d.skip})` : ''}`, () => {
    it('keeps nodes, affiliations and subscriptions across a reopen; deleting a node drops what hangs on it', async () => {
      const place = await d.place();
      let s = place.open();
      s.createNode(node('a'), 'o@x');
      s.createNode(node('b'), 'o@x');
      s.setAffiliation('a', 'm@x', 'member');
      s.putSubscription({ node: 'a', subid: 's1', jid: 'm@x/r', state: 'subscribed', created: 5, options: { ...DEFAULT_SUBSCRIPTION_OPTIONS } });
      s.updateNodeConfig('a', { ...DEFAULT_NODE_CONFIG, max_items: 7 });
      s.publishItems('b', [item('1')], 10);
      s.deleteNode('b');
      s.close();
      s = place.open();
      const st = s.load();
      expect(st.nodes.map((n) => [n.id, n.config.max_items])).toEqual([['a', 7]]);
      expect(st.affiliations).toEqual(expect.arrayContaining([{ node: 'a', jid: 'o@x', affiliation: 'owner' }, { node: 'a', jid: 'm@x', affiliation: 'member' }]));
      expect(st.subscriptions).toEqual([{ node: 'a', subid: 's1', jid: 'm@x/r', state: 'subscribed', created: 5, options: DEFAULT_SUBSCRIPTION_OPTIONS }]);
      expect(s.getItem('b', '1')).toBeUndefined();
      s.close();
    });

    it('publishes with replace-by-id and trimming to max_items, in publication order', async () => {
      const s = (await d.place()).open();
      s.createNode(node('n'), 'o@x');
      expect(s.publishItems('n', [item('1'), item('2'), item('3')], 3).trimmed).toEqual([]);
      // Republishing '1' moves it to the newest end; a fourth item trims the oldest.
      const r = s.publishItems('n', [item('1', 2), item('4', 3)], 3);
      expect(r.stored.map((i) => i.id)).toEqual(['1', '4']);
      expect(r.trimmed).toEqual(['2']);
      expect(s.getItems('n', {}).items.map((i) => i.id)).toEqual(['3', '1', '4']);
      expect(s.lastItem('n')?.id).toBe('4');
      expect(s.retractItems('n', ['3', 'nope'])).toEqual(['3']);
      expect(s.trim('n', 1)).toEqual(['1']);
      expect(s.purge('n')).toBe(1);
      expect(s.getItems('n', {})).toMatchObject({ items: [], count: 0 });
      s.close();
    });

    it('pages with RSM cursors and indexes, and says when a cursor names no item', async () => {
      const s = (await d.place()).open();
      s.createNode(node('n'), 'o@x');
      s.publishItems('n', ['a', 'b', 'c', 'd', 'e'].map((id) => item(id)), 10);
      const ids = (q: Parameters<Store['getItems']>[1]) => s.getItems('n', q).items.map((i) => i.id);
      expect(ids({ max: 2 })).toEqual(['d', 'e']);
      expect(ids({ max: 2, after: 'b' })).toEqual(['c', 'd']);
      expect(ids({ max: 2, before: 'c' })).toEqual(['a', 'b']);
      expect(ids({ max: 2, index: 1 })).toEqual(['b', 'c']);
      expect(ids({ ids: ['e', 'a', 'zz'] })).toEqual(['a', 'e']);
      expect(s.getItems('n', { max: 2, after: 'b' })).toMatchObject({ count: 5, firstIndex: 2 });
      expect(s.getItems('n', { max: 2, after: 'zz' }).missingCursor).toBe('zz');
      s.close();
    });

    it('keeps release jobs: due order, replace, cancel by item or source, realign, and across a reopen', async () => {
      const place = await d.place();
      let s = place.open();
      const job = (itemId: string, target: string, dueAt: number): ReleaseJob => ({ source: 'src', itemId, target, published: 100, dueAt, payload: '<p/>', publisher: 'p@x' });
      s.putReleaseJobs([job('1', 'public', 500), job('1', 'collab', 100), job('2', 'public', 300)]);
      s.putReleaseJobs([job('2', 'public', 400)]); // replaces
      expect(s.nextReleaseDue()).toBe(100);
      expect(s.dueReleaseJobs(400, 10).map((j) => `${j.itemId}>${j.target}`)).toEqual(['1>collab', '2>public']);
      s.deleteReleaseJob({ source: 'src', itemId: '1', target: 'collab' });
      s.close();
      s = place.open();
      expect(s.allReleaseJobs().map((j) => `${j.itemId}>${j.target}@${j.dueAt}`)).toEqual(['2>public@400', '1>public@500']);
      // A new embargo of 1000 ms for src→public: due = published + 1000.
      expect(s.realignReleaseJobs((_src, target) => (target === 'public' ? 1000 : undefined))).toEqual([]);
      expect(s.allReleaseJobs().map((j) => j.dueAt)).toEqual([1100, 1100]);
      expect(s.deleteReleaseJobsOfItems('src', ['2'])).toBe(1);
      expect(s.realignReleaseJobs(() => undefined)).toEqual([{ source: 'src', target: 'public', cancelled: 1 }]);
      s.putReleaseJobs([job('3', 'x', 1), job('4', 'y', 1)]);
      expect(s.deleteReleaseJobsOfSource('src')).toBe(2);
      expect(s.nextReleaseDue()).toBeUndefined();
      s.close();
    });

    it('commits what atomically() groups together or not at all; a failure caught inside undoes only its own part', async () => {
      const s = (await d.place()).open();
      s.createNode(node('n'), 'o@x');
      expect(() =>
        s.atomically(() => {
          s.publishItems('n', [item('lost')], 10);
          s.setMeta('k', 'lost');
          throw new Error('refused');
        }),
      ).toThrow('refused');
      expect(s.getItem('n', 'lost')).toBeUndefined();
      expect(s.getMeta('k')).toBeUndefined();
      expect(s.getItems('n', {}).count).toBe(0);
      s.atomically(() => {
        s.publishItems('n', [item('kept')], 10);
        try {
          s.atomically(() => {
            s.setMeta('k', 'inner');
            s.createNode(node('n'), 'o@x'); // exists already: the inner part fails
          });
        } catch {
          /* the outer part goes on */
        }
        s.setMeta('k2', 'outer');
      });
      expect(s.getItem('n', 'kept')?.id).toBe('kept');
      expect([s.getMeta('k'), s.getMeta('k2')]).toEqual([undefined, 'outer']);
      expect(s.getItems('n', {}).count).toBe(1);
      s.close();
    });

    it('migrates a schema-1 database whose release table the policy made itself (schema 3 adds it), keeping its jobs', async () => {
      const place = await d.place();
      place.schema1({ policyReleases: true, inserts: "INSERT INTO policy_releases VALUES ('s', 'i', 't', 1, 2, '<p/>', 'p@x');" });
      const s = place.open();
      expect(s.allReleaseJobs()).toEqual([{ source: 's', itemId: 'i', target: 't', published: 1, dueAt: 2, payload: '<p/>', publisher: 'p@x' }]);
      s.close();
      expect(place.schemaVersion()).toBe(4); // 4: the archive
    });
  });
}

