/** Stanza builders and assertions for XEP-0060 tests, written from the spec, not from our code. */
import { xml, type Element } from '@xmpp/xml';

export const NS = {
  PUBSUB: 'http://jabber.org/protocol/pubsub',
  OWNER: 'http://jabber.org/protocol/pubsub#owner',
  EVENT: 'http://jabber.org/protocol/pubsub#event',
  ERRORS: 'http://jabber.org/protocol/pubsub#errors',
  DATA: 'jabber:x:data',
  RSM: 'http://jabber.org/protocol/rsm',
  STANZAS: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  DISCO_INFO: 'http://jabber.org/protocol/disco#info',
  DISCO_ITEMS: 'http://jabber.org/protocol/disco#items',
};

export const ps = (...children: Element[]) => xml('pubsub', { xmlns: NS.PUBSUB }, ...children);
export const owner = (...children: Element[]) => xml('pubsub', { xmlns: NS.OWNER }, ...children);

export function form(formType: string, fields: Record<string, string | string[]>, type = 'submit'): Element {
  return xml('x', { xmlns: NS.DATA, type },
    xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, formType)),
    ...Object.entries(fields).map(([k, v]) => xml('field', { var: k }, ...(Array.isArray(v) ? v : [v]).map((s) => xml('value', {}, s)))));
}

export const nodeConfig = (fields: Record<string, string>) => form('http://jabber.org/protocol/pubsub#node_config', fields);

export function entry(text: string, ns = 'urn:example:entry'): Element {
  return xml('entry', { xmlns: ns }, xml('title', {}, text));
}

/** The error of a reply: stanza condition, pubsub condition (with feature), type. */
export function errorOf(reply: Element): { type?: string; condition?: string; pubsub?: string; feature?: string } | undefined {
  if (reply.attrs.type !== 'error') return undefined;
  const err = reply.getChild('error');
  if (!err) return { type: undefined };
  const kids = err.getChildElements();
  const cond = kids.find((k) => k.attrs.xmlns === NS.STANZAS && k.name !== 'text');
  const app = kids.find((k) => k.attrs.xmlns === NS.ERRORS);
  return { type: err.attrs.type, condition: cond?.name, pubsub: app?.name, feature: app?.attrs.feature };
}

export function formFields(x: Element | undefined): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const f of x?.getChildren('field') ?? []) out[f.attrs.var!] = f.getChildren('value').map((v) => v.text());
  return out;
}

/**
 * Parse an XML document (e.g. a VOEvent file) into an element ready to embed in a
 * stanza: without its XML declaration, and — as a correct client must do for a
 * prefixed root whose children are unqualified — with the default namespace
 * undeclared (xmlns=""), or the children would inherit the stanza's namespace.
 */
export async function parseXml(text: string): Promise<Element> {
  const { default: ltxParse } = (await import('ltx/lib/parse.js')) as unknown as { default: (s: string) => Element };
  const el = ltxParse(text.replace(/^\uFEFF?<\?xml[^>]*\?>\s*/, '').replace(/<!--[\s\S]*?-->/g, ''));
  if (el.name.includes(':') && el.attrs.xmlns === undefined) el.attrs.xmlns = '';
  return el;
}
