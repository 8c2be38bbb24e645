/**
 * Xep0060Handler in memory (no servers): stanza in → stanza out, over the real
 * core and the SQLite store in a temporary folder. The wire behaviour with real
 * clients is in broker-xep0060 and broker-conformance (Prosody, slixmpp).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xml, type Element } from '@xmpp/xml';
import { afterEach, describe, expect, it } from 'vitest';
import { PubsubService, type ServiceEvent } from '../broker-component/core/service.ts';
import { SqliteStore } from '../broker-component/store/sqlite.ts';
import { INTERNAL_ERROR_TEXT, STORAGE_FULL_TEXT, STORAGE_UNAVAILABLE_TEXT, Xep0060Handler } from '../broker-component/xep0060/handler.ts';
import { STORAGE_UNAVAILABLE } from '../common/storage-full.ts';
import type { RequestTrace } from '../pubsub/types.ts';
import { NS, entry, errorOf, ps } from './helpers/pubsub.ts';

const SERVICE = 'pubsub.svom.fr';
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function setup(opts: { failPublish?: Error } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'voxnet-handler-'));
  dirs.push(dir);
  const store = new SqliteStore(dir);
  if (opts.failPublish) {
    const err = opts.failPublish;
    store.publishItems = () => {
      throw err;
    };
  }
  const events: ServiceEvent[] = [];
  const service = new PubsubService(store, {
    admins: ['admin@svom.fr'],
    canCreate: (bare) => bare.endsWith('@svom.fr'),
    onEvent: (ev) => {
      events.push(ev);
      return new Promise<void>((r) => setTimeout(r, 5));
    },
  });
  const internal: { err: unknown; stanza: Element }[] = [];
  const full: unknown[] = [];
  const sent: Element[] = [];
  const handler = new Xep0060Handler(service, { domain: SERVICE, send: (el) => sent.push(el), onInternalError: (err, stanza) => internal.push({ err, stanza }), onStorageFull: (err) => full.push(err) });
  const iq = (from: string, type: 'get' | 'set', child: Element, request?: RequestTrace) =>
    handler.handleIq(xml('iq', { type, id: `q${Math.random().toString(36).slice(2, 8)}`, from, to: SERVICE }, child), request)!;
  return { store, service, handler, events, internal, full, sent, iq };
}

describe('Xep0060Handler (in memory)', () => {
  it('publish → result with the item id; subscribers are notified; the request traces the dispatch', async () => {
    const t = setup();
    expect(t.iq('alice@svom.fr/a', 'set', ps(xml('create', { node: 'grb' }))).attrs.type).toBe('result');
    const sub = t.iq('bob@svom.fr/b', 'set', ps(xml('subscribe', { node: 'grb', jid: 'bob@svom.fr/b' })));
    expect(sub.getChild('pubsub')?.getChild('subscription')?.attrs.subscription).toBe('subscribed');
    const request: RequestTrace = { dispatched: [] };
    const r = t.iq('alice@svom.fr/a', 'set', ps(xml('publish', { node: 'grb' }, xml('item', { id: 'i1' }, entry('one')))), request);
    expect(r.attrs).toMatchObject({ type: 'result', to: 'alice@svom.fr/a', from: SERVICE });
    expect(r.getChild('pubsub')?.getChild('publish')?.getChild('item')?.attrs.id).toBe('i1');
    const items = t.events.filter((e) => e.kind === 'items');
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ node: 'grb', recipients: [{ jid: 'bob@svom.fr/b' }] });
    // The one notification's dispatch is in the request's trace, whatever the timing of the handling.
    expect(request.dispatched).toHaveLength(1);
    await Promise.all(request.dispatched);
    expect(t.store.getItem('grb', 'i1')?.payload).toBe('<entry xmlns="urn:example:entry"><title>one</title></entry>');
  });

  it('refusals are the XEP-0060 error of the core', () => {
    const t = setup();
    t.iq('alice@svom.fr/a', 'set', ps(xml('create', { node: 'grb' })));
    const r = t.iq('eve@evil.example/x', 'set', ps(xml('publish', { node: 'grb' }, xml('item', {}, entry('x')))));
    expect(r.attrs.type).toBe('error');
    expect(errorOf(r)).toMatchObject({ type: 'auth', condition: 'forbidden' });
    expect(errorOf(t.iq('alice@svom.fr/a', 'get', ps(xml('items', { node: 'nope' }))))).toMatchObject({ condition: 'item-not-found' });
    expect(errorOf(t.iq('alice@svom.fr/a', 'get', xml('query', { xmlns: 'urn:unknown' })))).toMatchObject({ condition: 'service-unavailable' });
    expect(t.internal).toEqual([]);
  });

  it('an unexpected exception is logged with its stack; the wire carries a generic text only', () => {
    const bug = Object.assign(new Error('SQLITE_CORRUPT: database disk image is malformed'), { code: 'SQLITE_CORRUPT' });
    const t = setup({ failPublish: bug });
    t.iq('alice@svom.fr/a', 'set', ps(xml('create', { node: 'grb' })));
    const r = t.iq('alice@svom.fr/a', 'set', ps(xml('publish', { node: 'grb' }, xml('item', { id: 'i1' }, entry('one')))));
    expect(errorOf(r)).toMatchObject({ type: 'wait', condition: 'internal-server-error' });
    const text = r.getChild('error')?.getChildText('text', NS.STANZAS);
    expect(text).toBe(INTERNAL_ERROR_TEXT);
    expect(r.toString()).not.toContain('SQLITE');
    expect(t.internal).toHaveLength(1);
    expect(t.internal[0]!.err).toBe(bug);
    expect((t.internal[0]!.err as Error).stack).toContain('xep0060-handler.test.ts');
    expect(t.internal[0]!.stanza.attrs.from).toBe('alice@svom.fr/a');
  });

  it('a full store (SQLITE_FULL, ENOSPC) is resource-constraint (wait), reported once, not an internal error', () => {
    for (const code of ['SQLITE_FULL', 'ENOSPC']) {
      const err = Object.assign(new Error('database or disk is full'), { code });
      const t = setup({ failPublish: err });
      t.iq('alice@svom.fr/a', 'set', ps(xml('create', { node: 'grb' })));
      for (const id of ['i1', 'i2']) {
        const r = t.iq('alice@svom.fr/a', 'set', ps(xml('publish', { node: 'grb' }, xml('item', { id }, entry('one')))));
        expect(errorOf(r), code).toEqual({ type: 'wait', condition: 'resource-constraint', pubsub: undefined, feature: undefined });
        expect(r.getChild('error')?.getChildText('text', NS.STANZAS)).toBe(STORAGE_FULL_TEXT);
      }
      expect(t.full).toEqual([err]);
      expect(t.internal).toEqual([]);
    }
  });

  it('an unreachable database (PostgreSQL gone) is internal-server-error (wait) with its own text, logged once a minute, the URL off the wire', () => {
    const err = Object.assign(new Error('lost the connection to PostgreSQL at postgres://voxnet:***@db:5432/voxnet: server closed the connection'), { code: STORAGE_UNAVAILABLE });
    const t = setup({ failPublish: err });
    t.iq('alice@svom.fr/a', 'set', ps(xml('create', { node: 'grb' })));
    for (const id of ['i1', 'i2']) {
      const r = t.iq('alice@svom.fr/a', 'set', ps(xml('publish', { node: 'grb' }, xml('item', { id }, entry('one')))));
      expect(errorOf(r)).toMatchObject({ type: 'wait', condition: 'internal-server-error' });
      expect(r.getChild('error')?.getChildText('text', NS.STANZAS)).toBe(STORAGE_UNAVAILABLE_TEXT);
      expect(r.toString()).not.toContain('postgres://');
    }
    expect(t.internal.map((x) => x.err)).toEqual([err]);
    expect(t.full).toEqual([]);
  });
});
