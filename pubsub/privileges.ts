/**
 * The one place that decides who may do what on a node.
 *
 * The table is XEP-0060 §4.1 (Table 4, "Affiliations and their Privileges"), with
 * the service's choices for the rows marked "*" there: publishers may retract and
 * purge any item; publish-only entities only their own items. The access model
 * then widens or narrows what an entity without affiliation may do (§4.5), and
 * every refusal carries the exact XEP-0060 error.
 */
import { PubsubError, errors } from './errors.ts';
import { domainOf } from './jid.ts';
import type { AccessModel, Affiliation, PublishModel } from './types.ts';

export const OPERATIONS = [
  'subscribe',
  'retrieve-items',
  'publish',
  'retract-own',
  'retract-any',
  'purge',
  'configure',
  'delete-node',
  'modify-affiliations',
  'manage-subscriptions',
  'discover',
  // XEP-0248: receive a leaf's notification through a subscription to a collection
  // above it (decided on the leaf), and attach a node to a collection (decided on the collection).
  'receive-via-collection',
  'associate',
] as const;
export type Operation = (typeof OPERATIONS)[number];

type Row = Record<Operation, boolean>;

// prettier-ignore
export const PRIVILEGES: Record<Affiliation, Row> = {
  //              subscribe retrieve publish retract-own retract-any purge configure delete-node modify-affs manage-subs discover via-collection associate
  owner:          row(true,  true,  true,  true,  true,  true,  true,  true,  true,  true,  true,  true,  true),
  publisher:      row(true,  true,  true,  true,  true,  true,  false, false, false, false, true,  true,  false),
  'publish-only': row(false, false, true,  true,  false, false, false, false, false, false, true,  false, false),
  member:         row(true,  true,  false, false, false, false, false, false, false, false, true,  true,  false),
  none:           row(true,  false, false, false, false, false, false, false, false, false, true,  true,  false),
  outcast:        row(false, false, false, false, false, false, false, false, false, false, false, false, false),
};

function row(...flags: boolean[]): Row {
  return Object.fromEntries(OPERATIONS.map((op, i) => [op, flags[i]])) as Row;
}

export type DecisionContext = {
  affiliation: Affiliation;
  accessModel: AccessModel;
  publishModel: PublishModel;
  /** The actor holds an active (not pending) subscription to the node. */
  subscribed: boolean;
  /** The actor has a pending subscription request. */
  pending?: boolean;
  /** The node's voxnet#history (default true): when false, only owners and publishers retrieve items. */
  history?: boolean;
};

export type Decision =
  | { allow: true; pending?: boolean }
  | { allow: false; error: PubsubError; reason: string };

function refuse(error: PubsubError, reason: string): Decision {
  return { allow: false, error, reason };
}

/**
 * The affiliation a bare JID holds through a node's affiliation list: its own
 * entry, else its domain's (so 'svom.fr' can stand for every JID at svom.fr), else
 * none. Service admins are resolved by the service before this.
 */
export function affiliationIn(affiliations: ReadonlyMap<string, Affiliation>, bare: string): Affiliation {
  return affiliations.get(bare) ?? affiliations.get(domainOf(bare)) ?? 'none';
}

/** Decide one operation. Pure: the same context always gives the same answer. */
export function decide(op: Operation, ctx: DecisionContext): Decision {
  const { affiliation: aff, accessModel } = ctx;
  if (aff === 'outcast') return refuse(errors.forbidden(), 'outcast');
  if (accessModel === 'presence' || accessModel === 'roster') {
    // Never reached for nodes we created (configure refuses these models), but a
    // stored node with such a model must not silently become open.
    if (aff !== 'owner')
      return refuse(
        new PubsubError('not-acceptable', { pubsub: 'unsupported-access-model' }),
        `access model ${accessModel} unsupported`,
      );
  }
  const base = PRIVILEGES[aff][op];

  switch (op) {
    case 'subscribe':
      if (!base) return refuse(errors.forbidden(), `${aff} may not subscribe`);
      if (aff !== 'none') return { allow: true };
      if (accessModel === 'whitelist') return refuse(errors.closedNode(), 'not on the whitelist');
      if (accessModel === 'authorize') {
        if (ctx.pending)
          return refuse(new PubsubError('not-authorized', { pubsub: 'pending-subscription' }), 'already pending');
        return { allow: true, pending: !ctx.subscribed };
      }
      return { allow: true };

    case 'retrieve-items': {
      const d = retrieve(aff, accessModel, ctx.subscribed);
      // History off: whoever may read the node still gets live notifications, but
      // only those who feed it (owners, publishers) may look back.
      if (d.allow && ctx.history === false && aff !== 'owner' && aff !== 'publisher')
        return refuse(errors.forbidden('this node keeps no history for subscribers (voxnet#history is off)'), 'history off');
      return d;
    }

    case 'publish':
      if (base) return { allow: true };
      if (ctx.publishModel === 'open') return { allow: true };
      if (ctx.publishModel === 'subscribers' && ctx.subscribed) return { allow: true };
      return refuse(errors.forbidden(), `${aff} may not publish (publish_model ${ctx.publishModel})`);

    case 'receive-via-collection':
      // A collection's subscriber gets a leaf's items only where it could read the
      // leaf itself: its own subscription to an authorize leaf, a place on a
      // whitelist; a subscription to the collection never bypasses the leaf's model.
      if (!base) return refuse(errors.forbidden(), `${aff} may not receive this node's items`);
      if (aff !== 'none' || accessModel === 'open') return { allow: true };
      if (accessModel === 'authorize' && ctx.subscribed) return { allow: true };
      return refuse(accessModel === 'whitelist' ? errors.closedNode() : errors.notSubscribed(), `${accessModel} leaf, not through a collection`);

    case 'discover':
      if (aff === 'none' && accessModel === 'whitelist')
        return refuse(errors.itemNotFound(), 'whitelist node hidden from non-members');
      return base ? { allow: true } : refuse(errors.forbidden(), `${aff} may not see the node`);

    default:
      return base ? { allow: true } : refuse(errors.forbidden(), `${aff} may not ${op}`);
  }
}

function retrieve(aff: Affiliation, accessModel: AccessModel, subscribed: boolean): Decision {
  if (PRIVILEGES[aff]['retrieve-items']) return { allow: true };
  if (aff === 'none') {
    if (accessModel === 'open') return { allow: true };
    if (accessModel === 'whitelist') return refuse(errors.closedNode(), 'not on the whitelist');
    if (accessModel === 'authorize') return subscribed ? { allow: true } : refuse(errors.notSubscribed(), 'not subscribed');
  }
  return refuse(errors.forbidden(), `${aff} may not retrieve items`);
}
