/**
 * The VTP receiver role: authors submit events straight to VOXnet, one per
 * connection, as `comet-sendvo` does against a Comet broker's receive port
 * (`comet/protocol/receiver.py`): the author sends an event, we answer `ack`
 * once it is stored on its node, or `nak` with the reason (invalid, refused by
 * the node), and close. Connections come only from the allow-list; one that
 * sends nothing within `timeoutMs` (default 20 s, Comet's) is closed.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { silentLogger, type Logger } from '../../lib/index.ts';
import { allowed, allowList } from './broker.ts';
import { VtpConnection, type BadFrame } from './connection.ts';
import { DEFAULT_MAX_FRAME } from './framing.ts';
import { ack, nak, type Incoming, type EventMessage } from './messages.ts';
import type { EventVerdict } from './subscriber.ts';

export type ReceiverOptions = {
  host?: string;
  port: number;
  localIvo: string;
  /** CIDR networks allowed to submit (default everyone, as Comet). */
  allow?: string[];
  maxFrameBytes?: number;
  timeoutMs?: number;
  onEvent: (ev: EventMessage, from: string) => Promise<EventVerdict>;
  onBadFrame?: (bad: BadFrame, from: string) => Promise<void>;
  log?: Logger;
};

/** Events: 'refused' (address). */
export class VtpReceiver extends EventEmitter {
  private server?: net.Server;
  private readonly allow: net.BlockList;
  private readonly log: Logger;

  constructor(private readonly opts: ReceiverOptions) {
    super();
    this.log = opts.log ?? silentLogger();
    this.allow = allowList(opts.allow ?? ['0.0.0.0/0', '::/0']);
  }

  async listen(): Promise<number> {
    this.server = net.createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port, this.opts.host ?? '0.0.0.0', () => resolve());
    });
    return (this.server.address() as net.AddressInfo).port;
  }

  private accept(socket: net.Socket): void {
    const from = `${socket.remoteAddress}:${socket.remotePort}`;
    if (!allowed(this.allow, socket.remoteAddress)) {
      this.log.warn({ address: socket.remoteAddress }, 'VTP author refused: not in the allow-list');
      this.emit('refused', socket.remoteAddress);
      socket.destroy();
      return;
    }
    const conn = new VtpConnection(socket, this.opts.maxFrameBytes ?? DEFAULT_MAX_FRAME);
    const timer = setTimeout(() => conn.close('nothing submitted in time'), this.opts.timeoutMs ?? 20_000);
    let busy = false;
    const done = async (reply?: string) => {
      clearTimeout(timer);
      if (reply) await conn.send(reply);
      conn.close('submission answered');
    };
    conn.on('close', () => clearTimeout(timer));
    conn.on('message', (m: Incoming) => {
      if (busy) return;
      if (m.kind !== 'event') {
        this.log.warn({ author: from, role: m.role }, 'a VTP author sent a Transport message, not an event');
        return void done();
      }
      busy = true;
      this.opts.onEvent(m, from).then(
        (v) => done(v.accepted ? ack(this.opts.localIvo, m.ivorn) : nak(this.opts.localIvo, m.ivorn, v.reason)),
        (e) => {
          // Stopping, or a failure that is not the event's fault: no ack, the author may try again.
          this.log.warn({ author: from, ivorn: m.ivorn, err: (e as Error).message }, 'submission not handled');
          return done();
        },
      );
    });
    conn.on('bad', (b: BadFrame) => {
      if (busy) return;
      busy = true;
      void (this.opts.onBadFrame?.(b, from) ?? Promise.resolve()).then(() => done(b.ivorn ? nak(this.opts.localIvo, b.ivorn, b.reason) : undefined));
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
