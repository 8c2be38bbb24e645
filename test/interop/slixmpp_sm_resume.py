#!/usr/bin/env python3
"""
A stream-management client (slixmpp's xep_0198, resumption on) that loses its
connection and resumes the session: the independent peer for "notifications
queued for a session that is away are delivered on resumption".

Prints one JSON line per event: {"event": "sm_enabled"}, {"event": "ready"} (available), {"event": "message",
"item": ID, "to": ..., "from": ...} for each pubsub notification,
{"event": "dropped"} once it has cut its TCP connection (after receiving the
notification whose item id is --drop-after), {"event": "resumed"} or
{"event": "session_start"} (a new session: resumption failed).
Exit 3 when slixmpp is missing.
"""
import argparse
import asyncio
import json
import os
import sys
import tempfile

try:
    import slixmpp
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath
except ImportError as exc:  # pragma: no cover
    print(json.dumps({'error': str(exc)}), flush=True)
    sys.exit(3)

EVENT = '{http://jabber.org/protocol/pubsub#event}event'


def out(**kw):
    print(json.dumps(kw), flush=True)


async def main():
    p = argparse.ArgumentParser()
    for a in ('--jid', '--password', '--drop-after'):
        p.add_argument(a, required=True)
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=5222)
    p.add_argument('--offline-seconds', type=float, default=3)
    p.add_argument('--ca', action='append', default=[])
    a = p.parse_args()
    ca_file = None
    if a.ca:
        bundle = tempfile.NamedTemporaryFile('w', suffix='.pem', delete=False)
        for path in a.ca:
            with open(path) as f:
                bundle.write(f.read().rstrip('\n') + '\n')
        bundle.close()
        ca_file = bundle.name
    c = slixmpp.ClientXMPP(a.jid, a.password)
    c.register_plugin('xep_0198')
    c['xep_0198'].allow_resume = True
    if ca_file:
        c.ca_certs = ca_file
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    sessions = 0

    async def on_session_start(_):
        nonlocal sessions
        sessions += 1
        c.send_presence()
        # The server handles the roster query after the presence: available from now on.
        await c.get_roster()
        out(event='ready' if sessions == 1 else 'session_start')

    def on_message(msg):
        if os.environ.get('SM_DEBUG'):
            out(event='debug', xml=str(msg))
        ev = msg.xml.find(EVENT)
        if ev is None:
            return
        item = ev.find('.//{http://jabber.org/protocol/pubsub#event}item')
        item_id = item.get('id') if item is not None else None
        out(event='message', item=item_id, to=msg['to'].full, frm=msg['from'].full, type=msg['type'])
        if item_id == a.drop_after:
            loop.create_task(drop())

    async def drop():
        await asyncio.sleep(0.2)  # let the ack of what we received go out first
        c.transport.abort()
        out(event='dropped')
        await asyncio.sleep(a.offline_seconds)
        c.connect(address=(a.host, a.port))

    c.add_event_handler('session_start', on_session_start)
    c.add_event_handler('sm_enabled', lambda _: out(event='sm_enabled'))
    c.add_event_handler('session_resumed', lambda _: out(event='resumed'))
    # slixmpp's own 'message' event needs a <body/>: match every message.
    c.register_handler(Callback('notifications', MatchXPath('{jabber:client}message'), on_message))
    c.add_event_handler('failed_all_auth', lambda _: done.done() or done.set_exception(RuntimeError('auth failed')))
    c.connect(address=(a.host, a.port))
    await done


if __name__ == '__main__':
    try:
        asyncio.run(main())
    except Exception as exc:  # noqa: BLE001
        out(error=str(exc))
        sys.exit(1)
