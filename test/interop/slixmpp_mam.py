#!/usr/bin/env python3
"""
Archive queries with an independent client: slixmpp's xep_0313 plugin (Message
Archive Management, urn:xmpp:mam:2) against the VOXnet broker's node archives.

The caller gives the queries as JSON (--queries); for each one the script prints
one JSON line {"name", "ok", "ids", "stamps", "fin" | "error"}: the item ids in the
order the plugin returned them, their XEP-0203 stamps, and the <fin/> RSM data.
A query with "iterate": true pages through the whole result set with the plugin's
RSM iterator (pages of "max"). Exit status 0 when every query ran (the caller
judges the results), 1 on a failure to connect, 3 when slixmpp is missing.

XEP-0313 says a query to a pubsub service names the node in a `node` attribute,
which slixmpp's plugin does not set: a small wrapper around the plugin's own query
builder adds it (and our voxnet#ivorn field, and an empty RSM <before/> for "the
newest N", which the plugin would write as the text "True"). Sending, collecting
the result messages by queryid and RSM paging stay the plugin's.

  /usr/bin/python3 test/interop/slixmpp_mam.py --jid bob@svom.cn --password bob \
      --host 127.0.0.1 --port 5222 --service pubsub.svom.fr --node grb --ca svom.fr.crt \
      --queries '[{"name": "all", "max": 10}]'
"""
import argparse
import asyncio
import json
import os
import sys
import tempfile

try:
    import slixmpp
    from slixmpp.exceptions import IqError, IqTimeout
    from slixmpp.plugins.xep_0313.mam import XEP_0313
except ImportError as exc:  # pragma: no cover - reported to the caller
    print(json.dumps({'name': 'import-slixmpp', 'ok': False, 'error': str(exc)}), flush=True)
    sys.exit(3)

EVENT = 'http://jabber.org/protocol/pubsub#event'
FORWARD = 'urn:xmpp:forward:0'
DELAY = 'urn:xmpp:delay'

# What the next query adds to the plugin's IQ (node, extra form fields, empty <before/>).
EXTRA = {}
_pre = XEP_0313._pre_mam_retrieve


def _pre_with_node(self, *args, **kwargs):
    iq, mask = _pre(self, *args, **kwargs)
    iq['mam'].xml.set('node', EXTRA['node'])
    for var, value in EXTRA.get('fields', {}).items():
        iq['mam'].set_custom_field(var, value)
    if EXTRA.get('newest'):
        iq['mam']['rsm']['before'] = True
    return iq, mask


XEP_0313._pre_mam_retrieve = _pre_with_node


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--jid', required=True)
    p.add_argument('--password', required=True)
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, default=5222)
    p.add_argument('--service', required=True)
    p.add_argument('--node', required=True)
    p.add_argument('--ca', action='append', default=[])
    p.add_argument('--queries', required=True, help='JSON list of queries')
    return p.parse_args()


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, ca_file):
        super().__init__(jid, password)
        for plugin in ('xep_0030', 'xep_0004', 'xep_0059', 'xep_0297', 'xep_0313'):
            self.register_plugin(plugin)
        if ca_file:
            self.ca_certs = ca_file

    async def login(self, host, port):
        done = asyncio.get_running_loop().create_future()

        def finish(result):
            if not done.done():
                done.set_result(result)

        self.add_event_handler('session_start', lambda _: finish(None))
        self.add_event_handler('failed_all_auth', lambda _: finish('authentication failed'))
        self.add_event_handler('connection_failed', lambda e: finish('connection failed: %s' % e))
        self.connect(address=(host, port))
        err = await asyncio.wait_for(done, 30)
        if err:
            raise AssertionError(err)
        self.send_presence()


def describe(msg):
    """(item id, stamp) of one archived pubsub item in a MAM result message."""
    fwd = msg['mam_result'].xml.find('{%s}forwarded' % FORWARD)
    delay = fwd.find('{%s}delay' % DELAY)
    item = fwd.find('{jabber:client}message/{%s}event/{%s}items/{%s}item' % (EVENT, EVENT, EVENT))
    return item.get('id'), delay.get('stamp'), msg['mam_result']['id']


def fin_of(iq):
    fin = iq['mam_fin']
    rsm = fin['rsm']
    return {'complete': fin.xml.get('complete'), 'first': rsm['first'], 'last': rsm['last'],
            'count': rsm['count'], 'first_index': rsm['first_index']}


async def run_query(client, service, node, q):
    EXTRA.clear()
    EXTRA['node'] = q.get('node', node)
    if 'ivorn' in q:
        EXTRA['fields'] = {'voxnet#ivorn': q['ivorn']}
    EXTRA['newest'] = bool(q.get('newest'))
    kwargs = {}
    for key in ('start', 'end'):
        if key in q:
            kwargs[key] = q[key]
    if 'with' in q:
        kwargs['with_jid'] = slixmpp.JID(q['with'])
    rsm = {'max': q['max']} if 'max' in q else None
    if q.get('after'):
        rsm = dict(rsm or {}, after=q['after'])
    out = {'name': q['name']}
    try:
        if q.get('iterate'):
            ids, stamps = [], []
            async for msg in client['xep_0313'].iterate(jid=slixmpp.JID(service), rsm=rsm, **kwargs):
                i, s, _ = describe(msg)
                ids.append(i)
                stamps.append(s)
            out.update(ok=True, ids=ids, stamps=stamps)
        else:
            iq = await client['xep_0313'].retrieve(jid=slixmpp.JID(service), rsm=rsm, timeout=20, **kwargs)
            got = [describe(m) for m in iq['mam']['results']]
            out.update(ok=True, ids=[g[0] for g in got], stamps=[g[1] for g in got],
                       result_ids=[g[2] for g in got], fin=fin_of(iq))
    except IqError as e:
        err = e.iq['error']
        out.update(ok=False, error={'condition': err['condition'], 'type': err['type'], 'text': err['text']})
    except IqTimeout:
        out.update(ok=False, error={'condition': 'timeout'})
    return out


async def main():
    a = parse_args()
    queries = json.loads(a.queries)
    ca_file = None
    if a.ca:
        # slixmpp trusts one CA file: bundle the server's certificates.
        bundle = tempfile.NamedTemporaryFile('w', suffix='.pem', delete=False)
        for path in a.ca:
            with open(path) as f:
                bundle.write(f.read().rstrip('\n') + '\n')
        bundle.close()
        ca_file = bundle.name
    client = Client(a.jid, a.password, ca_file)
    try:
        await client.login(a.host, a.port)
    except Exception as e:
        print(json.dumps({'name': 'connect', 'ok': False, 'error': str(e)}), flush=True)
        return 1
    for q in queries:
        print(json.dumps(await run_query(client, a.service, a.node, q)), flush=True)
    client.disconnect()
    if ca_file:
        os.unlink(ca_file)
    return 0


if __name__ == '__main__':
    sys.exit(asyncio.run(main()))
