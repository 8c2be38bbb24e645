/**
 * The Kafka gateway's inbound pipeline as a unit: what it publishes together, and
 * that an offset is committed only once every message before it was acknowledged
 * (or skipped, or dead-lettered), whatever order the acknowledgements come in. The
 * publish and commit steps are functions the test answers by hand; the whole
 * gateway against a real Kafka and broker is in gateway-kafka.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { InboundPipeline, type Judgement } from '../agents/gateway/kafka/inbound.ts';
import { Refused } from '../agents/gateway/lib/index.ts';
import { XmppIqError } from '../common/xmpp/iq-errors.ts';
import { silentLogger } from '../agents/lib/index.ts';
import { until } from './helpers/until.ts';

type Msg = { topic: string; partition: number; offset: string; node?: string; bad?: boolean; key?: string };

function harness(o: { window?: number; maxItems?: number; failMarks?: number } = {}) {
  const requests: { node: string; ids: string[]; ack: () => void; refuse: (e: Error) => void }[] = [];
  const commits: string[] = [];
  const letters: string[] = [];
  const marked: string[] = [];
  const abort = new AbortController();
  const p = new InboundPipeline<Msg>({
    judge: (m): Judgement<Msg> => {
      if (m.bad) throw new Refused('not a VOEvent');
      if (m.key === 'seen') return { kind: 'skip', reason: 'duplicate' };
      return { kind: 'publish', node: m.node ?? 'n', id: `id-${m.offset}`, xml: '<x/>', keys: m.key ? [m.key] : [], msg: m };
    },
    publish: (node, items) => new Promise((ack, refuse) => requests.push({ node, ids: items.map((i) => i.id), ack: () => ack(undefined), refuse })),
    beforePublish: () => {},
    afterPublish: (batch) => {
      if (o.failMarks && o.failMarks-- > 0) throw new Error('SQLITE_FULL: database or disk is full');
      marked.push(...batch.map((j) => (j.kind === 'publish' ? j.id : '')));
    },
    deadLetter: async (m, reason) => void letters.push(`${m.offset}: ${reason}`),
    commit: async (offsets) => void commits.push(...offsets.map((x) => `${x.topic}/${x.partition}@${x.offset}`)),
    isPermanent: (e) => e instanceof XmppIqError,
    signal: abort.signal,
    log: silentLogger(),
    window: o.window ?? 2,
    maxItems: o.maxItems ?? 64,
  });
  const add = async (offsets: number[], extra: Partial<Msg> = {}, partition = 0) => {
    for (const off of offsets) await p.add({ topic: 't', partition, offset: String(off), ...extra }, async () => {});
    await new Promise((r) => setImmediate(r));
  };
  return { p, requests, commits, letters, marked, abort, add };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('Kafka inbound pipeline', () => {
  it('light traffic goes out alone at once; what queues behind a full window goes in one request per node', async () => {
    const h = harness({ window: 2 });
    await h.add([0]);
    await h.add([1]);
    expect(h.requests.map((r) => r.ids)).toEqual([['id-0'], ['id-1']]);
    await h.add([2, 3, 4]);
    await h.add([5, 6], { node: 'other' });
    expect(h.requests).toHaveLength(2); // the window is full: nothing more in flight
    h.requests[0]!.ack();
    await until(() => h.requests.length === 3, 2000, 'the next request');
    expect(h.requests[2]).toMatchObject({ node: 'n', ids: ['id-2', 'id-3', 'id-4'] });
    h.requests[1]!.ack();
    await until(() => h.requests.length === 4, 2000, 'the request for the other node');
    expect(h.requests[3]).toMatchObject({ node: 'other', ids: ['id-5', 'id-6'] });
  });

  it('commits only the offset after the acknowledged prefix, whatever order the acknowledgements come in', async () => {
    const h = harness({ window: 4, maxItems: 1 });
    await h.add([10, 11, 12, 13]);
    expect(h.requests).toHaveLength(4);
    h.requests[2]!.ack();
    h.requests[1]!.ack();
    await tick();
    expect(h.commits).toEqual([]); // 10 is not acknowledged: nothing may be committed
    h.requests[0]!.ack();
    await until(() => h.commits.length > 0, 2000, 'a commit');
    expect(h.commits.at(-1)).toBe('t/0@13'); // 10, 11, 12 done: the next to read is 13
    h.requests[3]!.ack();
    await until(() => h.commits.at(-1) === 't/0@14', 2000, 'the last commit');
    expect(h.p.unfinished).toBe(0);
  });

  it('keeps partitions apart: one partition waiting does not hold back the other', async () => {
    const h = harness({ window: 4, maxItems: 1 });
    await h.add([0], {}, 0);
    await h.add([0], { node: 'm' }, 1);
    h.requests[1]!.ack();
    await until(() => h.commits.includes('t/1@1'), 2000, 'partition 1');
    expect(h.commits.some((c) => c.startsWith('t/0'))).toBe(false);
  });

  it('skips and dead letters advance the offset too; a refused request is retried one by one and only the refused message becomes a dead letter', async () => {
    const h = harness({ window: 1 });
    await h.add([0]);
    await h.add([1, 2, 3]);
    await h.add([4], { key: 'seen' });
    await h.add([5], { bad: true });
    h.requests[0]!.ack();
    await until(() => h.requests.length === 2, 2000, 'the grouped request');
    expect(h.requests[1]!.ids).toEqual(['id-1', 'id-2', 'id-3']);
    h.requests[1]!.refuse(new XmppIqError('not-acceptable', 'modify', 'payload refused'));
    // Again one at a time: the first and the third are stored, the second is refused.
    for (const [i, ok] of [[2, true], [3, false], [4, true]] as const) {
      await until(() => h.requests.length === i + 1, 2000, `single ${i}`);
      if (ok) h.requests[i]!.ack();
      else h.requests[i]!.refuse(new XmppIqError('not-acceptable', 'modify', 'payload refused'));
    }
    await until(() => h.commits.at(-1) === 't/0@6', 2000, 'everything committed');
    expect(h.letters.map((l) => l.split(':')[0])).toEqual(['5', '2']);
    expect(h.marked).toEqual(['id-0', 'id-1', 'id-3']);
  });

  it('marks that cannot be written yet (a full disk) are tried again without publishing again; the offset waits for them', async () => {
    const h = harness({ window: 1, failMarks: 1 });
    await h.add([0]);
    h.requests[0]!.ack();
    await until(() => h.commits.at(-1) === 't/0@1', 5000, 'the commit after the marks');
    expect(h.requests).toHaveLength(1);
    expect(h.marked).toEqual(['id-0']);
  });

  it('a second message with a key already in flight is a duplicate, published once', async () => {
    const h = harness({ window: 4, maxItems: 1 });
    await h.add([0], { key: 'hop:a' });
    await h.add([1], { key: 'hop:a' });
    expect(h.requests.map((r) => r.ids)).toEqual([['id-0']]);
    h.requests[0]!.ack();
    await until(() => h.commits.at(-1) === 't/0@2', 2000, 'both committed');
  });

  it('once stopped nothing more is sent, and no offset after an unacknowledged message is committed', async () => {
    const h = harness({ window: 2, maxItems: 1 });
    await h.add([0, 1]);
    h.requests[0]!.ack();
    await until(() => h.commits.at(-1) === 't/0@1', 2000, 'the first commit');
    h.abort.abort();
    await h.add([2]);
    expect(h.requests).toHaveLength(2); // 2 is never sent: it comes again after the restart
    h.requests[1]!.ack(); // acknowledged while stopping: it may be committed, 2 may not
    await tick();
    await h.p.flush();
    expect(h.commits.every((c) => c !== 't/0@3')).toBe(true);
    await expect(h.p.add({ topic: 't', partition: 0, offset: '3' }, async () => {})).resolves.toBeUndefined();
  });
});
