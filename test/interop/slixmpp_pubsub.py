#!/usr/bin/env python3
"""
Interoperability check of the VOXnet broker with an independent XEP-0060 client:
slixmpp's `xep_0060` plugin (Debian's python3-slixmpp), driven against a running
server + broker.

Two accounts log in over c2s with STARTTLS (the server's self-signed certificates
are trusted through --ca, verification stays on): an owner on a domain allowed to
create nodes and a subscriber on another domain. Each use case is one step; each
step prints one JSON line {"step", "ok", "detail", "features"} and the script
exits 0 only if every step passed (1 otherwise, 3 if slixmpp cannot be imported).
"features" lists the service features (disco#info vars) the step exercised; the
disco step also reports every feature the service advertises, so the caller can
check that each advertised feature was used by this independent client.

  /usr/bin/python3 test/interop/slixmpp_pubsub.py \
      --owner alice@svom.fr --owner-password alice \
      --subscriber bob@svom.cn --subscriber-password bob \
      --host 127.0.0.1 --port 5222 --service pubsub.svom.fr --ca svom.fr.crt --ca svom.cn.crt

Every option can also come from the environment: SLIX_OWNER, SLIX_OWNER_PASSWORD,
SLIX_SUBSCRIBER, SLIX_SUBSCRIBER_PASSWORD, SLIX_HOST, SLIX_PORT, SLIX_SERVICE,
SLIX_CA (comma-separated), SLIX_NODE.

Note: slixmpp's serializer only writes default namespace declarations, so it
cannot send an element whose children are in no namespace under a namespaced
parent (a VOEvent's <voe:VOEvent><Who>...); payloads here are ordinary
namespaced elements, as slixmpp applications use.
"""
import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET

try:
    import slixmpp
    from slixmpp.exceptions import IqError, IqTimeout
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath
    from slixmpp.xmlstream import register_stanza_plugin
    from slixmpp.plugins.xep_0059.stanza import Set as RsmSet
    from slixmpp.plugins.xep_0060.stanza import Pubsub as PubsubStanza
except ImportError as exc:  # pragma: no cover - reported to the caller
    print(json.dumps({"step": "import-slixmpp", "ok": False, "detail": str(exc)}), flush=True)
    sys.exit(3)

PUBSUB = 'http://jabber.org/protocol/pubsub'
EVENT = 'http://jabber.org/protocol/pubsub#event'
NODE_CONFIG = 'http://jabber.org/protocol/pubsub#node_config'
OWNER = 'http://jabber.org/protocol/pubsub#owner'
SUB_OPTIONS = 'http://jabber.org/protocol/pubsub#subscribe_options'
SUB_AUTH = 'http://jabber.org/protocol/pubsub#subscribe_authorization'
PUBLISH_OPTIONS = 'http://jabber.org/protocol/pubsub#publish-options'
GET_PENDING = 'http://jabber.org/protocol/pubsub#get-pending'
COMMANDS = 'http://jabber.org/protocol/commands'
DISCO_INFO = 'http://jabber.org/protocol/disco#info'
DISCO_ITEMS = 'http://jabber.org/protocol/disco#items'
RSM = 'http://jabber.org/protocol/rsm'
PING = 'urn:xmpp:ping'
SHIM = 'http://jabber.org/protocol/shim'
DATA = 'jabber:x:data'


def pf(*names):
    """pubsub#<name> feature vars."""
    return [PUBSUB + '#' + n for n in names]
PAYLOAD_NS = 'urn:example:voxnet-interop'
STEP_TIMEOUT = 20


def parse_args():
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--owner', default=env('SLIX_OWNER'))
    p.add_argument('--owner-password', default=env('SLIX_OWNER_PASSWORD'))
    p.add_argument('--subscriber', default=env('SLIX_SUBSCRIBER'))
    p.add_argument('--subscriber-password', default=env('SLIX_SUBSCRIBER_PASSWORD'))
    p.add_argument('--host', default=env('SLIX_HOST', '127.0.0.1'))
    p.add_argument('--port', type=int, default=int(env('SLIX_PORT', '5222')))
    p.add_argument('--service', default=env('SLIX_SERVICE', 'pubsub.svom.fr'))
    p.add_argument('--node', default=env('SLIX_NODE', 'slixmpp-interop-%d' % int(time.time())))
    p.add_argument('--ca', action='append', default=[c for c in env('SLIX_CA', '').split(',') if c],
                   help='PEM certificate to trust (repeatable)')
    p.add_argument('--insecure', action='store_true', help='do not verify the server certificate')
    a = p.parse_args()
    missing = [n for n in ('owner', 'owner_password', 'subscriber', 'subscriber_password') if not getattr(a, n)]
    if missing:
        p.error('missing: ' + ', '.join('--' + m.replace('_', '-') for m in missing))
    return a


class Client(slixmpp.ClientXMPP):
    """A slixmpp client that records pubsub notifications for the steps to wait on."""

    def __init__(self, jid, password, ca_file, insecure):
        super().__init__(jid, password)
        for plugin in ('xep_0030', 'xep_0004', 'xep_0060', 'xep_0059', 'xep_0050', 'xep_0131', 'xep_0199', 'xep_0297', 'xep_0313'):
            self.register_plugin(plugin)
        # slixmpp's xep_0060 iterator pages with RSM but never registers <set/> inside
        # <pubsub/> (it does for disco#items): applications do it themselves.
        register_stanza_plugin(PubsubStanza, RsmSet)
        if insecure:
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = 0  # ssl.CERT_NONE
        elif ca_file:
            self.ca_certs = ca_file
        self.notifications = []  # (kind, message)
        self._changed = asyncio.Event()
        for kind in ('publish', 'retract', 'purge', 'delete', 'config'):
            self.add_event_handler('pubsub_' + kind, self._recorder(kind))
        # XEP-0060 §8.8.4: a subscription change is told in a <pubsub/> element, which
        # slixmpp does not map to an event; §8.6 approvals may use <event/>: record both.
        self.register_handler(Callback('voxnet subscription change',
                                       MatchXPath('{jabber:client}message/{%s}pubsub' % PUBSUB),
                                       self._recorder('subscription')))
        self.add_event_handler('pubsub_subscription', self._recorder('subscription'))
        # XEP-0060 §8.6: subscription authorization requests are data forms in messages.
        self.register_handler(Callback('voxnet authorization request',
                                       MatchXPath('{jabber:client}message/{%s}x' % DATA),
                                       self._recorder('form')))
        # XEP-0248: a node added to a collection, told to 'nodes' subscribers.
        self.register_handler(Callback('voxnet collection event',
                                       MatchXPath('{jabber:client}message/{%s}event/{%s}collection' % (EVENT, EVENT)),
                                       self._recorder('collection')))

    def _recorder(self, kind):
        def record(msg):
            self.notifications.append((kind, msg))
            self._changed.set()
        return record

    async def wait_notification(self, kind, pred=lambda m: True, timeout=10):
        """The first notification of this kind satisfying pred (received before or after the call)."""
        deadline = time.monotonic() + timeout
        while True:
            for k, m in self.notifications:
                if k == kind and pred(m):
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError('no %s notification within %ss (got %s)' % (
                    kind, timeout, [k for k, _ in self.notifications]))
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def login(self, host, port):
        done = asyncio.get_running_loop().create_future()

        def finish(result):
            if not done.done():
                done.set_result(result)

        self.add_event_handler('session_start', lambda _: finish(None))
        self.add_event_handler('failed_all_auth', lambda _: finish('authentication failed'))
        self.add_event_handler('connection_failed', lambda e: finish('connection failed: %s' % e))
        self.add_event_handler('ssl_invalid_chain', lambda e: finish('certificate rejected: %s' % e))
        self.connect(address=(host, port))
        err = await asyncio.wait_for(done, 30)
        if err:
            raise AssertionError('%s: %s' % (self.boundjid.bare, err))
        self.send_presence()
        await self.get_roster()


def entry(title, summary):
    el = ET.Element('{%s}entry' % PAYLOAD_NS)
    ET.SubElement(el, '{%s}title' % PAYLOAD_NS).text = title
    s = ET.SubElement(el, '{%s}summary' % PAYLOAD_NS)
    s.set('lang', 'en')
    s.text = summary
    return el


def payload_title(payload):
    if payload is None or payload.tag != '{%s}entry' % PAYLOAD_NS:
        return None
    t = payload.find('{%s}title' % PAYLOAD_NS)
    return t.text if t is not None else None


def check(cond, message):
    if not cond:
        raise AssertionError(message)


def iq_error(e):
    err = e.iq['error']
    return {'type': err['type'], 'condition': err['condition'], 'text': err['text']}


async def expect_error(coro, condition):
    """Await an IQ that must fail with this stanza error condition."""
    try:
        await coro
    except IqError as e:
        got = iq_error(e)
        check(got['condition'] == condition, 'expected %s, got %s' % (condition, got))
        return got
    raise AssertionError('expected a %s error, got a result' % condition)


class Runner:
    def __init__(self):
        self.results = []

    async def step(self, name, fn, features=()):
        started = time.monotonic()
        try:
            detail = await asyncio.wait_for(fn(), STEP_TIMEOUT)
            ok = True
        except AssertionError as e:
            ok, detail = False, str(e) or 'assertion failed'
        except IqError as e:
            ok, detail = False, 'unexpected IQ error %s' % iq_error(e)
        except (IqTimeout, asyncio.TimeoutError):
            ok, detail = False, 'timed out'
        except Exception as e:  # a bug in the client or the script: report, keep going
            ok, detail = False, '%s: %s' % (type(e).__name__, ''.join(traceback.format_exception_only(type(e), e)).strip())
        self.results.append(ok)
        line = {'step': name, 'ok': ok, 'detail': detail, 'features': list(features),
                'ms': round((time.monotonic() - started) * 1000)}
        if isinstance(detail, dict) and 'advertised' in detail:
            line['advertised'] = detail.pop('advertised')
        print(json.dumps(line), flush=True)
        return ok


def config_form(client, fields):
    form = client['xep_0004'].make_form(ftype='submit')
    form.add_field(var='FORM_TYPE', ftype='hidden', value=NODE_CONFIG)
    for var, value in fields.items():
        form.add_field(var=var, value=value)
    return form


async def run(a):
    ca_file = None
    if a.ca:
        # slixmpp trusts one CA file: bundle the server's certificates.
        bundle = tempfile.NamedTemporaryFile('w', suffix='.pem', delete=False)
        for path in a.ca:
            with open(path) as f:
                bundle.write(f.read().rstrip('\n') + '\n')
        bundle.close()
        ca_file = bundle.name
    owner = Client(a.owner, a.owner_password, ca_file, a.insecure)
    sub = Client(a.subscriber, a.subscriber_password, ca_file, a.insecure)
    svc, node = a.service, a.node
    owner_bare, sub_bare = owner.boundjid.bare, sub.boundjid.bare
    ps_owner, ps_sub = owner['xep_0060'], sub['xep_0060']
    r = Runner()
    state = {}

    async def connect():
        await asyncio.gather(owner.login(a.host, a.port), sub.login(a.host, a.port))
        return '%s and %s online' % (owner.boundjid, sub.boundjid)

    if not await r.step('connect', connect):
        return r.results

    async def discover_service():
        info = await owner['xep_0030'].get_info(jid=svc)
        features = set(info['disco_info']['features'])
        needed = {PUBSUB} | {PUBSUB + '#' + f for f in (
            'create-nodes', 'config-node', 'publish', 'retrieve-items', 'retract-items', 'subscribe',
            'modify-affiliations', 'manage-subscriptions', 'purge-nodes', 'delete-nodes', 'outcast-affiliation')}
        check(needed <= features, 'missing features %s' % sorted(needed - features))
        idents = [tuple(i[:2]) for i in info['disco_info']['identities']]
        check(('pubsub', 'service') in idents, 'no pubsub/service identity: %s' % idents)
        return {'count': len(features), 'advertised': sorted(features)}

    await r.step('disco-info', discover_service, [DISCO_INFO, PUBSUB])

    async def create_refused():
        got = await expect_error(ps_sub.create_node(svc, node + '-cn'), 'forbidden')
        return 'svom.cn user refused: %s' % got['condition']

    await r.step('create-refused-for-other-domain', create_refused, pf('create-nodes'))

    async def create():
        form = config_form(owner, {
            'pubsub#title': 'slixmpp interop',
            'pubsub#max_items': '10',
            'pubsub#access_model': 'open',
            'pubsub#notify_retract': '1',
            'pubsub#deliver_payloads': '1',
        })
        res = await ps_owner.create_node(svc, node, config=form)
        created = res['pubsub']['create']['node']
        check(created == node, 'created node %r, asked %r' % (created, node))
        return created

    await r.step('create-node-with-config', create, pf('create-nodes', 'create-and-configure', 'access-open'))

    async def get_config():
        res = await ps_owner.get_node_config(svc, node)
        form = res['pubsub_owner']['configure']['form']
        check(form['type'] == 'form', 'form type %r' % form['type'])
        v = form.get_values()
        # slixmpp reads 'hidden' fields as multi-valued
        check(v.get('FORM_TYPE') in (NODE_CONFIG, [NODE_CONFIG]), 'FORM_TYPE %r' % (v.get('FORM_TYPE'),))
        check(v.get('pubsub#title') == 'slixmpp interop', 'title %r' % v.get('pubsub#title'))
        check(v.get('pubsub#max_items') == '10', 'max_items %r' % v.get('pubsub#max_items'))
        check(v.get('pubsub#access_model') == 'open', 'access_model %r' % v.get('pubsub#access_model'))
        check(v.get('pubsub#notify_retract') is True, 'notify_retract %r' % v.get('pubsub#notify_retract'))
        return {k: v[k] for k in ('pubsub#title', 'pubsub#max_items', 'pubsub#access_model')}

    await r.step('get-config', get_config, pf('config-node'))

    async def set_config():
        await ps_owner.set_node_config(svc, node, config_form(owner, {
            'pubsub#title': 'slixmpp interop (renamed)', 'pubsub#max_items': '5'}))
        v = (await ps_owner.get_node_config(svc, node))['pubsub_owner']['configure']['form'].get_values()
        check(v.get('pubsub#title') == 'slixmpp interop (renamed)', 'title after set %r' % v.get('pubsub#title'))
        check(v.get('pubsub#max_items') == '5', 'max_items after set %r' % v.get('pubsub#max_items'))
        check(v.get('pubsub#access_model') == 'open', 'unsubmitted field changed: %r' % v.get('pubsub#access_model'))
        return 'title and max_items changed, others kept'

    await r.step('set-config', set_config, pf('config-node'))

    async def set_config_invalid():
        got = await expect_error(ps_owner.set_node_config(svc, node, config_form(owner, {'pubsub#max_items': 'lots'})),
                                 'not-acceptable')
        v = (await ps_owner.get_node_config(svc, node))['pubsub_owner']['configure']['form'].get_values()
        check(v.get('pubsub#max_items') == '5', 'a refused form changed max_items to %r' % v.get('pubsub#max_items'))
        return got

    await r.step('set-config-invalid-refused', set_config_invalid, pf('config-node'))

    async def config_by_non_owner():
        return await expect_error(ps_sub.get_node_config(svc, node), 'forbidden')

    await r.step('config-refused-for-non-owner', config_by_non_owner, pf('config-node'))

    async def disco_nodes():
        res = await ps_sub.get_nodes(jid=svc)
        nodes = [i[1] for i in res['disco_items']['items']]
        check(node in nodes, '%s not among %s' % (node, nodes))
        return '%d node(s) listed' % len(nodes)

    await r.step('disco-items-nodes', disco_nodes, [DISCO_ITEMS])

    async def subscribe():
        res = await ps_sub.subscribe(svc, node)
        s = res['pubsub']['subscription']
        check(s['subscription'] == 'subscribed', 'subscription %r' % s['subscription'])
        check(str(s['jid']) == sub_bare, 'jid %r' % str(s['jid']))
        check(s['node'] == node, 'node %r' % s['node'])
        check(bool(s['subid']), 'no subid')
        state['subid'] = s['subid']
        return {'subid': s['subid']}

    await r.step('subscribe', subscribe, pf('subscribe'))

    async def publish_with_id():
        title = 'GRB 260314A — Étoile γ'
        res = await ps_owner.publish(svc, node, id='alert-1', payload=entry(title, 'bright & short <1s'))
        check(res['pubsub']['publish']['item']['id'] == 'alert-1', 'result id %r' % res['pubsub']['publish']['item']['id'])
        msg = await sub.wait_notification('publish', lambda m: m['pubsub_event']['items']['item']['id'] == 'alert-1')
        items = msg['pubsub_event']['items']
        check(items['node'] == node, 'notification node %r' % items['node'])
        check(msg['from'].bare == svc, 'notification from %s' % msg['from'])
        it = items['item']
        check(payload_title(it['payload']) == title, 'payload title %r' % payload_title(it['payload']))
        summary = it['payload'].find('{%s}summary' % PAYLOAD_NS)
        check(summary is not None and summary.text == 'bright & short <1s' and summary.get('lang') == 'en',
              'summary element altered: %r' % ((None if summary is None else (summary.text, summary.attrib)),))
        return 'notified with payload intact'

    await r.step('publish-with-id-and-notify', publish_with_id, pf('publish', 'item-ids'))

    async def publish_without_id():
        res = await ps_owner.publish(svc, node, payload=entry('GRB 260314B', 'no id given'))
        item_id = res['pubsub']['publish']['item']['id']
        check(bool(item_id), 'the service returned no item id (XEP-0060 §7.1.2)')
        state['auto_id'] = item_id
        msg = await sub.wait_notification('publish', lambda m: m['pubsub_event']['items']['item']['id'] == item_id)
        check(payload_title(msg['pubsub_event']['items']['item']['payload']) == 'GRB 260314B', 'payload differs')
        return {'assigned_id': item_id}

    await r.step('publish-without-id', publish_without_id, pf('publish'))

    async def items_all():
        res = await ps_sub.get_items(svc, node)
        got = [(i['id'], payload_title(i['payload'])) for i in res['pubsub']['items']]
        check(got == [('alert-1', 'GRB 260314A — Étoile γ'), (state.get('auto_id'), 'GRB 260314B')],
              'items %r' % got)
        return [g[0] for g in got]

    await r.step('retrieve-all-items', items_all, pf('retrieve-items', 'persistent-items'))

    async def items_by_id():
        res = await ps_sub.get_item(svc, node, 'alert-1')
        got = [(i['id'], payload_title(i['payload'])) for i in res['pubsub']['items']]
        check(got == [('alert-1', 'GRB 260314A — Étoile γ')], 'items %r' % got)
        await expect_error(ps_sub.get_item(svc, node, 'no-such-item'), 'item-not-found')
        return 'one item; unknown id → item-not-found'

    await r.step('retrieve-item-by-id', items_by_id, pf('retrieve-items', 'item-ids'))

    async def items_max():
        res = await ps_sub.get_items(svc, node, max_items=1)
        got = [i['id'] for i in res['pubsub']['items']]
        check(got == [state.get('auto_id')], 'max_items=1 gave %r, expected the newest %r' % (got, state.get('auto_id')))
        return got

    await r.step('retrieve-max-items', items_max, pf('retrieve-items'))

    async def archive_query():
        # XEP-0313 on the node: the plugin builds, sends and collects; a node= attribute
        # (and the extended ids field) are added to the IQ it builds.
        mam = sub['xep_0313']
        plugin_cls = type(mam)
        pre = plugin_cls._pre_mam_retrieve

        def with_node(self, *args, ids=None, **kwargs):
            iq, mask = pre(self, *args, **kwargs)
            iq['mam'].xml.set('node', node)
            if ids_wanted:
                iq['mam']['ids'] = ids_wanted
            return iq, mask

        ids_wanted = []
        plugin_cls._pre_mam_retrieve = with_node
        try:
            every = await mam.retrieve(jid=slixmpp.JID(svc), rsm={'max': 50}, timeout=STEP_TIMEOUT)
            all_ids = [m['mam_result']['id'] for m in every['mam']['results']]
            check('alert-1' in all_ids, 'archive of the node: %r' % all_ids)
            ids_wanted = ['alert-1']
            one = await mam.retrieve(jid=slixmpp.JID(svc), rsm={'max': 50}, timeout=STEP_TIMEOUT)
            got = [m['mam_result']['id'] for m in one['mam']['results']]
            check(got == ['alert-1'], 'ids=[alert-1] gave %r' % got)
        finally:
            plugin_cls._pre_mam_retrieve = pre
        return {'archive': all_ids, 'by-id': got}

    await r.step('archive-query', archive_query, ('urn:xmpp:mam:2', 'urn:xmpp:mam:2#extended'))

    async def publish_refused():
        return await expect_error(ps_sub.publish(svc, node, id='intruder', payload=entry('x', 'y')), 'forbidden')

    await r.step('publish-refused-for-subscriber', publish_refused, pf('publish'))

    async def retract():
        await ps_owner.retract(svc, node, 'alert-1', notify=True)
        msg = await sub.wait_notification('retract')
        retracted = [i['id'] for i in msg['pubsub_event']['items'] if i.name == 'retract']
        check(retracted == ['alert-1'], 'retract notification for %r' % retracted)
        check(msg['pubsub_event']['items']['node'] == node, 'retract node %r' % msg['pubsub_event']['items']['node'])
        left = [i['id'] for i in (await ps_owner.get_items(svc, node))['pubsub']['items']]
        check(left == [state.get('auto_id')], 'items after retract %r' % left)
        return 'retracted and notified'

    await r.step('retract-with-notify', retract, pf('retract-items', 'delete-items'))

    def owner_affs(res):
        return {str(a['jid']): a['affiliation'] for a in res['pubsub_owner']['affiliations']}

    async def affiliations_get():
        affs = owner_affs(await ps_owner.get_node_affiliations(svc, node))
        check(affs.get(owner_bare) == 'owner', 'affiliations %r' % affs)
        await expect_error(ps_sub.get_node_affiliations(svc, node), 'forbidden')
        return affs

    await r.step('get-affiliations', affiliations_get, pf('modify-affiliations'))

    async def make_publisher():
        await ps_owner.modify_affiliations(svc, node, [(sub_bare, 'publisher')])
        affs = owner_affs(await ps_owner.get_node_affiliations(svc, node))
        check(affs.get(sub_bare) == 'publisher', 'affiliations %r' % affs)
        own = await ps_sub.get_affiliations(svc, node)
        mine = [(a['node'], a['affiliation']) for a in own['pubsub']['affiliations']]
        check(mine == [(node, 'publisher')], "subscriber's own affiliations %r" % mine)
        res = await ps_sub.publish(svc, node, id='from-cn', payload=entry('from svom.cn', 'publisher now'))
        check(res['pubsub']['publish']['item']['id'] == 'from-cn', 'publish result %r' % res)
        msg = await sub.wait_notification('publish', lambda m: m['pubsub_event']['items']['item']['id'] == 'from-cn')
        it = msg['pubsub_event']['items']['item']
        return {'publisher_attr': it.xml.get('publisher')}

    await r.step('modify-affiliation-publisher', make_publisher, pf('modify-affiliations', 'manage-affiliations', 'publisher-affiliation', 'retrieve-affiliations'))

    def owner_subs(res):
        return [(str(s['jid']), s['subscription']) for s in res['pubsub_owner']['subscriptions']]

    async def subscriptions_manage():
        subs = owner_subs(await ps_owner.get_node_subscriptions(svc, node))
        check(subs == [(sub_bare, 'subscribed')], 'node subscriptions %r' % subs)
        await expect_error(ps_sub.get_node_subscriptions(svc, node), 'forbidden')
        # The owner cancels the subscription, then subscribes the JID again.
        await ps_owner.modify_subscriptions(svc, node, [(sub_bare, 'none')])
        check(owner_subs(await ps_owner.get_node_subscriptions(svc, node)) == [], 'subscription not removed')
        mine = [s['subscription'] for s in (await ps_sub.get_subscriptions(svc, node))['pubsub']['subscriptions']]
        check(mine == [], "subscriber still sees %r" % mine)
        await sub.wait_notification('subscription', lambda m: sub_state(m) == 'none')
        await ps_owner.modify_subscriptions(svc, node, [(sub_bare, 'subscribed')])
        subs = owner_subs(await ps_owner.get_node_subscriptions(svc, node))
        check(subs == [(sub_bare, 'subscribed')], 'after re-subscribing: %r' % subs)
        own = (await ps_sub.get_subscriptions(svc, node))['pubsub']['subscriptions']
        mine = [(s['node'], str(s['jid']), s['subscription']) for s in own]
        check(mine == [(node, sub_bare, 'subscribed')], 'subscriber sees %r' % mine)
        return 'get, set none (notified), set subscribed'

    def sub_state(m):
        for ns in (PUBSUB, EVENT):
            el = m.xml.find('{%s}%s/{%s}subscription' % (ns, 'pubsub' if ns == PUBSUB else 'event', ns))
            if el is not None and el.get('node') == node:
                return el.get('subscription')
        return None

    await r.step('manage-subscriptions', subscriptions_manage, pf('manage-subscriptions', 'retrieve-subscriptions', 'subscription-notifications'))

    async def outcast():
        n_before = len([1 for k, m in sub.notifications if k == 'subscription' and sub_state(m) == 'none'])
        await ps_owner.modify_affiliations(svc, node, [(sub_bare, 'outcast')])
        affs = owner_affs(await ps_owner.get_node_affiliations(svc, node))
        check(affs.get(sub_bare) == 'outcast', 'affiliations %r' % affs)
        subs = owner_subs(await ps_owner.get_node_subscriptions(svc, node))
        check(all(j != sub_bare for j, _ in subs), 'the outcast keeps its subscription: %r' % subs)
        seen = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            seen = [m for k, m in sub.notifications if k == 'subscription' and sub_state(m) == 'none']
            if len(seen) > n_before:
                break
            await asyncio.sleep(0.05)
        check(len(seen) > n_before, 'the outcast was not told its subscription ended')
        await expect_error(ps_sub.get_items(svc, node), 'forbidden')
        await expect_error(ps_sub.subscribe(svc, node), 'forbidden')
        await expect_error(ps_sub.publish(svc, node, id='outcast', payload=entry('x', 'y')), 'forbidden')
        await ps_owner.modify_affiliations(svc, node, [(sub_bare, 'none')])
        affs = owner_affs(await ps_owner.get_node_affiliations(svc, node))
        check(sub_bare not in affs, 'affiliation none kept an entry: %r' % affs)
        return 'subscription removed and notified; items/subscribe/publish forbidden; restored to none'

    await r.step('outcast-removes-subscription', outcast, pf('outcast-affiliation', 'subscription-notifications'))

    async def unsubscribe():
        res = await ps_sub.subscribe(svc, node)
        check(res['pubsub']['subscription']['subscription'] == 'subscribed', 'resubscribe %r' % res)
        await ps_sub.unsubscribe(svc, node)
        mine = list((await ps_sub.get_subscriptions(svc, node))['pubsub']['subscriptions'])
        check(mine == [], 'still subscribed: %r' % mine)
        check(owner_subs(await ps_owner.get_node_subscriptions(svc, node)) == [], 'owner still sees a subscription')
        err = await expect_error(ps_sub.unsubscribe(svc, node), 'unexpected-request')
        return {'second_unsubscribe': err['condition']}

    await r.step('unsubscribe', unsubscribe, pf('subscribe'))

    async def purge():
        await ps_sub.subscribe(svc, node)
        before = [i['id'] for i in (await ps_owner.get_items(svc, node))['pubsub']['items']]
        check(len(before) >= 1, 'nothing to purge: %r' % before)
        await expect_error(ps_sub.purge(svc, node), 'forbidden')
        await ps_owner.purge(svc, node)
        msg = await sub.wait_notification('purge')
        check(msg['pubsub_event']['purge']['node'] == node, 'purge node %r' % msg['pubsub_event']['purge']['node'])
        after = list((await ps_owner.get_items(svc, node))['pubsub']['items'])
        check(after == [], 'items after purge %r' % [i['id'] for i in after])
        return 'purged %d item(s), subscriber notified' % len(before)

    await r.step('purge', purge, pf('purge-nodes'))

    async def delete():
        await expect_error(ps_sub.delete_node(svc, node), 'forbidden')
        await ps_owner.delete_node(svc, node)
        msg = await sub.wait_notification('delete')
        check(msg['pubsub_event']['delete']['node'] == node, 'delete node %r' % msg['pubsub_event']['delete']['node'])
        await expect_error(ps_owner.get_node_config(svc, node), 'item-not-found')
        await expect_error(ps_sub.subscribe(svc, node), 'item-not-found')
        return 'deleted, subscriber notified, node gone'

    await r.step('delete-node', delete, pf('delete-nodes'))

    # ------------------------------------------------------------ beyond the basics (issue 13)

    def form_of(stanza_xml, path):
        x = stanza_xml.find(path)
        check(x is not None, 'no data form at %s' % path)
        return slixmpp.plugins.xep_0004.stanza.Form(xml=x)

    def submit(client, form_type, fields):
        f = client['xep_0004'].make_form(ftype='submit')
        f.add_field(var='FORM_TYPE', ftype='hidden', value=form_type)
        for var, value in fields.items():
            if isinstance(value, bool):
                f.add_field(var=var, ftype='boolean', value=value)
            else:
                f.add_field(var=var, value=value)
        return f

    async def instant_node():
        res = await ps_owner.create_node(svc, None)
        created = res['pubsub']['create']['node']
        check(bool(created), 'no node id generated')
        await ps_owner.delete_node(svc, created)
        return {'generated': created}

    await r.step('instant-node', instant_node, pf('instant-nodes'))

    async def default_config():
        res = await ps_owner.get_node_config(svc)
        v = form_of(res.xml, '{%s}pubsub/{%s}default/{%s}x' % (OWNER, OWNER, DATA)).get_values()
        check(v.get('pubsub#node_type') == 'leaf', 'node_type %r' % v.get('pubsub#node_type'))
        f = form_of(res.xml, '{%s}pubsub/{%s}default/{%s}x' % (OWNER, OWNER, DATA))
        offered = sorted(o['value'] for o in f.get_fields()['pubsub#access_model']['options'])
        check(offered == ['authorize', 'open', 'whitelist'], 'access models offered %r' % offered)
        return {'access_models': offered}

    await r.step('retrieve-default-config', default_config, pf('retrieve-default'))

    n2 = node + '-more'

    async def auto_create_with_options():
        opts = submit(owner, PUBLISH_OPTIONS, {'pubsub#access_model': 'open'})
        res = await ps_owner.publish(svc, n2, id='first', payload=entry('auto', 'created on publish'), options=opts)
        check(res['pubsub']['publish']['item']['id'] == 'first', 'publish result %r' % res)
        got = await expect_error(ps_owner.publish(svc, n2, id='x', payload=entry('x', 'y'),
                                                  options=submit(owner, PUBLISH_OPTIONS, {'pubsub#access_model': 'whitelist'})), 'conflict')
        return {'precondition': got['condition']}

    await r.step('auto-create-and-publish-options', auto_create_with_options, pf('auto-create', 'publish-options'))

    async def meta_data():
        info = await sub['xep_0030'].get_info(jid=svc, node=n2)
        idents = [tuple(i[:2]) for i in info['disco_info']['identities']]
        check(('pubsub', 'leaf') in idents, 'identities %r' % idents)
        v = form_of(info.xml, '{%s}query/{%s}x' % (DISCO_INFO, DATA)).get_values()
        check(owner_bare in (v.get('pubsub#owner') or []), 'owner %r' % v.get('pubsub#owner'))
        return {'access_model': v.get('pubsub#access_model')}

    await r.step('node-meta-data', meta_data, pf('meta-data'))

    async def multi_items_and_rsm():
        iq = owner.Iq(sto=svc, stype='set')
        iq['pubsub']['publish']['node'] = n2
        ids = ['m%02d' % i for i in range(1, 25)]
        for i in ids:
            item = slixmpp.plugins.xep_0060.stanza.Item()
            item['id'] = i
            item['payload'] = entry(i, 'batch')
            iq['pubsub']['publish'].append(item)
        res = await iq.send()
        got = [i['id'] for i in res['pubsub']['publish']]
        check(got == ids, 'published ids %r' % got[:5])
        # slixmpp's XEP-0059 iterator: first page without a cursor, then <after> = previous <last>.
        seen, pages = [], 0
        async for page in ps_sub.get_items(svc, n2, iterator=True):
            pages += 1
            seen += [i['id'] for i in page['pubsub']['items']]
            check(pages < 10, 'paging does not end')
        check(seen == ['first'] + ids, 'paged %r' % seen)
        return {'pages': pages, 'items': len(seen)}

    await r.step('multi-items-and-rsm-paging', multi_items_and_rsm, pf('multi-items', 'rsm') + [RSM])

    async def last_published():
        await ps_owner.set_node_config(svc, n2, config_form(owner, {'pubsub#send_last_published_item': 'on_sub'}))
        await ps_sub.subscribe(svc, n2)
        msg = await sub.wait_notification('publish', lambda m: m['pubsub_event']['items']['node'] == n2)
        got = msg['pubsub_event']['items']['item']['id']
        check(got == 'm24', 'last item %r' % got)
        return {'last': got}

    await r.step('last-published-on-subscribe', last_published, pf('last-published'))

    async def multi_subscribe():
        s2 = (await ps_sub.subscribe(svc, n2))['pubsub']['subscription']['subid']
        mine = [s['subid'] for s in (await ps_sub.get_subscriptions(svc, n2))['pubsub']['subscriptions']]
        check(len(mine) == 2 and s2 in mine, 'subscriptions %r' % mine)
        await expect_error(ps_sub.unsubscribe(svc, n2), 'bad-request')
        await ps_sub.unsubscribe(svc, n2, subid=s2)
        left = [s['subid'] for s in (await ps_sub.get_subscriptions(svc, n2))['pubsub']['subscriptions']]
        check(left == [m for m in mine if m != s2], 'left %r' % left)
        return {'subids': mine}

    await r.step('multi-subscribe', multi_subscribe, pf('multi-subscribe'))

    async def subscription_options():
        res = await ps_sub.get_subscription_options(svc, n2)  # no user_jid: the defaults (retrieve-default-sub)
        d = form_of(res.xml, '{%s}pubsub/{%s}default/{%s}x' % (PUBSUB, PUBSUB, DATA)).get_values()
        check(d.get('pubsub#deliver') is True, 'default deliver %r' % d.get('pubsub#deliver'))
        res = await ps_sub.get_subscription_options(svc, n2, user_jid=sub_bare)
        v = res['pubsub']['options']['options'].get_values()
        check(v.get('pubsub#deliver') is True, 'deliver %r' % v.get('pubsub#deliver'))
        # slixmpp's set_subscription_options sends type='get' (a slixmpp bug); the same stanza as a set:
        iq = sub.Iq(sto=svc, stype='set')
        iq['pubsub']['options']['node'] = n2
        iq['pubsub']['options']['jid'] = sub_bare
        iq['pubsub']['options'].append(submit(sub, SUB_OPTIONS, {'pubsub#deliver': False}))
        await iq.send()
        v = (await ps_sub.get_subscription_options(svc, n2, user_jid=sub_bare))['pubsub']['options']['options'].get_values()
        check(v.get('pubsub#deliver') is False, 'deliver after set %r' % v.get('pubsub#deliver'))
        await ps_owner.publish(svc, n2, id='quiet', payload=entry('quiet', 'not delivered'))
        # Subscribe-and-configure: a second subscription with its own options hears the next item.
        res = await ps_sub.subscribe(svc, n2, options=submit(sub, SUB_OPTIONS, {'pubsub#include_body': False}))
        check(res['pubsub']['subscription']['subscription'] == 'subscribed', 'subscribe with options %r' % res)
        await ps_owner.publish(svc, n2, id='loud', payload=entry('loud', 'delivered'))
        await sub.wait_notification('publish', lambda m: m['pubsub_event']['items']['item']['id'] == 'loud')
        # (The new subscription receives the last published item, 'quiet', delayed: that one is allowed.)
        check(not any(k == 'publish' and m['pubsub_event']['items']['item']['id'] == 'quiet'
                      and m.xml.find('{urn:xmpp:delay}delay') is None for k, m in sub.notifications),
              'a subscription with pubsub#deliver off was notified')
        return 'defaults, get, set (deliver off silences), subscribe with options'

    await r.step('subscription-options', subscription_options, pf('subscription-options', 'retrieve-default-sub'))

    n3 = node + '-pi'

    async def whitelist_and_members():
        await ps_owner.create_node(svc, n3, config=config_form(owner, {'pubsub#access_model': 'whitelist'}))
        got = await expect_error(ps_sub.subscribe(svc, n3), 'not-allowed')
        await ps_owner.modify_affiliations(svc, n3, [(sub_bare, 'member')])
        res = await ps_sub.subscribe(svc, n3)
        check(res['pubsub']['subscription']['subscription'] == 'subscribed', 'member subscribe %r' % res)
        await ps_sub.unsubscribe(svc, n3)
        return {'non_member': got['condition']}

    await r.step('whitelist-and-member', whitelist_and_members, pf('access-whitelist', 'member-affiliation'))

    async def publish_only():
        await ps_owner.modify_affiliations(svc, n3, [(sub_bare, 'publish-only')])
        res = await ps_sub.publish(svc, n3, id='po', payload=entry('po', 'publish-only'))
        check(res['pubsub']['publish']['item']['id'] == 'po', 'publish %r' % res)
        await expect_error(ps_sub.get_items(svc, n3), 'forbidden')
        return 'publishes, may not retrieve'

    await r.step('publish-only-affiliation', publish_only, pf('publish-only-affiliation'))

    n4 = node + '-auth'

    async def authorize_and_get_pending():
        await ps_owner.create_node(svc, n4, config=config_form(owner, {'pubsub#access_model': 'authorize'}))
        res = await ps_sub.subscribe(svc, n4)
        check(res['pubsub']['subscription']['subscription'] == 'pending', 'state %r' % res['pubsub']['subscription']['subscription'])
        subid = res['pubsub']['subscription']['subid']

        def is_request(m):
            x = m.xml.find('{%s}x' % DATA)
            return x is not None and SUB_AUTH in (slixmpp.plugins.xep_0004.stanza.Form(xml=x).get_values().get('FORM_TYPE') or [])
        await owner.wait_notification('form', is_request)
        n_before = len([1 for k, m in owner.notifications if k == 'form' and is_request(m)])
        # The owner asks again through the get-pending ad-hoc command (XEP-0050).
        cmds = await owner['xep_0050'].get_commands(svc)
        check(GET_PENDING in [i[1] for i in cmds['disco_items']['items']], 'commands %r' % cmds['disco_items']['items'])
        step1 = await owner['xep_0050'].send_command(svc, GET_PENDING)
        sid = step1['command']['sessionid']
        choice = submit(owner, SUB_AUTH, {'pubsub#node': n4})
        await owner['xep_0050'].send_command(svc, GET_PENDING, action='execute', payload=choice, sessionid=sid)
        deadline = time.monotonic() + 10
        while len([1 for k, m in owner.notifications if k == 'form' and is_request(m)]) <= n_before:
            check(time.monotonic() < deadline, 'get-pending sent no request')
            await asyncio.sleep(0.05)
        answer = owner.Message(sto=svc)
        answer.append(submit(owner, SUB_AUTH, {'pubsub#subid': subid, 'pubsub#node': n4,
                                               'pubsub#subscriber_jid': sub_bare, 'pubsub#allow': True}))
        answer.send()

        def approved(m):
            el = m.xml.find('{%s}pubsub/{%s}subscription' % (PUBSUB, PUBSUB))
            return el is not None and el.get('node') == n4 and el.get('subscription') == 'subscribed'
        await sub.wait_notification('subscription', approved)
        return 'pending, request re-sent by get-pending, approved, subscriber told'

    await r.step('authorize-and-get-pending', authorize_and_get_pending,
                 pf('access-authorize', 'get-pending', 'subscription-notifications') + [COMMANDS])

    coll = node + '-mission'

    async def collections():
        await ps_owner.create_node(svc, coll, config=config_form(owner, {}), ntype='collection')
        await ps_sub.subscribe(svc, coll, options=submit(sub, SUB_OPTIONS, {'pubsub#subscription_type': 'nodes'}))
        await ps_sub.subscribe(svc, coll)
        leaf = coll + '/products'
        await ps_owner.create_node(svc, leaf, config=config_form(owner, {'pubsub#collection': coll}))
        ev = await sub.wait_notification('collection')
        assoc = ev.xml.find('{%s}event/{%s}collection/{%s}associate' % (EVENT, EVENT, EVENT))
        check(assoc is not None and assoc.get('node') == leaf, 'associate event %r' % ET.tostring(ev.xml))
        items = await sub['xep_0030'].get_items(jid=svc, node=coll)
        check([i[1] for i in items['disco_items']['items']] == [leaf], 'children %r' % items['disco_items']['items'])
        await ps_owner.publish(svc, leaf, id='via-collection', payload=entry('leaf', 'through the collection'))
        msg = await sub.wait_notification('publish', lambda m: m['pubsub_event']['items']['item']['id'] == 'via-collection')
        headers = msg.xml.find('{%s}headers' % SHIM)
        names = {h.get('name'): h.text for h in (headers if headers is not None else [])}
        check(names.get('Collection') == coll, 'headers %r' % names)
        return {'collection_header': names.get('Collection')}

    await r.step('collections', collections, pf('collections'))

    async def ping():
        rtt = await sub['xep_0199'].ping(jid=svc, timeout=10)
        return {'rtt_ms': round(rtt * 1000, 1)}

    await r.step('ping', ping, [PING])

    for c in (owner, sub):
        c.disconnect(wait=1)
    if ca_file:
        os.unlink(ca_file)
    return r.results


def main():
    args = parse_args()
    results = asyncio.run(run(args))
    passed = sum(1 for x in results if x)
    print(json.dumps({'summary': True, 'passed': passed, 'failed': len(results) - passed}), flush=True)
    sys.exit(0 if results and all(results) else 1)


if __name__ == '__main__':
    main()
