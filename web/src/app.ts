/**
 * The VOXnet web page: log in with an XMPP account, list the nodes it may see,
 * subscribe, follow alerts live, open an alert (What, WhereWhen, References,
 * JSON fields, raw packet, sky view), page back through a node's history.
 * Everything comes from the XMPP server over WebSocket; nothing is kept on
 * any other server.
 */
import { h, replace, type Child } from './dom.ts';
import { Session, LoginError, type Status } from './session.ts';
import { refusal } from './messages.ts';
import { XmppIqError, getItem, listNodes, nodeMeta, subscriptions, subscribe, unsubscribe, itemsPage, type PubsubEvent, type RawItem } from './protocol.ts';
import { readAlert, Threads, type Alert } from './alert.ts';
import { groupNodes, crossmatchNodeOf, type NodeInfo } from './nodes.ts';
import { drawMollweide, drawSky, zoomOn, localisationsOf, loadSkyMap, type Localisation, topGalaxies, type Drawing, type Marker } from './sky.ts';
import { formatRadius } from '../../voevent/summary.ts';
import type { Param } from '../../voevent/model.ts';
import { compileFilter, subjectOf, FilterError, type Filter, type Subject } from '../../filter/index.ts';

type Config = { websocket: string; pubsub: string; domain?: string; title?: string };
type NodeState = NodeInfo & { subscription?: string; error?: string; busy?: boolean };
type History = { node: string; keys: string[]; first?: string; count?: number; more: boolean; error?: string; loading?: boolean };

const PAGE = 20;
const CATCH_UP_PAGES = 50;
const FEED_MAX = 500;

const st = {
  config: { websocket: '', pubsub: '' } as Config,
  session: undefined as Session | undefined,
  status: 'offline' as Status,
  banner: '' as string,
  bannerKind: 'info' as 'info' | 'error',
  nodes: [] as NodeState[],
  alerts: new Map<string, Alert>(),
  feed: [] as string[],
  threads: new Threads(),
  lastSeen: new Map<string, string>(),
  retracted: new Set<string>(),
  filter: { role: '', mission: '', expr: '', compiled: undefined as Filter | undefined, error: '' },
  history: undefined as History | undefined,
  fresh: new Set<string>(),
};

const app = document.getElementById('app')!;
const keyOf = (node: string, id: string) => Threads.key({ node, id });

let bannerTimer: ReturnType<typeof setTimeout> | undefined;
/** A message above the page; news (kind info) goes away by itself after a while, problems stay. */
function setBanner(text: string, kind: 'info' | 'error' = 'info'): void {
  st.banner = text;
  st.bannerKind = kind;
  clearTimeout(bannerTimer);
  if (text && kind === 'info') bannerTimer = setTimeout(() => st.banner === text && setBanner(''), 20_000);
  renderBanner();
}

// ------------------------------------------------------------------ alerts

function remember(node: string, item: RawItem, live: boolean): Alert {
  const a = readAlert(node, item.id, item.payload);
  const k = keyOf(node, item.id);
  const had = st.alerts.has(k);
  st.alerts.set(k, a);
  st.threads.add(a);
  if (live) {
    if (had) st.feed.splice(st.feed.indexOf(k), 1);
    st.feed.unshift(k);
    st.fresh.add(k);
    if (st.feed.length > FEED_MAX) st.feed.length = FEED_MAX; // older alerts stay reachable through History
  }
  return a;
}

/** While the tab is hidden, the title counts the alerts that arrived. */
let unseen = 0;
function countUnseen(n: number): void {
  if (!document.hidden || n === 0) return;
  unseen += n;
  document.title = `(${unseen}) ${st.config.title ?? 'VOXnet alerts'}`;
}
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) {
    unseen = 0;
    document.title = st.config.title ?? 'VOXnet alerts';
  }
});

function onEvent(ev: PubsubEvent): void {
  if (ev.service !== st.config.pubsub) return;
  countUnseen(ev.items.length);
  for (const it of ev.items) {
    st.lastSeen.set(ev.node, it.id);
    if (it.payload) remember(ev.node, it, true);
    else if (st.session) {
      // a node configured without payloads in notifications: fetch the item
      void getItem(st.session.iq, st.config.pubsub, ev.node, it.id)
        .then((full) => (remember(ev.node, full, true), route()))
        .catch(() => {});
    }
  }
  for (const id of ev.retracts) st.retracted.add(keyOf(ev.node, id));
  route();
}

/** After a reconnection: everything published on subscribed nodes since the last item seen. */
async function catchUp(): Promise<void> {
  const s = st.session;
  if (!s) return;
  let n = 0;
  for (const node of st.nodes.filter((x) => x.subscription === 'subscribed')) {
    let after = st.lastSeen.get(node.node);
    try {
      for (let p = 0; p < CATCH_UP_PAGES; p++) {
        const page = after === undefined
          ? await itemsPage(s.iq, st.config.pubsub, node.node, { max: PAGE })
          : await itemsPage(s.iq, st.config.pubsub, node.node, { max: PAGE, after });
        for (const it of page.items) {
          if (!st.alerts.has(keyOf(node.node, it.id))) {
            remember(node.node, it, true);
            n++;
          }
        }
        if (page.items.length) after = page.items.at(-1)!.id;
        // XEP-0059: the set ends where first@index + items reaches count (a server may cut pages short by size)
        const end = page.count !== undefined && page.firstIndex !== undefined ? page.firstIndex + page.items.length >= page.count : page.items.length < PAGE;
        if (page.items.length === 0 || end || after === undefined) break;
      }
      if (after !== undefined) st.lastSeen.set(node.node, after);
    } catch (err) {
      if (err instanceof XmppIqError && err.condition === 'item-not-found' && after !== undefined) {
        // the last item seen is gone (purged or retracted): take the newest page
        st.lastSeen.delete(node.node);
        const page = await itemsPage(s.iq, st.config.pubsub, node.node, { max: PAGE }).catch(() => undefined);
        for (const it of page?.items ?? []) if (!st.alerts.has(keyOf(node.node, it.id))) (remember(node.node, it, true), n++);
        if (page?.items.length) st.lastSeen.set(node.node, page.items.at(-1)!.id);
      } else node.error = refusal(node.node, err, 'catch up on');
    }
  }
  setBanner(n ? `Reconnected; ${n} alert${n === 1 ? '' : 's'} published meanwhile ${n === 1 ? 'is' : 'are'} in the feed.` : 'Reconnected; nothing was missed.');
  route();
}

// ------------------------------------------------------------------ login

async function login(form: HTMLFormElement): Promise<void> {
  const data = new FormData(form);
  const jid = String(data.get('jid') ?? '').trim();
  const password = String(data.get('password') ?? '');
  const websocket = String(data.get('websocket') ?? '').trim() || st.config.websocket;
  const err = form.querySelector('.login-error')!;
  const button = form.querySelector('button')!;
  replace(err);
  button.disabled = true;
  try {
    const session = new Session({
      websocket,
      jid,
      password,
      onStatus: (s) => {
        st.status = s;
        if (s === 'reconnecting') setBanner('Connection lost — reconnecting…', 'error');
        renderStatus();
      },
      onEvent,
      onReconnected: () => void catchUp(),
    });
    await session.start();
    st.session = session;
    try {
      localStorage.setItem('voxnet.jid', jid);
    } catch {
      /* private mode */
    }
    try {
      await loadNodes();
      await loadRecent();
    } catch (e) {
      // logged in, but the alert service does not answer (broker stopped, wrong service name)
      setBanner(refusal(st.config.pubsub, e, 'list the nodes of'), 'error');
    }
    // a link to an alert or a node (e.g. from a chat room) opens it once logged in
    if (!/^#\/(alert|node)\//.test(location.hash)) location.hash = '#/';
    lastHash = '';
    renderShell();
    route();
  } catch (e) {
    replace(err, e instanceof LoginError ? e.message : `Login failed: ${e instanceof Error ? e.message : String(e)}`);
    button.disabled = false;
    (form.querySelector('#password') as HTMLInputElement).focus();
  }
}

async function logout(): Promise<void> {
  await st.session?.stop();
  st.session = undefined;
  st.nodes = [];
  st.alerts.clear();
  st.feed = [];
  st.threads = new Threads();
  st.lastSeen.clear();
  st.history = undefined;
  st.banner = '';
  renderLogin();
}

async function loadNodes(): Promise<void> {
  const s = st.session!;
  const [entries, subs] = await Promise.all([
    listNodes(s.iq, st.config.pubsub),
    subscriptions(s.iq, st.config.pubsub).catch(() => new Map<string, string>()),
  ]);
  st.nodes = await Promise.all(
    entries.map(async (e): Promise<NodeState> => {
      const base: NodeState = { node: e.node, ...(e.name ? { title: e.name } : {}) };
      const sub = subs.get(e.node);
      if (sub) base.subscription = sub;
      try {
        const m = await nodeMeta(s.iq, st.config.pubsub, e.node);
        return { ...base, ...(m.title ? { title: m.title } : {}), ...(m.type ? { type: m.type } : {}), ...(m.accessModel ? { accessModel: m.accessModel } : {}) };
      } catch (err) {
        return { ...base, error: refusal(e.node, err, 'read the meta-data of') };
      }
    }),
  );
}

/** The newest page of every subscribed node, so the feed is not empty on arrival. */
async function loadRecent(): Promise<void> {
  const s = st.session!;
  const got: Alert[] = [];
  await Promise.all(
    st.nodes.filter((n) => n.subscription === 'subscribed').map(async (n) => {
      try {
        // up to PAGE newest items; a server may cut a page short by size (large JSON alerts), so follow RSM back a few pages
        let before: string | undefined;
        let n0 = 0;
        for (let p = 0; p < 5 && n0 < PAGE; p++) {
          const page = await itemsPage(s.iq, st.config.pubsub, n.node, { max: PAGE - n0, ...(before !== undefined ? { before } : {}) });
          for (const it of page.items) got.push(remember(n.node, it, false));
          if (p === 0 && page.items.length) st.lastSeen.set(n.node, page.items.at(-1)!.id);
          n0 += page.items.length;
          if (!page.items.length || page.first === undefined || page.firstIndex === 0) break;
          before = page.first;
        }
      } catch (err) {
        n.error = refusal(n.node, err, 'read the history of');
      }
    }),
  );
  got.sort((a, b) => (b.time ?? '').localeCompare(a.time ?? ''));
  st.feed = got.map((a) => keyOf(a.node, a.id));
}

async function toggleSubscription(n: NodeState): Promise<void> {
  const s = st.session;
  if (!s || n.busy) return;
  n.busy = true;
  delete n.error;
  renderNodes();
  try {
    if (n.subscription === 'subscribed' || n.subscription === 'pending') {
      await unsubscribe(s.iq, st.config.pubsub, n.node, s.bare);
      delete n.subscription;
    } else {
      n.subscription = await subscribe(s.iq, st.config.pubsub, n.node, s.bare);
      if (n.subscription === 'pending') n.error = `Subscription to ${n.node} waits for the owner's approval.`;
      // what is already there
      const page = await itemsPage(s.iq, st.config.pubsub, n.node, { max: PAGE }).catch(() => undefined);
      for (const it of page?.items ?? []) if (!st.alerts.has(keyOf(n.node, it.id))) remember(n.node, it, true);
      if (page?.items.length) st.lastSeen.set(n.node, page.items.at(-1)!.id);
    }
  } catch (err) {
    n.error = refusal(n.node, err, n.subscription === 'subscribed' ? 'unsubscribe from' : 'subscribe to');
  } finally {
    n.busy = false;
    renderNodes();
    route();
  }
}

/** A node typed by name (from a colleague, an xmpp: link): listed with what the service says about it. */
async function addNodeByName(node: string): Promise<void> {
  const s = st.session;
  if (!s || !node) return;
  let n = st.nodes.find((x) => x.node === node);
  if (!n) {
    n = { node };
    st.nodes.push(n);
  }
  try {
    const m = await nodeMeta(s.iq, st.config.pubsub, node);
    Object.assign(n, m.title ? { title: m.title } : {}, m.accessModel ? { accessModel: m.accessModel } : {});
    delete n.error;
  } catch (err) {
    n.error = refusal(node, err, 'see');
  }
  renderNodes();
}

// ------------------------------------------------------------------ history (RSM)

async function openHistory(node: string, older: boolean): Promise<void> {
  const s = st.session;
  if (!s) return;
  if (!older || st.history?.node !== node) st.history = { node, keys: [], more: false };
  const hist = st.history!;
  hist.loading = true;
  delete hist.error;
  renderMain();
  try {
    const page = await itemsPage(s.iq, st.config.pubsub, node, { max: PAGE, ...(older && hist.first ? { before: hist.first } : {}) });
    const keys = page.items.map((it) => {
      const k = keyOf(node, it.id);
      if (!st.alerts.has(k)) remember(node, it, false);
      return k;
    });
    hist.keys.push(...keys.reverse());
    if (page.first !== undefined) hist.first = page.first;
    if (page.count !== undefined) hist.count = page.count;
    hist.more = page.firstIndex !== undefined ? page.firstIndex > 0 : page.items.length === PAGE;
  } catch (err) {
    hist.error = refusal(node, err, 'read the history of');
  } finally {
    hist.loading = false;
    if (location.hash === `#/node/${encodeURIComponent(node)}`) renderMain();
  }
}

// ------------------------------------------------------------------ rendering

function renderLogin(problem?: string): void {
  let last = '';
  try {
    last = localStorage.getItem('voxnet.jid') ?? '';
  } catch {
    /* private mode */
  }
  replace(
    app,
    h('main', { class: 'login', id: 'main' },
      h('h1', {}, st.config.title ?? 'VOXnet alerts'),
      h('p', {}, 'Log in with your XMPP account to follow the alerts you may see.'),
      h('form', {
        id: 'login-form',
        onsubmit: (e: Event) => {
          e.preventDefault();
          void login(e.target as HTMLFormElement);
        },
      },
        h('label', { for: 'jid' }, 'Address'),
        h('input', { id: 'jid', name: 'jid', type: 'email', autocomplete: 'username', required: true, placeholder: 'you@svom.fr', value: last, inputmode: 'email' }),
        h('label', { for: 'password' }, 'Password'),
        h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
        h('details', {},
          h('summary', {}, 'Server'),
          h('label', { for: 'websocket' }, 'XMPP WebSocket URL'),
          h('input', { id: 'websocket', name: 'websocket', type: 'url', value: st.config.websocket })),
        h('p', { class: 'login-error', role: 'alert' }, problem),
        h('button', { type: 'submit', id: 'login' }, 'Log in'))),
  );
  (document.getElementById(last ? 'password' : 'jid') as HTMLInputElement).focus();
}

function renderShell(): void {
  const narrow = window.matchMedia('(max-width: 720px)').matches;
  replace(
    app,
    h('button', { type: 'button', class: 'skip', onclick: () => (document.querySelector('#main h2') as HTMLElement | null)?.focus() }, 'Skip to content'),
    h('header', {},
      h('a', { href: '#/', class: 'brand' }, st.config.title ?? 'VOXnet'),
      h('span', { id: 'status', role: 'status' }),
      h('span', { class: 'who' }, st.session?.bare ?? ''),
      h('button', { type: 'button', id: 'logout', onclick: () => void logout() }, 'Log out')),
    h('div', { id: 'banner', role: 'alert' }),
    h('div', { class: 'layout' },
      h('details', { class: 'nodes-panel', open: !narrow },
        h('summary', {}, 'Nodes'),
        h('div', { id: 'nodes' }),
        h('form', {
          class: 'node-by-name',
          onsubmit: (e: Event) => {
            e.preventDefault();
            const input = (e.target as HTMLFormElement).querySelector('input')!;
            void addNodeByName(input.value.trim());
            input.value = '';
          },
        },
          h('label', { for: 'node-name' }, 'A node not listed (hidden nodes are listed only for their members):'),
          h('input', { id: 'node-name', name: 'node', required: true, placeholder: 'svom/eclairs/pi' }),
          h('button', { type: 'submit' }, 'Add'))),
      h('main', { id: 'main', tabindex: '-1' })),
  );
  renderStatus();
  renderBanner();
  renderNodes();
}

function renderStatus(): void {
  const el = document.getElementById('status');
  if (!el) return;
  const text: Record<Status, string> = { connecting: 'connecting…', online: 'live', reconnecting: 'reconnecting…', offline: 'offline' };
  el.className = `status status-${st.status}`;
  el.textContent = text[st.status];
  if (st.status === 'online' && st.bannerKind === 'error' && /reconnecting/.test(st.banner)) setBanner('');
}

function renderBanner(): void {
  const el = document.getElementById('banner');
  if (!el) return;
  el.className = st.banner ? `banner banner-${st.bannerKind}` : 'banner';
  replace(el, st.banner ? [st.banner, ' ', h('button', { type: 'button', class: 'link', onclick: () => setBanner('') }, 'dismiss')] : []);
}

function renderNodes(): void {
  const el = document.getElementById('nodes');
  if (!el) return;
  if (st.nodes.length === 0) {
    replace(el, h('p', { class: 'muted' }, 'This account may see no node of the alert service.'));
    return;
  }
  replace(
    el,
    groupNodes(st.nodes).map((g) =>
      h('section', { class: 'node-group' },
        h('h3', {}, g.group),
        h('ul', {},
          g.entries.map((e) => {
            const n = st.nodes.find((x) => x.node === e.node)!;
            const on = n.subscription === 'subscribed' || n.subscription === 'pending';
            return h('li', { 'data-node': n.node, class: on ? 'subscribed' : '' },
              h('div', { class: 'node-line' },
                h('a', { href: `#/node/${encodeURIComponent(n.node)}`, title: `history of ${n.node}` }, e.level || n.node),
                h('button', {
                  type: 'button',
                  class: 'sub',
                  'aria-pressed': on ? 'true' : 'false',
                  'aria-label': `${on ? 'Unsubscribe from' : 'Subscribe to'} ${n.node}`,
                  disabled: !!n.busy,
                  onclick: () => void toggleSubscription(n),
                }, on ? (n.subscription === 'pending' ? 'Pending' : 'Unsubscribe') : 'Subscribe')),
              h('div', { class: 'node-meta muted' }, [n.title && n.title !== e.level ? n.title : '', n.accessModel ? `access: ${n.accessModel}` : ''].filter(Boolean).join(' · ')),
              n.error ? h('p', { class: 'node-error', role: 'alert' }, n.error) : null);
          }))),
    ),
  );
}

function missionsSeen(): string[] {
  return [...new Set([...st.alerts.values()].map((a) => a.mission).filter((m): m is string => !!m))].sort();
}

/** What the filter language sees of an alert, computed once per alert. */
const subjects = new WeakMap<Alert, Subject>();
function subject(a: Alert): Subject {
  let s = subjects.get(a);
  if (!s) subjects.set(a, (s = subjectOf(a.raw)));
  return s;
}

function passes(a: Alert): boolean {
  return (!st.filter.role || a.role === st.filter.role) && (!st.filter.mission || a.mission === st.filter.mission) && (!st.filter.compiled || st.filter.compiled.accepts(subject(a)));
}

/** The filter language (docs/filters.md), the same as `voxnet subscribe --filter` and the broker's. */
function setFilterExpr(text: string): void {
  st.filter.expr = text;
  st.filter.error = '';
  st.filter.compiled = undefined;
  if (text.trim()) {
    try {
      st.filter.compiled = compileFilter(text);
    } catch (e) {
      st.filter.error = e instanceof FilterError ? e.message : String(e);
    }
  }
  renderMain();
}

function filters(): HTMLElement {
  const sel = (id: string, label: string, values: string[], cur: string, set: (v: string) => void) =>
    h('label', { for: id }, label, ' ',
      h('select', { id, onchange: (e: Event) => (set((e.target as HTMLSelectElement).value), renderMain()) },
        h('option', { value: '' }, 'all'),
        values.map((v) => {
          const o = h('option', { value: v }, v);
          if (v === cur) o.selected = true;
          return o;
        })));
  return h('div', { class: 'filters' },
    sel('filter-role', 'Role', ['observation', 'test', 'utility', 'prediction'], st.filter.role, (v) => (st.filter.role = v)),
    sel('filter-mission', 'Mission', missionsSeen(), st.filter.mission, (v) => (st.filter.mission = v)),
    h('label', { for: 'filter-expr' }, 'Filter ',
      h('input', {
        id: 'filter-expr',
        type: 'search',
        value: st.filter.expr,
        placeholder: 'role = "observation" and importance >= 0.8',
        'aria-describedby': 'filter-error',
        onchange: (e: Event) => setFilterExpr((e.target as HTMLInputElement).value),
      })),
    st.filter.error ? h('p', { id: 'filter-error', class: 'node-error', role: 'alert' }, `Filter not applied: ${st.filter.error}`) : null);
}

function roleBadge(role: string): HTMLElement {
  return h('span', { class: `role role-${role.replace(/[^a-z]/g, '')}` }, role);
}

function card(k: string): HTMLElement | null {
  const a = st.alerts.get(k);
  if (!a || !passes(a)) return null;
  const rel = st.threads.of(a);
  const retractedBy = rel.filter((r) => r.cite === 'retraction');
  const updatedBy = rel.filter((r) => r.cite !== 'retraction');
  const fresh = st.fresh.delete(k);
  return h('li', { class: `alert-card${fresh ? ' fresh' : ''}${retractedBy.length ? ' retracted' : ''}`, 'data-node': a.node, 'data-id': a.id },
    h('a', { href: `#/alert/${encodeURIComponent(a.node)}/${encodeURIComponent(a.id)}` },
      h('div', { class: 'card-head' },
        roleBadge(a.role),
        a.importance !== undefined ? h('span', { class: 'importance', title: 'importance' }, `importance ${a.importance}`) : null,
        h('time', {}, a.time ?? ''),
        h('span', { class: 'node muted' }, a.node)),
      h('div', { class: 'summary' }, a.summary),
      retractedBy.length ? h('div', { class: 'thread thread-retraction' }, `RETRACTED by ${retractedBy.map((r) => r.by.id).join(', ')}`) : null,
      updatedBy.length ? h('div', { class: 'thread' }, `${updatedBy.length} update${updatedBy.length > 1 ? 's' : ''}: ${updatedBy.map((r) => `${r.cite} ${r.by.id}`).join(', ')}`) : null,
      st.retracted.has(k) ? h('div', { class: 'thread thread-retraction' }, 'withdrawn from the node') : null));
}

function renderFeed(main: HTMLElement): void {
  const subscribed = st.nodes.filter((n) => n.subscription === 'subscribed').length;
  const cards = st.feed.map(card).filter((c): c is HTMLElement => !!c);
  replace(main,
    h('h2', { tabindex: '-1' }, 'Live alerts'),
    filters(),
    subscribed === 0 ? h('p', { class: 'muted' }, 'Subscribe to a node to see its alerts here as they are published.') : null,
    cards.length ? h('ol', { class: 'feed', id: 'feed', 'aria-live': 'polite' }, cards) : h('p', { class: 'muted', id: 'feed-empty' }, subscribed ? 'No alert yet on your nodes (or none matches the filters).' : ''));
}

function renderHistory(main: HTMLElement, node: string): void {
  if (st.history?.node !== node) {
    void openHistory(node, false);
    return;
  }
  const hist = st.history;
  const cards = hist.keys.map(card).filter((c): c is HTMLElement => !!c);
  replace(main,
    h('p', {}, h('a', { href: '#/' }, '← live alerts')),
    h('h2', { tabindex: '-1' }, `History of ${node}`),
    filters(),
    hist.error ? h('p', { class: 'node-error', role: 'alert' }, hist.error) : null,
    h('p', { class: 'muted', id: 'history-count' }, hist.count !== undefined ? `${hist.keys.length} of ${hist.count} alerts loaded, newest first` : `${hist.keys.length} alerts loaded`),
    cards.length ? h('ol', { class: 'feed', id: 'history' }, cards) : null,
    hist.more ? h('button', { type: 'button', id: 'history-older', disabled: !!hist.loading, onclick: () => void openHistory(node, true) }, hist.loading ? 'Loading…' : 'Older alerts') : null,
    hist.loading && !hist.keys.length ? h('p', { class: 'muted' }, 'Loading…') : null);
}

// ------------------------------------------------------------------ the alert page

function table(headers: string[], rows: Child[][], cls = ''): HTMLElement {
  return h('div', { class: 'table-wrap' },
    h('table', { class: cls }, h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))), h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c)))))));
}

function link(uri: string): Child {
  return /^https?:\/\//i.test(uri) ? h('a', { href: uri, rel: 'noopener noreferrer', target: '_blank' }, uri) : uri;
}

function paramRows(group: string, ps: Param[]): Child[][] {
  return ps.map((p) => [group, p.name ?? '', p.value ?? '', p.unit ?? '', p.ucd ?? '']);
}

function flatten(v: unknown, path: string, out: [string, string][]): void {
  if (v && typeof v === 'object') {
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x] as const) : Object.entries(v);
    if (entries.length === 0) out.push([path, Array.isArray(v) ? '[]' : '{}']);
    for (const [k, x] of entries) flatten(x, path ? `${path}.${k}` : k, out);
    return;
  }
  const s = v === null ? 'null' : String(v);
  out.push([path, s.length > 200 ? `${s.slice(0, 80)}… (${s.length} characters)` : s]);
}

function renderAlert(main: HTMLElement, node: string, id: string): void {
  const k = keyOf(node, id);
  const a = st.alerts.get(k);
  if (!a) {
    replace(main, h('p', {}, h('a', { href: '#/' }, '← live alerts')), h('p', { class: 'muted' }, `Loading ${id} from ${node}…`));
    void fetchOne(node, id, main);
    return;
  }
  const ev = a.voevent;
  const pos = ev?.whereWhen?.position;
  const rel = st.threads.of(a);
  const cited = st.threads.cited(a);
  const alertLink = (x: Alert) => h('a', { href: `#/alert/${encodeURIComponent(x.node)}/${encodeURIComponent(x.id)}` }, x.summary);
  const locs = localisationsOf(a);
  replace(main,
    h('p', {}, h('a', { href: '#/' }, '← live alerts'), ' · ', h('a', { href: `#/node/${encodeURIComponent(node)}` }, `history of ${node}`)),
    h('article', { class: 'alert-page', 'data-node': node, 'data-id': id },
      h('h2', { tabindex: '-1' }, a.summary),
      h('p', { class: 'card-head' }, roleBadge(a.role), a.importance !== undefined ? h('span', { class: 'importance' }, `importance ${a.importance}`) : null, h('time', {}, a.time ?? ''), h('span', { class: 'muted' }, `${node} · item ${id}`)),
      a.problem ? h('p', { class: 'node-error', role: 'alert' }, `This item could not be read: ${a.problem}`) : null,
      a.ivorn ? h('p', { class: 'muted ivorn' }, a.ivorn) : null,
      rel.length || cited.length
        ? h('section', { class: 'thread-section' }, h('h3', {}, 'Thread'),
            h('ul', {},
              cited.map((c) => h('li', {}, `${c.cite}: `, alertLink(c.alert))),
              rel.map((r) => h('li', { class: r.cite === 'retraction' ? 'thread-retraction' : '' }, r.cite === 'retraction' ? 'RETRACTED by ' : `${r.cite}: `, alertLink(r.by)))))
        : null,
      locs.length ? h('section', { class: 'sky-section' }, h('h3', {}, 'Sky'), h('div', { id: 'sky-view' }, h('p', { class: 'muted' }, 'Drawing the sky map…'))) : null,
      ev?.what && (ev.what.params.length || ev.what.groups.length)
        ? h('section', {}, h('h3', {}, 'What'),
            table(['Group', 'Name', 'Value', 'Unit', 'UCD'], [...paramRows('', ev.what.params), ...ev.what.groups.flatMap((g) => paramRows(g.name ?? g.type ?? '', g.params))], 'params'))
        : null,
      ev?.what?.tables.map((t) => h('section', {}, h('h3', {}, `Table ${t.name ?? ''}`), table(t.fields.map((f) => f.name ?? ''), t.rows))),
      ev?.whereWhen
        ? h('section', {}, h('h3', {}, 'Where and when'),
            h('dl', { class: 'wherewhen' },
              pos ? [h('dt', {}, 'Position'), h('dd', {}, `RA ${pos.ra.toFixed(4)}° Dec ${pos.dec.toFixed(4)}°`)] : null,
              pos && pos.error > 0 ? [h('dt', {}, 'Error radius'), h('dd', {}, formatRadius(pos.error))] : null,
              ev.whereWhen.time?.iso ? [h('dt', {}, 'Time'), h('dd', {}, `${ev.whereWhen.time.iso}${ev.whereWhen.time.scale ? ` (${ev.whereWhen.time.scale})` : ''}`)] : null,
              ev.whereWhen.coordSystemId ? [h('dt', {}, 'Coordinates'), h('dd', {}, ev.whereWhen.coordSystemId)] : null,
              ev.whereWhen.observatoryId ? [h('dt', {}, 'Observatory'), h('dd', {}, ev.whereWhen.observatoryId)] : null))
        : null,
      ev?.why ? h('section', {}, h('h3', {}, 'Why'), h('p', {}, [...(ev.why.inferences.flatMap((i) => [...(i.names ?? []), ...(i.concepts ?? [])])), ...(ev.why.names ?? []), ...(ev.why.concepts ?? [])].join('; ') || '—')) : null,
      ev ? referencesSection(ev) : null,
      a.json ? h('section', {}, h('h3', {}, 'Fields'), table(['Field', 'Value'], (() => { const out: [string, string][] = []; flatten(a.json, '', out); return out; })(), 'json-fields')) : null,
      h('section', {}, h('details', { class: 'raw' }, h('summary', {}, `Raw packet (${a.raw.length} characters)`), h('pre', {}, a.raw.length > 300_000 ? `${a.raw.slice(0, 300_000)}\n… (truncated)` : a.raw)))),
  );
  if (locs.length) void showSky(a, locs);
}

function referencesSection(ev: NonNullable<Alert['voevent']>): HTMLElement | null {
  const refs = [
    ...(ev.reference ? [ev.reference] : []),
    ...(ev.what?.references ?? []),
    ...(ev.what?.params.flatMap((p) => p.references ?? []) ?? []),
    ...(ev.what?.groups.flatMap((g) => [...(g.references ?? []), ...g.params.flatMap((p) => p.references ?? [])]) ?? []),
    ...(ev.whereWhen?.references ?? []),
    ...(ev.how?.references ?? []),
    ...(ev.why?.references ?? []),
  ];
  const cites = ev.citations?.eventIVORNs ?? [];
  if (!refs.length && !cites.length) return null;
  return h('section', {}, h('h3', {}, 'References'),
    h('ul', { class: 'references' },
      refs.map((r) => h('li', {}, link(r.uri), r.meaning || r.type ? ` (${[r.type, r.meaning].filter(Boolean).join(', ')})` : '')),
      cites.map((c) => h('li', {}, `${c.cite ?? 'cites'}: ${c.ivorn}`))));
}

async function fetchOne(node: string, id: string, main: HTMLElement): Promise<void> {
  const s = st.session;
  if (!s) return;
  try {
    remember(node, await getItem(s.iq, st.config.pubsub, node, id), false);
    renderMain();
  } catch (err) {
    replace(main, h('p', {}, h('a', { href: '#/' }, '← live alerts')), h('p', { class: 'node-error', role: 'alert' }, refusal(node, err, 'read')));
  }
}

/** The crossmatch agent's JSON result for this alert, from its result node when the account may see it. */
async function crossmatchFor(a: Alert): Promise<Record<string, unknown> | undefined> {
  const rnode = crossmatchNodeOf(a.node);
  const matches = (x: Alert) => {
    const al = x.json?.alert as Record<string, unknown> | undefined;
    return x.json?.type === 'voxnet.crossmatch.result' && al && ((al.node === a.node && al.item === a.id) || (a.ivorn && al.ivorn === a.ivorn));
  };
  const known = [...st.alerts.values()].filter((x) => x.node === rnode && matches(x));
  if (known.length) return known.at(-1)!.json;
  if (!st.session) return undefined;
  try {
    // the result node may have appeared after login, or be hidden from this account (then there is nothing to show)
    const page = await itemsPage(st.session.iq, st.config.pubsub, rnode, { max: 50 });
    const found = page.items.map((it) => remember(rnode, it, false)).filter(matches);
    return found.at(-1)?.json;
  } catch {
    return undefined;
  }
}

const area = (deg2: number) => (deg2 >= 10 ? deg2.toFixed(1) : deg2.toPrecision(2));

/** The first localisation that loads (a sky-map URL the browser may not fetch falls back to the error circle). */
async function firstMap(locs: Localisation[]): Promise<{ map: Awaited<ReturnType<typeof loadSkyMap>>; loc: Localisation; notes: string[] }> {
  const notes: string[] = [];
  for (const loc of locs) {
    try {
      return { map: await loadSkyMap(loc), loc, notes };
    } catch (err) {
      const what = loc.kind === 'url' ? `the sky map at ${loc.url}` : loc.kind === 'base64' ? 'the sky map in the alert' : 'the error circle';
      notes.push(`${what} could not be read (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  throw new Error(notes.join('; '));
}

async function showSky(a: Alert, locs: Localisation[]): Promise<void> {
  const box = () => document.getElementById('sky-view');
  try {
    const [{ map, loc, notes }, xm] = await Promise.all([firstMap(locs), crossmatchFor(a)]);
    const galaxies = topGalaxies(xm);
    const markers: Marker[] = galaxies.map((g) => ({ ra: g.ra, dec: g.dec, kind: 'galaxy' }));
    if (loc.kind === 'circle') markers.push({ ra: loc.ra, dec: loc.dec, kind: 'position' });
    const W = 1024;
    const H = 512;
    const canvasOf = (id: string, d: Drawing, label: string) => {
      const c = h('canvas', { id, width: d.width, height: d.height, role: 'img', 'aria-label': label });
      c.getContext('2d')!.putImageData(new ImageData(d.rgba as Uint8ClampedArray<ArrayBuffer>, d.width, d.height), 0, 0);
      return c;
    };
    const canvas = canvasOf('sky', drawMollweide(W, H, map, markers), `Mollweide all-sky map of ${a.summary}: 50 % and 90 % credible regions`);
    const zoom = zoomOn(map, 512, 512);
    const zoomCanvas = canvasOf('sky-zoom', drawSky(zoom, map, markers), `Zoom on the credible region, ${zoom.fov.toPrecision(2)}° across`);
    const top = map.densest();
    const el = box();
    if (!el || !el.isConnected) return;
    replace(el,
      canvas,
      h('figure', { class: 'zoom' }, zoomCanvas,
        h('figcaption', { class: 'legend', id: 'zoom-caption' },
          `Zoom: ${formatRadius(zoom.fov)} across, centred on RA ${zoom.ra0.toFixed(2)}° Dec ${zoom.dec0.toFixed(2)}° (gnomonic, east left); grid every ${formatRadius(zoom.gridStep)}`)),
      h('p', { class: 'legend' },
        h('span', { class: 'swatch s50' }), ' 50 % ', h('span', { class: 'swatch s90' }), ' 90 % credible region',
        loc.kind === 'circle' ? [' · ', h('span', { class: 'swatch spos' }), ' position'] : null,
        galaxies.length ? [' · ', h('span', { class: 'swatch sgal' }), ' top galaxies (crossmatch)'] : null,
        ' · RA 180° at the centre, increasing to the left'),
      h('p', { id: 'sky-summary' },
        `90 % area ${area(map.credibleArea(0.9))} deg², 50 % area ${area(map.credibleArea(0.5))} deg²; densest at RA ${top.ra.toFixed(2)}° Dec ${top.dec.toFixed(2)}°`,
        loc.kind === 'url' ? [' · from ', link(loc.url)] : loc.kind === 'circle' ? ` · error circle ${formatRadius(loc.radius)} (${Math.round((loc.containment ?? 0.9) * 100)} % containment)` : ' · sky map carried in the alert'),
      notes.length ? h('p', { class: 'muted', id: 'sky-notes' }, `${notes.join('; ')}; shown instead: the ${loc.kind === 'circle' ? 'error circle' : 'next localisation'}.`) : null,
      galaxies.length
        ? h('section', { class: 'galaxies' }, h('h4', {}, 'Crossmatch: top galaxies'),
            table(['#', 'Galaxy', 'RA', 'Dec', 'Distance (Mpc)', 'Credible level'], galaxies.map((g, i) => [String(i + 1), g.id, g.ra.toFixed(3), g.dec.toFixed(3), g.distance?.toFixed(1) ?? '', g.searchedProb !== undefined ? `${(g.searchedProb * 100).toFixed(1)} %` : ''])))
        : null);
  } catch (err) {
    const el = box();
    if (el) replace(el, h('p', { class: 'node-error', role: 'alert' }, `The sky map could not be drawn: ${err instanceof Error ? err.message : String(err)}`));
  }
}

// ------------------------------------------------------------------ routing

function renderMain(): void {
  const main = document.getElementById('main');
  if (!main || !st.session) return;
  const hash = location.hash;
  let m: RegExpMatchArray | null;
  if ((m = hash.match(/^#\/alert\/([^/]+)\/(.+)$/))) renderAlert(main, decodeURIComponent(m[1]!), decodeURIComponent(m[2]!));
  else if ((m = hash.match(/^#\/node\/(.+)$/))) renderHistory(main, decodeURIComponent(m[1]!));
  else renderFeed(main);
}

let lastHash = '';
function route(): void {
  if (!st.session) return;
  renderNodes();
  // the alert page is not redrawn by live events (it would reset the sky view and scroll)
  if (location.hash === lastHash && /^#\/alert\//.test(location.hash)) return;
  const changed = location.hash !== lastHash;
  lastHash = location.hash;
  renderMain();
  if (changed) (document.querySelector('#main h2') as HTMLElement | null)?.focus({ preventScroll: false });
}

window.addEventListener('hashchange', route);

async function boot(): Promise<void> {
  try {
    const r = await fetch('config.json');
    if (r.ok) st.config = { ...st.config, ...((await r.json()) as Config) };
  } catch {
    /* served without voxnet web: the user enters the server */
  }
  if (!st.config.pubsub) st.config.pubsub = 'pubsub.svom.fr';
  if (st.config.title) document.title = st.config.title;
  renderLogin();
}

void boot();
