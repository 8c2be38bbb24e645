/**
 * The archive in the store, on both drivers: queries by time, publisher, IVORN and
 * newest N with RSM paging, age retention, and the migration of a schema-1 database
 * (its items get their IVORNs indexed).
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { DEFAULT_NODE_CONFIG } from '../pubsub/node-config.ts';
import { ivornOfPayload } from '../broker-component/voevent-rules.ts';
import type { Store } from '../broker-component/store/store.ts';
import { storeDrivers } from './helpers/stores.ts';

const drivers = storeDrivers();

const T0 = Date.parse('2026-12-01T00:00:00Z');
const MIN = 60_000;
const voe = (ivorn: string) => `<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" ivorn="${ivorn}" role="test" version="2.0"/>`;

for (const d of drivers) {
  const skip = d.skip ? ` (skipped: ${d.skip})` : '';
  describe.skipIf(!!d.skip)(`archive queries in the store: ${d.name}${skip}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = (await d.place()).open();
      store.createNode({ id: 'n', config: { ...DEFAULT_NODE_CONFIG, max_items: Infinity }, created: T0, creator: 'a@svom.fr' }, 'a@svom.fr');
      // 30 items, one a minute; every third by bob; item i has IVORN ivo://test/s#i.
      for (let i = 0; i < 30; i++) {
        const ivorn = `ivo://test.org/s#${i}`;
        store.publishItems('n', [{ id: `i${i}`, payload: voe(ivorn), publisher: i % 3 === 0 ? 'bob@svom.cn' : 'alice@svom.fr', published: T0 + i * MIN, ivorn }], Infinity);
      }
    });
    afterEach(() => {
      store.close();
    });
    const ids = (p: { items: { id: string }[] }) => p.items.map((i) => i.id);

    it('gives the first page of everything, oldest first, with count and index', () => {
      const p = store.queryArchive('n', { max: 5 });
      expect(ids(p)).toEqual(['i0', 'i1', 'i2', 'i3', 'i4']);
      expect(p).toMatchObject({ complete: false, count: 30, firstIndex: 0 });
      const next = store.queryArchive('n', { max: 5, after: 'i4' });
      expect(ids(next)).toEqual(['i5', 'i6', 'i7', 'i8', 'i9']);
      expect(next.firstIndex).toBe(5);
    });

    it('selects a time range, both ends included', () => {
      const p = store.queryArchive('n', { start: T0 + 10 * MIN, end: T0 + 14 * MIN, max: 50 });
      expect(ids(p)).toEqual(['i10', 'i11', 'i12', 'i13', 'i14']);
      expect(p).toMatchObject({ complete: true, count: 5, firstIndex: 0 });
    });

    it('gives the newest N with <before/> and pages back from there', () => {
      const last = store.queryArchive('n', { max: 3, before: '' });
      expect(ids(last)).toEqual(['i27', 'i28', 'i29']);
      expect(last).toMatchObject({ firstIndex: 27, count: 30, complete: false });
      const older = store.queryArchive('n', { max: 3, before: 'i27' });
      expect(ids(older)).toEqual(['i24', 'i25', 'i26']);
      const first = store.queryArchive('n', { max: 3, before: 'i2' });
      expect(ids(first)).toEqual(['i0', 'i1']);
      expect(first.complete).toBe(true);
    });

    it('finds an item by IVORN and filters by publisher, combined with time', () => {
      expect(ids(store.queryArchive('n', { ivorn: 'ivo://test.org/s#17', max: 10 }))).toEqual(['i17']);
      expect(ids(store.queryArchive('n', { ivorn: 'ivo://test.org/s#nope', max: 10 }))).toEqual([]);
      const bob = store.queryArchive('n', { publisher: 'bob@svom.cn', start: T0 + 10 * MIN, max: 3 });
      expect(ids(bob)).toEqual(['i12', 'i15', 'i18']);
      expect(bob).toMatchObject({ count: 6, firstIndex: 0, complete: false });
    });

    it('takes after-id / before-id as bounds and ids as a set', () => {
      expect(ids(store.queryArchive('n', { afterId: 'i25', max: 10 }))).toEqual(['i26', 'i27', 'i28', 'i29']);
      expect(ids(store.queryArchive('n', { afterId: 'i3', beforeId: 'i6', max: 10 }))).toEqual(['i4', 'i5']);
      expect(ids(store.queryArchive('n', { ids: ['i9', 'i2', 'zz'], max: 10 }))).toEqual(['i2', 'i9']);
    });

    it('reports a cursor that names no item', () => {
      expect(store.queryArchive('n', { max: 5, after: 'gone' }).missingCursor).toBe('gone');
      expect(store.queryArchive('n', { max: 5, beforeId: 'gone' }).missingCursor).toBe('gone');
    });

    it('keeps a republished item at its new place in time', () => {
      store.publishItems('n', [{ id: 'i3', payload: voe('ivo://test.org/s#3'), publisher: 'alice@svom.fr', published: T0 + 100 * MIN, ivorn: 'ivo://test.org/s#3' }], Infinity);
      expect(ids(store.queryArchive('n', { max: 1, before: '' }))).toEqual(['i3']);
      expect(store.queryArchive('n', { max: 50 }).count).toBe(30);
    });

    it('expires items older than a cutoff (age retention)', () => {
      expect(store.expire('n', T0 + 20 * MIN)).toHaveLength(20);
      expect(ids(store.queryArchive('n', { max: 3 }))).toEqual(['i20', 'i21', 'i22']);
    });
  });

  describe.skipIf(!!d.skip)(`item counts kept up to date (no count(*) per page): ${d.name}${skip}`, () => {
    it('stay exact through publish, replace, trim, retract, expire and purge; indexes count from the near end', async () => {
      const place = await d.place();
      const store = place.open();
      try {
        store.createNode({ id: 'c', config: { ...DEFAULT_NODE_CONFIG, max_items: 50 }, created: T0, creator: 'a@svom.fr' }, 'a@svom.fr');
        const real = () => place.number("SELECT count(*) FROM items WHERE node = 'c'");
        const page = () => store.getItems('c', { max: 5, before: '' });
        const put = (i: number, at = T0 + i) => store.publishItems('c', [{ id: `x${i}`, payload: '<a/>', publisher: 'a@svom.fr', published: at }], 50);
        for (let i = 0; i < 40; i++) put(i);
        expect(page()).toMatchObject({ count: 40, firstIndex: 35 });
        put(3, T0 + 1000); // replaced, not added
        expect(page()).toMatchObject({ count: 40, firstIndex: 35 });
        for (let i = 40; i < 70; i++) put(i); // trimmed to 50
        expect([page().count, real()]).toEqual([50, 50]);
        store.retractItems('c', ['x69', 'nope']);
        expect([page().count, real()]).toEqual([49, 49]);
        store.expire('c', T0 + 30);
        expect([page().count, real()]).toEqual([real(), real()]);
        expect(store.getItems('c', { max: 3, index: 0 }).firstIndex).toBe(0);
        store.purge('c');
        expect([page().count, real()]).toEqual([0, 0]);
      } finally {
        store.close();
      }
    });
  });

  describe.skipIf(!!d.skip)(`schema migration: ${d.name}${skip}`, () => {
    it('opens a schema-1 database and indexes the IVORNs of the items it holds', async () => {
      const place = await d.place();
      {
        place.schema1({
          inserts: `
          INSERT INTO nodes VALUES ('old', '${JSON.stringify({ max_items: 1000 })}', ${T0}, 'a@svom.fr');
          INSERT INTO items (node, id, payload, publisher, published) VALUES ('old', 'x', '${voe('ivo://test.org/old#1')}', 'a@svom.fr', ${T0});
          INSERT INTO items (node, id, payload, publisher, published) VALUES ('old', 'y', '<entry xmlns="urn:x"/>', 'a@svom.fr', ${T0 + 1});`,
        });
        const store = place.open({ ivornOf: ivornOfPayload });
        const st = store.load();
        expect(st.nodes[0]!.config.max_age).toBe(0);
        expect(store.queryArchive('old', { ivorn: 'ivo://test.org/old#1', max: 5 }).items.map((i) => i.id)).toEqual(['x']);
        expect(store.getItem('old', 'y')!.ivorn).toBeUndefined();
        store.close();
      }
    });
  });
}
