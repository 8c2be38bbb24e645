/**
 * An xmpp.js client over XMPP-over-WebSocket (RFC 7395) for tests: logs in,
 * sends its initial presence and prints one JSON object per line:
 *   {"event": "online", "jid": ...}
 *   {"event": "message", "id": ..., "to": ..., "from": ..., "type": ..., "xml": <the stanza>}
 * Node 20 has a WebSocket client only behind a flag:
 *   node --experimental-websocket test/interop/xmppjs-websocket.mjs ws://127.0.0.1:PORT/xmpp-websocket DOMAIN USER PASSWORD
 */
import { client, xml } from '@xmpp/client';

const [service, domain, username, password] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const xmpp = client({
  service,
  domain,
  resource: 'web',
  credentials: (authenticate, mechanisms) => authenticate({ username, password }, mechanisms.includes('PLAIN') ? 'PLAIN' : mechanisms[0]),
  timeout: 15_000,
});
xmpp.on('error', (err) => out({ event: 'error', detail: String(err) }));
xmpp.on('stanza', (st) => {
  if (st.is('message')) out({ event: 'message', id: st.attrs.id, to: st.attrs.to, from: st.attrs.from, type: st.attrs.type, xml: st.toString() });
});
const address = await xmpp.start();
await xmpp.send(xml('presence'));
// Answered after the presence was handled: from now on the session is available.
await xmpp.iqCaller.get(xml('ping', { xmlns: 'urn:xmpp:ping' }), domain);
out({ event: 'online', jid: address.toString() });
process.on('SIGTERM', () => xmpp.stop().finally(() => process.exit(0)));
