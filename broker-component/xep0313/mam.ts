/**
 * XEP-0313 (Message Archive Management, urn:xmpp:mam:2) on pubsub nodes: a query
 * addressed to the service with `node=` returns the node's stored items as
 * forwarded pubsub event messages, then an IQ result with <fin/>.
 *
 * Filters: start, end, with (publisher), before-id, after-id, ids (XEP-0313
 * "extended"), and our `voxnet#ivorn`; XEP-0059 paging inside the result set
 * (<before/> with <max/> is "the newest N"), <flip-page/>. Access is the core's
 * decision (the same as retrieving items); this layer only translates.
 */
import { xml, type Element } from '@xmpp/xml';
import { NS } from '../../common/ns.ts';
import { buildForm, readForm } from '../xep0060/forms.ts';
import { itemElement } from '../xep0060/handler.ts';
import { errors } from '../../pubsub/errors.ts';
import { bareJid, isValidJid } from '../../pubsub/jid.ts';
import type { PubsubService } from '../core/service.ts';
import type { Actor } from '../../pubsub/types.ts';
import type { ArchivePage, ArchiveQuery } from '../store/store.ts';

export const MAM = 'urn:xmpp:mam:2';
export const MAM_EXTENDED = 'urn:xmpp:mam:2#extended';
export const FORWARD = 'urn:xmpp:forward:0';
/** Our form field: items whose VOEvent has this IVORN. */
export const IVORN_FIELD = 'voxnet#ivorn';

const FIELDS = ['start', 'end', 'with', 'before-id', 'after-id', 'ids', IVORN_FIELD] as const;

/** XEP-0082 date-time (a time zone is required: a bare local time means nothing to a service). */
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

export type MamOptions = {
  /** The service's JID (the `from` of result messages). */
  domain: string;
  send: (el: Element) => void;
  /** Largest page; the default page when the query gives no <max/>. */
  maxPage: number;
  defaultPage: number;
};

function parseTime(name: string, v: string): number {
  const t = DATETIME.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(t)) throw errors.badRequest(undefined, `${name} must be an XEP-0082 date-time such as 2026-12-06T04:00:00Z, got "${v}"`);
  return t;
}

/** The query form (IQ get): the fields this archive understands. */
export function mamForm(iq: Element): Element {
  return xml('iq', { type: 'result', id: iq.attrs.id, to: iq.attrs.from, from: iq.attrs.to },
    xml('query', { xmlns: MAM }, buildForm('form', [
      { var: 'FORM_TYPE', type: 'hidden', values: [MAM] },
      { var: 'start', type: 'text-single', values: [] },
      { var: 'end', type: 'text-single', values: [] },
      { var: 'with', type: 'jid-single', label: 'Publisher', values: [] },
      { var: 'before-id', type: 'text-single', values: [] },
      { var: 'after-id', type: 'text-single', values: [] },
      { var: 'ids', type: 'list-multi', values: [] },
      { var: IVORN_FIELD, type: 'text-single', label: 'VOEvent IVORN', values: [] },
    ])));
}

/** The query element → an archive query (bad-request on anything malformed). */
export function readMamQuery(query: Element, opts: Pick<MamOptions, 'maxPage' | 'defaultPage'>): ArchiveQuery & { flip: boolean } {
  const q: ArchiveQuery & { flip: boolean } = { max: opts.defaultPage, flip: !!query.getChild('flip-page') };
  const form = readForm(query.getChild('x', NS.DATA));
  if (form) {
    if (form.formType !== MAM) throw errors.badRequest(undefined, `the query form's FORM_TYPE must be ${MAM}`);
    for (const [name, values] of Object.entries(form.fields)) {
      if (name === 'FORM_TYPE') continue;
      if (!(FIELDS as readonly string[]).includes(name)) throw errors.badRequest(undefined, `unknown query field ${name} (known: ${FIELDS.join(', ')})`);
      const v = values[0] ?? '';
      if (name !== 'ids' && values.length === 0) continue;
      switch (name) {
        case 'start': q.start = parseTime('start', v); break;
        case 'end': q.end = parseTime('end', v); break;
        case 'with':
          if (!isValidJid(v)) throw errors.badRequest('invalid-jid', `with: invalid JID ${v}`);
          q.publisher = bareJid(v);
          break;
        case 'before-id': q.beforeId = v; break;
        case 'after-id': q.afterId = v; break;
        case 'ids':
          if (values.length > opts.maxPage) throw errors.badRequest(undefined, `ids: at most ${opts.maxPage} ids in one query`);
          if (values.length) q.ids = values;
          break;
        case IVORN_FIELD:
          if (!v.startsWith('ivo://') || v.length > 1024) throw errors.badRequest(undefined, `${IVORN_FIELD} must be an IVORN (ivo://...), got "${v}"`);
          q.ivorn = v.trim();
          break;
      }
    }
  }
  const set = query.getChild('set', NS.RSM);
  if (set) {
    const max = set.getChildText('max');
    if (max !== null && max !== undefined) {
      if (!/^\d+$/.test(max)) throw errors.badRequest(undefined, 'RSM max must be a non-negative integer');
      q.max = Number(max);
    }
    if (set.getChild('index')) throw errors.unsupported('rsm-index', 'archive queries page with <after/> and <before/>, not <index/>');
    const after = set.getChild('after');
    const before = set.getChild('before');
    if (after && before) throw errors.badRequest(undefined, 'RSM <after/> and <before/> together');
    if (after) q.after = after.text();
    else if (before) q.before = before.text();
  }
  q.max = Math.min(q.max, opts.maxPage);
  return q;
}

/**
 * Answer an archive query: one message per item (sent through `send`, before the
 * result), then the IQ result carrying <fin/>.
 */
export function handleMamQuery(service: PubsubService, opts: MamOptions, iq: Element, query: Element, actor: Actor): Element {
  const node = query.attrs.node;
  if (!node) throw errors.badRequest('nodeid-required', 'this service keeps archives per node: give node=');
  const q = readMamQuery(query, opts);
  const page = service.queryArchive(actor, node, q);
  const queryid = query.attrs.queryid;
  const items = q.flip ? [...page.items].reverse() : page.items;
  for (const it of items) {
    opts.send(xml('message', { to: iq.attrs.from, from: opts.domain, id: `mam-${it.seq}-${iq.attrs.id ?? ''}` },
      xml('result', { xmlns: MAM, queryid, id: it.id },
        xml('forwarded', { xmlns: FORWARD },
          xml('delay', { xmlns: NS.DELAY, stamp: new Date(it.published).toISOString() }),
          xml('message', { xmlns: 'jabber:client', from: opts.domain, type: 'headline' },
            xml('event', { xmlns: NS.EVENT }, xml('items', { node }, itemElement(it, true))))))));
  }
  return xml('iq', { type: 'result', id: iq.attrs.id, to: iq.attrs.from, from: iq.attrs.to }, fin(page, q));
}

function fin(page: ArchivePage, q: ArchiveQuery): Element {
  const set = xml('set', { xmlns: NS.RSM });
  if (page.items.length) {
    set.append(xml('first', page.firstIndex !== undefined ? { index: String(page.firstIndex) } : {}, page.items[0]!.id));
    set.append(xml('last', {}, page.items[page.items.length - 1]!.id));
  }
  if (page.count !== undefined) set.append(xml('count', {}, String(page.count)));
  // complete: this page holds the last item of the result set in the query's direction
  // (the newest for forward paging, the oldest for <before/>).
  const attrs: Record<string, string> = { xmlns: MAM };
  if (page.complete) attrs.complete = 'true';
  void q;
  return xml('fin', attrs, set);
}
