/** A bare external component (XEP-0114) for tests: connect, send, collect every stanza it receives. */
import { component } from '@xmpp/component';
import type { Element } from '@xmpp/xml';

export type TestComponent = {
  domain: string;
  xmpp: any;
  /** Every stanza received so far (messages, presences, IQs). */
  stanzas: Element[];
  /** Wait until a stanza satisfying pred arrives (or was already received). */
  waitStanza(pred: (s: Element) => boolean, timeoutMs?: number): Promise<Element>;
  send(el: Element): Promise<void>;
  stop(): Promise<void>;
};

export async function connectComponent(opts: { service: string; domain: string; password: string }): Promise<TestComponent> {
  const xmpp = component({ service: opts.service, domain: opts.domain, password: opts.password });
  xmpp.on('error', () => {});
  // Never reconnect in tests: a refused handshake must surface as an error.
  xmpp.reconnect?.stop?.();
  const stanzas: Element[] = [];
  const waiters: { pred: (s: Element) => boolean; res: (s: Element) => void }[] = [];
  xmpp.on('stanza', (s: Element) => {
    stanzas.push(s);
    for (const w of [...waiters]) {
      if (w.pred(s)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.res(s);
      }
    }
  });
  await xmpp.start();
  return {
    domain: opts.domain,
    xmpp,
    stanzas,
    waitStanza(pred, timeoutMs = 10_000) {
      const found = stanzas.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise((res, rej) => {
        const w = { pred, res: (s: Element) => (clearTimeout(t), res(s)) };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          rej(new Error(`timed out waiting for a stanza at ${opts.domain}`));
        }, timeoutMs);
        waiters.push(w);
      });
    },
    send: (el) => xmpp.send(el),
    async stop() {
      try {
        await xmpp.stop();
      } catch {
        /* already gone */
      }
    },
  };
}

/**
 * Canonical text of an element: attributes sorted by name, text kept exactly.
 * XML does not order attributes and servers re-serialise them in their own order
 * (Prosody keeps them in a Lua hash table), so this is the strictest comparison
 * that is meaningful between what was sent and what arrived.
 */
export function canonical(el: Element | string): string {
  if (typeof el === 'string') return escapeText(el);
  const attrs = Object.keys(el.attrs)
    .filter((k) => el.attrs[k] !== undefined)
    .sort()
    .map((k) => ` ${k}="${escapeAttr(String(el.attrs[k]))}"`)
    .join('');
  return `<${el.name}${attrs}>${el.children.map((c) => canonical(c as Element | string)).join('')}</${el.name}>`;
}

function escapeText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
function escapeAttr(s: string): string {
  return escapeText(s).replace(/"/g, '&quot;');
}

export { fixXmppUtf8Decoding } from '../../common/xmpp/utf8.ts';
