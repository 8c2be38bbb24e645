/**
 * XEP-0045 multi-user chat over an agent's connection: join a room (creating it
 * when it does not exist), configure it as its owner, read and change its
 * affiliation lists, and say something in it — a groupchat message counts as
 * said once the room reflects it back to us (the room's acknowledgement).
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { xml, type Element } from '@xmpp/xml';
import type { Agent } from '../lib/connect.ts';
import { NotConnectedError, XmppIqError } from '../../common/xmpp/iq-errors.ts';

export const NS_MUC = 'http://jabber.org/protocol/muc';
export const NS_MUC_USER = 'http://jabber.org/protocol/muc#user';
export const NS_MUC_ADMIN = 'http://jabber.org/protocol/muc#admin';
export const NS_MUC_OWNER = 'http://jabber.org/protocol/muc#owner';
const NS_DATA = 'jabber:x:data';

export type MucAffiliation = 'owner' | 'admin' | 'member' | 'outcast' | 'none';

/** A join refused by the room (e.g. registration-required, not-allowed). */
export class MucJoinError extends Error {
  override name = 'MucJoinError';
  constructor(readonly room: string, readonly condition: string) {
    super(`cannot join ${room}: ${condition}`);
  }
}

type Waiter = { resolve: (created: boolean) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

const bare = (jid: string) => jid.split('/')[0]!.toLowerCase();

/**
 * Events: 'left' (room, reason) when the room removed us (kick, destruction,
 * shutdown): the caller rejoins.
 */
export class MucClient extends EventEmitter {
  private readonly joined = new Set<string>();
  /** Room → occupant nick → real bare JID (rooms where we may see real JIDs). */
  private readonly occupantJids = new Map<string, Map<string, string>>();
  private readonly joining = new Map<string, Waiter>();
  private readonly echoes = new Map<string, () => void>();
  private readonly onStanza = (st: Element) => this.stanza(st);
  private readonly onOffline = () => {
    this.joined.clear();
    this.occupantJids.clear();
  };

  constructor(private readonly agent: Agent, readonly nick: string, private readonly timeoutMs = 15_000) {
    super();
    agent.on('stanza', this.onStanza);
    agent.on('offline', this.onOffline);
  }

  isJoined(room: string): boolean {
    return this.joined.has(room.toLowerCase());
  }

  /** Enter `room`; resolves with true when the room was created by this join (it then waits for its configuration). */
  join(room: string): Promise<boolean> {
    const r = room.toLowerCase();
    return new Promise<boolean>((resolve, reject) => {
      const prev = this.joining.get(r);
      if (prev) clearTimeout(prev.timer), prev.reject(new Error(`join of ${r} superseded`));
      const timer = setTimeout(() => {
        this.joining.delete(r);
        reject(new Error(`no answer from ${r} to our join within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.joining.set(r, { resolve, reject, timer });
      // No history: what the room said while we were away is not ours to repeat.
      this.agent.send(xml('presence', { to: `${r}/${this.nick}` }, xml('x', { xmlns: NS_MUC }, xml('history', { maxstanzas: '0' })))).catch((e: Error) => {
        clearTimeout(timer);
        this.joining.delete(r);
        reject(e);
      });
    });
  }

  /** Submit the owner configuration form (muc#roomconfig fields); unlocks a room we just created. */
  async configure(room: string, fields: Record<string, string | string[]>): Promise<void> {
    const x = xml('x', { xmlns: NS_DATA, type: 'submit' }, xml('field', { var: 'FORM_TYPE' }, xml('value', {}, 'http://jabber.org/protocol/muc#roomconfig')));
    for (const [k, v] of Object.entries(fields)) x.append(xml('field', { var: k }, ...(Array.isArray(v) ? v : [v]).map((s) => xml('value', {}, s))));
    await this.agent.iq('set', xml('query', { xmlns: NS_MUC_OWNER }, x), { to: room });
  }

  /** The bare JIDs (or domains) holding `affiliation` in the room. */
  async list(room: string, affiliation: MucAffiliation): Promise<string[]> {
    const reply = await this.agent.iq('get', xml('query', { xmlns: NS_MUC_ADMIN }, xml('item', { affiliation })), { to: room });
    return (reply.getChild('query', NS_MUC_ADMIN)?.getChildren('item') ?? []).map((i) => bare(i.attrs.jid ?? '')).filter(Boolean);
  }

  /** Change affiliations, one request each (Prosody applies only the first item of a request). */
  async setAffiliations(room: string, changes: { jid: string; affiliation: MucAffiliation; reason?: string }[]): Promise<void> {
    await Promise.all(changes.map((c) =>
      this.agent.iq('set', xml('query', { xmlns: NS_MUC_ADMIN }, xml('item', { jid: c.jid, affiliation: c.affiliation }, ...(c.reason ? [xml('reason', {}, c.reason)] : []))), { to: room })));
  }

  /**
   * Say `body` in the room (plus extra children); resolves once the room reflected
   * the message to us, i.e. it reached the occupants. Rejects when not joined or
   * when no reflection came within the timeout.
   */
  say(room: string, body: string, extra: Element[] = []): Promise<void> {
    const r = room.toLowerCase();
    if (!this.joined.has(r)) return Promise.reject(new NotConnectedError(`not in ${r}`));
    const id = `vx-${randomBytes(8).toString('hex')}`;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.echoes.delete(id);
        reject(new Error(`${r} did not reflect our message within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.echoes.set(id, () => {
        clearTimeout(timer);
        resolve();
      });
      this.agent.send(xml('message', { to: r, type: 'groupchat', id }, xml('body', {}, body), ...extra)).catch((e: Error) => {
        clearTimeout(timer);
        this.echoes.delete(id);
        reject(e);
      });
    });
  }

  /** Occupants of a room whose real JIDs we see (we moderate it): nick → bare JID. */
  occupants(room: string): Map<string, string> {
    return new Map(this.occupantJids.get(room.toLowerCase()) ?? []);
  }

  /** Remove an occupant from the room (role none), by nickname. */
  async kick(room: string, nick: string, reason?: string): Promise<void> {
    await this.agent.iq('set', xml('query', { xmlns: NS_MUC_ADMIN }, xml('item', { nick, role: 'none' }, ...(reason ? [xml('reason', {}, reason)] : []))), { to: room });
  }

  /** Leave every room and stop listening. */
  async close(): Promise<void> {
    this.agent.off('stanza', this.onStanza);
    this.agent.off('offline', this.onOffline);
    for (const r of this.joined) await this.agent.send(xml('presence', { to: `${r}/${this.nick}`, type: 'unavailable' })).catch(() => {});
    this.joined.clear();
  }

  private stanza(st: Element): void {
    const from = st.attrs.from ?? '';
    const room = bare(from);
    const resource = from.includes('/') ? from.slice(from.indexOf('/') + 1) : '';
    if (st.is('message') && st.attrs.type === 'groupchat' && st.attrs.id) {
      const done = this.echoes.get(st.attrs.id);
      if (done) this.echoes.delete(st.attrs.id), done();
      return;
    }
    if (!st.is('presence')) return;
    const w = this.joining.get(room);
    if (st.attrs.type === 'error') {
      if (!w) return;
      clearTimeout(w.timer);
      this.joining.delete(room);
      const cond = st.getChild('error')?.children.find((c) => typeof c !== 'string' && (c as Element).attrs.xmlns === 'urn:ietf:params:xml:ns:xmpp-stanzas') as Element | undefined;
      w.reject(new MucJoinError(room, cond?.name ?? 'error'));
      return;
    }
    const x = st.getChild('x', NS_MUC_USER);
    const codes = new Set((x?.getChildren('status') ?? []).map((s) => s.attrs.code));
    const self = codes.has('110') || resource === this.nick;
    if (!self) {
      const real = x?.getChild('item')?.attrs.jid;
      if (!resource) return;
      const occ = this.occupantJids.get(room) ?? new Map<string, string>();
      this.occupantJids.set(room, occ);
      if (st.attrs.type === 'unavailable') occ.delete(resource);
      else if (real) occ.set(resource, bare(real));
      return;
    }
    if (st.attrs.type === 'unavailable') {
      this.occupantJids.delete(room);
      if (this.joined.delete(room)) {
        const reason = codes.has('301') ? 'banned' : codes.has('307') ? 'kicked' : codes.has('321') ? 'affiliation changed' : codes.has('332') ? 'service shutdown' : x?.getChild('destroy') ? 'room destroyed' : 'left';
        this.emit('left', room, reason);
      }
      return;
    }
    this.joined.add(room);
    if (w) {
      clearTimeout(w.timer);
      this.joining.delete(room);
      w.resolve(codes.has('201'));
    }
  }
}

export { XmppIqError };
