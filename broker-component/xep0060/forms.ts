/** XEP-0004 data forms: read submitted fields, build forms. */
import { xml, type Element } from '@xmpp/xml';
import { NS } from '../../common/ns.ts';
import { PubsubError } from '../../pubsub/errors.ts';

/** Fields of a submitted form as var → values. Throws bad-request on a malformed form. */
export function readForm(x: Element | undefined): { formType?: string; fields: Record<string, string[]>; type?: string } | undefined {
  if (!x) return undefined;
  const fields: Record<string, string[]> = {};
  for (const f of x.getChildren('field')) {
    const name = f.attrs.var;
    if (!name) throw new PubsubError('bad-request', { text: 'data form field without var' });
    fields[name] = f.getChildren('value').map((v) => v.text());
  }
  return { formType: fields.FORM_TYPE?.[0], fields, type: x.attrs.type };
}

export type FormField = {
  var: string;
  type?: string;
  label?: string;
  values: string[];
  options?: readonly string[];
};

export function buildForm(type: 'form' | 'result' | 'submit', fields: FormField[], title?: string): Element {
  const x = xml('x', { xmlns: NS.DATA, type });
  if (title) x.append(xml('title', {}, title));
  for (const f of fields) {
    const el = xml('field', { var: f.var, type: f.type, label: f.label });
    for (const o of f.options ?? []) el.append(xml('option', {}, xml('value', {}, o)));
    for (const v of f.values) el.append(xml('value', {}, v));
    x.append(el);
  }
  return x;
}
