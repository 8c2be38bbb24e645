#!/usr/bin/env python3
"""
Filters evaluated by the broker, set by an independent client: slixmpp's xep_0060
plugin subscribes with subscription options (XEP-0060 §6.3.7, subscribe and
configure) carrying our field voxnet#filter, reads them back (§6.3.2), is refused
a filter with a syntax error (bad-request naming the column), then records the
notifications it gets. One JSON line per step; the caller publishes after the
"ready" line and judges what was received. Exit 3 when slixmpp is missing.

  /usr/bin/python3 test/interop/slixmpp_filters.py --jid bob@svom.cn --password bob \
      --service pubsub.svom.fr --node grb --filter 'role = "observation"' --bad-filter 'role =' \
      --expect 2 --ca svom.fr.crt
"""
import argparse
import asyncio
import json
import os
import sys
import tempfile
import time

try:
    import slixmpp
    from slixmpp.exceptions import IqError
    from slixmpp.plugins.xep_0004.stanza import Form
except ImportError as exc:  # pragma: no cover
    print(json.dumps({'step': 'import-slixmpp', 'ok': False, 'detail': str(exc)}), flush=True)
    sys.exit(3)

SUBSCRIBE_OPTIONS = 'http://jabber.org/protocol/pubsub#subscribe_options'


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--jid', required=True)
    p.add_argument('--password', required=True)
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=5222)
    p.add_argument('--service', required=True)
    p.add_argument('--node', required=True)
    p.add_argument('--filter', required=True)
    p.add_argument('--bad-filter', required=True)
    p.add_argument('--expect', type=int, required=True, help='stop after this many notifications')
    p.add_argument('--timeout', type=float, default=30)
    p.add_argument('--ca', action='append', default=[])
    return p.parse_args()


def options_form(fields):
    form = Form()
    form['type'] = 'submit'
    form.add_field(var='FORM_TYPE', ftype='hidden', value=SUBSCRIBE_OPTIONS)
    for var, value in fields.items():
        form.add_field(var=var, value=value)
    return form


def say(step, ok, detail):
    print(json.dumps({'step': step, 'ok': ok, 'detail': detail}), flush=True)


async def main():
    a = parse_args()
    ca_file = None
    if a.ca:
        bundle = tempfile.NamedTemporaryFile('w', suffix='.pem', delete=False)
        for path in a.ca:
            with open(path) as f:
                bundle.write(f.read().rstrip('\n') + '\n')
        bundle.close()
        ca_file = bundle.name
    c = slixmpp.ClientXMPP(a.jid, a.password)
    for plugin in ('xep_0030', 'xep_0004', 'xep_0060'):
        c.register_plugin(plugin)
    if ca_file:
        c.ca_certs = ca_file
    received = []
    got = asyncio.Event()

    def on_publish(msg):
        for item in msg['pubsub_event']['items']['substanzas']:
            received.append(item['id'])
        if len(received) >= a.expect:
            got.set()

    c.add_event_handler('pubsub_publish', on_publish)
    started = asyncio.get_running_loop().create_future()
    c.add_event_handler('session_start', lambda _: started.done() or started.set_result(None))
    c.add_event_handler('failed_all_auth', lambda _: started.done() or started.set_exception(RuntimeError('auth failed')))
    c.connect(address=(a.host, a.port))
    await asyncio.wait_for(started, 30)
    c.send_presence()
    ps = c['xep_0060']
    try:
        r = await ps.subscribe(a.service, a.node, options=options_form({'voxnet#filter': a.filter}), timeout=20)
        subid = r['pubsub']['subscription']['subid']
        say('subscribe-with-filter', True, {'subid': subid, 'state': r['pubsub']['subscription']['subscription']})
        opts = await ps.get_subscription_options(a.service, a.node, c.boundjid.bare, timeout=20)
        x = opts['pubsub']['options'].xml.find('{jabber:x:data}x')
        values = {f.get('var'): (f.findtext('{jabber:x:data}value') or '') for f in x.findall('{jabber:x:data}field')}
        say('options-read-back', values.get('voxnet#filter') == a.filter, {'voxnet#filter': values.get('voxnet#filter')})
        try:
            await ps.subscribe(a.service, a.node, options=options_form({'voxnet#filter': a.bad_filter}), timeout=20)
            say('bad-filter-refused', False, 'a filter with a syntax error was accepted')
        except IqError as e:
            err = e.iq['error']
            say('bad-filter-refused', err['condition'] == 'bad-request', {'condition': err['condition'], 'text': err['text']})
        say('ready', True, None)
        try:
            await asyncio.wait_for(got.wait(), a.timeout)
        except asyncio.TimeoutError:
            pass
        # A little longer: anything the filter should have kept back would come now.
        await asyncio.sleep(1.5)
        say('received', True, received)
    except IqError as e:
        say('error', False, {'condition': e.iq['error']['condition'], 'text': e.iq['error']['text']})
    finally:
        c.disconnect()
        if ca_file:
            os.unlink(ca_file)
    return 0


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
