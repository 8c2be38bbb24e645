/** XEP-0004 data forms: read submitted fields, build forms. */
import { xml, type Element } from '@xmpp/xml';
import { NS } from '../../common/ns.ts';
import { PubsubError } from '../../pubsub/errors.ts';
import { CONFIG_FIELDS, fieldVar, formatConfigValues, type NodeConfigChanges } from '../../pubsub/node-config.ts';
import type { NodeConfig } from '../../pubsub/types.ts';
import { parseBoolean } from '../../common/boolean.ts';

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

const byVar = new Map(CONFIG_FIELDS.map((f) => [fieldVar(f.key), f]));

/**
 * A pubsub#node_config (or publish-options) form's fields → typed configuration
 * changes for the core. Unknown fields and strings that are no value of their
 * field are refused: with not-acceptable + invalid-options (XEP-0060 §8.2.5), or
 * for publish-options (`precondition`) with conflict + precondition-not-met (§7.1.5).
 * Whether a value is allowed (e.g. an access model this service offers) is the
 * core's check (applyConfig).
 */
export function configFromFields(fields: Record<string, string[]>, opts: { precondition?: boolean } = {}): NodeConfigChanges {
  const refuse = (text: string) =>
    opts.precondition ? new PubsubError('conflict', { pubsub: 'precondition-not-met', text }) : new PubsubError('not-acceptable', { pubsub: 'invalid-options', text });
  const out: Record<string, unknown> = {};
  for (const [name, values] of Object.entries(fields)) {
    if (name === 'FORM_TYPE') continue;
    const spec = byVar.get(name);
    if (!spec) throw refuse(opts.precondition ? `unknown publish option ${name}` : `unknown configuration field ${name}`);
    const v = values[0] ?? '';
    switch (spec.kind) {
      case 'text-multi':
        out[spec.key] = values;
        break;
      case 'boolean': {
        const b = parseBoolean(v);
        if (b === undefined) throw refuse(`${name} must be a boolean, got "${v}"`);
        out[spec.key] = b;
        break;
      }
      case 'list-single':
        out[spec.key] = v;
        break;
      case 'text-single':
        if (spec.key === 'max_items' || spec.key === 'max_payload_size' || spec.key === 'max_age') {
          if (spec.key === 'max_items' && v === 'max') out.max_items = Infinity;
          else if (/^\d+$/.test(v)) out[spec.key] = Number(v);
          else throw refuse(`${name} must be a non-negative integer, got "${v}"`);
        } else out[spec.key] = v;
        break;
    }
  }
  return out as NodeConfigChanges;
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

/** XEP-0248 pubsub#children: the nodes of a collection, computed by the service, not stored in the config. */
export const CHILDREN_FIELD = 'pubsub#children';

/** The node configuration form; `children` for a collection node (XEP-0248). */
export function configForm(cfg: NodeConfig, type: 'form' | 'result', children?: string[]): Element {
  const fields: FormField[] = [
    { var: 'FORM_TYPE', type: 'hidden', values: [NS.NODE_CONFIG] },
    ...CONFIG_FIELDS.map((f) => ({
      var: fieldVar(f.key),
      type: f.kind,
      label: f.label,
      options: f.options,
      values: formatConfigValues(cfg, f.key),
    })),
  ];
  if (cfg.node_type === 'collection')
    fields.push({ var: CHILDREN_FIELD, type: 'text-multi', label: 'The child nodes (leaf or collection) of this collection', values: children ?? [] });
  return buildForm(type, fields);
}

/** Split a submitted node configuration into its stored fields and the collection's children (when given). */
export function splitChildren(fields: Record<string, string[]> | undefined): { fields?: Record<string, string[]>; children?: string[] } {
  if (!fields || !(CHILDREN_FIELD in fields)) return { fields };
  const { [CHILDREN_FIELD]: children, ...rest } = fields;
  return { fields: rest, children: children!.filter((c) => c !== '') };
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
