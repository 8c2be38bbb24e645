/**
 * Where a received VOEvent goes: the first route whose IVORN prefix and role
 * both match (a route without either matches everything); a matching route with
 * `skip: true` keeps such events off VOXnet (acked, logged). Kept as data so the
 * configuration reads as a table.
 */
export type Route = { node?: string; skip?: boolean; ivorn_prefix?: string; role?: string };

export function routeEvent(routes: readonly Route[], ivorn: string, role: string): string | undefined {
  for (const r of routes) {
    if (r.ivorn_prefix !== undefined && !ivorn.startsWith(r.ivorn_prefix)) continue;
    if (r.role !== undefined && r.role !== role) continue;
    return r.skip ? undefined : r.node;
  }
  return undefined;
}
