/**
 * The VTP subscriber role: connect to a broker, answer its `authenticate` with
 * our filters and its `iamalive`s, hand each event to `onEvent` one at a time
 * in arrival order, then ack it (or nak it, when `onEvent` refuses it and
 * `invalid` is 'nak'). Reconnects with backoff for as long as it runs; a
 * broker silent for `aliveTimeoutMs` (default 120 s, Comet's value) is taken
 * for gone and the connection is made again.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { backoffDelay, silentLogger, type BackoffOptions, type Logger } from '../../lib/index.ts';
import { VtpConnection, type BadFrame } from './connection.ts';
import { DEFAULT_MAX_FRAME } from './framing.ts';
import { ack, authenticateResponse, iamaliveResponse, nak, type EventMessage, type Incoming } from './messages.ts';

/** What became of an event: acked (delivered, skipped as a duplicate or unrouted), or refused with a reason. */
export type EventVerdict = { accepted: true } | { accepted: false; reason: string };

export type TlsClientOptions = { ca?: string[]; servername?: string; rejectUnauthorized?: boolean };

export type SubscriberOptions = {
  host: string;
  port: number;
  /** Our IVO, sent as Response in acks and answers (optional, as in Comet). */
  localIvo?: string;
  /** XPath filters sent in the authenticate response. */
  filters?: string[];
  tls?: TlsClientOptions;
  maxFrameBytes?: number;
  aliveTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** Refused events: 'ack' (default; Comet's subscriber does so, as VTP §6.4 advises: a nak can make the broker drop us) or 'nak'. */
  invalid?: 'ack' | 'nak';
  onEvent: (ev: EventMessage) => Promise<EventVerdict>;
  /** A frame that is not a message (dead-letter it); the reply follows `invalid` when the frame named an IVORN. */
  onBadFrame?: (bad: BadFrame) => Promise<void>;
  log?: Logger;
};

/** Events: 'connected', 'disconnected' (reason), 'iamalive', 'authenticate' (filters sent), 'event' (ivorn, verdict). */
export class VtpSubscriber extends EventEmitter {
  private conn?: VtpConnection;
  private attempts = 0;
  private timer?: NodeJS.Timeout;
  private aliveTimer?: NodeJS.Timeout;
  private stopped = false;
  private chain: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  readonly target: string;

  constructor(private readonly opts: SubscriberOptions) {
    super();
    this.log = opts.log ?? silentLogger();
    this.target = `vtp${opts.tls ? 's' : ''}://${opts.host}:${opts.port}`;
  }

  start(): void {
    this.connect();
  }

  get connected(): boolean {
    return this.conn?.isOpen ?? false;
  }

  private connect(): void {
    if (this.stopped) return;
    const { host, port } = this.opts;
    let socket: net.Socket;
    if (this.opts.tls) {
      const t = this.opts.tls;
      socket = tls.connect({ host, port, servername: t.servername ?? (net.isIP(host) ? undefined : host), ca: t.ca?.map((f) => readFileSync(f)), rejectUnauthorized: t.rejectUnauthorized ?? true });
      socket.once('secureConnect', () => this.onConnected(socket));
    } else {
      socket = net.connect({ host, port });
      socket.once('connect', () => this.onConnected(socket));
    }
    // A connection attempt (TCP + TLS) that neither succeeds nor fails is cut after 20 s.
    const cut = setTimeout(() => socket.destroy(new Error('connection attempt timed out')), 20_000);
    socket.once(this.opts.tls ? 'secureConnect' : 'connect', () => clearTimeout(cut));
    socket.once('error', (e) => {
      clearTimeout(cut);
      if (!this.conn || this.conn.socket !== socket) this.retry(e.message, socket);
    });
  }

  private onConnected(socket: net.Socket): void {
    if (this.stopped) {
      socket.destroy();
      return;
    }
    const conn = new VtpConnection(socket, this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME);
    this.conn = conn;
    this.log.info({ broker: this.target }, 'connected to the VTP broker');
    this.emit('connected');
    // Comet resets its backoff once a connection lived 5 s; so do we.
    const reset = setTimeout(() => (this.attempts = 0), 5000);
    reset.unref();
    this.kickAlive();
    // Events one at a time, in order; Transport messages (iamalive, authenticate) answered at once, even
    // while an event waits (its node away, a full disk): a broker drops a subscriber that misses an iamalive.
    conn.on('message', (m: Incoming) => (m.kind === 'transport' ? void this.onMessage(conn, m).catch((e) => this.log.error({ err: (e as Error).stack }, 'VTP message handling failed')) : this.enqueue(() => this.onMessage(conn, m))));
    conn.on('bad', (b: BadFrame) => this.enqueue(() => this.onBad(conn, b)));
    conn.on('close', (reason?: string) => {
      clearTimeout(reset);
      clearTimeout(this.aliveTimer);
      if (this.conn === conn) this.conn = undefined;
      this.emit('disconnected', reason);
      this.retry(reason ?? 'closed', socket);
    });
  }

  private retry(reason: string, socket: net.Socket): void {
    socket.destroy();
    if (this.stopped) return;
    const delay = backoffDelay(this.attempts++, { initialMs: 1000, maxMs: 60_000, ...this.opts.backoff });
    this.log.warn({ broker: this.target, reason, retryInMs: delay }, 'VTP broker connection lost; reconnecting');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private kickAlive(): void {
    clearTimeout(this.aliveTimer);
    const ms = this.opts.aliveTimeoutMs ?? 120_000;
    this.aliveTimer = setTimeout(() => {
      this.log.warn({ broker: this.target, silentForMs: ms }, 'no traffic from the VTP broker; reconnecting');
      this.conn?.close(`no traffic for ${ms} ms`);
    }, ms);
    this.aliveTimer.unref();
  }

  /** Events are handled one at a time, in order, so that acks follow the events' order. */
  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(task).catch((e) => this.log.error({ err: (e as Error).stack }, 'VTP message handling failed'));
  }

  private async onMessage(conn: VtpConnection, m: Incoming): Promise<void> {
    this.kickAlive();
    const local = this.opts.localIvo;
    if (m.kind === 'transport') {
      if (m.role === 'iamalive') {
        await conn.send(iamaliveResponse(local, m.origin ?? ''));
        this.emit('iamalive', m);
      } else if (m.role === 'authenticate') {
        await conn.send(authenticateResponse(local, m.origin ?? '', this.opts.filters ?? []));
        this.emit('authenticate', this.opts.filters ?? []);
      } else this.log.warn({ broker: this.target, role: m.role }, 'unexpected Transport message from the broker');
      return;
    }
    let verdict: EventVerdict;
    try {
      verdict = await this.opts.onEvent(m);
    } catch (e) {
      // Stopping (or a failure that is not the event's fault): no reply; the broker may send it again.
      this.log.warn({ ivorn: m.ivorn, err: (e as Error).message }, 'event not handled; no reply sent');
      return;
    }
    if (verdict.accepted || this.opts.invalid !== 'nak') await conn.send(ack(local, m.ivorn));
    else await conn.send(nak(local, m.ivorn, verdict.reason));
    this.emit('event', m.ivorn, verdict);
  }

  private async onBad(conn: VtpConnection, b: BadFrame): Promise<void> {
    this.kickAlive();
    this.log.warn({ broker: this.target, reason: b.reason, ivorn: b.ivorn }, 'bad frame from the VTP broker');
    await this.opts.onBadFrame?.(b);
    if (b.ivorn) await conn.send(this.opts.invalid === 'nak' ? nak(this.opts.localIvo, b.ivorn, b.reason) : ack(this.opts.localIvo, b.ivorn));
    this.emit('bad', b);
  }

  /** Disconnect and stop reconnecting; the event in hand finishes first. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.aliveTimer);
    await this.chain.catch(() => {});
    this.conn?.close('stopping');
  }
}
