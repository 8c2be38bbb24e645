/**
 * One logged-in XMPP session over WebSocket (RFC 7395) with @xmpp/client:
 * login with a clear reason when it fails, automatic reconnection (xmpp.js's
 * reconnect), presence so that the service's headline notifications reach the
 * page, IQs that reject with typed XmppIqErrors (common/), and pubsub events handed over.
 */
import { client, xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { backoffDelay } from '../../common/backoff.ts';
import { XmppIqError, readEvent, type IqFn, type PubsubEvent } from './protocol.ts';

export type Status = 'connecting' | 'online' | 'reconnecting' | 'offline';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class LoginError extends Error {
  override name = 'LoginError';
}

/** A failure to log in, said as a person would want to read it. */
export function loginProblem(err: unknown, websocket: string): string {
  const e = err as { name?: string; condition?: string; message?: string };
  if (e?.name === 'SASLError') {
    if (e.condition === 'not-authorized') return 'Wrong user name or password.';
    if (e.condition === 'account-disabled') return 'This account is disabled.';
    return `The server refused the login (${e.condition ?? e.message}).`;
  }
  if (e?.name === 'TimeoutError') return `The XMPP server at ${websocket} did not answer in time.`;
  const msg = e?.message ?? String(err);
  if (/websocket|ECONN|connect/i.test(msg) || e?.name === 'ConnectionError') return `Cannot reach the XMPP server at ${websocket} (${msg}).`;
  return `Login failed: ${msg}`;
}

export type SessionOptions = {
  websocket: string;
  jid: string;
  password: string;
  onStatus: (s: Status, detail?: string) => void;
  onEvent: (ev: PubsubEvent) => void;
  /** Called after every reconnection, to catch up on what was missed. */
  onReconnected: () => void;
};

export class Session {
  readonly bare: string;
  private xmpp: ReturnType<typeof client>;
  private everOnline = false;
  private stopped = false;

  constructor(private readonly opts: SessionOptions) {
    const at = opts.jid.indexOf('@');
    if (at <= 0 || at === opts.jid.length - 1 || opts.jid.includes('/')) throw new LoginError('Enter your address as user@domain (e.g. bob@svom.cn).');
    const username = opts.jid.slice(0, at);
    const domain = opts.jid.slice(at + 1);
    this.bare = `${username}@${domain}`.toLowerCase();
    this.xmpp = client({
      service: opts.websocket,
      domain,
      username,
      password: opts.password,
      resource: `web-${Math.random().toString(36).slice(2, 8)}`,
      timeout: 15_000,
    } as never);
    // Our own reconnection loop (below) replaces xmpp.js's, which gives up when a reconnection attempt fails.
    this.xmpp.reconnect.stop();
    this.xmpp.on('error', () => {});
    this.xmpp.on('stanza', (st: Element) => {
      if (!st.is('message')) return;
      const ev = readEvent(st);
      if (ev) opts.onEvent(ev);
    });
    this.xmpp.on('disconnect', () => {
      if (!this.stopped && this.everOnline) void this.reconnectLoop();
    });
    this.xmpp.on('online', async () => {
      await this.xmpp.send(xml('presence'));
      const again = this.everOnline;
      this.everOnline = true;
      opts.onStatus('online');
      if (again) opts.onReconnected();
    });
  }

  private reconnecting = false;

  /** Until online again: attempts with exponential backoff (common/backoff: 1 s doubling to 30 s, jittered). */
  private async reconnectLoop(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      for (let attempt = 0; !this.stopped && this.xmpp.status !== 'online'; attempt++) {
        this.opts.onStatus('reconnecting', attempt ? `attempt ${attempt + 1}` : undefined);
        await sleep(backoffDelay(attempt, { initialMs: 1000, maxMs: 30_000 }));
        if (this.stopped) return;
        try {
          const online = new Promise<void>((res, rej) => {
            const t = setTimeout(() => rej(new Error('timeout')), 20_000);
            this.xmpp.once('online', () => (clearTimeout(t), res()));
          });
          online.catch(() => {});
          await this.xmpp.reconnect.reconnect();
          await online;
        } catch {
          await this.xmpp.disconnect().catch(() => {});
        }
      }
    } finally {
      this.reconnecting = false;
    }
  }

  /** Logs in; rejects with a LoginError whose message is for the person at the keyboard. */
  async start(): Promise<void> {
    this.opts.onStatus('connecting');
    try {
      await this.xmpp.start();
    } catch (err) {
      this.stopped = true;
      this.xmpp.reconnect.stop();
      await this.xmpp.stop().catch(() => {});
      this.opts.onStatus('offline');
      throw new LoginError(loginProblem(err, this.opts.websocket));
    }
  }

  iq: IqFn = async (type, to, child) => {
    try {
      const reply: Element = await this.xmpp.iqCaller.request(xml('iq', { type, to }, child), 30_000);
      return reply.getChildElements()[0];
    } catch (err) {
      const el = (err as { element?: Element }).element;
      if (el) throw XmppIqError.fromReply(xml('iq', { type: 'error' }, el));
      throw err;
    }
  };

  async stop(): Promise<void> {
    this.stopped = true;
    this.xmpp.reconnect.stop();
    await this.xmpp.stop().catch(() => {});
    this.opts.onStatus('offline');
  }
}
