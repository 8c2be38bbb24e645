#!/usr/bin/env python3
"""
An independent XEP-0045 occupant for the rooms agent's tests: slixmpp's xep_0045
plugin (Debian's python3-slixmpp) logs in over STARTTLS (the server's self-signed
certificate trusted through --ca), joins ROOM and prints one JSON line per thing
that happens, until it is removed from the room or killed:

  {"event": "joined", "nick": ...}
  {"event": "join-error", "condition": "registration-required"}     (then exits 0)
  {"event": "message", "from": ..., "body": ...}                    (groupchat, live or history)
  {"event": "removed", "codes": ["321"]}                            (then exits 0)

  /usr/bin/python3 test/interop/slixmpp_muc_occupant.py --jid bob@svom.cn --password bob \
      --host 127.0.0.1 --port 5222 --room svom-eclairs-collaboration@conference.svom.fr --ca svom.cn.crt
"""
import argparse
import asyncio
import json
import sys

try:
    import slixmpp
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath
except ImportError as exc:  # pragma: no cover - reported to the caller
    print(json.dumps({"event": "import-error", "detail": str(exc)}), flush=True)
    sys.exit(3)

MUC_USER = 'http://jabber.org/protocol/muc#user'


def say(**kw):
    print(json.dumps(kw), flush=True)


class Occupant(slixmpp.ClientXMPP):
    def __init__(self, a):
        super().__init__(a.jid, a.password)
        self.a = a
        self.register_plugin('xep_0030')
        self.register_plugin('xep_0045')
        if a.ca:
            self.ca_certs = a.ca
        self.nick = a.nick or a.jid.split('@')[0]
        self.room = a.room
        self.joined = False
        self.add_event_handler('session_start', self.start)
        self.add_event_handler('failed_all_auth', lambda _: self.fail('authentication failed'))
        self.add_event_handler('connection_failed', lambda e: self.fail('connection failed: %s' % e))
        self.add_event_handler('groupchat_message', self.on_message)
        # Our own presence from the room, and error presences, seen raw (the plugin hides some).
        self.register_handler(Callback('room presence', MatchXPath('{jabber:client}presence'), self.on_presence))

    def fail(self, why):
        say(event='error', detail=why)
        self.disconnect()
        asyncio.get_event_loop().call_later(1, sys.exit, 1)

    async def start(self, _):
        self.send_presence()
        p = self.make_presence(pto='%s/%s' % (self.room, self.nick))
        x = p.xml
        import xml.etree.ElementTree as ET
        muc = ET.SubElement(x, '{http://jabber.org/protocol/muc}x')
        h = ET.SubElement(muc, '{http://jabber.org/protocol/muc}history')
        h.set('maxstanzas', str(self.a.history))
        p.send()

    def on_presence(self, pres):
        frm = pres['from']
        if frm.bare != self.room:
            return
        if pres['type'] == 'error':
            say(event='join-error', condition=pres['error']['condition'])
            self.disconnect()
            return
        x = pres.xml.find('{%s}x' % MUC_USER)
        codes = [s.get('code') for s in (x.findall('{%s}status' % MUC_USER) if x is not None else [])]
        if frm.resource != self.nick and '110' not in codes:
            return
        if pres['type'] == 'unavailable':
            say(event='removed', codes=codes)
            self.disconnect()
        elif not self.joined:
            self.joined = True
            say(event='joined', nick=self.nick, codes=codes)

    def on_message(self, msg):
        if msg['mucroom'] != self.room or not msg['body']:
            return
        say(event='message', **{'from': str(msg['from'])}, body=msg['body'], delayed=bool(msg.xml.find('{urn:xmpp:delay}delay') is not None))


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--jid', required=True)
    p.add_argument('--password', required=True)
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=5222)
    p.add_argument('--room', required=True)
    p.add_argument('--nick')
    p.add_argument('--history', type=int, default=20)
    p.add_argument('--ca')
    a = p.parse_args()
    xmpp = Occupant(a)
    xmpp.connect(address=(a.host, a.port))
    loop = asyncio.get_event_loop()
    loop.run_until_complete(xmpp.disconnected)


if __name__ == '__main__':
    main()
