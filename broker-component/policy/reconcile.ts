/**
 * Make the pubsub service match a compiled policy, acting as the service itself
 * (an admin, so the owner of every node) through the same PubsubService calls a
 * client's IQs go through: every change is decided and audited like any other.
 *
 * Per node, in an order that never takes access away by accident:
 *   1. grants (new or changed affiliations other than none),
 *   2. configuration (an access model change revokes whoever it shuts out),
 *   3. removals (affiliations the policy no longer gives; the service then removes
 *      the subscriptions their holders may no longer have and tells them).
 * Nodes the policy made earlier but no longer lists are retired: made whitelist
 * with no one but the service on it (subscribers are revoked), items kept.
 */
import type { PubsubService } from '../core/service.ts';
import { fieldVar, formatConfigValue, type NodeConfigChanges } from '../../pubsub/node-config.ts';
import type { Actor, Affiliation, NodeConfig } from '../../pubsub/types.ts';
import type { DesiredNode, DesiredState } from '../../access-policy/types.ts';

export type AffiliationChange = { node: string; jid: string; from: Affiliation; to: Affiliation };

export type ReconcileReport = {
  created: string[];
  configured: { node: string; fields: string[] }[];
  affiliations: AffiliationChange[];
  retired: string[];
};

export function isEmptyReport(r: ReconcileReport): boolean {
  return !r.created.length && !r.configured.length && !r.affiliations.length && !r.retired.length;
}

/** The desired values that differ from the node's (all of them for a node still to create). */
function configDiff(current: NodeConfig | undefined, desired: DesiredNode['config']): NodeConfigChanges {
  const changes: Record<string, unknown> = {};
  for (const key of Object.keys(desired) as (keyof DesiredNode['config'])[]) {
    if (!current || formatConfigValue(current, key) !== formatConfigValue(desired as NodeConfig, key)) changes[key] = desired[key];
  }
  return changes as NodeConfigChanges;
}

export function reconcile(service: PubsubService, actor: Actor, state: DesiredState, previouslyManaged: readonly string[] = []): ReconcileReport {
  const report: ReconcileReport = { created: [], configured: [], affiliations: [], retired: [] };

  for (const node of state.nodes) {
    const fields = configDiff(service.nodeConfig(node.id), node.config);
    if (!service.hasNode(node.id)) {
      service.createNode(actor, node.id, fields);
      report.created.push(node.id);
    }
    const current = new Map(service.getAffiliationsOfNode(actor, node.id).map((a) => [a.jid, a.affiliation]));
    const grants: AffiliationChange[] = [];
    const removals: AffiliationChange[] = [];
    for (const [jid, to] of Object.entries(node.affiliations)) {
      const from = current.get(jid) ?? 'none';
      if (from !== to) grants.push({ node: node.id, jid, from, to });
    }
    for (const [jid, from] of current) {
      if (!(jid in node.affiliations)) removals.push({ node: node.id, jid, from, to: 'none' });
    }
    if (grants.length) service.setAffiliations(actor, node.id, grants.map((c) => ({ jid: c.jid, affiliation: c.to })));
    if (!report.created.includes(node.id) && Object.keys(fields).length) {
      service.configure(actor, node.id, fields);
      report.configured.push({ node: node.id, fields: Object.keys(fields).map((k) => fieldVar(k as keyof NodeConfig)) });
    }
    if (removals.length) service.setAffiliations(actor, node.id, removals.map((c) => ({ jid: c.jid, affiliation: 'none' })));
    report.affiliations.push(...grants, ...removals);
  }

  const wanted = new Set(state.nodes.map((n) => n.id));
  for (const id of previouslyManaged) {
    if (wanted.has(id) || !service.hasNode(id)) continue;
    if (service.nodeConfig(id)?.access_model !== 'whitelist') service.configure(actor, id, { access_model: 'whitelist' });
    const removals = service
      .getAffiliationsOfNode(actor, id)
      .filter((a) => a.jid !== actor.bare)
      .map((a) => ({ node: id, jid: a.jid, from: a.affiliation, to: 'none' as Affiliation }));
    if (removals.length) service.setAffiliations(actor, id, removals.map((c) => ({ jid: c.jid, affiliation: 'none' })));
    report.affiliations.push(...removals);
    report.retired.push(id);
  }
  return report;
}
