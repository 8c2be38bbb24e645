/**
 * The subscription options form (XEP-0060 §6.3, FORM_TYPE pubsub#subscribe_options)
 * ↔ the typed SubscriptionOptions record of pubsub/. One entry per option: its
 * field, how its value reads and writes. Adding an option is one entry here.
 */
import type { Element } from '@xmpp/xml';
import { parseBoolean } from '../../common/boolean.ts';
import { errors } from '../../pubsub/errors.ts';
import type { SubscriptionOptions } from '../../pubsub/types.ts';
import { buildForm, type FormField } from './forms.ts';

export const SUBSCRIBE_OPTIONS = 'http://jabber.org/protocol/pubsub#subscribe_options';

type Entry<K extends keyof SubscriptionOptions = keyof SubscriptionOptions> = {
  key: K;
  var: string;
  type: 'boolean' | 'list-single' | 'text-single';
  label: string;
  options?: readonly string[];
  read(value: string): SubscriptionOptions[K];
  write(value: SubscriptionOptions[K]): string;
};

function invalid(field: string, text: string): never {
  throw errors.badRequest('invalid-options', `${field}: ${text}`);
}

const bool = (field: string) => ({
  type: 'boolean' as const,
  read: (v: string) => parseBoolean(v) ?? invalid(field, `a boolean, not "${v}"`),
  write: (b: boolean) => (b ? '1' : '0'),
});

function entry<K extends keyof SubscriptionOptions>(e: Entry<K>): Entry {
  return e as unknown as Entry;
}

export const SUBSCRIPTION_OPTION_FIELDS: readonly Entry[] = [
  entry({ key: 'deliver', var: 'pubsub#deliver', label: 'Enable delivery?', ...bool('pubsub#deliver') }),
  entry({ key: 'include_body', var: 'pubsub#include_body', label: 'Receive a message body in addition to the payload?', ...bool('pubsub#include_body') }),
  entry({
    key: 'subscription_type', var: 'pubsub#subscription_type', type: 'list-single', options: ['items', 'nodes'],
    label: 'Receive notification of items or of nodes (collections)',
    read: (v) => (v === 'items' || v === 'nodes' ? v : invalid('pubsub#subscription_type', `items or nodes, not "${v}"`)),
    write: (v) => v,
  }),
  entry({
    key: 'subscription_depth', var: 'pubsub#subscription_depth', type: 'list-single', options: ['1', 'all'],
    label: 'How far below a collection to receive notifications',
    read: (v) => (v === 'all' ? Infinity : /^[1-9]\d{0,2}$/.test(v) ? Number(v) : invalid('pubsub#subscription_depth', `a positive integer or "all", not "${v}"`)),
    write: (v) => (v === Infinity ? 'all' : String(v)),
  }),
  entry({
    key: 'expire', var: 'pubsub#expire', type: 'text-single',
    label: 'Subscription expiration time (XEP-0082 date and time; empty: never)',
    read: (v) => {
      if (v === '') return null;
      if (v === 'presence') invalid('pubsub#expire', 'presence-based expiry is not supported; give a date and time');
      const t = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/.test(v) ? Date.parse(v) : NaN;
      return Number.isFinite(t) ? t : invalid('pubsub#expire', `an XEP-0082 date and time, not "${v}"`);
    },
    write: (v) => (v === null ? '' : new Date(v).toISOString()),
  }),
  entry({
    key: 'filter', var: 'voxnet#filter', type: 'text-single',
    label: 'Only items this filter accepts (VOXnet filter language; empty: every item)',
    // The syntax is checked by the core with the broker's filter engine (bad-request naming the column).
    read: (v) => (v.trim() === '' ? null : v),
    write: (v) => v ?? '',
  }),
];

const byVar = new Map(SUBSCRIPTION_OPTION_FIELDS.map((e) => [e.var, e]));

/** The options of a subscription as a form (type form to edit, result to show). */
export function subscriptionOptionsForm(o: SubscriptionOptions, type: 'form' | 'result'): Element {
  const fields: FormField[] = [
    { var: 'FORM_TYPE', type: 'hidden', values: [SUBSCRIBE_OPTIONS] },
    ...SUBSCRIPTION_OPTION_FIELDS.map((e) => ({ var: e.var, type: e.type, label: e.label, options: e.options, values: [e.write(o[e.key] as never)] })),
  ];
  return buildForm(type, fields);
}

/**
 * A submitted options form applied to `base`. Fields not submitted keep their
 * value; an unknown field or a bad value is bad-request + invalid-options.
 */
export function readSubscriptionOptions(base: SubscriptionOptions, form: { formType?: string; fields: Record<string, string[]> }): SubscriptionOptions {
  if (form.formType !== undefined && form.formType !== SUBSCRIBE_OPTIONS)
    throw errors.badRequest('invalid-options', `the options form must have FORM_TYPE ${SUBSCRIBE_OPTIONS}`);
  const out: Record<string, unknown> = { ...base };
  for (const [name, values] of Object.entries(form.fields)) {
    if (name === 'FORM_TYPE') continue;
    const e = byVar.get(name);
    if (!e) throw errors.badRequest('invalid-options', `unknown subscription option ${name}`);
    out[e.key] = e.read(values[0] ?? '');
  }
  return out as SubscriptionOptions;
}
