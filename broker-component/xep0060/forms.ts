/** XEP-0004 data forms: read submitted fields, build forms. */
import { xml, type Element } from '@xmpp/xml';
import { NS } from '../../common/ns.ts';
import { PubsubError } from '../../pubsub/errors.ts';
import { CONFIG_FIELDS, fieldVar, formatConfigValue } from '../../pubsub/node-config.ts';
import type { NodeConfig } from '../../pubsub/types.ts';

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

export function configForm(cfg: NodeConfig, type: 'form' | 'result'): Element {
  return buildForm(type, [
    { var: 'FORM_TYPE', type: 'hidden', values: [NS.NODE_CONFIG] },
    ...CONFIG_FIELDS.map((f) => ({
      var: fieldVar(f.key),
      type: f.kind,
      label: f.label,
      options: f.options,
      values: [formatConfigValue(cfg, f.key)],
    })),
  ]);
}

/** The message asking an owner to approve a subscription (XEP-0060 §8.6.1). */
export function authorizationRequest(from: string, owner: string, node: string, jid: string, subid: string): Element {
  return xml('message', { from, to: owner, id: `auth-${subid}` },
    buildForm('form', [
      { var: 'FORM_TYPE', type: 'hidden', values: [NS.SUB_AUTH] },
      { var: 'pubsub#subid', type: 'hidden', values: [subid] },
      { var: 'pubsub#node', type: 'text-single', label: 'Node ID', values: [node] },
      { var: 'pubsub#subscriber_jid', type: 'jid-single', label: 'Subscriber Address', values: [jid] },
      { var: 'pubsub#allow', type: 'boolean', label: 'Allow this JID to subscribe to this pubsub node?', values: ['false'] },
    ], 'PubSub subscriber request'));
}
