/**
 * The VTP broker role: serve VTP subscribers the events in the spool.
 *
 * Per connection, as Comet's broadcaster does (`comet/protocol/broadcaster.py`):
 * an `authenticate` first (the subscriber answers with its XPath filters, new
 * style `Meta/Param[@name="xpath-filter"]` or old style `Meta/filter[@type="xpath"]`),
 * an `iamalive` every interval (a subscriber that left the previous one
 * unanswered is dropped), events sent when one of the filters passes, a nak
 * ends the connection. Beyond Comet: the subscriber is known by its IVO (the
 * Response of its answer; else its address) and a subscriber that comes back
 * first gets what it had not acknowledged, from the spool; at most `window`
 * events wait for acks. Connections come only from the allow-list; TLS when
 * given a certificate.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { silentLogger, type Logger } from '../../lib/index.ts';
import { VtpConnection } from './connection.ts';
import { checkXPath, FilterTarget, installFilter } from './filter.ts';
import { DEFAULT_MAX_FRAME } from './framing.ts';
import { authenticate, filtersOf, iamalive, type Incoming } from './messages.ts';
import type { Spool, SpooledEvent } from './spool.ts';
import { DiskFullWatch } from '../lib/disk-full.ts';
import { isStorageFull } from '../../../common/storage-full.ts';

export type TlsServerOptions = { cert: string; key: string; ca?: string[]; requestCert?: boolean };

export type BrokerOptions = {
  host?: string;
  port: number;
  localIvo: string;
  spool: Spool;
  /** Default 60 s, as Comet. */
  iamaliveMs?: number;
  /** CIDR networks allowed to subscribe (default everyone, as Comet). */
  allow?: string[];
  tls?: TlsServerOptions;
  maxFrameBytes?: number;
  /** Events sent and not yet acknowledged, per subscriber (default 64). */
  window?: number;
  /** How long to wait for the answer to `authenticate` before sending with no filters (default 5 s). */
  identifyTimeoutMs?: number;
  /** Most subscribers connected at once (default 1000); more are refused. */
  maxSubscribers?: number;
  log?: Logger;
  /** The gateway's full-disk watch (default: one logging to `log`). */
  disk?: DiskFullWatch;
};

/** Build a net.BlockList used as an allow-list from CIDRs ("10.0.0.0/8", "::1/128", "192.0.2.7"). */
export function allowList(cidrs: string[]): net.BlockList {
  const list = new net.BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split('/');
    const type = net.isIPv6(addr!) ? 'ipv6' : net.isIPv4(addr!) ? 'ipv4' : undefined;
    if (!type) throw new Error(`'${c}' is not an IP network (such as 10.0.0.0/8 or ::1/128)`);
    const prefix = bits === undefined ? (type === 'ipv4' ? 32 : 128) : Number(bits);
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (type === 'ipv4' ? 32 : 128)) throw new Error(`'${c}' has an invalid prefix length`);
    list.addSubnet(addr!, prefix, type);
  }
  return list;
}

export function allowed(list: net.BlockList, address: string | undefined): boolean {
  if (!address) return false;
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (v4) return list.check(v4, 'ipv4') || list.check(address, 'ipv6');
  return list.check(address, net.isIPv6(address) ? 'ipv6' : 'ipv4');
}

/** Events: 'subscriber' (Session), 'refused' (address), 'ack'/'nak' (session, ivorn), 'iamalive' (session), 'gone' (session, reason). */
export class VtpBroker extends EventEmitter {
  private server?: net.Server;
  readonly sessions = new Set<Session>();
  private aliveTimer?: NodeJS.Timeout;
  private readonly allow: net.BlockList;
  readonly log: Logger;
  readonly disk: DiskFullWatch;

  constructor(readonly opts: BrokerOptions) {
    super();
    this.log = opts.log ?? silentLogger();
    this.disk = opts.disk ?? new DiskFullWatch(this.log);
    this.allow = allowList(opts.allow ?? ['0.0.0.0/0', '::/0']);
  }

  async listen(): Promise<number> {
    const onSocket = (s: net.Socket) => this.accept(s);
    if (this.opts.tls) {
      const t = this.opts.tls;
      this.server = tls.createServer({ cert: readFileSync(t.cert), key: readFileSync(t.key), ca: t.ca?.map((f) => readFileSync(f)), requestCert: t.requestCert ?? false, rejectUnauthorized: t.requestCert ?? false }, onSocket);
    } else this.server = net.createServer(onSocket);
    this.server.on('error', (e) => this.log.error({ err: e.message }, 'VTP broker server error'));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port, this.opts.host ?? '0.0.0.0', () => resolve());
    });
    this.aliveTimer = setInterval(() => this.sessions.forEach((s) => s.tick()), this.opts.iamaliveMs ?? 60_000);
    this.aliveTimer.unref();
    return (this.server.address() as net.AddressInfo).port;
  }

  private accept(socket: net.Socket): void {
    if (!allowed(this.allow, socket.remoteAddress)) {
      this.log.warn({ address: socket.remoteAddress }, 'VTP subscriber refused: not in the allow-list');
      this.emit('refused', socket.remoteAddress);
      socket.destroy();
      return;
    }
    if (this.sessions.size >= (this.opts.maxSubscribers ?? 1000)) {
      this.log.warn({ address: socket.remoteAddress, subscribers: this.sessions.size }, 'VTP subscriber refused: too many subscribers');
      this.emit('refused', socket.remoteAddress);
      socket.destroy();
      return;
    }
    const s = new Session(this, new VtpConnection(socket, this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME));
    this.sessions.add(s);
    this.emit('subscriber', s);
    s.start();
  }

  /** New events are in the spool: send them. */
  notify(): void {
    for (const s of this.sessions) s.pump();
  }

  async close(): Promise<void> {
    clearInterval(this.aliveTimer);
    for (const s of this.sessions) s.conn.close('broker stopping');
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const ACK_SAVE_MS = 250;
const ACKS_STATE = 'the VTP spool (how far subscribers acknowledged)';

export class Session {
  /** Its IVO, or `addr:<ip>`; undefined until identified. */
  id?: string;
  filters: string[] = [];
  /** Sequence number of the last spooled event considered (sent or filtered out). */
  private cursor = 0;
  private readonly inflight = new Map<string, number>();
  private missedAlive = 0;
  private acksSinceTick = 0;
  private identifyTimer?: NodeJS.Timeout;
  private pumping = false;
  private saveTimer?: NodeJS.Timeout;
  private readonly headAtConnect: number;

  constructor(readonly broker: VtpBroker, readonly conn: VtpConnection) {
    this.headAtConnect = broker.opts.spool.headSeq();
    conn.on('message', (m: Incoming) => this.onMessage(m));
    conn.on('bad', (b: { reason: string }) => broker.log.warn({ subscriber: conn.peer, reason: b.reason }, 'bad frame from a VTP subscriber'));
    conn.on('close', (reason?: string) => {
      clearTimeout(this.identifyTimer);
      this.saveAckedNow();
      broker.sessions.delete(this);
      broker.log.info({ subscriber: this.id ?? conn.peer, reason }, 'VTP subscriber gone');
      broker.emit('gone', this, reason);
    });
  }

  private get log() {
    return this.broker.log;
  }

  start(): void {
    this.log.info({ subscriber: this.conn.peer }, 'new VTP subscriber');
    void this.conn.send(authenticate(this.broker.opts.localIvo));
    this.identifyTimer = setTimeout(() => this.identify(undefined, []), this.broker.opts.identifyTimeoutMs ?? 5000);
  }

  private identify(ivo: string | undefined, filters: string[]): void {
    clearTimeout(this.identifyTimer);
    const first = this.id === undefined;
    this.filters = [];
    for (const f of filters) {
      const problem = checkXPath(f);
      if (problem) this.log.warn({ subscriber: this.conn.peer, filter: f, problem }, 'filter is not valid XPath: ignored');
      else this.filters.push(installFilter(f));
    }
    if (this.filters.length) this.log.info({ subscriber: this.conn.peer, filters: this.filters }, 'filters installed');
    if (!first) return;
    this.id = ivo || `addr:${this.conn.socket.remoteAddress}`;
    const acked = this.broker.opts.spool.acked(this.id);
    this.cursor = acked ?? this.headAtConnect;
    if (acked !== undefined && acked < this.broker.opts.spool.headSeq()) this.log.info({ subscriber: this.id, from: acked }, 'subscriber is back: sending what it had not acknowledged');
    this.pump();
  }

  private onMessage(m: Incoming): void {
    if (m.kind !== 'transport') {
      this.log.warn({ subscriber: this.conn.peer, ivorn: m.ivorn }, 'a VTP subscriber sent an event: ignored');
      return;
    }
    switch (m.role) {
      case 'authenticate':
        this.identify(m.response, filtersOf(m));
        break;
      case 'iamalive':
        this.missedAlive = Math.max(0, this.missedAlive - 1);
        this.broker.emit('iamalive', this);
        break;
      case 'ack':
      case 'nak': {
        const ivorn = m.origin ?? '';
        this.acksSinceTick++;
        if (this.inflight.delete(ivorn)) this.saveAcked();
        this.broker.emit(m.role, this, ivorn, m.result);
        if (m.role === 'nak') {
          this.log.warn({ subscriber: this.id, ivorn, reason: m.result }, 'nak from a VTP subscriber; closing its connection (as Comet does)');
          this.conn.close('nak received');
          return;
        }
        this.pump();
        break;
      }
    }
  }

  /**
   * Record how far the subscriber acknowledged, at most every `ACK_SAVE_MS` (and on
   * close): a broker killed in between resends those few events, which a
   * subscriber drops as already seen (Comet: its event db; ours: the seen-store).
   */
  private saveAcked(): void {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => this.saveAckedNow(), ACK_SAVE_MS);
    this.saveTimer.unref();
  }

  private saveAckedNow(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    if (!this.id) return;
    let upTo = this.cursor;
    for (const seq of this.inflight.values()) upTo = Math.min(upTo, seq - 1);
    try {
      this.broker.opts.spool.setAckedUpTo(this.id, upTo);
      this.broker.disk.ok(ACKS_STATE);
    } catch (e) {
      if (!isStorageFull(e)) throw e;
      // Not recorded: after a restart these events would be sent again, which subscribers drop as
      // seen. Tried again while the subscriber is connected; never a crash for it.
      this.broker.disk.failed(e, ACKS_STATE);
      if (this.conn.isOpen) this.saveAcked();
    }
  }

  /** Send spooled events after the cursor, while the window has room. */
  pump(): void {
    if (!this.id || this.pumping || !this.conn.isOpen) return;
    this.pumping = true;
    try {
      const window = this.broker.opts.window ?? 64;
      let moved = false;
      while (this.inflight.size < window) {
        const batch = this.broker.opts.spool.read(this.cursor, window - this.inflight.size);
        if (batch.length === 0) break;
        for (const ev of batch) this.sendOne(ev);
        this.cursor = batch.at(-1)!.seq;
        moved = true;
      }
      if (moved && this.inflight.size === 0) this.saveAcked();
    } finally {
      this.pumping = false;
    }
  }

  private sendOne(ev: SpooledEvent): void {
    if (!new FilterTarget(ev.xml).passes(this.filters)) {
      this.log.debug({ subscriber: this.id, ivorn: ev.ivorn }, 'event rejected by the subscriber\'s filters');
      return;
    }
    this.inflight.set(ev.ivorn, ev.seq);
    void this.conn.send(ev.xml);
  }

  /**
   * The iamalive clock: drop a subscriber that left the previous iamalive
   * unanswered, or that acknowledged nothing for a whole interval with its
   * window full (Comet drops one with 10 acks outstanding). It gets what it
   * missed when it comes back.
   */
  tick(): void {
    if (!this.conn.isOpen) return;
    if (this.missedAlive >= 1) {
      this.log.warn({ subscriber: this.id ?? this.conn.peer }, 'VTP subscriber did not answer iamalive; dropping it');
      this.conn.close('no iamalive answer');
      return;
    }
    const stalled = this.inflight.size >= (this.broker.opts.window ?? 64) && this.acksSinceTick === 0;
    this.acksSinceTick = 0;
    if (stalled) {
      this.log.warn({ subscriber: this.id ?? this.conn.peer, outstanding: this.inflight.size }, 'VTP subscriber is not acknowledging events; dropping it');
      this.conn.close('not acknowledging');
      return;
    }
    void this.conn.send(iamalive(this.broker.opts.localIvo));
    this.missedAlive++;
  }
}
