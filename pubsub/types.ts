/** The pubsub domain model: plain data, no XML, no I/O. */

export const AFFILIATIONS = ['owner', 'publisher', 'publish-only', 'member', 'none', 'outcast'] as const;
export type Affiliation = (typeof AFFILIATIONS)[number];

export const ACCESS_MODELS = ['open', 'presence', 'roster', 'authorize', 'whitelist'] as const;
export type AccessModel = (typeof ACCESS_MODELS)[number];
/** Access models this service can enforce (presence and roster need the owner's roster). */
export const SUPPORTED_ACCESS_MODELS: readonly AccessModel[] = ['open', 'authorize', 'whitelist'];

export const PUBLISH_MODELS = ['publishers', 'subscribers', 'open'] as const;
export type PublishModel = (typeof PUBLISH_MODELS)[number];

export const SEND_LAST_MODELS = ['never', 'on_sub', 'on_sub_and_presence'] as const;
export type SendLastModel = (typeof SEND_LAST_MODELS)[number];

/** XEP-0248: a leaf holds items; a collection holds nodes and relays its leaves' notifications. */
export const NODE_TYPES = ['leaf', 'collection'] as const;
export type NodeType = (typeof NODE_TYPES)[number];

export type NodeConfig = {
  /** Fixed at creation (XEP-0248). */
  node_type: NodeType;
  /** The collections this node belongs to (XEP-0248 pubsub#collection). */
  collection: string[];
  access_model: AccessModel;
  publish_model: PublishModel;
  /** Items kept; 0 keeps none. `max` is represented as Infinity. */
  max_items: number;
  persist_items: boolean;
  send_last_published_item: SendLastModel;
  deliver_payloads: boolean;
  deliver_notifications: boolean;
  notify_retract: boolean;
  notify_delete: boolean;
  notify_config: boolean;
  title: string;
  /** Payload type, e.g. the namespace of the items (VOEvent: http://www.ivoa.net/xml/VOEvent/v2.0). */
  type: string;
  /** Largest payload in bytes. */
  max_payload_size: number;
  /** Add a <body> with a one-line summary to VOEvent notifications, for chat clients. */
  body_summary: boolean;
  /**
   * May subscribers retrieve past items (voxnet#history)? When false only owners and
   * publishers may retrieve items, and the last item is not sent on subscription:
   * subscribers get live notifications only.
   */
  history: boolean;
  /**
   * Age retention (voxnet#max_age): items older than this many seconds are removed;
   * 0 keeps them for ever (the count limit, max_items, still applies).
   */
  max_age: number;
};

export type SubscriptionState = 'subscribed' | 'pending' | 'unconfigured' | 'none';

export type Subscription = {
  node: string;
  /** Subscribed JID, bare or full, as requested. */
  jid: string;
  subid: string;
  state: SubscriptionState;
  created: number;
  /** The subscriber's options (XEP-0060 §6.3), typed; see subscription-options.ts. */
  options: SubscriptionOptions;
};

/**
 * Subscription options, one record per subscription. Adding an option is one
 * field here with its default in DEFAULT_SUBSCRIPTION_OPTIONS (subscription-options.ts)
 * and one entry in the form mapping (broker-component/xep0060/subscription-form.ts);
 * stored records without the new field read as its default.
 */
export type SubscriptionOptions = {
  /** pubsub#deliver: receive notifications at all (off: the subscription stays, silent). */
  deliver: boolean;
  /** pubsub#include_body: a readable <body> with notifications when the node adds one. */
  include_body: boolean;
  /** pubsub#subscription_type (XEP-0248): notifications of items, or of nodes added to a collection. */
  subscription_type: 'items' | 'nodes';
  /** pubsub#subscription_depth (XEP-0248): how deep below a collection; Infinity is 'all'. */
  subscription_depth: number;
  /** pubsub#expire: the subscription ends at this time (ms since epoch); null: never. */
  expire: number | null;
  /** voxnet#filter: only items this filter accepts (the language of filter/, docs/filters.md); null: every item. */
  filter: string | null;
};

export type Item = {
  node: string;
  id: string;
  /** Serialized payload (one XML element as text), opaque to the core. */
  payload: string;
  /** Bare JID of the publisher. */
  publisher: string;
  /** Publication time, ms since epoch. */
  published: number;
  /** Monotonic sequence number across the service: the order of publication. */
  seq: number;
  /** The payload's IVORN when the broker's payload hook found one (indexed for archive queries). */
  ivorn?: string;
};

export type NodeRecord = {
  id: string;
  config: NodeConfig;
  created: number;
  creator: string;
};

/** Who is asking: the full JID as seen on the wire, and its bare form. */
/**
 * The request a call serves, for a caller that must know what the call caused:
 * every notification the call emits adds the promise of its dispatch here (the
 * broker's reply to a publish waits for them: ack_after dispatch).
 */
export type RequestTrace = { dispatched: Promise<void>[] };

/** Who calls the service (full and bare JID), and the request the call serves when it is traced. */
export type Actor = { jid: string; bare: string; request?: RequestTrace };
