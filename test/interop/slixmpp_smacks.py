#!/usr/bin/env python3
"""
A slixmpp client with stream management (XEP-0198, slixmpp's xep_0198 plugin,
resumption on) for the multicast tests: it logs in over plain c2s on loopback,
enables stream management, prints every message it receives, and, after the
message whose id is --drop-after, drops its TCP connection without closing the
stream (the server keeps the session hibernating), waits until the file --go
exists, reconnects and resumes the stream.

One JSON object per line on stdout:
  {"event": "ready", "jid": ..., "sm": <stream id>}
  {"event": "message", "id": ..., "to": ..., "from": ..., "type": ..., "xml": <the stanza>, "resumed": bool}
  {"event": "dropped"}
  {"event": "resumed"} / {"event": "resume-failed"}

  /usr/bin/python3 test/interop/slixmpp_smacks.py --jid u@svom.fr/res --password pw \
      --host 127.0.0.1 --port 5222 --drop-after sm1 --go /tmp/go
Exits 3 when slixmpp cannot be imported.
"""
import argparse
import asyncio
import json
import os
import sys
import xml.etree.ElementTree as ET

try:
    import slixmpp
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath
except ImportError as exc:  # pragma: no cover - reported to the caller
    print(json.dumps({"event": "import-slixmpp", "ok": False, "detail": str(exc)}), flush=True)
    sys.exit(3)


def out(**kw):
    print(json.dumps(kw), flush=True)


class Client(slixmpp.ClientXMPP):
    def __init__(self, a):
        super().__init__(a.jid, a.password)
        self.a = a
        self.resumed = False
        self.started = False
        self.ready = False
        self.register_plugin('feature_mechanisms', {'unencrypted_plain': True})
        self.register_plugin('xep_0198', {'allow_resume': True})
        self.add_event_handler('session_start', self.on_start)
        self.add_event_handler('sm_enabled', self.on_enabled)
        self.add_event_handler('session_resumed', self.on_resumed)
        # slixmpp's 'message' event is for messages with a <body/>: take every one.
        self.register_handler(Callback('any message', MatchXPath('{jabber:client}message'), self.on_message))

    async def on_start(self, _):
        self.send_presence()
        # Answered after the presence was handled: from now on the session is available.
        iq = self.Iq(stype='get', sto=self.boundjid.domain)
        iq.xml.append(ET.Element('{urn:xmpp:ping}ping'))
        await iq.send()
        self.started = True
        self.maybe_ready()

    def on_enabled(self, _):
        # Keep the stream's state across a lost connection: that is what resumption needs.
        self.end_session_on_disconnect = False
        self.maybe_ready()

    def maybe_ready(self):
        if self.started and self['xep_0198'].sm_id and not self.ready:
            self.ready = True
            out(event='ready', jid=str(self.boundjid), sm=self['xep_0198'].sm_id)

    def on_resumed(self, _):
        self.resumed = True
        out(event='resumed')

    def on_message(self, msg):
        out(event='message', id=msg['id'], to=str(msg['to']), type=msg['type'],
            **{'from': str(msg['from'])}, xml=str(msg), resumed=self.resumed)
        if msg['id'] == self.a.drop_after and not self.resumed:
            asyncio.ensure_future(self.drop_and_resume())

    async def drop_and_resume(self):
        await asyncio.sleep(0.2)  # let the ack the server asked for go out
        self.abort()  # no </stream:stream>: the server hibernates the session
        out(event='dropped')
        while not os.path.exists(self.a.go):
            await asyncio.sleep(0.1)
        self.connect(address=(self.a.host, self.a.port), disable_starttls=True, force_starttls=False)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--jid', required=True)
    p.add_argument('--password', required=True)
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--drop-after', default='')
    p.add_argument('--go', default='/nonexistent')
    a = p.parse_args()
    c = Client(a)
    c.connect(address=(a.host, a.port), disable_starttls=True, force_starttls=False)
    asyncio.get_event_loop().run_forever()


if __name__ == '__main__':
    main()
