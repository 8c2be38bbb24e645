/**
 * The privilege table as a full matrix: every affiliation × operation × access
 * model, against XEP-0060 §4.1 Table 4 and §4.5, written out as a readable table.
 */
import { describe, it, expect } from 'vitest';
import { decide, OPERATIONS, type Operation } from '../broker-component/core/privileges.ts';
import { AFFILIATIONS, type AccessModel, type Affiliation } from '../broker-component/core/types.ts';

// Cell: Y allowed, P allowed as pending, F forbidden, C closed-node, S not-subscribed, N item-not-found
// prettier-ignore
const EXPECTED: Record<AccessModel & ('open' | 'authorize' | 'whitelist'), Record<Affiliation, string>> = {
  //                 subscribe retrieve publish retract-own retract-any purge configure delete-node modify-affs manage-subs discover
  open:      { owner: 'Y Y Y Y Y Y Y Y Y Y Y', publisher: 'Y Y Y Y Y Y F F F F Y', 'publish-only': 'F F Y Y F F F F F F Y', member: 'Y Y F F F F F F F F Y', none: 'Y Y F F F F F F F F Y', outcast: 'F F F F F F F F F F F' },
  authorize: { owner: 'Y Y Y Y Y Y Y Y Y Y Y', publisher: 'Y Y Y Y Y Y F F F F Y', 'publish-only': 'F F Y Y F F F F F F Y', member: 'Y Y F F F F F F F F Y', none: 'P S F F F F F F F F Y', outcast: 'F F F F F F F F F F F' },
  whitelist: { owner: 'Y Y Y Y Y Y Y Y Y Y Y', publisher: 'Y Y Y Y Y Y F F F F Y', 'publish-only': 'F F Y Y F F F F F F Y', member: 'Y Y F F F F F F F F Y', none: 'C C F F F F F F F F N', outcast: 'F F F F F F F F F F F' },
};

function cell(op: Operation, affiliation: Affiliation, accessModel: AccessModel): string {
  const d = decide(op, { affiliation, accessModel, publishModel: 'publishers', subscribed: false });
  if (d.allow) return d.pending ? 'P' : 'Y';
  const e = d.error;
  if (e.condition === 'forbidden') return 'F';
  if (e.condition === 'not-allowed' && e.pubsub === 'closed-node') return 'C';
  if (e.condition === 'not-authorized' && e.pubsub === 'not-subscribed') return 'S';
  if (e.condition === 'item-not-found') return 'N';
  return `?${e.condition}/${e.pubsub}`;
}

describe('privilege table', () => {
  for (const [model, rows] of Object.entries(EXPECTED)) {
    for (const aff of AFFILIATIONS) {
      it(`${model} × ${aff}`, () => {
        const got = OPERATIONS.map((op) => cell(op, aff, model as AccessModel)).join(' ');
        expect(got).toBe(rows[aff]);
      });
    }
  }

  it('publish models widen publishing: subscribers may publish on publish_model=subscribers, anyone on open', () => {
    const base = { affiliation: 'none' as const, accessModel: 'open' as const };
    expect(decide('publish', { ...base, publishModel: 'subscribers', subscribed: true }).allow).toBe(true);
    expect(decide('publish', { ...base, publishModel: 'subscribers', subscribed: false }).allow).toBe(false);
    expect(decide('publish', { ...base, publishModel: 'open', subscribed: false }).allow).toBe(true);
    expect(decide('publish', { ...base, affiliation: 'outcast', publishModel: 'open', subscribed: false }).allow).toBe(false);
  });

  it('authorize: a subscribed entity may retrieve; a second request while pending is pending-subscription', () => {
    expect(decide('retrieve-items', { affiliation: 'none', accessModel: 'authorize', publishModel: 'publishers', subscribed: true }).allow).toBe(true);
    const d = decide('subscribe', { affiliation: 'none', accessModel: 'authorize', publishModel: 'publishers', subscribed: false, pending: true });
    expect(d.allow ? '' : `${d.error.condition}/${d.error.pubsub}`).toBe('not-authorized/pending-subscription');
  });

  it('presence and roster models are never silently open', () => {
    for (const m of ['presence', 'roster'] as const) {
      const d = decide('retrieve-items', { affiliation: 'none', accessModel: m, publishModel: 'publishers', subscribed: false });
      expect(d.allow).toBe(false);
      expect(d.allow ? '' : d.error.pubsub).toBe('unsupported-access-model');
    }
  });
});
