#!/usr/bin/env python3
"""
The event-thread command with an independent client: slixmpp's xep_0050 plugin
(ad-hoc commands) finds urn:voxnet:event in the service's command list, executes
it (the service answers with a form asking for `ref`), submits the form with the
reference given, and prints the completed result form as one JSON line:
{"commands": [...], "asked": [...field vars...], "fields": {...}, "items": [{...}]}.
Exit 3 when slixmpp is missing, 1 on any failure (printed as {"error": ...}).
"""
import argparse
import asyncio
import json
import os
import sys
import tempfile

try:
    import slixmpp
    from slixmpp.exceptions import IqError
    from slixmpp.plugins.xep_0004.stanza import Form
except ImportError as exc:  # pragma: no cover
    print(json.dumps({'error': str(exc)}), flush=True)
    sys.exit(3)

DATA = '{jabber:x:data}'
NODE = 'urn:voxnet:event'


async def main():
    p = argparse.ArgumentParser()
    for a in ('--jid', '--password', '--service', '--ref'):
        p.add_argument(a, required=True)
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=5222)
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
    for plugin in ('xep_0030', 'xep_0004', 'xep_0050'):
        c.register_plugin(plugin)
    if ca_file:
        c.ca_certs = ca_file
    started = asyncio.get_running_loop().create_future()
    c.add_event_handler('session_start', lambda _: started.done() or started.set_result(None))
    c.add_event_handler('failed_all_auth', lambda _: started.done() or started.set_exception(RuntimeError('auth failed')))
    c.connect(address=(a.host, a.port))
    code = 0
    try:
        await asyncio.wait_for(started, 30)
        items = await c['xep_0050'].get_commands(a.service, timeout=20)
        commands = [i[1] for i in items['disco_items']['items']]
        first = await c['xep_0050'].send_command(a.service, NODE, action='execute', timeout=20)
        cmd = first['command']
        asked = [f.get('var') for f in cmd.xml.find(DATA + 'x').findall(DATA + 'field')]
        form = Form()
        form['type'] = 'submit'
        form.add_field(var='ref', value=a.ref)
        done = await c['xep_0050'].send_command(a.service, NODE, action='complete', payload=form, sessionid=cmd['sessionid'], timeout=20)
        x = done['command'].xml.find(DATA + 'x')
        fields = {f.get('var'): [v.text for v in f.findall(DATA + 'value')] for f in x.findall(DATA + 'field')}
        rows = [{f.get('var'): f.findtext(DATA + 'value') for f in it.findall(DATA + 'field')} for it in x.findall(DATA + 'item')]
        print(json.dumps({'commands': commands, 'asked': asked, 'status': done['command']['status'], 'fields': fields, 'items': rows}), flush=True)
    except IqError as e:
        print(json.dumps({'error': {'condition': e.iq['error']['condition'], 'text': e.iq['error']['text']}}), flush=True)
        code = 1
    except Exception as e:  # report, do not hang
        print(json.dumps({'error': '%s: %s' % (type(e).__name__, e)}), flush=True)
        code = 1
    finally:
        c.disconnect()
        if ca_file:
            os.unlink(ca_file)
    return code


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
