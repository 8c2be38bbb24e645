/** Small real XMPP clients for tests: connect, send IQs, collect messages. */
import { client, xml } from '@xmpp/client';
import type { Element } from '@xmpp/xml';
import { trustCertificates } from '../../common/xmpp/tls.ts';
import { fixXmppUtf8Decoding } from '../../common/xmpp/utf8.ts';

fixXmppUtf8Decoding();

export { xml };
export type { Element };

export type TestClient = {
  jid: string;
  xmpp: ReturnType<typeof client>;
  /** Send an IQ and resolve with the reply stanza, result or error (never throws on type=error). */
  iq(type: 'get' | 'set', to: string, child: Element, timeoutMs?: number): Promise<Element>;
  /** Messages received so far. */
  messages: Element[];
  /** Wait until a message satisfying pred arrives (or was already received). */
  waitMessage(pred: (m: Element) => boolean, timeoutMs?: number): Promise<Element>;
  stop(): Promise<void>;
};

let counter = 0;

export async function connectClient(opts: {
  service: string;
  domain: string;
  username: string;
  password: string;
  resource?: string;
  presence?: boolean;
  /** Certificates to trust (the test server's self-signed ones). */
  trust?: string[];
}): Promise<TestClient> {
  if (opts.trust) trustCertificates(opts.trust);
  const xmpp = client({
    service: opts.service,
    domain: opts.domain,
    // Over TLS (or loopback) PLAIN costs nothing; xmpp.js's SCRAM takes seconds of CPU.
    credentials: (authenticate: any, mechanisms: string[]) =>
      authenticate({ username: opts.username, password: opts.password }, mechanisms.includes('PLAIN') ? 'PLAIN' : mechanisms[0]),
    resource: opts.resource ?? `test${++counter}`,
    // xmpp.js waits 2 s for each stream step; a loaded CI machine can be slower.
    timeout: 15_000,
  });
  xmpp.on('error', () => {});
  const messages: Element[] = [];
  const waiters: { pred: (m: Element) => boolean; res: (m: Element) => void }[] = [];
  const pending = new Map<string, (e: Element) => void>();
  xmpp.on('stanza', (st: Element) => {
    if (st.is('message')) {
      messages.push(st);
      for (const w of [...waiters]) {
        if (w.pred(st)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.res(st);
        }
      }
    } else if (st.is('iq') && (st.attrs.type === 'result' || st.attrs.type === 'error')) {
      const cb = pending.get(st.attrs.id);
      if (cb) {
        pending.delete(st.attrs.id);
        cb(st);
      }
    }
  });
  let address;
  try {
    address = await xmpp.start();
  } catch (err) {
    // A refused login must not keep reconnecting in the background.
    xmpp.reconnect?.stop?.();
    await xmpp.stop().catch(() => {});
    throw err;
  }
  if (opts.presence !== false) await xmpp.send(xml('presence'));
  let n = 0;
  return {
    jid: address.toString(),
    xmpp,
    messages,
    iq(type, to, child, timeoutMs = 15_000) {
      const id = `q${++n}-${counter}`;
      return new Promise<Element>((res, rej) => {
        const t = setTimeout(() => {
          pending.delete(id);
          rej(new Error(`no reply to iq ${id} to ${to}`));
        }, timeoutMs);
        pending.set(id, (e) => {
          clearTimeout(t);
          res(e);
        });
        xmpp.send(xml('iq', { type, to, id }, child)).catch(rej);
      });
    },
    waitMessage(pred, timeoutMs = 10_000) {
      const found = messages.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((res, rej) => {
        const w = { pred, res: (m: Element) => (clearTimeout(t), res(m)) };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          rej(new Error('timed out waiting for a message'));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    async stop() {
      try {
        await xmpp.stop();
      } catch {
        /* already gone */
      }
    },
  };
}
