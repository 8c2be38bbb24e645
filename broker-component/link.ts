/**
 * The component's link to its server (XEP-0114): connects, authenticates with the
 * shared secret, and reconnects with exponential backoff and jitter whenever the
 * server restarts or the link drops (common/xmpp: the same reconnection, IQ
 * caller and xmpp.js fixes as the agents' client).
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { Element } from '@xmpp/xml';
import type { Logger } from 'pino';
import { fixXmppUtf8Decoding } from '../common/xmpp/utf8.ts';
import { IqCaller } from '../common/xmpp/iq-caller.ts';
import { Reconnector } from '../common/xmpp/reconnect.ts';
import { NotConnectedError } from '../common/xmpp/iq-errors.ts';

fixXmppUtf8Decoding();

const require = createRequire(import.meta.url);
// @xmpp/component-core is CommonJS; it gives us the bare XEP-0114 connection.
const { Component } = require('@xmpp/component-core') as { Component: new (opts: { service: string; domain: string }) => any };

export type LinkOptions = {
  /** The server's component port, or several (the nodes of a cluster): after a lost or failed connection the next one is tried. */
  service: string | string[];
  domain: string;
  secret: string;
  log?: Logger;
  minDelayMs?: number;
  maxDelayMs?: number;
};

export class ComponentLink extends EventEmitter {
  private entity: any;
  private stopped = false;
  private online = false;
  /** IQs sent with request(). */
  private readonly iqs = new IqCaller('vxlink', 10_000);
  private readonly reconnector: Reconnector;
  private readonly services: string[];
  /** Index in `services` of the next connection attempt. */
  private next = 0;
  /** The service of the current (or last) connection. */
  service: string;

  constructor(private readonly opts: LinkOptions) {
    super();
    this.services = typeof opts.service === 'string' ? [opts.service] : [...opts.service];
    if (!this.services.length) throw new Error('ComponentLink: no service to connect to');
    this.service = this.services[0]!;
    this.reconnector = new Reconnector(() => void this.connect(), { initialMs: opts.minDelayMs ?? 200, maxMs: opts.maxDelayMs ?? 30_000 });
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
    const service = this.services[this.next % this.services.length]!;
    this.service = service;
    const entity = new Component({ service, domain: this.opts.domain });
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
      this.reconnector.succeeded();
      this.online = true;
      this.opts.log?.info({ domain: this.opts.domain, service }, 'component online');
      this.emit('online');
    });
    entity.on('stanza', (st: Element) => {
      if (!this.iqs.handle(st)) this.emit('stanza', st);
    });
    entity.on('disconnect', () => this.lost(entity));
    entity.on('close', () => this.lost(entity));
    try {
      await entity.connect(service);
      await entity.open({ domain: this.opts.domain });
    } catch (err) {
      this.opts.log?.warn({ err: (err as Error).message, service }, 'component link: cannot connect');
      this.lost(entity);
    }
  }

  private lost(entity: any): void {
    if (entity !== this.entity) return; // an old connection's late event
    this.entity = undefined;
    const wasOnline = this.online;
    this.online = false;
    this.iqs.rejectAll('component link lost before the reply came');
    if (wasOnline) this.emit('offline');
    try {
      entity.removeAllListeners('stanza');
      entity.socket?.destroy?.();
    } catch {
      /* already closed */
    }
    if (this.stopped) return;
    // That server is down or cut off: the next attempt goes to the next one (a cluster's other node).
    this.next++;
    const delay = this.reconnector.schedule();
    if (delay !== undefined) this.opts.log?.info({ delayMs: delay, attempt: this.reconnector.attempts, next: this.services[this.next % this.services.length] }, 'component link down; reconnecting');
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

  /**
   * Send an IQ and wait for its result (e.g. disco of the server's multicast
   * service); an error reply rejects with XmppIqError, a lost link with
   * NotConnectedError, silence with IqTimeoutError (common/xmpp/iq-errors.ts).
   */
  request(el: Element, timeoutMs = 10_000): Promise<Element> {
    if (!this.online) return Promise.reject(new NotConnectedError('component link is down'));
    if (!el.attrs.id) el.attrs.id = this.iqs.nextId();
    return this.iqs.call(el.attrs.id, () => this.entity.send(el), { timeoutMs, to: el.attrs.to });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.reconnector.cancel();
    this.iqs.rejectAll('component link stopped');
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
