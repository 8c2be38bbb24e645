/**
 * The privilege table as a full matrix: every affiliation × operation × access
 * model, against XEP-0060 §4.1 Table 4 and §4.5, written out as a readable table.
 */
import { describe, it, expect } from 'vitest';
import { decide, OPERATIONS, type Operation } from '../pubsub/privileges.ts';
import { AFFILIATIONS, type AccessModel, type Affiliation } from '../pubsub/types.ts';

// Cell: Y allowed, P allowed as pending, F forbidden, C closed-node, S not-subscribed, N item-not-found
// prettier-ignore
const EXPECTED: Record<AccessModel & ('open' | 'authorize' | 'whitelist'), Record<Affiliation, string>> = {
  //                 subscribe retrieve publish retract-own retract-any purge configure delete-node modify-affs manage-subs discover via-collection associate
  open:      { owner: 'Y Y Y Y Y Y Y Y Y Y Y Y Y', publisher: 'Y Y Y Y Y Y F F F F Y Y F', 'publish-only': 'F F Y Y F F F F F F Y F F', member: 'Y Y F F F F F F F F Y Y F', none: 'Y Y F F F F F F F F Y Y F', outcast: 'F F F F F F F F F F F F F' },
  authorize: { owner: 'Y Y Y Y Y Y Y Y Y Y Y Y Y', publisher: 'Y Y Y Y Y Y F F F F Y Y F', 'publish-only': 'F F Y Y F F F F F F Y F F', member: 'Y Y F F F F F F F F Y Y F', none: 'P S F F F F F F F F Y S F', outcast: 'F F F F F F F F F F F F F' },
  whitelist: { owner: 'Y Y Y Y Y Y Y Y Y Y Y Y Y', publisher: 'Y Y Y Y Y Y F F F F Y Y F', 'publish-only': 'F F Y Y F F F F F F Y F F', member: 'Y Y F F F F F F F F Y Y F', none: 'C C F F F F F F F F N C F', outcast: 'F F F F F F F F F F F F F' },
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

  // voxnet#history off: retrieve-items, per access model × affiliation (H = forbidden because of history).
  // Everything else is unchanged, and refusals that come first (closed node, not subscribed) stay first.
  // prettier-ignore
  const HISTORY_OFF: Record<'open' | 'authorize' | 'whitelist', Record<Affiliation, string>> = {
    //           owner publisher publish-only member none outcast
    open:      { owner: 'Y', publisher: 'Y', 'publish-only': 'F', member: 'H', none: 'H', outcast: 'F' },
    authorize: { owner: 'Y', publisher: 'Y', 'publish-only': 'F', member: 'H', none: 'S', outcast: 'F' },
    whitelist: { owner: 'Y', publisher: 'Y', 'publish-only': 'F', member: 'H', none: 'C', outcast: 'F' },
  };
  for (const [model, row] of Object.entries(HISTORY_OFF)) {
    it(`history off: retrieve-items on ${model} nodes`, () => {
      for (const aff of AFFILIATIONS) {
        const d = decide('retrieve-items', { affiliation: aff, accessModel: model as AccessModel, publishModel: 'publishers', subscribed: false, history: false });
        let got = d.allow ? 'Y' : cell('retrieve-items', aff, model as AccessModel);
        if (!d.allow && d.reason === 'history off') {
          expect(d.error.condition, aff).toBe('forbidden');
          expect(d.error.message).toMatch(/history/);
          got = 'H';
        }
        expect(got, `${model} × ${aff}`).toBe(row[aff]);
      }
    });
  }

  it('history off: a subscriber of an authorize node is refused history; other operations are untouched', () => {
    const d = decide('retrieve-items', { affiliation: 'none', accessModel: 'authorize', publishModel: 'publishers', subscribed: true, history: false });
    expect(d.allow ? '' : d.reason).toBe('history off');
    for (const op of OPERATIONS) {
      if (op === 'retrieve-items') continue;
      for (const aff of AFFILIATIONS)
        for (const accessModel of ['open', 'authorize', 'whitelist'] as const) {
          const ctx = { affiliation: aff, accessModel, publishModel: 'publishers' as const, subscribed: false };
          expect(decide(op, { ...ctx, history: false }), `${op} ${aff} ${accessModel}`).toEqual(decide(op, ctx));
        }
    }
    // history explicitly on is the default
    expect(decide('retrieve-items', { affiliation: 'member', accessModel: 'whitelist', publishModel: 'publishers', subscribed: false, history: true }).allow).toBe(true);
  });

  it('collections: an authorize leaf reaches a collection subscriber only once approved on the leaf itself', () => {
    const ctx = { affiliation: 'none' as const, accessModel: 'authorize' as const, publishModel: 'publishers' as const };
    expect(decide('receive-via-collection', { ...ctx, subscribed: true }).allow).toBe(true);
    expect(decide('receive-via-collection', { ...ctx, subscribed: false, pending: true }).allow).toBe(false);
  });

  it('presence and roster models are never silently open', () => {
    for (const m of ['presence', 'roster'] as const) {
      const d = decide('retrieve-items', { affiliation: 'none', accessModel: m, publishModel: 'publishers', subscribed: false });
      expect(d.allow).toBe(false);
      expect(d.allow ? '' : d.error.pubsub).toBe('unsupported-access-model');
    }
  });
});
