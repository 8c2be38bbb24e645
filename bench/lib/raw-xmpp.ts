/**
 * A minimal XMPP client over a raw TCP socket, for benchmarks that need
 * thousands of connections: no TLS (the local test servers allow SASL PLAIN
 * in the clear on loopback), SASL PLAIN, resource binding, initial presence.
 *
 * It does not parse the stream. During setup (`textMode`) it keeps the text it
 * receives and finds IQ replies by their start tag; while measuring, it only
 * scans the raw bytes for delivery markers (see MarkerScanner), so a 5 KB
 * notification costs the bench one `Buffer.indexOf`, not an XML parse.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

export const STREAM_NS = 'http://etherx.jabber.org/streams';

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Attributes of one start tag (single or double quotes, any order). */
export function attrsOf(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([\w:-]+)\s*=\s*(?:'([^']*)'|"([^"]*)")/g;
  for (let m; (m = re.exec(tag)); ) out[m[1]!] = m[2] ?? m[3] ?? '';
  return out;
}

/** A file's XML document as the payload of an <item/> written into a raw stanza.*/
export function payloadXml(file: string): string {
  let s = readFileSync(file, 'utf8').replace(/^\uFEFF/, '').replace(/^<\?xml[^>]*\?>\s*/, '').replace(/<!--[\s\S]*?-->/g, '').trim();
  const root = /^<([\w.-]+:)?[\w.-]+/.exec(s);
  if (!root) throw new Error(`${file}: no root element`);
  if (root[1] && !/^<[^>]*\sxmlns=/.test(s)) s = s.replace(root[0], `${root[0]} xmlns=""`);
  return s;
}

export type IqReply = { type: string; id: string; xml: string };

/**
 * Finds delivery markers `<prefix><a>~<b>~<c>~` (three decimal fields ended by
 * '~') in a byte stream, including markers split across chunks, each once.
 */
export class MarkerScanner {
  private carry: Buffer | undefined;
  private readonly prefix: Buffer;
  /** Longest marker we accept; a split marker is looked for in this many bytes. */
  private readonly maxLen = 64;

  constructor(
    prefix: string,
    private readonly onMarker: (a: number, b: number, c: number) => void,
  ) {
    this.prefix = Buffer.from(prefix, 'latin1');
  }

  push(chunk: Buffer): void {
    if (this.carry) {
      // Markers that start in the previous chunk and end in this one.
      const joint = Buffer.concat([this.carry, chunk.subarray(0, this.maxLen)]);
      this.scan(joint, this.carry.length);
    }
    const end = this.scan(chunk, chunk.length);
    const from = Math.max(end, chunk.length - this.maxLen + 1);
    this.carry = from < chunk.length ? Buffer.from(chunk.subarray(from)) : undefined;
  }

  /** Report complete markers starting before `startLimit`; returns the end of the last one (0 if none). */
  private scan(buf: Buffer, startLimit: number): number {
    let pos = 0;
    let lastEnd = 0;
    for (;;) {
      const at = buf.indexOf(this.prefix, pos);
      if (at < 0 || at >= startLimit) return lastEnd;
      let p = at + this.prefix.length;
      const fields = [0, 0, 0];
      let ok = true;
      for (let f = 0; f < 3 && ok; f++) {
        let n = 0;
        let digits = 0;
        while (p < buf.length && buf[p]! >= 0x30 && buf[p]! <= 0x39) {
          n = n * 10 + (buf[p]! - 0x30);
          p++;
          digits++;
        }
        if (p >= buf.length || buf[p] !== 0x7e /* ~ */ || digits === 0) ok = false;
        else {
          fields[f] = n;
          p++;
        }
      }
      if (ok) {
        this.onMarker(fields[0]!, fields[1]!, fields[2]!);
        lastEnd = p;
      }
      pos = at + 1;
    }
  }
}

export type RawClientOptions = {
  host: string;
  port: number;
  user: string;
  domain: string;
  password: string;
  resource?: string;
  timeoutMs?: number;
};

export class RawClient {
  readonly socket: Socket;
  /** Keep received text and look for IQ replies (setup); off while measuring. */
  textMode = true;
  jid = '';
  private text = '';
  private waiters: { re: RegExp; res: (m: RegExpExecArray) => void; rej: (e: Error) => void; t: NodeJS.Timeout }[] = [];
  private pending = new Map<string, { res: (r: IqReply) => void; rej: (e: Error) => void; t: NodeJS.Timeout }>();
  private seq = 0;
  private closed = false;
  private onBytes: ((chunk: Buffer) => void) | undefined;

  private constructor(private readonly o: RawClientOptions) {
    this.socket = connect({ host: o.host, port: o.port });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new Error(`connection of ${o.user}@${o.domain} closed`)));
  }

  /** Connect, authenticate with PLAIN, bind a resource, send initial presence. */
  static async login(o: RawClientOptions): Promise<RawClient> {
    const c = new RawClient(o);
    try {
      await c.handshake();
    } catch (e) {
      c.close();
      throw e;
    }
    return c;
  }

  /** Bytes received, before any text handling (delivery counting). */
  onRaw(fn: ((chunk: Buffer) => void) | undefined): void {
    this.onBytes = fn;
  }

  private async handshake(): Promise<void> {
    const timeout = this.o.timeoutMs ?? 30_000;
    await new Promise<void>((res, rej) => {
      this.socket.once('connect', res);
      this.socket.once('error', rej);
    });
    const header = `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='${STREAM_NS}' to='${escapeXml(this.o.domain)}' version='1.0'>`;
    this.write(header);
    const features = (await this.waitFor(/<stream:features[\s\S]*?<\/stream:features>/, timeout))[0];
    if (!/<mechanism>PLAIN<\/mechanism>/.test(features)) throw new Error(`${this.o.domain} offers no SASL PLAIN without TLS: ${features}`);
    const cred = Buffer.from(`\0${this.o.user}\0${this.o.password}`, 'utf8').toString('base64');
    this.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>${cred}</auth>`);
    const auth = await this.waitFor(/<(success|failure)\b[\s\S]*?(?:\/>|<\/\1>)/, timeout);
    if (auth[1] !== 'success') throw new Error(`authentication of ${this.o.user}@${this.o.domain} failed: ${auth[0]}`);
    this.text = '';
    this.write(header);
    await this.waitFor(/<stream:features[\s\S]*?<\/stream:features>/, timeout);
    const bind = await this.iq(
      `<iq type='set' id='ID'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>${escapeXml(this.o.resource ?? 'bench')}</resource></bind></iq>`,
      timeout,
    );
    if (bind.type !== 'result') throw new Error(`bind failed: ${bind.xml}`);
    this.jid = /<jid>([^<]+)<\/jid>/.exec(bind.xml)?.[1] ?? `${this.o.user}@${this.o.domain}`;
    this.write(`<presence/>`);
  }

  write(data: string): boolean {
    return this.socket.write(data);
  }

  /**
   * Send an IQ whose id attribute is written `id='ID'` in `xml` (replaced by a
   * fresh id) and resolve with the reply, result or error.
   */
  iq(xml: string, timeoutMs = 30_000): Promise<IqReply> {
    const id = `b${++this.seq}`;
    return new Promise((res, rej) => {
      const t = setTimeout(() => {
        this.pending.delete(id);
        rej(new Error(`no reply to IQ ${id} within ${timeoutMs} ms: ${xml.slice(0, 200)}`));
      }, timeoutMs);
      this.pending.set(id, { res, rej, t });
      this.write(xml.replace(`id='ID'`, `id='${id}'`));
    });
  }

  private onData(chunk: Buffer): void {
    this.onBytes?.(chunk);
    if (!this.textMode) return;
    this.text += chunk.toString('utf8');
    this.scanIqs();
    for (const w of [...this.waiters]) {
      const m = w.re.exec(this.text);
      if (m) {
        clearTimeout(w.t);
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.res(m);
      }
    }
    if (this.text.length > 1 << 20 && this.waiters.length === 0) this.text = this.text.slice(-4096);
  }

  /** Complete IQ replies in the text: resolve their waiters and drop them from the text. */
  private scanIqs(): void {
    if (this.pending.size === 0) return;
    const re = /<iq\b[^>]*?(\/>|>)/g;
    let m: RegExpExecArray | null;
    let consumed = 0;
    while ((m = re.exec(this.text))) {
      let end: number;
      if (m[1] === '/>') end = re.lastIndex;
      else {
        const close = this.text.indexOf('</iq>', re.lastIndex);
        if (close < 0) break;
        end = close + 5;
      }
      const a = attrsOf(m[0]);
      const p = a.id ? this.pending.get(a.id) : undefined;
      if (p && (a.type === 'result' || a.type === 'error')) {
        this.pending.delete(a.id!);
        clearTimeout(p.t);
        p.res({ type: a.type, id: a.id!, xml: this.text.slice(m.index, end) });
      }
      consumed = end;
      re.lastIndex = end;
    }
    if (consumed) this.text = this.text.slice(consumed);
  }

  private waitFor(re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const m = re.exec(this.text);
    if (m) return Promise.resolve(m);
    return new Promise((res, rej) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.t !== t);
        rej(new Error(`${this.o.user}@${this.o.domain}: timed out waiting for ${re} (got ${this.text.slice(-300)})`));
      }, timeoutMs);
      this.waiters.push({ re, res, rej, t });
    });
  }

  private fail(err: Error): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters) {
      clearTimeout(w.t);
      w.rej(err);
    }
    this.waiters = [];
    for (const p of this.pending.values()) {
      clearTimeout(p.t);
      p.rej(err);
    }
    this.pending.clear();
  }

  close(): void {
    if (!this.socket.destroyed) {
      try {
        this.socket.end(`</stream:stream>`);
      } catch {
        /* already closed */
      }
      setTimeout(() => this.socket.destroy(), 500).unref();
    }
    this.closed = true;
  }
}

/** The reply's XML when it is a result; throws naming `what` otherwise. */
export async function expectResult(p: Promise<{ type: string; xml: string }>, what: string): Promise<string> {
  const r = await p;
  if (r.type !== 'result') throw new Error(`${what} failed: ${r.xml.slice(0, 600)}`);
  return r.xml;
}

/** Wait until a service answers disco#info (a broker process has connected). */
export async function waitService(pub: RawClient, service: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await pub.iq(`<iq type='get' id='ID' to='${service}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, 10_000).catch(() => undefined);
    if (r?.type === 'result' && r.xml.includes('http://jabber.org/protocol/pubsub')) return;
    if (Date.now() > deadline) throw new Error(`${service} does not answer disco#info: ${r?.xml ?? 'no reply'}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
