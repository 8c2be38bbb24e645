/**
 * Request–response over a stream: IQs sent with an id wait for the result or
 * error with that id. A result resolves; an error reply rejects with a typed
 * XmppIqError; no reply within the timeout rejects with IqTimeoutError; a lost
 * connection rejects every waiting call with NotConnectedError (its reply can
 * no longer come). Used by the agents' client and the broker's component link.
 */
import { randomBytes } from 'node:crypto';
import type { Element } from '@xmpp/xml';
import { IqTimeoutError, NotConnectedError, XmppIqError } from './iq-errors.ts';

type Waiter = { resolve: (e: Element) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

export class IqCaller {
  private readonly pending = new Map<string, Waiter>();
  private seq = 0;

  /** `prefix` starts every generated id (e.g. the agent's name). */
  constructor(
    private readonly prefix: string,
    private readonly defaultTimeoutMs = 15_000,
  ) {}

  /** A fresh, unguessable IQ id. */
  nextId(): string {
    return `${this.prefix}-${(++this.seq).toString(36)}-${randomBytes(3).toString('hex')}`;
  }

  /** Calls waiting for their reply. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Wait for the reply to IQ `id`, which `send` writes. A rejected `send` rejects
   * the call with NotConnectedError. `to` names the peer in timeout messages.
   */
  call(id: string, send: () => Promise<unknown> | void, opts: { timeoutMs?: number; to?: string } = {}): Promise<Element> {
    if (this.pending.has(id)) return Promise.reject(new Error(`a request with id ${id} is already waiting`));
    const timeoutMs = opts.timeoutMs ?? this.defaultTimeoutMs;
    return new Promise<Element>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new IqTimeoutError(`no reply${opts.to ? ` from ${opts.to}` : ''} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        const sent = send();
        if (sent && typeof (sent as Promise<unknown>).catch === 'function') (sent as Promise<unknown>).catch((e: Error) => this.fail(id, e));
      } catch (e) {
        this.fail(id, e as Error);
      }
    });
  }

  private fail(id: string, e: Error): void {
    const w = this.pending.get(id);
    if (!w) return;
    this.pending.delete(id);
    clearTimeout(w.timer);
    w.reject(new NotConnectedError(`could not send: ${e.message}`));
  }

  /** Offer a received stanza: true when it was the reply to a waiting call (and is consumed). */
  handle(st: Element): boolean {
    if (st.name !== 'iq' || (st.attrs.type !== 'result' && st.attrs.type !== 'error')) return false;
    const w = this.pending.get(st.attrs.id ?? '');
    if (!w) return false;
    this.pending.delete(st.attrs.id!);
    clearTimeout(w.timer);
    if (st.attrs.type === 'result') w.resolve(st);
    else w.reject(XmppIqError.fromReply(st));
    return true;
  }

  /** Reject every waiting call (the connection is gone, or we stop). */
  rejectAll(reason: string): void {
    for (const [id, w] of this.pending) {
      clearTimeout(w.timer);
      this.pending.delete(id);
      w.reject(new NotConnectedError(reason));
    }
  }
}
