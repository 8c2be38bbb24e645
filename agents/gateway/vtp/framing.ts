/**
 * VTP framing: each message is a 4-byte network-order (big-endian) length, then
 * that many bytes of XML. The decoder hands out whole frames and never buffers
 * more than `maxFrame` bytes of one: a longer frame is skipped as it streams by
 * (only its first `sampleBytes` are kept, for the dead-letter record) and
 * reported as oversized, so the stream continues after it.
 */

/** Comet (Twisted's Int32StringReceiver) refuses frames over 99,999 bytes. */
export const COMET_MAX_FRAME = 99_999;
/** Our default limit: the VOEvent parser's own (1 MiB). */
export const DEFAULT_MAX_FRAME = 1 << 20;
/** A length beyond this is not an oversized message but a broken or hostile stream: the connection is dropped. */
export const DEFAULT_MAX_SKIP = 64 << 20;

export type Frame = { kind: 'frame'; data: Buffer } | { kind: 'oversized'; length: number; sample: Buffer };

export class FrameError extends Error {
  override name = 'FrameError';
}

export function encodeFrame(payload: string | Uint8Array): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes of an oversized frame still to discard. */
  private skipping = 0;
  private skipLength = 0;
  private sample: Buffer[] = [];
  private sampled = 0;

  constructor(
    private readonly maxFrame = DEFAULT_MAX_FRAME,
    private readonly maxSkip = DEFAULT_MAX_SKIP,
    private readonly sampleBytes = 4096,
  ) {}

  /** Feed bytes; returns the frames completed by them, in order. Throws FrameError for a length beyond maxSkip. */
  push(data: Buffer): Frame[] {
    const out: Frame[] = [];
    let chunk = data;
    while (chunk.length > 0) {
      if (this.skipping > 0) {
        const n = Math.min(this.skipping, chunk.length);
        if (this.sampled < this.sampleBytes) {
          const keep = chunk.subarray(0, Math.min(n, this.sampleBytes - this.sampled));
          this.sample.push(Buffer.from(keep));
          this.sampled += keep.length;
        }
        this.skipping -= n;
        chunk = chunk.subarray(n);
        if (this.skipping === 0) {
          out.push({ kind: 'oversized', length: this.skipLength, sample: Buffer.concat(this.sample) });
          this.sample = [];
          this.sampled = 0;
        }
        continue;
      }
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      chunk = Buffer.alloc(0);
      while (this.buffered >= 4) {
        const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
        const length = all.readUInt32BE(0);
        if (length > this.maxFrame) {
          if (length > this.maxSkip) throw new FrameError(`frame length ${length} is beyond any message (limit ${this.maxFrame}); dropping the connection`);
          this.skipping = length;
          this.skipLength = length;
          this.chunks = [];
          this.buffered = 0;
          chunk = all.subarray(4);
          if (length === 0) break;
          break;
        }
        if (all.length < 4 + length) {
          this.chunks = [all];
          break;
        }
        out.push({ kind: 'frame', data: Buffer.from(all.subarray(4, 4 + length)) });
        const rest = all.subarray(4 + length);
        this.chunks = rest.length ? [rest] : [];
        this.buffered = rest.length;
      }
    }
    return out;
  }

  /** Bytes held for an incomplete frame. */
  get pending(): number {
    return this.buffered + this.skipping;
  }
}
