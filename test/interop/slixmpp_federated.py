#!/usr/bin/env python3
"""
A subscriber on one server using a pubsub service of another server over s2s,
driven by slixmpp (Debian's python3-slixmpp): the federation test's independent
client. Prints one JSON line per step {"step", "ok", ...}; the test reads them.

  /usr/bin/python3 test/interop/slixmpp_federated.py --jid bob@svom.cn --password bob \
      --host 127.0.0.1 --port PORT --ca ca.crt --service pubsub.svom.fr \
      --node svom/mxt/collaboration --forbidden-node svom/mxt/pi --expect 5 --page 2

Steps: login; subscribe to --node (must succeed); subscribe to --forbidden-node
(must be refused: the service's policy decides); "ready" (the test publishes
now); the --expect notifications of --node, each id once; the node's items
retrieved page by page with RSM (XEP-0059, --page items a page), from the
newest page back to the first; exit 0 only if every step passed.
"""
import argparse
import asyncio
import json
import os
import sys
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slixmpp_pubsub import Client, iq_error, IqError, PUBSUB  # noqa: E402  (shared client with the same-server interop check)

RSM = 'http://jabber.org/protocol/rsm'


def say(step, ok, **detail):
    print(json.dumps({'step': step, 'ok': ok, **detail}), flush=True)
    return ok


async def run(a):
    c = Client(a.jid, a.password, a.ca, False)
    ps = c['xep_0060']
    ok = True
    try:
        await c.login(a.host, a.port)
        say('login', True)
    except Exception as e:  # noqa: BLE001
        return say('login', False, detail=str(e))
    try:
        await ps.subscribe(a.service, a.node, timeout=30)
        ok &= say('subscribe', True, node=a.node)
    except IqError as e:
        ok &= say('subscribe', False, node=a.node, error=iq_error(e))
    if a.forbidden_node:
        try:
            await ps.subscribe(a.service, a.forbidden_node, timeout=30)
            ok &= say('forbidden', False, node=a.forbidden_node, detail='subscribed')
        except IqError as e:
            err = iq_error(e)
            ok &= say('forbidden', err['condition'] in ('not-allowed', 'forbidden', 'not-authorized'), node=a.forbidden_node, error=err)
    say('ready', True)

    ids = []
    deadline = time.monotonic() + a.timeout
    while time.monotonic() < deadline:
        ids = [m['pubsub_event']['items']['item']['id'] for k, m in c.notifications
               if k == 'publish' and m['pubsub_event']['items']['node'] == a.node]
        if len(set(ids)) >= a.expect:
            await asyncio.sleep(1)  # a duplicate would arrive now
            ids = [m['pubsub_event']['items']['item']['id'] for k, m in c.notifications
                   if k == 'publish' and m['pubsub_event']['items']['node'] == a.node]
            break
        c._changed.clear()
        try:
            await asyncio.wait_for(c._changed.wait(), 1)
        except asyncio.TimeoutError:
            pass
    ok &= say('notifications', len(ids) == a.expect and len(set(ids)) == a.expect, ids=ids)

    # Retrieval across the link, one RSM page at a time, from the newest page back
    # (XEP-0059 §2.5: <before/> asks for the last page, <before>FIRST</before> for the one before it).
    pages, before, got = [], '', []
    try:
        for _ in range(100):
            iq = c.Iq(stype='get', sto=a.service)
            pubsub = ET.Element('{%s}pubsub' % PUBSUB)
            ET.SubElement(pubsub, '{%s}items' % PUBSUB, node=a.node)
            rsm = ET.SubElement(pubsub, '{%s}set' % RSM)
            ET.SubElement(rsm, '{%s}max' % RSM).text = str(a.page)
            ET.SubElement(rsm, '{%s}before' % RSM).text = before
            iq.append(pubsub)
            res = await iq.send(timeout=30)
            xml = res.xml
            page = [i.get('id') for i in xml.iter('{%s}item' % PUBSUB)]
            first = xml.find('.//{%s}set/{%s}first' % (RSM, RSM))
            count = xml.find('.//{%s}set/{%s}count' % (RSM, RSM))
            pages.append({'ids': page, 'count': count.text if count is not None else None})
            got += page
            if not page or first is None or len(page) < a.page:
                break
            before = first.text
        # Every notified item is retrievable, no page repeats an item, none is larger than asked.
        ok &= say('paging', set(ids) <= set(got) and len(got) == len(set(got)) and all(len(p['ids']) <= a.page for p in pages), pages=pages)
    except IqError as e:
        ok &= say('paging', False, error=iq_error(e))
    c.disconnect(wait=1)
    return ok


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--jid', required=True)
    p.add_argument('--password', required=True)
    p.add_argument('--host', default='127.0.0.1')
    p.add_argument('--port', type=int, required=True)
    p.add_argument('--ca', required=True, help='CA bundle (PEM)')
    p.add_argument('--service', required=True)
    p.add_argument('--node', required=True)
    p.add_argument('--forbidden-node')
    p.add_argument('--expect', type=int, required=True)
    p.add_argument('--page', type=int, default=2)
    p.add_argument('--timeout', type=float, default=60)
    ok = asyncio.run(run(p.parse_args()))
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
