/**
 * A thousand subscribers with a hundred distinct filters: the broker's core (real
 * SQLite store, the broker's filter engine) publishes every real alert of the
 * fixtures; each subscriber is told exactly the alerts its filter accepts (judged
 * independently by compiling its filter), subscribers without a filter get
 * everything, and each distinct filter is evaluated once per item, not once per
 * subscriber.
 */
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../broker-component/store/sqlite.ts';
import { PubsubService, type DomainEvent, type ServiceEvent } from '../broker-component/core/service.ts';
import { FilterEngine } from '../broker-component/filters.ts';
import { DEFAULT_SUBSCRIPTION_OPTIONS } from '../pubsub/subscription-options.ts';
import { compileFilter, subjectOf } from '../filter/index.ts';

const DIR = new URL('./fixtures/voevents/', import.meta.url);
const packets = readdirSync(DIR).filter((f) => f.endsWith('.xml')).map((f) => readFileSync(new URL(f, DIR), 'utf8'))
  .filter((p) => /<(?:[\w.-]+:)?VOEvent[\s>]/.test(p));

// A hundred distinct filters from ten families of ten.
const FILTERS: string[] = [];
for (let i = 0; i < 10; i++) {
  FILTERS.push(`role = "${['observation', 'test', 'utility', 'prediction'][i % 4]}" or importance >= ${(i / 10).toFixed(1)}`);
  FILTERS.push(`param.Packet_Type > ${i * 25}`);
  FILTERS.push(`mission = "${["swift", "fermi", "svom", "lvk", "icecube"][i % 5]}" and not relation = "retraction" and param.Pkt_Ser_Num != ${1000 + i}`);
  FILTERS.push(`inside(cone(${i * 36}, ${i * 15 - 70}, ${10 + i * 5}))`);
  FILTERS.push(`error < ${(0.05 * (i + 1)).toFixed(2)} or area90 > ${i * 100}`);
  FILTERS.push(`ivorn ~ "${['SWIFT', 'svom', 'LVC', 'Fermi', 'AMON'][i % 5]}" and stream != "ivo://x.org/${i}"`);
  FILTERS.push(`relation in ["initial", "${['followup', 'supersedes'][i % 2]}"] and param.Pkt_Ser_Num >= ${i}`);
  FILTERS.push(`group.Svom_Identifiers.Burst_Id ~ "^sb260${i % 6}" or alert_type = "${['Preliminary', 'Initial', 'Update', 'Retraction', 'EarlyWarning'][i % 5]}"`);
  FILTERS.push(`prob(cone(${i * 36 + 5}, ${i * 15 - 65}, ${20 + i * 3})) >= ${(0.05 + i * 0.09).toFixed(2)}`);
  FILTERS.push(`event ~ ":${i}" or not (dec < ${i * 10 - 45})`);
}

describe('1,000 subscribers, 100 distinct filters', () => {
  it('each receives exactly the alerts its filter accepts; each filter is evaluated once per item', () => {
    expect(new Set(FILTERS).size).toBe(100);
    const dir = mkdtempSync(join(tmpdir(), 'voxnet-filters-'));
    const events: ServiceEvent[] = [];
    const domain: DomainEvent[] = [];
    const engine = new FilterEngine();
    const store = new SqliteStore(dir, { synchronous: 'normal' });
    try {
      const admin = { jid: 'fsc@svom.fr', bare: 'fsc@svom.fr' };
      const service = new PubsubService(store, { admins: [admin.bare], filters: engine, onEvent: (e) => void events.push(e), onDomainEvent: (e) => void domain.push(e) });
      service.createNode(admin, 'alerts', { max_items: Infinity });
      // Subscriber k has filter k mod 100; every tenth has none besides (1,000 + 100 subscribers).
      const filterOf = new Map<string, string | null>();
      for (let k = 0; k < 1100; k++) {
        const jid = `user${k}@svom.cn`;
        const filter = k < 1000 ? FILTERS[k % 100]! : null;
        service.subscribe({ jid, bare: jid }, 'alerts', jid, { ...DEFAULT_SUBSCRIPTION_OPTIONS, filter });
        filterOf.set(jid, filter);
      }
      const got = new Map<string, Set<string>>();
      for (const [i, payload] of packets.entries()) service.publish(admin, 'alerts', [{ id: `p${i}`, payload }]);
      for (const e of events) if (e.kind === 'items') for (const r of e.recipients) for (const it of e.items) {
        const s = got.get(r.jid) ?? new Set<string>();
        s.add(it.id);
        got.set(r.jid, s);
      }
      // The oracle: each filter compiled on its own, each packet read on its own.
      const subjects = packets.map((p) => subjectOf(p));
      const want = new Map(FILTERS.map((f) => {
        const c = compileFilter(f);
        return [f, new Set(subjects.flatMap((s, i) => (c.accepts(s) ? [`p${i}`] : [])))];
      }));
      let mismatches = 0;
      for (const [jid, f] of filterOf) {
        const expected = f === null ? new Set(packets.map((_, i) => `p${i}`)) : want.get(f)!;
        if ([...expected].sort().join() !== [...(got.get(jid) ?? [])].sort().join()) mismatches++;
      }
      expect(mismatches).toBe(0);
      // The filters really select: some accept few alerts, some many, none all for every family.
      const sizes = [...want.values()].map((s) => s.size);
      expect(Math.min(...sizes)).toBeLessThan(packets.length / 4);
      expect(Math.max(...sizes)).toBeGreaterThan(packets.length / 2);
      // Once per item per distinct filter, never per subscriber.
      expect(engine.stats).toEqual({ items: packets.length, evaluations: packets.length * 100 });
      // An item no filter accepts is told to nobody, yet published all the same: the
      // domain event (the policy's release queue, the thread index) sees it.
      service.createNode(admin, 'quiet');
      service.subscribe({ jid: 'x@svom.cn', bare: 'x@svom.cn' }, 'quiet', 'x@svom.cn', { ...DEFAULT_SUBSCRIPTION_OPTIONS, filter: 'role = "nothing"' });
      events.length = 0;
      domain.length = 0;
      service.publish(admin, 'quiet', [{ id: 'q', payload: packets[0]! }]);
      expect(events.filter((e) => e.kind === 'items')).toEqual([]);
      expect(domain).toMatchObject([{ kind: 'items-published', node: 'quiet', items: [{ id: 'q' }] }]);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
