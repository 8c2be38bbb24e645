/**
 * Which rooms the access policy calls for, and who belongs in each. Pure.
 *
 * One room per level node of the compiled policy (one per product and level),
 * named after the node ("svom/eclairs/collaboration" → svom-eclairs-collaboration@<muc>).
 * Its members are exactly the entities (bare JIDs or whole domains) that the
 * broker's own decision table lets subscribe to that node — asked through
 * access-policy's decideOn, never decided here. Outcasts are outcasts of the room
 * too. A public level's room is open (anyone may join), every other one members-only.
 */
import type { DesiredState } from '../../access-policy/types.ts';
import { decideOn } from '../../access-policy/who.ts';
import type { MucAffiliation } from './muc.ts';

export type RoomPlan = {
  /** Room JID, e.g. svom-eclairs-collaboration@conference.svom.fr. */
  jid: string;
  /** The level node whose items the room receives. */
  node: string;
  product: string;
  level: string;
  /** Room name shown to people (the node's title). */
  title: string;
  /** Public level: anyone may join. */
  open: boolean;
  /** Bare JIDs and domains that are members (sorted). */
  members: string[];
  outcasts: string[];
};

/** Room local part for a node: lower case, '/' and anything outside [a-z0-9._-] become '-'. */
export function roomName(node: string): string {
  return node.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
}

export function planRooms(state: DesiredState, muc: string): RoomPlan[] {
  const plans: RoomPlan[] = [];
  const levels = new Map(state.levels.map((l) => [l.id, l]));
  for (const node of state.nodes) {
    if (node.kind !== 'level' || !node.level) continue;
    const open = levels.get(node.level)?.public ?? node.config.access_model === 'open';
    const members: string[] = [];
    const outcasts: string[] = [];
    for (const [entity, aff] of Object.entries(node.affiliations)) {
      if (entity === state.service) continue;
      if (aff === 'outcast') outcasts.push(entity);
      else if (!open && decideOn(node, entity, 'subscribe').allow) members.push(entity);
    }
    plans.push({
      jid: `${roomName(node.id)}@${muc}`.toLowerCase(),
      node: node.id,
      product: node.product,
      level: node.level,
      title: node.config.title ?? node.id,
      open,
      members: members.sort(),
      outcasts: outcasts.sort(),
    });
  }
  return plans;
}

/** May this bare JID be in the room (member by JID or by domain; anyone but outcasts when open)? */
export function admits(plan: RoomPlan, jid: string): boolean {
  const domain = jid.slice(jid.indexOf('@') + 1);
  if (plan.outcasts.includes(jid) || plan.outcasts.includes(domain)) return false;
  return plan.open || plan.members.includes(jid) || plan.members.includes(domain);
}

/**
 * The affiliation changes that bring a room's lists to the plan: missing members
 * and outcasts are added, entities no longer listed lose their affiliation (the
 * room then removes them). Owners and admins are left alone; so is `self`.
 */
export function affiliationChanges(
  plan: RoomPlan,
  current: { members: string[]; outcasts: string[] },
  self: string,
): { jid: string; affiliation: MucAffiliation; reason: string }[] {
  const want = new Map<string, MucAffiliation>();
  for (const m of plan.members) want.set(m, 'member');
  for (const o of plan.outcasts) want.set(o, 'outcast');
  want.delete(self);
  const have = new Map<string, MucAffiliation>();
  for (const m of current.members) have.set(m, 'member');
  for (const o of current.outcasts) have.set(o, 'outcast');
  const changes: { jid: string; affiliation: MucAffiliation; reason: string }[] = [];
  for (const [jid, aff] of want) if (have.get(jid) !== aff) changes.push({ jid, affiliation: aff, reason: aff === 'outcast' ? 'access policy: outcast' : `access policy: may read ${plan.node}` });
  for (const [jid] of have) if (!want.has(jid) && jid !== self) changes.push({ jid, affiliation: 'none', reason: `access policy: no longer may read ${plan.node}` });
  return changes;
}
