/**
 * Schema migrations, on both drivers: a database written by an older broker opens,
 * is brought up to date once, and keeps everything it held.
 */
import { describe, it, expect } from 'vitest';
import { DEFAULT_SUBSCRIPTION_OPTIONS } from '../pubsub/subscription-options.ts';
import { storeDrivers } from './helpers/stores.ts';

const drivers = storeDrivers();

for (const d of drivers) {
  describe.skipIf(!!d.skip)(`store migrations: ${d.name}${d.skip ? ` (skipped: ${d.skip})` : ''}`, () => {
    it('opens a schema-1 database (before subscription options): subscriptions read with the default options', async () => {
      // A database as the wave-1 broker wrote it.
      const place = await d.place();
      place.schema1({
        inserts: `
        INSERT INTO nodes VALUES ('svom/grb', '{"access_model":"open","max_items":"max"}', 1, 'admin@svom.fr');
        INSERT INTO subscriptions VALUES ('svom/grb', 'sub-1', 'bob@svom.cn', 'subscribed', 2);
        INSERT INTO items (node, id, payload, publisher, published) VALUES ('svom/grb', 'i1', '<x xmlns="urn:x"/>', 'admin@svom.fr', 3);`,
      });
      const store = place.open();
      const state = store.load();
      expect(state.subscriptions).toEqual([{ node: 'svom/grb', subid: 'sub-1', jid: 'bob@svom.cn', state: 'subscribed', created: 2, options: DEFAULT_SUBSCRIPTION_OPTIONS }]);
      expect(state.nodes[0]!.config).toMatchObject({ node_type: 'leaf', collection: [], max_items: Infinity });
      expect(store.getItem('svom/grb', 'i1')?.payload).toBe('<x xmlns="urn:x"/>');
      // Options written now survive a reopen, including "all" (Infinity) depths.
      store.putSubscription({ ...state.subscriptions[0]!, options: { ...DEFAULT_SUBSCRIPTION_OPTIONS, deliver: false, subscription_depth: Infinity } });
      store.close();
      const again = place.open();
      expect(again.load().subscriptions[0]!.options).toMatchObject({ deliver: false, subscription_depth: Infinity });
      again.close();
      // Brought to the current schema (3: the policy's release jobs joined the store's
      // migrations; 4: the archive's indexes and the event-thread index).
      expect(place.schemaVersion()).toBe(4);
    });
  });
}
