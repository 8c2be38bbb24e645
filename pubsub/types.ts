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

export type NodeConfig = {
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
};

export type SubscriptionState = 'subscribed' | 'pending' | 'unconfigured' | 'none';

export type Subscription = {
  node: string;
  /** Subscribed JID, bare or full, as requested. */
  jid: string;
  subid: string;
  state: SubscriptionState;
  created: number;
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
};

export type NodeRecord = {
  id: string;
  config: NodeConfig;
  created: number;
  creator: string;
};

/** Who is asking: the full JID as seen on the wire, and its bare form. */
export type Actor = { jid: string; bare: string };
