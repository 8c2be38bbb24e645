/**
 * What one JID may see and do under a compiled policy. Nothing is decided here:
 * the affiliation comes from the compiled node affiliations (resolved as the
 * broker resolves them, JID then domain), and every answer is the broker's own
 * `decide` from pubsub/privileges.ts.
 */
import { affiliationIn, decide, type Operation } from '../pubsub/privileges.ts';
import { bareJid, domainOf } from '../pubsub/jid.ts';
import type { Affiliation } from '../pubsub/types.ts';
import type { DesiredNode, DesiredState, Redaction } from './types.ts';

export const WHO_OPERATIONS = [
  'subscribe',
  'retrieve-items',
  'publish',
  'retract-own',
  'retract-any',
  'purge',
  'configure',
  'modify-affiliations',
  'delete-node',
] as const satisfies readonly Operation[];
export type WhoOperation = (typeof WHO_OPERATIONS)[number];

export type WhoDecision = { allow: boolean; condition?: string; pubsub?: string; reason?: string };

export type WhoNode = {
  node: string;
  kind: DesiredNode['kind'];
  product: string;
  level?: string;
  affiliation: Affiliation;
  may: Record<WhoOperation, WhoDecision>;
  /** For level nodes: how items reach it. */
  embargoSeconds?: number;
  history?: boolean;
  redaction?: Redaction;
};

export type WhoReport = {
  jid: string;
  /** Levels this JID belongs to, highest first, and through what. */
  levels: { level: string; title: string; via: string }[];
  /** The JID (or its domain) is banned. */
  outcast?: string;
  /** Owner of every node as a service admin. */
  admin: boolean;
  /** Products it publishes. */
  publishes: string[];
  nodes: WhoNode[];
};

export function affiliationOn(node: DesiredNode, bare: string, admins: readonly string[] = []): Affiliation {
  if (admins.includes(bare) || admins.includes(domainOf(bare))) return 'owner';
  return affiliationIn(new Map(Object.entries(node.affiliations)), bare);
}

/** Decide one operation for a JID on a compiled node, as the broker would (not subscribed, nothing pending). */
export function decideOn(node: DesiredNode, bare: string, op: Operation, admins: readonly string[] = []): WhoDecision {
  const d = decide(op, {
    affiliation: affiliationOn(node, bare, admins),
    accessModel: node.config.access_model,
    publishModel: node.config.publish_model,
    subscribed: false,
    history: node.config.history,
  });
  if (d.allow) return { allow: true };
  return { allow: false, condition: d.error.condition, ...(d.error.pubsub ? { pubsub: d.error.pubsub } : {}), reason: d.reason };
}

export function who(state: DesiredState, jid: string, opts: { admins?: string[] } = {}): WhoReport {
  const bare = bareJid(jid);
  const domain = domainOf(bare);
  const admins = (opts.admins ?? []).map((a) => a.toLowerCase());
  const outcast = state.outcasts.find((o) => o === bare || o === domain);
  const levels: WhoReport['levels'] = [];
  for (const l of state.levels) {
    if (l.public) {
      if (!outcast) levels.push({ level: l.id, title: l.title, via: 'everyone' });
      continue;
    }
    const m = l.members.find((x) => x.entity === bare) ?? l.members.find((x) => x.entity === domain);
    if (m) levels.push({ level: l.id, title: l.title, via: m.via === 'domain' ? `domain ${m.entity}` : m.via });
  }
  const publishes = [...new Set(state.nodes.filter((n) => n.kind === 'source' && n.affiliations[bare] === 'publisher').map((n) => n.product))];
  const transforms = new Map(state.transforms.map((t) => [t.target, t]));
  const nodes: WhoNode[] = state.nodes.map((n) => {
    const may = Object.fromEntries(WHO_OPERATIONS.map((op) => [op, decideOn(n, bare, op, admins)])) as Record<WhoOperation, WhoDecision>;
    const t = transforms.get(n.id);
    return {
      node: n.id,
      kind: n.kind,
      product: n.product,
      ...(n.level ? { level: n.level } : {}),
      affiliation: affiliationOn(n, bare, admins),
      may,
      ...(t ? { embargoSeconds: t.embargoSeconds, history: t.history, ...(t.redaction ? { redaction: t.redaction } : {}) } : {}),
    };
  });
  return {
    jid: bare,
    levels,
    ...(outcast ? { outcast } : {}),
    admin: admins.includes(bare) || admins.includes(domain),
    publishes,
    nodes,
  };
}
