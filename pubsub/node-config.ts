/**
 * Node configuration: defaults, the fields of the pubsub#node_config form, and
 * validation of submitted values. Values here are typed; the protocol layer turns
 * data-form strings into calls of `applyConfigFields`.
 */
import { PubsubError } from './errors.ts';
import { parseBoolean } from '../common/boolean.ts';
import {
  ACCESS_MODELS,
  PUBLISH_MODELS,
  SEND_LAST_MODELS,
  SUPPORTED_ACCESS_MODELS,
  type AccessModel,
  type NodeConfig,
} from './types.ts';

export const DEFAULT_NODE_CONFIG: NodeConfig = Object.freeze({
  access_model: 'open',
  publish_model: 'publishers',
  max_items: 1000,
  persist_items: true,
  send_last_published_item: 'never',
  deliver_payloads: true,
  deliver_notifications: true,
  notify_retract: true,
  notify_delete: true,
  notify_config: false,
  title: '',
  type: '',
  max_payload_size: 256 * 1024,
  body_summary: true,
  history: true,
});

export type FieldKind = 'list-single' | 'boolean' | 'text-single';
export type FieldSpec = {
  key: keyof NodeConfig;
  kind: FieldKind;
  label: string;
  options?: readonly string[];
};

/** The configurable fields, in form order. `pubsub#<key>` except for our own extension. */
export const CONFIG_FIELDS: readonly FieldSpec[] = [
  { key: 'title', kind: 'text-single', label: 'A friendly name for the node' },
  { key: 'type', kind: 'text-single', label: 'The type of node data, usually the namespace of the payload' },
  { key: 'access_model', kind: 'list-single', label: 'Who may subscribe and retrieve items', options: ACCESS_MODELS },
  { key: 'publish_model', kind: 'list-single', label: 'Who may publish', options: PUBLISH_MODELS },
  { key: 'max_items', kind: 'text-single', label: 'Maximum number of items to persist ("max" for no limit)' },
  { key: 'persist_items', kind: 'boolean', label: 'Persist items to storage' },
  { key: 'send_last_published_item', kind: 'list-single', label: 'When to send the last published item', options: SEND_LAST_MODELS },
  { key: 'deliver_payloads', kind: 'boolean', label: 'Deliver payloads with event notifications' },
  { key: 'deliver_notifications', kind: 'boolean', label: 'Deliver event notifications' },
  { key: 'notify_retract', kind: 'boolean', label: 'Notify subscribers when items are removed from the node' },
  { key: 'notify_delete', kind: 'boolean', label: 'Notify subscribers when the node is deleted' },
  { key: 'notify_config', kind: 'boolean', label: 'Notify subscribers when the node configuration changes' },
  { key: 'max_payload_size', kind: 'text-single', label: 'Maximum payload size in bytes' },
  { key: 'body_summary', kind: 'boolean', label: 'Add a readable <body> summary to notifications (for chat clients)' },
  { key: 'history', kind: 'boolean', label: 'Subscribers may retrieve past items (off: live notifications only)' },
];

/** Our own fields live in the voxnet# namespace, the standard ones in pubsub#. */
const VOXNET_FIELDS: ReadonlySet<keyof NodeConfig> = new Set(['body_summary', 'history']);

export function fieldVar(key: keyof NodeConfig): string {
  return VOXNET_FIELDS.has(key) ? `voxnet#${key}` : `pubsub#${key}`;
}

const byVar = new Map(CONFIG_FIELDS.map((f) => [fieldVar(f.key), f]));


/** The string value of a config key, as it appears in a data form. */
export function formatConfigValue(config: NodeConfig, key: keyof NodeConfig): string {
  const v = config[key];
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (key === 'max_items' && v === Infinity) return 'max';
  return String(v);
}

function invalid(text: string): PubsubError {
  return new PubsubError('not-acceptable', { pubsub: 'invalid-options', text });
}

/**
 * Apply data-form fields ({ 'pubsub#access_model': ['whitelist'], ... }) to a
 * configuration, returning a new one. Unknown fields and bad values are refused
 * with not-acceptable (XEP-0060 §8.2.5); unsupported access models with
 * not-acceptable + unsupported-access-model.
 */
export function applyConfigFields(base: NodeConfig, fields: Record<string, string[]>): NodeConfig {
  const out: NodeConfig = { ...base };
  for (const [name, values] of Object.entries(fields)) {
    if (name === 'FORM_TYPE') continue;
    const spec = byVar.get(name);
    if (!spec) throw invalid(`unknown configuration field ${name}`);
    const v = values[0] ?? '';
    switch (spec.kind) {
      case 'boolean': {
        const b = parseBoolean(v);
        if (b === undefined) throw invalid(`${name} must be a boolean, got "${v}"`);
        (out as Record<string, unknown>)[spec.key] = b;
        break;
      }
      case 'list-single': {
        if (!spec.options!.includes(v)) throw invalid(`${name} must be one of ${spec.options!.join(', ')}, got "${v}"`);
        if (spec.key === 'access_model' && !SUPPORTED_ACCESS_MODELS.includes(v as AccessModel))
          throw new PubsubError('not-acceptable', {
            pubsub: 'unsupported-access-model',
            text: `access model ${v} needs the owner's roster, which this service cannot see`,
          });
        (out as Record<string, unknown>)[spec.key] = v;
        break;
      }
      case 'text-single': {
        if (spec.key === 'max_items' || spec.key === 'max_payload_size') {
          if (spec.key === 'max_items' && v === 'max') {
            out.max_items = Infinity;
            break;
          }
          if (!/^\d+$/.test(v)) throw invalid(`${name} must be a non-negative integer, got "${v}"`);
          const n = Number(v);
          if (spec.key === 'max_payload_size' && n < 1) throw invalid(`${name} must be at least 1`);
          (out as Record<string, unknown>)[spec.key] = n;
        } else {
          if (v.length > 1024) throw invalid(`${name} is too long`);
          (out as Record<string, unknown>)[spec.key] = v;
        }
        break;
      }
    }
  }
  return out;
}
