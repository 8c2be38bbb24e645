/**
 * Node configuration: defaults, the configurable fields, and validation of typed
 * changes (applyConfig). Data forms are the protocol layer's business: it reads
 * their strings into typed changes (xep0060/forms.ts configFromFields).
 */
import { PubsubError } from './errors.ts';
import {
  ACCESS_MODELS,
  NODE_TYPES,
  PUBLISH_MODELS,
  SEND_LAST_MODELS,
  SUPPORTED_ACCESS_MODELS,
  type AccessModel,
  type NodeConfig,
} from './types.ts';

export const DEFAULT_NODE_CONFIG: NodeConfig = Object.freeze({
  node_type: 'leaf',
  collection: [],
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
  max_age: 0,
});

export type FieldKind = 'list-single' | 'boolean' | 'text-single' | 'text-multi';
export type FieldSpec = {
  key: keyof NodeConfig;
  kind: FieldKind;
  label: string;
  options?: readonly string[];
};

/** The configurable fields, in form order. `pubsub#<key>` except for our own extension. */
export const CONFIG_FIELDS: readonly FieldSpec[] = [
  { key: 'node_type', kind: 'list-single', label: 'Whether the node is a leaf (default) or a collection (fixed at creation)', options: NODE_TYPES },
  { key: 'collection', kind: 'text-multi', label: 'The collections this node belongs to' },
  { key: 'title', kind: 'text-single', label: 'A friendly name for the node' },
  { key: 'type', kind: 'text-single', label: 'The type of node data, usually the namespace of the payload' },
  { key: 'access_model', kind: 'list-single', label: 'Who may subscribe and retrieve items', options: SUPPORTED_ACCESS_MODELS },
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
  { key: 'max_age', kind: 'text-single', label: 'Remove items older than this many seconds (0: keep them for ever)' },
];

/** Our own fields live in the voxnet# namespace, the standard ones in pubsub#. */
const VOXNET_FIELDS: ReadonlySet<keyof NodeConfig> = new Set(['body_summary', 'history', 'max_age']);

export function fieldVar(key: keyof NodeConfig): string {
  return VOXNET_FIELDS.has(key) ? `voxnet#${key}` : `pubsub#${key}`;
}



/** The values of a config key, as they appear in a data form. */
export function formatConfigValues(config: NodeConfig, key: keyof NodeConfig): string[] {
  const v = config[key];
  return Array.isArray(v) ? [...v] : [formatConfigValue(config, key)];
}

/** The string value of a single-valued config key, as it appears in a data form. */
export function formatConfigValue(config: NodeConfig, key: keyof NodeConfig): string {
  const v = config[key];
  if (Array.isArray(v)) return v.join(' ');
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (key === 'max_items' && v === Infinity) return 'max';
  return String(v);
}

function invalid(text: string): PubsubError {
  return new PubsubError('not-acceptable', { pubsub: 'invalid-options', text });
}

/** Changes to a node configuration, typed (the protocol layer reads them from data forms). */
export type NodeConfigChanges = Partial<NodeConfig>;

/**
 * Apply typed changes to a configuration, returning a new one. Values outside
 * what the field allows are refused with not-acceptable + invalid-options
 * (XEP-0060 §8.2.5); access models this service cannot offer with not-acceptable
 * + unsupported-access-model.
 */
export function applyConfig(base: NodeConfig, changes: NodeConfigChanges): NodeConfig {
  const out: NodeConfig = { ...base };
  for (const [key, value] of Object.entries(changes) as [keyof NodeConfig, unknown][]) {
    if (value === undefined) continue;
    const spec = CONFIG_FIELDS.find((f) => f.key === key);
    if (!spec) throw invalid(`unknown configuration field ${fieldVar(key)}`);
    const name = fieldVar(key);
    switch (spec.kind) {
      case 'text-multi': {
        if (!Array.isArray(value) || value.length > 64 || value.some((x) => typeof x !== 'string' || !x || x.length > 1024))
          throw invalid(`${name}: at most 64 non-empty node ids`);
        (out as Record<string, unknown>)[key] = [...new Set(value as string[])];
        break;
      }
      case 'boolean':
        if (typeof value !== 'boolean') throw invalid(`${name} must be a boolean, got "${String(value)}"`);
        (out as Record<string, unknown>)[key] = value;
        break;
      case 'list-single': {
        const v = String(value);
        // Presence and roster are real access models this service does not offer: say so precisely.
        if (key === 'access_model' && (ACCESS_MODELS as readonly string[]).includes(v) && !SUPPORTED_ACCESS_MODELS.includes(v as AccessModel))
          throw new PubsubError('not-acceptable', {
            pubsub: 'unsupported-access-model',
            text: `access model ${v} needs the owner's roster, which this service cannot see`,
          });
        if (typeof value !== 'string' || !spec.options!.includes(v)) throw invalid(`${name} must be one of ${spec.options!.join(', ')}, got "${v}"`);
        (out as Record<string, unknown>)[key] = v;
        break;
      }
      case 'text-single': {
        if (key === 'max_items' || key === 'max_payload_size' || key === 'max_age') {
          const n = value as number;
          const ok = typeof n === 'number' && ((key === 'max_items' && n === Infinity) || (Number.isInteger(n) && n >= 0));
          if (!ok) throw invalid(`${name} must be a non-negative integer, got "${String(value)}"`);
          if (key === 'max_payload_size' && n < 1) throw invalid(`${name} must be at least 1`);
          (out as Record<string, unknown>)[key] = n;
        } else {
          if (typeof value !== 'string' || value.length > 1024) throw invalid(`${name} is too long`);
          (out as Record<string, unknown>)[key] = value;
        }
        break;
      }
    }
  }
  return out;
}

/** Whether a configuration already has these values (publish-options preconditions); the first that differs, else undefined. */
export function firstDifference(config: NodeConfig, wanted: NodeConfigChanges): { key: keyof NodeConfig; have: string; want: string } | undefined {
  for (const key of Object.keys(wanted) as (keyof NodeConfig)[]) {
    const want = formatConfigValue({ ...config, [key]: wanted[key] } as NodeConfig, key);
    const have = formatConfigValue(config, key);
    if (want !== have) return { key, have, want };
  }
  return undefined;
}
