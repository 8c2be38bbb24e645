/**
 * One VTP connection (either side): frames in and out over a TCP or TLS socket.
 * Every complete frame is read into a message (messages.ts); a frame that is
 * not one becomes a `bad` event with the reason and the bytes (or, for an
 * oversized frame, its first 4 KiB), and the stream continues. A length prefix
 * beyond any message (a broken or hostile peer) closes the connection.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { FrameDecoder, FrameError, encodeFrame } from './framing.ts';
import { BadMessage, readMessage, type Incoming } from './messages.ts';

export type BadFrame = { reason: string; bytes: Buffer; ivorn?: string; oversized: boolean };

/** Events: 'message' (Incoming), 'bad' (BadFrame), 'close' (reason?: string). */
export class VtpConnection extends EventEmitter {
  private readonly decoder: FrameDecoder;
  private closed = false;
  readonly peer: string;

  constructor(readonly socket: Socket, readonly maxFrameBytes: number) {
    super();
    this.decoder = new FrameDecoder(maxFrameBytes);
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => this.close(e.message));
    socket.on('close', () => this.close('closed by peer'));
    socket.on('end', () => this.close('closed by peer'));
  }

  private onData(d: Buffer): void {
    let frames;
    try {
      frames = this.decoder.push(d);
    } catch (e) {
      if (e instanceof FrameError) {
        this.close(e.message);
        return;
      }
      throw e;
    }
    for (const f of frames) {
      if (this.closed) return;
      if (f.kind === 'oversized') {
        const m = /\sivorn\s*=\s*(["'])([^"'<>]{1,1024})\1/.exec(f.sample.toString('latin1'));
        this.emit('bad', { reason: `message of ${f.length} bytes is over the ${this.maxFrameBytes}-byte limit`, bytes: f.sample, ivorn: m?.[2], oversized: true } satisfies BadFrame);
        continue;
      }
      let msg: Incoming;
      try {
        msg = readMessage(f.data, this.maxFrameBytes);
      } catch (e) {
        if (!(e instanceof BadMessage)) throw e;
        this.emit('bad', { reason: e.message, bytes: f.data, ivorn: e.ivorn, oversized: false } satisfies BadFrame);
        continue;
      }
      this.emit('message', msg);
    }
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** Send one message (XML text or bytes). Resolves when handed to the kernel; false if the connection is gone. */
  send(payload: string | Uint8Array): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.socket.write(encodeFrame(payload), (err) => resolve(!err));
    });
  }

  close(reason?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.emit('close', reason);
  }
}
