/**
 * A VOEvent item as other networks expect the bytes: an XML declaration and the
 * conventional root `<voe:VOEvent xmlns:voe="...">` with unprefixed children in no
 * namespace. An item's payload may come back from the server re-serialized as
 * `<VOEvent xmlns="http://www.ivoa.net/xml/VOEvent/v2.0">` with `xmlns=""` on its
 * children: the same document in XML terms, but readers that match the literal
 * name (hop-client's VOEvent model, xmltodict) need `voe:VOEvent`.
 */
import type { Element } from '@xmpp/xml';

const VOEVENT_NS = 'http://www.ivoa.net/xml/VOEvent/v2.0';

function escAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}

function escText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;');
}

/** Serialize, dropping `xmlns` declarations that restate the default namespace in scope. */
function write(el: Element, defaultNs: string, out: string[]): void {
  let ns = defaultNs;
  out.push('<', el.name);
  for (const [k, v] of Object.entries(el.attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'xmlns') {
      if (v === defaultNs) continue;
      ns = String(v);
    }
    out.push(' ', k, '="', escAttr(String(v)), '"');
  }
  if (el.children.length === 0) {
    out.push('/>');
    return;
  }
  out.push('>');
  for (const c of el.children) {
    if (typeof c === 'string') out.push(escText(c));
    else if ((c as Element).name) write(c as Element, ns, out);
  }
  out.push('</', el.name, '>');
}

/** The VOEvent payload as a standalone document in the conventional form; undefined when it is not a VOEvent 2.0 root. */
export function conventionalVOEventXml(payload: Element): string | undefined {
  const local = payload.name.includes(':') ? payload.name.slice(payload.name.indexOf(':') + 1) : payload.name;
  if (local !== 'VOEvent') return undefined;
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>\n', '<voe:VOEvent'];
  const prefix = payload.name.includes(':') ? payload.name.slice(0, payload.name.indexOf(':')) : undefined;
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries(payload.attrs)) if (v !== undefined && v !== null) attrs[k] = String(v);
  const ns = prefix ? attrs[`xmlns:${prefix}`] ?? VOEVENT_NS : attrs.xmlns;
  if (ns !== VOEVENT_NS) return undefined;
  delete attrs.xmlns;
  if (prefix) delete attrs[`xmlns:${prefix}`];
  out.push(` xmlns:voe="${VOEVENT_NS}"`);
  for (const [k, v] of Object.entries(attrs)) out.push(' ', k, '="', escAttr(v), '"');
  out.push('>');
  // Children of the root: in no namespace (xmlns="" restates that and is dropped).
  for (const c of payload.children) {
    if (typeof c === 'string') out.push(escText(c));
    else if ((c as Element).name) write(c as Element, '', out);
  }
  out.push('</voe:VOEvent>\n');
  return out.join('');
}
