/**
 * Typed refusals of the pubsub core. The protocol layer maps them one to one onto
 * XMPP stanza errors (RFC 6120 §8.3) with XEP-0060 application conditions.
 */
export type StanzaCondition =
  | 'bad-request'
  | 'conflict'
  | 'feature-not-implemented'
  | 'forbidden'
  | 'item-not-found'
  | 'not-acceptable'
  | 'not-allowed'
  | 'not-authorized'
  | 'policy-violation'
  | 'resource-constraint'
  | 'service-unavailable'
  | 'internal-server-error'
  | 'unexpected-request';

export type ErrorType = 'cancel' | 'modify' | 'auth' | 'wait';

/** XEP-0060 application-specific conditions (namespace http://jabber.org/protocol/pubsub#errors). */
export type PubsubCondition =
  | 'closed-node'
  | 'configuration-required'
  | 'invalid-jid'
  | 'invalid-options'
  | 'invalid-payload'
  | 'invalid-subid'
  | 'item-forbidden'
  | 'item-required'
  | 'jid-required'
  | 'max-items-exceeded'
  | 'max-nodes-exceeded'
  | 'nodeid-required'
  | 'not-in-roster-group'
  | 'not-subscribed'
  | 'payload-too-big'
  | 'payload-required'
  | 'pending-subscription'
  | 'precondition-not-met'
  | 'presence-subscription-required'
  | 'subid-required'
  | 'too-many-subscriptions'
  | 'unsupported'
  | 'unsupported-access-model';

const defaultType: Record<StanzaCondition, ErrorType> = {
  'bad-request': 'modify',
  conflict: 'cancel',
  'feature-not-implemented': 'cancel',
  forbidden: 'auth',
  'item-not-found': 'cancel',
  'not-acceptable': 'modify',
  'not-allowed': 'cancel',
  'not-authorized': 'auth',
  'policy-violation': 'modify',
  'resource-constraint': 'wait',
  'service-unavailable': 'cancel',
  'internal-server-error': 'wait',
  'unexpected-request': 'cancel',
};

export class PubsubError extends Error {
  readonly condition: StanzaCondition;
  readonly type: ErrorType;
  readonly pubsub?: PubsubCondition;
  /** For `unsupported`: the XEP-0060 feature name, e.g. "presence-notifications". */
  readonly feature?: string;

  constructor(
    condition: StanzaCondition,
    opts: { pubsub?: PubsubCondition; feature?: string; text?: string; type?: ErrorType } = {},
  ) {
    super(opts.text ?? [condition, opts.pubsub, opts.feature].filter(Boolean).join(' / '));
    this.name = 'PubsubError';
    this.condition = condition;
    this.type = opts.type ?? defaultType[condition];
    this.pubsub = opts.pubsub;
    this.feature = opts.feature;
  }
}

export const errors = {
  forbidden: (text?: string) => new PubsubError('forbidden', { text }),
  itemNotFound: (text?: string) => new PubsubError('item-not-found', { text }),
  closedNode: () => new PubsubError('not-allowed', { pubsub: 'closed-node' }),
  notSubscribed: () => new PubsubError('not-authorized', { pubsub: 'not-subscribed' }),
  unsupported: (feature: string, text?: string) =>
    new PubsubError('feature-not-implemented', { pubsub: 'unsupported', feature, text }),
  badRequest: (pubsub?: PubsubCondition, text?: string) => new PubsubError('bad-request', { pubsub, text }),
  notAcceptable: (pubsub?: PubsubCondition, text?: string) => new PubsubError('not-acceptable', { pubsub, text }),
  conflict: (pubsub?: PubsubCondition, text?: string) => new PubsubError('conflict', { pubsub, text }),
};
