/**
 * The component's link to its server (XEP-0114): connects, authenticates with the
 * shared secret, and reconnects with exponential backoff and jitter whenever the
 * server restarts or the link drops.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { Element } from '@xmpp/xml';
import type { Logger } from 'pino';
import { fixXmppUtf8Decoding } from '../agents/lib/xmpp-utf8.ts';

fixXmppUtf8Decoding();

const require = createRequire(import.meta.url);
// @xmpp/component-core is CommonJS; it gives us the bare XEP-0114 connection.
const { Component } = require('@xmpp/component-core') as { Component: new (opts: { service: string; domain: string }) => any };

export type LinkOptions = {
  service: string;
  domain: string;
  secret: string;
  log?: Logger;
  minDelayMs?: number;
  maxDelayMs?: number;
};

export class ComponentLink extends EventEmitter {
  private entity: any;
  private stopped = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private online = false;
  /** IQs sent with request(), by id. */
  private readonly pending = new Map<string, (st: Element) => void>();

  constructor(private readonly opts: LinkOptions) {
    super();
  }

  isOnline(): boolean {
    return this.online;
  }

  /** Resolves once the first connection is up (keeps retrying until then). */
  start(): Promise<void> {
    return new Promise((resolve) => {
      this.once('online', () => resolve());
      void this.connect();
    });
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const entity = new Component({ service: this.opts.service, domain: this.opts.domain });
    entity.timeout = 15_000; // xmpp.js's 2 s per stream step is short for a busy server
    this.entity = entity;
    entity.on('error', (err: Error) => this.opts.log?.warn({ err: err.message }, 'component link error'));
    entity.on('open', async (el: Element) => {
      try {
        await entity.authenticate(el.attrs.id, this.opts.secret);
      } catch (err) {
        this.opts.log?.error({ err: (err as Error).message }, 'component handshake failed (check the secret)');
        entity.disconnect().catch(() => {});
      }
    });
    entity.on('online', () => {
      // Stanzas are small and latency matters: no Nagle delay (it adds up to 40 ms
      // to a notification written right after an IQ reply).
      entity.socket?.setNoDelay?.(true);
      this.attempt = 0;
      this.online = true;
      this.opts.log?.info({ domain: this.opts.domain, service: this.opts.service }, 'component online');
      this.emit('online');
    });
    entity.on('stanza', (st: Element) => {
      if (st.name === 'iq' && (st.attrs.type === 'result' || st.attrs.type === 'error')) {
        const waiter = this.pending.get(st.attrs.id);
        if (waiter) return waiter(st);
      }
      this.emit('stanza', st);
    });
    entity.on('disconnect', () => this.lost(entity));
    entity.on('close', () => this.lost(entity));
    try {
      await entity.connect(this.opts.service);
      await entity.open({ domain: this.opts.domain });
    } catch (err) {
      this.opts.log?.warn({ err: (err as Error).message }, 'component link: cannot connect');
      this.lost(entity);
    }
  }

  private lost(entity: any): void {
    if (entity !== this.entity) return; // an old connection's late event
    this.entity = undefined;
    const wasOnline = this.online;
    this.online = false;
    if (wasOnline) this.emit('offline');
    try {
      entity.removeAllListeners('stanza');
      entity.socket?.destroy?.();
    } catch {
      /* already closed */
    }
    if (this.stopped) return;
    const min = this.opts.minDelayMs ?? 200;
    const max = this.opts.maxDelayMs ?? 30_000;
    const delay = Math.min(max, min * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt++;
    this.opts.log?.info({ delayMs: Math.round(delay), attempt: this.attempt }, 'component link down; reconnecting');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.connect(), delay);
  }

  send(el: Element): void {
    if (!this.online) return;
    this.entity.send(el).catch((err: Error) => this.opts.log?.warn({ err: err.message }, 'send failed'));
  }

  /** Write already serialized stanzas. */
  write(data: string): Promise<void> {
    if (!this.online || !this.entity) return Promise.reject(new Error('component link is down'));
    return this.entity.write(data);
  }

  /** Send an IQ and wait for its reply (e.g. disco of the server's multicast service). */
  async request(el: Element, timeoutMs = 10_000): Promise<Element> {
    const id = el.attrs.id as string;
    if (!this.online) throw new Error('component link is down');
    if (this.pending.has(id)) throw new Error(`a request with id ${id} is already waiting`);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no reply to ${id}`));
      }, timeoutMs);
      this.pending.set(id, (st) => {
        clearTimeout(t);
        this.pending.delete(id);
        resolve(st);
      });
      this.send(el);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const e = this.entity;
    this.entity = undefined;
    this.online = false;
    if (e) {
      try {
        await Promise.race([e.stop(), new Promise((r) => setTimeout(r, 2000))]);
      } catch {
        /* closing anyway */
      }
      e.socket?.destroy?.();
    }
  }
}
