/**
 * xmpp.js decodes every socket chunk on its own (`data.toString("utf8")` in
 * Connection#_onData, in 0.13 and 0.14 alike), so a multi-byte UTF-8 character
 * split across two TCP/TLS reads becomes two U+FFFD. VOEvents carry non-ASCII
 * text (author names, descriptions, units such as "°"), so both the broker's
 * component link and the agents need streaming decoding: one StringDecoder per
 * socket. This patches every copy of the Connection class in this process.
 */
import { createRequire } from 'node:module';
import { StringDecoder } from 'node:string_decoder';
import ClientConnection from '@xmpp/connection';

type Conn = { prototype: { _onData(data: Buffer | string): void } };
let done = false;

function patch(Connection: Conn, emitsInput: boolean): void {
  const proto = Connection.prototype as Conn['prototype'] & { __voxnetUtf8?: boolean };
  if (proto.__voxnetUtf8) return;
  const decoders = new WeakMap<object, StringDecoder>();
  proto._onData = function (this: { socket?: object; parser?: { write(s: string): void }; emit(ev: string, s: string): void }, data: Buffer | string) {
    let str: string;
    if (typeof data === 'string') str = data;
    else {
      const key = this.socket ?? this;
      let d = decoders.get(key);
      if (!d) decoders.set(key, (d = new StringDecoder('utf8')));
      str = d.write(data);
    }
    if (!str) return;
    if (emitsInput) this.emit('input', str);
    this.parser?.write(str);
  };
  proto.__voxnetUtf8 = true;
}

export function fixXmppUtf8Decoding(): void {
  if (done) return;
  done = true;
  const require = createRequire(import.meta.url);
  // @xmpp/client 0.14 (ESM): its Connection is the top-level @xmpp/connection.
  patch(ClientConnection as unknown as Conn, false);
  // @xmpp/component 0.13 (CommonJS): connection-tcp carries its own @xmpp/connection.
  try {
    const tcpRequire = createRequire(require.resolve('@xmpp/connection-tcp'));
    patch(tcpRequire('@xmpp/connection') as Conn, true);
  } catch {
    /* @xmpp/component not installed */
  }
}
