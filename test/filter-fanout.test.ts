/**
 * Filters before fan-out: the core narrows recipients by their subscriptions'
 * filters, asking each distinct filter once per item; the broker's engine reads
 * the item once and refuses a bad filter with bad-request naming the column.
 */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { applyFilters } from '../broker-component/core/filtering.ts';
import { FilterEngine } from '../broker-component/filters.ts';
import { PubsubError } from '../pubsub/errors.ts';

const SWIFT = readFileSync(new URL('./fixtures/voevents/fink-mm__swift_voevent_number_392__BAT_GRB_Pos_1118357.xml', import.meta.url), 'utf8');

describe('applyFilters', () => {
  const filters: Record<string, string | undefined> = { s1: 'A', s2: undefined, s3: 'B', s4: 'A', s5: 'B' };
  const recipients = [
    { jid: 'a@x', subids: ['s1'] }, // filter A
    { jid: 'b@x', subids: ['s2'] }, // no filter
    { jid: 'c@x', subids: ['s3', 's4'] }, // B and A
    { jid: 'd@x', subids: ['s5'] }, // B
  ];
  it('asks each distinct filter once and keeps the subids whose filter passes', () => {
    const asked: string[][] = [];
    const out = applyFilters(recipients, (s) => filters[s], (fs) => {
      asked.push([...fs].sort());
      return new Set(['A']);
    });
    expect(asked).toEqual([['A', 'B']]);
    expect(out).toEqual([{ jid: 'a@x', subids: ['s1'] }, { jid: 'b@x', subids: ['s2'] }, { jid: 'c@x', subids: ['s4'] }]);
  });
  it('without filters asks nothing', () => {
    let asked = 0;
    expect(applyFilters([{ jid: 'b@x', subids: ['s2'] }], () => undefined, () => (asked++, new Set()))).toEqual([{ jid: 'b@x', subids: ['s2'] }]);
    expect(asked).toBe(0);
  });
});

describe('FilterEngine', () => {
  it('evaluates each distinct filter once per item', () => {
    const e = new FilterEngine();
    const ok = e.passing(SWIFT, undefined, new Set(['role = "observation"', 'role = "test"', 'param.TrigID = 1118357']));
    expect([...ok].sort()).toEqual(['param.TrigID = 1118357', 'role = "observation"']);
    expect(e.stats).toEqual({ items: 1, evaluations: 3 });
  });
  it('refuses a bad filter with bad-request / invalid-options naming the column', () => {
    const e = new FilterEngine();
    let err: unknown;
    try {
      e.check('role = "observation" and');
    } catch (x) {
      err = x;
    }
    expect(err).toBeInstanceOf(PubsubError);
    expect(err).toMatchObject({ condition: 'bad-request', pubsub: 'invalid-options' });
    expect((err as Error).message).toMatch(/voxnet#filter: filter error at column 25/);
  });
});
