/**
 * Subscription options (XEP-0060 §6.3, XEP-0248 §7.2) as typed values: the
 * defaults, the merge of a stored record with them, and the checks a record must
 * pass. The data form ↔ record mapping lives in broker-component/xep0060/.
 */
import { errors } from './errors.ts';
import type { NodeType, SubscriptionOptions } from './types.ts';

export const DEFAULT_SUBSCRIPTION_OPTIONS: Readonly<SubscriptionOptions> = Object.freeze({
  deliver: true,
  include_body: true,
  subscription_type: 'items',
  subscription_depth: 1,
  expire: null,
  filter: null,
});

/** A stored (possibly older, partial) record read with today's defaults. */
export function subscriptionOptionsOf(stored: Partial<SubscriptionOptions> | undefined): SubscriptionOptions {
  return { ...DEFAULT_SUBSCRIPTION_OPTIONS, ...(stored ?? {}) };
}

/** Refuse options that make no sense for this node (bad-request + invalid-options, XEP-0060 §6.3.5). */
export function checkSubscriptionOptions(o: SubscriptionOptions, nodeType: NodeType, now: number): void {
  if (o.subscription_type === 'nodes' && nodeType !== 'collection')
    throw errors.badRequest('invalid-options', 'pubsub#subscription_type "nodes" needs a collection node');
  if (o.expire !== null && o.expire <= now) throw errors.badRequest('invalid-options', 'pubsub#expire lies in the past');
  if (!(o.subscription_depth >= 1)) throw errors.badRequest('invalid-options', 'pubsub#subscription_depth must be 1 or more, or "all"');
}

/** Does this subscription receive notifications now? */
export function delivers(o: SubscriptionOptions, now: number): boolean {
  return o.deliver && (o.expire === null || o.expire > now);
}
