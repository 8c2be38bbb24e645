/**
 * Nodes as the page lists them: grouped by mission/product (the node name
 * without its last segment) with the level (the last segment) as the entry,
 * e.g. svom/eclairs/collaboration → group "svom/eclairs", level "collaboration".
 * Crossmatch result nodes ({node}/crossmatch) are listed under their alert node's group.
 */
export type NodeInfo = { node: string; title?: string; type?: string; accessModel?: string };

export type NodeGroup = { group: string; entries: (NodeInfo & { level: string })[] };

export function groupNodes(nodes: NodeInfo[]): NodeGroup[] {
  const groups = new Map<string, NodeGroup>();
  for (const n of [...nodes].sort((a, b) => a.node.localeCompare(b.node))) {
    const parts = n.node.split('/');
    const crossmatch = parts.length > 2 && parts.at(-1) === 'crossmatch';
    const cut = crossmatch ? parts.length - 2 : parts.length - 1;
    const group = cut > 0 ? parts.slice(0, cut).join('/') : n.node;
    const level = cut > 0 ? parts.slice(cut).join('/') : '';
    const g = groups.get(group) ?? { group, entries: [] };
    g.entries.push({ ...n, level });
    groups.set(group, g);
  }
  return [...groups.values()].sort((a, b) => a.group.localeCompare(b.group));
}

/** The crossmatch agent's result node for an alert node (its default template "{node}/crossmatch"). */
export function crossmatchNodeOf(node: string): string {
  return `${node}/crossmatch`;
}
