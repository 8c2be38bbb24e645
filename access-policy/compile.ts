/**
 * compile(policy) → the desired state of the pubsub service. Pure.
 *
 * Naming: every product has a source node `<prefix><product>/source` where its
 * publishers publish, and one node per level that receives it,
 * `<prefix><product>/<level>` (e.g. svom/eclairs/collaboration, svom/eclairs/public).
 *
 * Affiliations: levels are ordered, and a level sees what every level below it
 * sees: the node of level L lists the members of L and of every higher level as
 * `member` (whitelist), so a burst advocate may also follow the redacted public
 * stream to check what the world receives. The public level's node is open.
 * Publishers are `publisher` on their product's source node and `member` on its
 * level nodes (they may read what each level gets, never publish around the
 * embargo). Outcasts are `outcast` everywhere. The service itself owns every node.
 */
import { embargoSeconds } from './schema.ts';
import type { CompiledLevel, DesiredNode, DesiredState, Membership, Policy, PolicyNodeConfig, Transform } from './types.ts';
import type { Affiliation } from '../pubsub/types.ts';

import { VOEVENT_NS } from '../common/ns.ts';
/** Products are a permanent archive unless the policy bounds them (max_items, max_age). */
export const DEFAULT_MAX_ITEMS = Infinity;
export const SOURCE = 'source';

export type CompileOptions = {
  /** JID of the pubsub service, made owner of every node. */
  service?: string;
};

/** The node id of a product's source node (level omitted) or of one of its level nodes. */
export function nodeId(policy: Pick<Policy, 'node_prefix'>, product: string, level: string = SOURCE): string {
  return `${policy.node_prefix ?? ''}${product}/${level}`;
}

// Stronger affiliations win when one entity is named twice on a node.
const STRENGTH: Record<Affiliation, number> = { owner: 5, outcast: 4, publisher: 3, 'publish-only': 2, member: 1, none: 0 };

type Affs = { affiliations: Record<string, Affiliation>; reasons: Record<string, string> };

function grant(a: Affs, entity: string, aff: Affiliation, reason: string): void {
  const have = a.affiliations[entity];
  if (!have || STRENGTH[aff] > STRENGTH[have]) {
    a.affiliations[entity] = aff;
    a.reasons[entity] = reason;
  }
}

const newAffs = (): Affs => ({ affiliations: {}, reasons: {} });

function levelsOf(policy: Policy): CompiledLevel[] {
  const groups = policy.groups ?? {};
  return policy.levels.map((l, rank) => {
    const members: Membership[] = [];
    const seen = new Set<string>();
    const add = (entity: string, via: Membership['via']) => {
      const e = entity.toLowerCase();
      if (!seen.has(e)) seen.add(e), members.push({ entity: e, via });
    };
    for (const j of l.members?.jids ?? []) add(j, 'jid');
    for (const d of l.members?.domains ?? []) add(d, 'domain');
    for (const g of l.members?.groups ?? []) for (const j of groups[g] ?? []) add(j, `group ${g}`);
    return { id: l.id, title: l.title ?? l.id, rank, public: l.public === true, members };
  });
}

export function compile(policy: Policy, opts: CompileOptions = {}): DesiredState {
  const levels = levelsOf(policy);
  const outcasts = [...new Set([...(policy.outcasts?.jids ?? []), ...(policy.outcasts?.domains ?? [])].map((s) => s.toLowerCase()))];
  const mission = policy.mission ? `${policy.mission} ` : '';
  const nodes: DesiredNode[] = [];
  const transforms: Transform[] = [];

  const common = (a: Affs) => {
    if (opts.service) grant(a, opts.service.toLowerCase(), 'owner', 'the service');
    for (const o of outcasts) grant(a, o, 'outcast', 'outcast');
  };

  for (const prod of policy.products) {
    const title = prod.title ?? prod.id;
    const maxItems = prod.max_items === undefined || prod.max_items === 'max' ? DEFAULT_MAX_ITEMS : prod.max_items;
    const maxAge = embargoSeconds(prod.max_age);
    const publishers = prod.publishers.map((p) => p.toLowerCase());
    const source = nodeId(policy, prod.id);

    const src = newAffs();
    common(src);
    for (const p of publishers) grant(src, p, 'publisher', `publisher of ${prod.id}`);
    nodes.push({
      id: source,
      kind: 'source',
      product: prod.id,
      config: nodeConfig(`${mission}${title} — source (publishers only)`, 'whitelist', maxItems, true, maxAge),
      ...src,
    });

    for (const level of levels) {
      const delivery = prod.levels[level.id];
      if (delivery === undefined) continue;
      const d = delivery ?? {};
      const target = nodeId(policy, prod.id, level.id);
      const history = d.history ?? true;
      const affs = newAffs();
      common(affs);
      if (!level.public) {
        for (const higher of levels.slice(0, level.rank + 1))
          for (const m of higher.members) grant(affs, m.entity, 'member', `level ${higher.id}, ${m.via === 'jid' ? 'by JID' : m.via === 'domain' ? 'by domain' : m.via}`);
      }
      for (const p of publishers) grant(affs, p, 'member', `publisher of ${prod.id}`);
      nodes.push({
        id: target,
        kind: 'level',
        product: prod.id,
        level: level.id,
        config: nodeConfig(`${mission}${title} — ${level.title}`, level.public ? 'open' : 'whitelist', maxItems, history, maxAge),
        ...affs,
      });
      const redaction = d.redact && (d.redact.params?.length || d.redact.groups?.length || d.redact.position_precision_deg)
        ? d.redact
        : undefined;
      transforms.push({
        product: prod.id,
        level: level.id,
        source,
        target,
        embargoSeconds: embargoSeconds(d.embargo),
        history,
        ...(redaction ? { redaction } : {}),
      });
    }
  }
  return { ...(opts.service ? { service: opts.service.toLowerCase() } : {}), levels, outcasts, nodes, transforms };
}

function nodeConfig(title: string, access: 'open' | 'whitelist', maxItems: number, history: boolean, maxAge: number): PolicyNodeConfig {
  return {
    title,
    type: VOEVENT_NS,
    access_model: access,
    publish_model: 'publishers',
    max_items: maxItems,
    max_age: maxAge,
    persist_items: true,
    deliver_notifications: true,
    deliver_payloads: true,
    notify_retract: true,
    history,
  };
}
