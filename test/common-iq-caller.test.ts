/** common/xmpp/iq-caller.ts: replies matched by id, typed failures. */
import { describe, expect, it } from 'vitest';
import { xml } from '@xmpp/xml';
import { IqCaller } from '../common/xmpp/iq-caller.ts';
import { IqTimeoutError, NotConnectedError, XmppIqError, isTransient } from '../common/xmpp/iq-errors.ts';
import { NS } from '../common/ns.ts';

describe('IqCaller', () => {
  it('resolves with the result of the same id and leaves other stanzas alone', async () => {
    const c = new IqCaller('t');
    const id = c.nextId();
    expect(id).toMatch(/^t-1-[0-9a-f]{6}$/);
    const sent: string[] = [];
    const p = c.call(id, () => void sent.push(id));
    expect(sent).toEqual([id]);
    expect(c.handle(xml('iq', { type: 'result', id: 'other' }))).toBe(false);
    expect(c.handle(xml('message', { id }))).toBe(false);
    expect(c.handle(xml('iq', { type: 'result', id }, xml('query')))).toBe(true);
    expect((await p).getChild('query')).toBeTruthy();
    expect(c.size).toBe(0);
  });

  it('rejects an error reply with its condition, type, text and application condition', async () => {
    const c = new IqCaller('t');
    const p = c.call('e1', () => {});
    c.handle(
      xml('iq', { type: 'error', id: 'e1' }, xml('error', { type: 'modify' },
        xml('not-acceptable', { xmlns: NS.STANZAS }), xml('invalid-payload', { xmlns: NS.ERRORS }), xml('text', { xmlns: NS.STANZAS }, 'bad VOEvent'))),
    );
    const e = await p.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(XmppIqError);
    expect(e).toMatchObject({ condition: 'not-acceptable', type: 'modify', text: 'bad VOEvent', pubsub: 'invalid-payload', transient: false });
  });

  it('times out, fails when the send fails, and rejects every waiter when the link goes', async () => {
    const c = new IqCaller('t');
    const slow = c.call('s', () => {}, { timeoutMs: 20, to: 'pubsub.x' });
    await expect(slow).rejects.toThrow(IqTimeoutError);
    await expect(slow).rejects.toThrow('no reply from pubsub.x within 20 ms');
    await expect(c.call('f', () => Promise.reject(new Error('socket closed')))).rejects.toThrow(NotConnectedError);
    const a = c.call('a', () => {});
    const b = c.call('b', () => {});
    await expect(c.call('a', () => {})).rejects.toThrow(/already waiting/);
    c.rejectAll('link lost');
    for (const p of [a, b]) {
      const e = await p.catch((x: unknown) => x);
      expect(e).toBeInstanceOf(NotConnectedError);
      expect(isTransient(e)).toBe(true);
    }
    expect(c.size).toBe(0);
  });
});
